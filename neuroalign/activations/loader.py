"""Decode and preprocess stimuli batch by batch, in stimulus-set order, off the forward pass's path.

Each item is one whole batch: its images decoded by ``StimulusSet.load_image`` (PIL; corrupt,
oversized or non-RGB images raise DataError naming the file), passed through the model's PIL
steps (resize, crop), then turned into one normalised float tensor in a few passes over the
whole batch. That last step is the same arithmetic as torchvision's ``ToTensor`` +
``Normalize`` (``float(u8) / 255``, ``- mean``, ``/ std``, float32), so the tensors are bit-for-bit
the ones ``transform`` gives image by image (``tests/test_activations.py`` checks it); a transform
of any other shape is applied image by image as given.

Decoder: PIL (libjpeg-turbo). ``torchvision.io.decode_jpeg`` gives the same pixels on RGB JPEGs
but was no faster here, and the resize must run on a PIL image to keep the numbers, so it would
add a conversion; PIL's ``draft`` (DCT-domain downscaling of large JPEGs) changes the pixels.

With ``num_workers > 0`` batches are made in DataLoader worker processes (``prefetch_factor``
batches each ahead), which die with the parent (Linux) and, for CPU extraction, run at
``WORKER_NICE`` so that the forward pass keeps the cores and decoding fills the idle time. Worker
errors and warnings reach the caller as themselves (a DataError stays a one-line DataError).
"""

from __future__ import annotations

import functools
import os
import pickle
import traceback
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.stimuli import StimulusSet
from ..models.pil_transform import Normalise

WORKER_NICE = 19  # niceness of decoding workers when the forward pass runs on the CPU
WORKERS_ENV = "NEUROALIGN_EXTRACT_WORKERS"


def auto_workers(device_type: str, n_batches: int) -> int:
    """Default number of decoding processes: ``$NEUROALIGN_EXTRACT_WORKERS`` if set; none for
    fewer than 3 batches (nothing to overlap) or one core; on a GPU up to 8, leaving one core free.
    On the CPU one only where a core is left over by torch's intra-op threads, else none: a worker
    on a core the forward pass uses stalls its threads at every parallel region (nice does not
    help), which cost 30 % of resnet18's extraction on 2 cores (bench/bench_extraction.py:
    8.96 s with one worker, 6.83 s with none), more than the decoding it takes off the path (~10 %)."""
    env = os.environ.get(WORKERS_ENV)
    if env not in (None, ""):
        try:
            return max(0, int(env))
        except ValueError:
            from ..errors import ConfigError

            raise ConfigError(f"{WORKERS_ENV}={env!r} must be a whole number of worker processes.") from None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n_batches < 3 or cpus < 2:
        return 0
    if device_type == "cpu":
        return 1 if cpus > torch.get_num_threads() else 0
    return min(8, cpus - 1)


def _split(transform):
    """``(pil_steps, Normalise)`` for a :class:`~neuroalign.models.pil_transform.PilTransform`
    (what ``Preprocessing.transform`` builds; its own ``Normalise``) or a torchvision
    ``Compose([Resize|CenterCrop..., ToTensor(), Normalize(mean, std)])``, else None.
    torchvision is imported only to look at a transform of its own."""
    from ..models.pil_transform import PilTransform

    if type(transform) is PilTransform:
        return transform.steps, transform.normalise
    if not type(transform).__module__.startswith("torchvision."):
        return None
    from torchvision import transforms as T

    if type(transform) is not T.Compose:
        return None
    steps = list(transform.transforms)
    if len(steps) < 2 or type(steps[-2]) is not T.ToTensor or type(steps[-1]) is not T.Normalize:
        return None
    if not all(type(s) in (T.Resize, T.CenterCrop) for s in steps[:-2]):
        return None
    return steps[:-2], Normalise(steps[-1].mean, steps[-1].std)


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; in a worker, in shared memory (as ``default_collate`` does), so
    that handing it to the main process copies nothing."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    proto = torch.empty(0, dtype=dtype)
    return proto.new(proto._typed_storage()._new_shared(numel, device="cpu")).resize_(shape)


