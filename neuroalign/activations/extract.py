"""Run a model over a stimulus set once and stream each layer's activations to disk.

One forward pass serves every requested layer (hooks); each layer goes to its own Zarr
store under its cache key, so a rerun with nothing changed does not touch the model, and
a change to weights, preprocessing, images or reduction lands in a new store.

Only the forward pass is on the critical path: the next batches are decoded and
preprocessed ahead (``loader``: worker processes, or in this process with
``num_workers=0``), and each batch's activations are written to Zarr on a background
thread (``store.BackgroundWrites``) while the next batch runs. None of this changes a number.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..data.stimuli import StimulusSet
from ..device import fast_layout, resolve_device
from ..errors import BudgetError, ModelError
from ..failpoints import failpoint
from ..models.base import LoadedModel
from .cache import cache_key, key_fields, store_path
from .hooks import ROOT, capture, resolve_layers
from .loader import WORKER_NICE, BatchTransform, auto_workers, iter_batches
from .reduction import Reduction, parse_reductions
from .store import BackgroundWrites, StoreWriter, open_activations


@dataclass
class _Job:
    layer: str
    reduction: Reduction
    path: Path
    attrs: dict
    feature_dim: str = "feature"
    coords: dict = field(default_factory=dict)  # fixed feature coords (twins' neuroid_id)
    shape: tuple[int, ...] = ()


def _as_model(model) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, str):
        from ..models import load_model

        return load_model(model)
    raise ModelError(f"expected a LoadedModel or a model spec string, got {type(model).__name__}.")


def _job(model: LoadedModel, stimuli: StimulusSet, layer: str, red: Reduction, amp: bool, cache_dir,
         **kw) -> _Job:
    fields = key_fields(model, layer, stimuli, red, amp, kw.get("coords"))
    key = cache_key(fields)
    attrs = {**fields, "cache_key": key, "model_name": model.name, "model_spec": model.spec,
             "stimulus_set": stimuli.identifier, "layer": layer or "output", "reduction_spec": str(red)}
    return _Job(layer, red, store_path(cache_dir, model.spec, layer, key), attrs, **kw)


def extract(model: LoadedModel | str, stimuli: StimulusSet, layers: Sequence[str] | str | None = None, *,
            reduction: str | dict = "avgpool", batch_size: int = 32, device="auto", amp: bool = False,
            num_workers: int | None = None, cache_dir=None, budget_bytes: float | None = None,
            progress: bool = True) -> dict[str, xr.DataArray]:
    """Activations of ``layers`` (default: the model's) for every stimulus, one lazily opened
    ``presentation × feature`` DataArray per layer (coord ``stimulus_id``).

    ``reduction``: ``"avgpool"``, ``"flatten"``, ``"srp:<dim>[:<seed>]"`` or a per-layer dict.
    ``amp`` autocasts to float16 on a GPU only. ``budget_bytes`` caps the size of any one
    layer's activations (n_stimuli × features × 4 bytes): over it, a BudgetError names the
    layer and a reduction that fits, before any work is done.

    ``num_workers``: processes that decode and preprocess the next batches while the model
    runs (``None``: ``loader.auto_workers``, overridable with ``$NEUROALIGN_EXTRACT_WORKERS``;
    0: in this process). The numbers do not depend on it. Writing to the stores runs on a
    background thread.
    """
    model = _as_model(model)
    layers = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers or model.layers))
    if not layers:
        raise ModelError(f"no layers to extract for {model.name}; pass layers=[...] (see list_layers).")
    resolve_layers(model.module, layers, model.name)
    reds = parse_reductions(reduction, layers)
    dev = resolve_device(device)
    use_amp = bool(amp) and dev.type in ("cuda", "mps")
    jobs = [_job(model, stimuli, layer, reds[layer], use_amp, cache_dir) for layer in layers]
    _run(model, stimuli, jobs, dev, use_amp, batch_size, num_workers, budget_bytes, progress)
    return {job.layer: open_activations(job.path) for job in jobs}


def extract_outputs(model: LoadedModel | str, stimuli: StimulusSet, *, batch_size: int = 32, device="auto",
                    amp: bool = False, num_workers: int | None = None, cache_dir=None, budget_bytes: float | None = None,
                    progress: bool = True) -> xr.DataArray:
    """A digital twin's predicted responses: ``presentation × neuroid`` with ``neuroid_id`` (and
    ``region``) coords, cached like layer activations, comparable to recordings directly."""
    model = _as_model(model)
    if not model.is_twin:
        raise ModelError(f"{model.name} is not a digital twin (is_twin=False); use extract() and a mapping.")
    dev = resolve_device(device)
    use_amp = bool(amp) and dev.type in ("cuda", "mps")
    region = str(model.metadata.get("region", "unknown"))
    coords = {"neuroid_id": np.asarray(model.neuroid_ids), "region": np.asarray([region] * len(model.neuroid_ids))}
    job = _job(model, stimuli, ROOT, Reduction("flatten"), use_amp, cache_dir, feature_dim="neuroid", coords=coords)
    _run(model, stimuli, [job], dev, use_amp, batch_size, num_workers, budget_bytes, progress)
    return open_activations(job.path)


def estimate_bytes(model: LoadedModel | str, stimuli: StimulusSet, layers: Sequence[str],
                   reduction: str | dict = "avgpool", device="auto") -> dict[str, int]:
    """Bytes each layer's float32 activations will take, from one probe forward pass."""
    model = _as_model(model)
    reds = parse_reductions(reduction, list(layers))
    shapes = _probe(model, stimuli, list(layers), resolve_device(device))
    return {layer: len(stimuli) * reds[layer].n_features(shapes[layer]) * 4 for layer in layers}


