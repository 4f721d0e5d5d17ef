"""What fine-tuning trains on: neural stimuli split by id, targets per condition, task data.

Why one module: the controls differ only in the targets (real responses, the same
responses shuffled across images, or a pixel-space representation of the images), so
building every variant in one place keeps everything else identical between conditions.
Images are decoded and preprocessed once into a tensor; the sets are small.
"""

from __future__ import annotations

import hashlib
import io
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..data.assembly import as_averaged, select_stimuli, validate_assembly
from ..data.stimuli import StimulusSet, decode_image
from ..errors import ConfigError, DataError, unknown

CONDITIONS = ("neural", "shuffled", "pixel", "lambda0")
PIXEL_GRID = 16  # the pixel control's images are average-pooled to 16 × 16 per channel


# aliases kept for workflow configs and scripts: "cowley:<session>" names the session's encoding benchmark
ALIASES = {"synthetic": lambda rest: "synthetic.encoding", "cowley": lambda rest: f"cowley2023.{rest}.encoding"}


def _from_benchmark(spec: str) -> tuple[xr.DataArray, StimulusSet, str | None]:
    """``<benchmark id or file>[:<family>]`` or an alias -> (assembly, stimuli, family)."""
    from ..benchmarks import get_benchmark
    from ..errors import UnknownKeyError

    kind, _, rest = spec.partition(":")
    if kind == "synthetic" and rest:  # another seed: other images and other neurons
        from ..datasets.synthetic import load_synthetic

        if not rest.isdigit():
            raise ConfigError(f"neural spec {spec!r}: use 'synthetic' or 'synthetic:<seed>'.")
        return (*load_synthetic(seed=int(rest)), None)
    family = None
    if kind in ALIASES:
        session, _, family = rest.partition(":")
        if kind == "cowley" and not session:
            raise ConfigError(f"neural spec {spec!r}: use 'cowley:<session>[:<family>]', e.g. 'cowley:210322:natural'.")
        name = ALIASES[kind](session)
    else:
        name = spec
        try:
            get_benchmark(name)
        except UnknownKeyError:
            head, sep, tail = spec.rpartition(":")
            if not sep:
                raise
            name, family = head, tail
    bench = get_benchmark(name)
    data = bench.load()
    if not isinstance(data, xr.DataArray) or "presentation" not in data.dims:
        raise DataError(f"neural spec {spec!r}: benchmark {bench.identifier} holds no responses per image (RDMs?); "
                        "give a benchmark with an assembly (encoding, pls, ood kinds).")
    return data, bench.stimuli(), family or None


def resolve_neural(neural) -> tuple[xr.DataArray, StimulusSet]:
    """A neural spec -> (repeat-averaged assembly, its stimulus set).

    Specs: ``(assembly, stimuli)``; any benchmark id or benchmark file (``.yaml``) whose
    data are responses per image (single trials are averaged over repeats), optionally
    ``:<family>`` to keep one image family; the aliases ``"synthetic"`` (the synthetic
    benchmark), ``"synthetic:<seed>"`` (another seed: other images, other neurons) and
    ``"cowley:<session>[:<family>]"`` (= ``cowley2023.<session>.encoding[:<family>]``,
    e.g. ``cowley:210322:natural``).
    """
    if isinstance(neural, tuple) and len(neural) == 2:
        (assembly, stimuli), family = neural, None
    elif isinstance(neural, str):
        assembly, stimuli, family = _from_benchmark(neural)
    else:
        raise ConfigError(f"neural must be a spec string or an (assembly, StimulusSet) tuple, got {type(neural).__name__}.")
    validate_assembly(assembly)
    if "time_bin" in assembly.dims:
        assembly = assembly.mean("time_bin")
    assembly = as_averaged(assembly)
    if family is not None:
        if "family" not in assembly.coords:
            raise DataError(f"neural spec {neural!r}: the assembly has no 'family' coord to select {family!r} from.")
        fams = sorted(set(assembly["family"].values.tolist()))
        if family not in fams:
            raise unknown(f"image family of {neural.rpartition(':')[0]}", family, fams)
        assembly = assembly.isel(presentation=np.flatnonzero(assembly["family"].values == family))
    missing = [s for s in assembly["stimulus_id"].values if s not in stimuli]
    if missing:
        raise DataError(f"{len(missing)} stimulus_id(s) of the responses have no image in stimulus set "
                        f"{stimuli.identifier!r}, e.g. {missing[:5]}.")
    return assembly, stimuli