class BatchTransform:
    """Images -> one ``(n, 3, H, W)`` tensor equal to ``torch.stack([transform(im) for im in images])``."""

    def __init__(self, transform) -> None:
        self.transform = transform
        parts = _split(transform)
        self.pil_steps, self.normalise = parts if parts is not None else ([], None)
        self.fused = self.normalise is not None and self.normalise.applies

    def __call__(self, images: Sequence) -> torch.Tensor:
        x = None
        if self.fused:
            out = []
            for im in images:
                for step in self.pil_steps:
                    im = step(im)
                out.append(im)
            x = self.normalise(out, empty=_empty)
        return torch.stack([self.transform(im) for im in images]) if x is None else x


class Batch:
    """What a worker hands back: the tensor, or the exception the batch raised, and the
    warnings it emitted (re-emitted in the caller)."""

    def __init__(self, x: torch.Tensor | None, caught: list, error: BaseException | None = None) -> None:
        self.x, self.caught, self.error = x, caught, error

    def pin_memory(self) -> Batch:
        return Batch(None if self.x is None else self.x.pin_memory(), self.caught, self.error)

    def unwrap(self) -> torch.Tensor:
        for message, category, filename, lineno in self.caught:
            warnings.warn_explicit(message, category, filename, lineno)
        if self.error is not None:
            raise self.error
        return self.x


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, with the worker's traceback as a note for anything that
    is not one of neuroalign's own (one-line) errors; else a RuntimeError saying what it was."""
    from ..errors import NeuroalignError

    if not isinstance(exc, NeuroalignError) and hasattr(exc, "add_note"):
        exc.add_note("in an extraction worker process:\n" + "".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - anything that does not pickle travels as text
        return RuntimeError(f"{type(exc).__name__} in an extraction worker process: {exc}\n"
                            + "".join(traceback.format_exception(exc)))


class BatchDataset(Dataset):
    """Item ``i`` is batch ``i`` of ``ids`` (``batch_size`` stimuli each, in order)."""

    def __init__(self, stimuli: StimulusSet, transform, batch_size: int, ids: Sequence[str] | None = None) -> None:
        self.stimuli = stimuli
        self.batch = BatchTransform(transform)
        ids = list(stimuli.stimulus_ids if ids is None else ids)
        self.groups = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]

    def __len__(self) -> int:
        return len(self.groups)

    def make(self, i: int) -> torch.Tensor:
        return self.batch([self.stimuli.load_image(s) for s in self.groups[i]])

    def __getitem__(self, i: int) -> Batch:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                x, error = self.make(i), None
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller, as itself
                x, error = None, _portable(exc)
        return Batch(x, [(w.message, w.category, w.filename, w.lineno) for w in caught], error)


def _init_worker(nice: int, _worker_id: int) -> None:
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    try:  # Linux: die with the parent (a SIGKILLed extraction leaves no decoding process behind)
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def iter_batches(stimuli: StimulusSet, transform, *, batch_size: int, num_workers: int = 0,
                 pin_memory: bool = False, nice: int = 0, ids: Sequence[str] | None = None) -> Iterator[torch.Tensor]:
    """Yield the preprocessed batches in order. Close the generator (or exhaust it) to stop the
    workers; the first failing batch raises its own exception here."""
    ds = BatchDataset(stimuli, transform, batch_size, ids)
    num_workers = min(num_workers, len(ds))
    if num_workers <= 0:
        for i in range(len(ds)):
            yield ds.make(i)
        return
    loader = DataLoader(ds, batch_size=None, shuffle=False, num_workers=num_workers,
                        pin_memory=pin_memory, worker_init_fn=functools.partial(_init_worker, nice),
                        prefetch_factor=2, persistent_workers=False)
    it = iter(loader)
    try:
        for batch in it:
            yield batch.unwrap()
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