# ---- internals -------------------------------------------------------------------------

def _probe(model: LoadedModel, stimuli: StimulusSet, layers: list[str], dev: torch.device) -> dict[str, tuple]:
    """Per-image output shape of each layer, from one forward pass on the first image."""
    module = model.module.to(dev)
    x = BatchTransform(model.preprocessing.transform())([stimuli.load_image(stimuli.stimulus_ids[0])]).to(dev)
    with capture(module, layers, model_name=model.name) as got, torch.inference_mode():
        module(x)
    missing = [layer or "output" for layer in layers if layer not in got]
    if missing:
        raise ModelError(f"layers {missing} of {model.name} produced no output in a forward pass "
                         "(module defined but not called); pick another layer.")
    return {layer: tuple(got[layer].shape[1:]) for layer in layers}


def _fmt(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1000
    raise AssertionError


def _fitting(shape: tuple, n: int, budget: float, current: Reduction) -> str:
    """A reduction that fits the budget, said in words."""
    options = []
    avg = Reduction("avgpool").n_features(shape)
    if current.kind != "avgpool" and n * avg * 4 <= budget:
        options.append(f"reduction='avgpool' ({avg} features, {_fmt(n * avg * 4)})")
    dim = int(budget // (n * 4 + Reduction("srp", 1).working_bytes(shape)))  # features + projection, per dim
    if current.kind == "srp":
        dim = min(dim, current.dim - 1)
    if dim >= 1:
        nice = 10 ** int(math.log10(dim)) * (dim // 10 ** int(math.log10(dim)))
        options.append(f"reduction='srp:{nice}' ({_fmt(n * nice * 4)})")
    if not options:
        return "No reduction fits: raise budget_bytes or extract fewer stimuli."
    return " or ".join(options) + " would fit."


def extraction_manifest(who: dict, name: str, stimuli: StimulusSet, reduction, feats: dict, *,
                        sandboxed: bool = False) -> dict:
    """What one extraction made: the model (``who``: name and identity), the stimulus set (as named
    and its hash), the reduction, whether it ran sandboxed, and each layer's shape and store (the
    workflow's extract rule writes it; ``neuroalign extract --manifest``)."""
    return {"model": who["name"], "identity": who["identity"], "stimuli": name,
            "stimuli_hash": stimuli.content_hash, "reduction": reduction, "sandboxed": sandboxed,
            "layers": {k: {"shape": list(v.shape), "store": v.attrs.get("store", "")} for k, v in feats.items()}}


def write_manifest(info: dict, path) -> None:
    import json

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2))


def physical_memory() -> float:
    """The machine's memory in bytes: the budget when none is given (nothing larger can succeed)."""
    return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _check_budget(jobs: list[_Job], n: int, budget: float | None) -> None:
    """Refuse a layer whose features (and the reduction's own working memory, e.g. an SRP
    projection) exceed the budget, or the machine's memory when no budget is given."""
    if budget is None:
        budget = physical_memory()
    for job in jobs:
        feats = job.reduction.n_features(job.shape)
        work = job.reduction.working_bytes(job.shape)
        need = n * feats * 4 + work
        if need > budget:
            extra = f" + {_fmt(work)} for the projection" if work else ""
            raise BudgetError(
                f"layer {job.layer or 'output'!r} with reduction {str(job.reduction)!r} needs {_fmt(need)} "
                f"({n} stimuli × {feats} features × 4 bytes{extra}), over the budget of {_fmt(budget)}. "
                + _fitting(job.shape, n, budget, job.reduction)
            )


def _checked(model_name: str, job: _Job, values: np.ndarray, ids: list[str]) -> np.ndarray:
    """One batch of a layer's activations, refused unless it has the probe's width, a row per image
    and only finite values: a model whose output depends on the batch must not pass."""
    want = job.reduction.n_features(job.shape)
    batch = f"the batch of {len(ids)} stimuli {ids[0]}..{ids[-1]}"
    if values.ndim != 2 or values.shape != (len(ids), want):
        got = "x".join(map(str, values.shape))
        raise ModelError(f"{model_name}: layer {job.layer or 'output'!r} gave {got} values ({values.shape[-1]} features) "
                         f"for {batch}, but {want} features per image for one image; its output must not depend on "
                         "the batch: fix the model (or extract with --batch-size 1). Nothing was kept.")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        which = [ids[i] for i in np.flatnonzero(bad)]
        raise ModelError(f"{model_name}: layer {job.layer or 'output'!r} gave non-finite (NaN/Inf) activations for "
                         f"{len(which)} of {batch}, e.g. {which[:5]}; fix the model (check it at this batch size). "
                         "Nothing was kept.")
    return values


def _run(model: LoadedModel, stimuli: StimulusSet, jobs: list[_Job], dev: torch.device, amp: bool,
         batch_size: int, num_workers: int | None, budget: float | None, progress: bool) -> None:
    """Compute the jobs whose stores are absent, in one pass over the stimuli."""
    jobs = [j for j in jobs if not j.path.exists()]
    if not jobs:
        return
    n = len(stimuli)
    shapes = _probe(model, stimuli, [j.layer for j in jobs], dev)
    for job in jobs:
        job.shape = shapes[job.layer]
        feats = job.reduction.n_features(job.shape)
        for name, values in job.coords.items():
            if len(values) != feats:
                raise ModelError(f"{model.name}: output has {feats} units but {len(values)} {name} were given.")
    _check_budget(jobs, n, budget)

    module = model.module.to(dev).eval()
    fmt = fast_layout(module)
    if num_workers is None:
        num_workers = auto_workers(dev.type, -(-n // batch_size))
    autocast = (torch.autocast(device_type=dev.type, dtype=torch.float16) if amp else contextlib.nullcontext())
    with contextlib.ExitStack() as stack:
        # Workers start (fork) before any store or writer thread exists, and decode while the
        # stores are created.
        batches = stack.enter_context(contextlib.closing(iter_batches(
            stimuli, model.preprocessing.transform(), batch_size=batch_size, num_workers=num_workers,
            pin_memory=dev.type == "cuda", nice=WORKER_NICE if dev.type == "cpu" else 0)))
        writers = {}
        for job in jobs:
            tmp = stack.enter_context(atomic_path(job.path, overwrite=False))
            coords = job.coords or job.reduction.feature_coords(job.shape)
            writers[job.layer] = StoreWriter(tmp, stimuli.stimulus_ids, coords,
                                             job.reduction.n_features(job.shape), batch_size=batch_size,
                                             attrs=job.attrs, feature_dim=job.feature_dim)
        reduce = {job.layer: job.reduction for job in jobs}
        bar = stack.enter_context(tqdm(total=n, unit="img", desc=f"extract {model.name}", disable=not progress))
        got = stack.enter_context(capture(module, list(reduce), reduce, model.name))
        # Exits first: on an error the pending writes are dropped and the thread joined before
        # the temporary stores are removed.
        writes = stack.enter_context(BackgroundWrites(writers))
        stack.enter_context(torch.inference_mode())
        start = 0
        for x in batches:
            got.clear()
            with autocast:
                module(x.to(dev, non_blocking=True, memory_format=fmt if x.dim() == 4 else torch.preserve_format))
            # read after the whole forward pass (as before: a later in-place op is seen)
            ids = stimuli.stimulus_ids[start:start + x.shape[0]]
            writes.submit(start, {job.layer: _checked(model.name, job, got[job.layer].float().cpu().numpy(), ids)
                                  for job in jobs})
            start += x.shape[0]
            bar.update(x.shape[0])
            failpoint("extract.batch")
        writes.close()
        for writer in writers.values():
            writer.check_complete()