def split_ids(ids, heldout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random split of stimulus ids into (train, held-out), each in input order."""
    if not 0 < heldout_fraction < 1:
        raise ConfigError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}.")
    ids = [str(s) for s in ids]
    rng = np.random.default_rng([seed, 8])
    n_test = max(2, int(round(len(ids) * heldout_fraction)))
    if len(ids) - n_test < 4:
        raise DataError(f"only {len(ids)} stimuli: too few to hold out {n_test} and still train.")
    test = set(rng.choice(len(ids), n_test, replace=False).tolist())
    return [s for i, s in enumerate(ids) if i not in test], [s for i, s in enumerate(ids) if i in test]


# ---- the leak check: evaluation images vs training images, by content ----------------------

_PIXEL_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # StimulusSet -> {id: pixel sha256}


def pixel_sha256(data: bytes, where: str) -> str:
    """SHA-256 of an image's decoded RGB pixels (size included): the same picture stored as
    PNG and as BMP, or under other file bytes that decode alike, hashes the same."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"image {where} is corrupt or not an image ({exc}); replace or remove it.") from exc
    img = img.convert("RGB")
    h = hashlib.sha256(f"{img.size[0]}x{img.size[1]}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


@dataclass
class ImageGroup:
    """Images playing one role in a run (e.g. "neural training"), with their content hashes.

    ``names`` label each image in messages (stimulus ids, or file paths for an
    ImageFolder); ``digests`` hold, per image, the SHA-256 of its bytes and of its pixels.
    """

    role: str
    names: list[str]
    digests: list[tuple[str, str]] = field(repr=False)


def stimulus_group(role: str, stimuli: StimulusSet, ids) -> ImageGroup:
    """The images ``ids`` of ``stimuli`` as an :class:`ImageGroup` (pixel hashes cached per set)."""
    ids = [str(s) for s in ids]
    byte_hash = stimuli.image_hashes()
    cache = _PIXEL_HASHES.setdefault(stimuli, {})
    missing = [s for s in ids if s not in cache]
    for sid, data in stimuli.iter_bytes(missing):
        cache[sid] = pixel_sha256(data, stimuli.location(sid))
    return ImageGroup(role, ids, [(byte_hash[s], cache[s]) for s in ids])


def file_group(role: str, paths) -> ImageGroup:
    """Image files (an ImageFolder's samples) as an :class:`ImageGroup`."""
    names, digests = [], []
    for p in paths:
        data = Path(p).read_bytes()
        names.append(str(p))
        digests.append((hashlib.sha256(data).hexdigest(), pixel_sha256(data, str(p))))
    return ImageGroup(role, names, digests)


def check_disjoint(training: list[ImageGroup], evaluation: list[ImageGroup], *, max_listed: int = 10) -> None:
    """Refuse a run whose evaluation images share content with any training image.

    Content is the SHA-256 of an image's bytes or of its decoded pixels: the same picture
    under another id (or another file name, or re-saved losslessly) is caught. Raises
    :class:`DataError` naming each overlapping pair (evaluation side = training side).
    """
    seen: dict[str, tuple[str, str]] = {}
    for g in training:
        for name, digest in zip(g.names, g.digests, strict=True):
            for d in digest:
                seen.setdefault(d, (g.role, name))
    pairs = []
    for g in evaluation:
        for name, digest in zip(g.names, g.digests, strict=True):
            hit = next((seen[d] for d in digest if d in seen), None)
            if hit is not None:
                pairs.append(f"{g.role} {name!r} = {hit[0]} {hit[1]!r}")
    if pairs:
        listed = "; ".join(pairs[:max_listed]) + (f"; and {len(pairs) - max_listed} more" if len(pairs) > max_listed else "")
        raise DataError(
            f"fine-tuning leak: {len(pairs)} evaluation image(s) have the same content (SHA-256 of bytes or "
            f"pixels) as training image(s): {listed}. The model would be scored on images it was trained on. "
            "Remove these images from one side, or give identical images one stimulus_id so the id split "
            "keeps them on one side.")


def load_images(stimuli: StimulusSet, ids, transform) -> torch.Tensor:
    """Decode and preprocess images in ``ids`` order -> float tensor (n, 3, H, W)."""
    ids = [str(s) for s in ids]
    out = [transform(decode_image(data, stimuli.location(sid), stimuli.color))
           for sid, data in stimuli.iter_bytes(ids)]
    return torch.stack(out)


def responses(assembly: xr.DataArray, ids) -> np.ndarray:
    """(len(ids), neuroid) float64 responses, joined on stimulus id."""
    return np.asarray(select_stimuli(assembly, list(ids)).values, dtype=np.float64)


def pixel_targets(images: torch.Tensor, n_components: int) -> torch.Tensor:
    """The pixel control: images pooled to 16 × 16, projected on their first principal
    components (as many as there are neurons, so the target's size matches)."""
    x = torch.nn.functional.adaptive_avg_pool2d(images.double(), PIXEL_GRID).reshape(images.shape[0], -1)
    x = x - x.mean(0)
    k = min(n_components, x.shape[0] - 1, x.shape[1])
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return x @ vh[:k].T


def make_targets(condition: str, *, train_responses: np.ndarray, train_images: torch.Tensor, loss: str,
                 seed: int) -> torch.Tensor:
    """Training targets for ``condition`` (rows = training images, in their order).

    ``neural`` and ``lambda0``: the responses; ``shuffled``: the same rows permuted
    across images with a fixed seed (each image gets another image's responses);
    ``pixel``: :func:`pixel_targets`. For ``readout_mse`` targets are z-scored per
    column; for ``readout_poisson`` they must be counts (pixel targets are shifted to
    start at 0).
    """
    if condition not in CONDITIONS:
        raise unknown("fine-tuning condition", condition, CONDITIONS)
    y = torch.as_tensor(train_responses, dtype=torch.float64)
    if condition == "shuffled":
        perm = np.random.default_rng([seed, 9]).permutation(y.shape[0])
        y = y[torch.as_tensor(perm)]
    elif condition == "pixel":
        y = pixel_targets(train_images, y.shape[1])
        if loss == "readout_poisson":
            y = y - y.min(0).values
    if loss == "readout_mse":
        y = (y - y.mean(0)) / y.std(0).clamp_min(1e-12)
    if loss == "readout_poisson" and bool((y < 0).any()):
        raise DataError("readout_poisson needs non-negative spike counts, but the responses have "
                        f"{int((y < 0).sum())} negative values; use readout_mse, cka or rsa.")
    return y.float()


@dataclass
class TaskData:
    """The task term's data: distillation targets (teacher logits) or class labels.

    ``train`` returns a batch of (images, targets); ``eval_images``/``eval_labels`` are
    the held-out images and the reference top-1 (true labels, or the original model's
    own top-1 for distillation) that task fidelity and robustness are measured on.
    """

    kind: str  # "distill" or "labels"
    description: str
    train_images: torch.Tensor | None
    train_dataset: object | None
    train_index: np.ndarray
    eval_images: torch.Tensor
    eval_labels: torch.Tensor | None = None
    shares_neural_images: bool = False  # training images are the neural training images, same order
    # the leak check's view (None when the images are the neural ones, checked as such)
    train_group: ImageGroup | None = None
    eval_group: ImageGroup | None = None
    # distillation: the original model's logits per training image (set by the caller, which holds the model)
    train_logits: torch.Tensor | None = None

    @property
    def n_train(self) -> int:
        return len(self.train_index)

    def batch(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and targets at ``positions`` (indices into the training part)."""
        pos = positions.tolist()
        if self.train_images is not None:
            images = self.train_images[positions]
        else:
            images = torch.stack([self.train_dataset[int(self.train_index[p])][0] for p in pos])
        if self.kind == "distill":  # targets: the frozen original model's logits, set by the caller
            return images, self.train_logits[positions.to(self.train_logits.device)]
        return images, torch.as_tensor([self.train_dataset.targets[int(self.train_index[p])] for p in pos])


def make_task_data(task_data, *, transform, neural_images: tuple[torch.Tensor, torch.Tensor], seed: int,
                   heldout_fraction: float, max_eval: int) -> TaskData:
    """``None``: distillation on the synthetic benchmark's images (no download);
    ``"neural"``: distillation on the neural training images (evaluated on the held-out
    ones); a folder path: a torchvision ``ImageFolder`` with cross-entropy (``<path>/train``
    and ``<path>/val`` when both exist, else a seeded held-out fraction of ``<path>``).
    Distillation targets and labels come from the caller, which holds the original model.
    Every training and evaluation image is hashed for the leak check (:func:`check_disjoint`);
    for an ImageFolder that reads each of its training files once.
    """
    if task_data is None or task_data == "synthetic":
        from ..datasets.synthetic import synthetic_stimuli

        stim = synthetic_stimuli()
        train, test = split_ids(stim.stimulus_ids, heldout_fraction, seed)
        return TaskData("distill", "distillation to the original logits on the synthetic images",
                        load_images(stim, train, transform), None, np.arange(len(train)),
                        load_images(stim, test[:max_eval], transform),
                        train_group=stimulus_group("task training", stim, train),
                        eval_group=stimulus_group("task evaluation", stim, test[:max_eval]))
    if task_data == "neural":
        tr, te = neural_images
        return TaskData("distill", "distillation to the original logits on the neural training images",
                        tr, None, np.arange(len(tr)), te[:max_eval], shares_neural_images=True)
    from torchvision.datasets import ImageFolder

    root = Path(os.fspath(task_data))
    if not root.is_dir():
        raise DataError(f"task data {root} is not a folder; give an ImageFolder path (class subfolders), "
                        "'neural', or nothing for the built-in distillation task.")
    if (root / "train").is_dir() and (root / "val").is_dir():
        train_ds, eval_ds = ImageFolder(root / "train", transform), ImageFolder(root / "val", transform)
        train_index = np.arange(len(train_ds))
        eval_index = np.random.default_rng([seed, 10]).permutation(len(eval_ds))[:max_eval]
    else:
        train_ds = eval_ds = ImageFolder(root, transform)
        ids = [str(i) for i in range(len(train_ds))]
        tr, te = split_ids(ids, heldout_fraction, seed)
        train_index, eval_index = np.array(tr, dtype=int), np.array(te, dtype=int)[:max_eval]
    eval_images = torch.stack([eval_ds[int(i)][0] for i in eval_index])
    eval_labels = torch.as_tensor([eval_ds.targets[int(i)] for i in eval_index])
    return TaskData("labels", f"cross-entropy on ImageFolder {root}", None, train_ds, train_index,
                    eval_images, eval_labels,
                    train_group=file_group("task training", [train_ds.samples[int(i)][0] for i in train_index]),
                    eval_group=file_group("task evaluation", [eval_ds.samples[int(i)][0] for i in eval_index]))

