"""``score(model, benchmark) -> Score``: the one entry point behind the CLI and the workflow.

A Score is an ``xarray.Dataset`` (see docs/architecture.md) holding the per-neuroid and
per-split raw values, the ceiling, the normalised score with its definition, every
candidate layer's score, the layer chosen and how, and provenance.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .atomic import read_netcdf, write_netcdf
from .benchmarks import Benchmark, get_benchmark
from .errors import DataError, NeuroalignError
from .scorers import METRIC_KINDS, NORMALIZERS, protocols, result_columns, run_metric


def __getattr__(name: str):
    if name == "RESULT_COLUMNS":  # derived from the metric-kind records (plugins' columns included)
        return result_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Regions whose benchmarks are checks of the method (known answers), never ranked beside brain data.
CHECK_REGIONS = ("synthetic",)


def versions() -> dict[str, str]:
    out = {"neuroalign": __version__, "python": platform.python_version()}
    for pkg in ("torch", "numpy", "scipy", "xarray", "scikit-learn"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


# ---- features ---------------------------------------------------------------------------

def model_features(model, stimuli, layers=None, *, reduction="avgpool", device="auto", cache_dir=None,
                   budget_bytes=None, progress=False) -> dict[str, xr.DataArray]:
    """Per-layer ``presentation × feature`` activations (or a twin's outputs under ``"output"``).

    Layers are loaded into memory in order while their total stays within ``budget_bytes``;
    the rest stay lazily opened on their Zarr stores and are read each time a metric uses
    them (one layer at a time), so the resident features of a many-layer model are bounded
    by the budget, not by the layer count. Without a budget every layer is loaded. The values
    are the same either way."""
    from .activations import extract

    if getattr(model, "is_twin", False):
        from .activations import extract_outputs

        return {"output": extract_outputs(model, stimuli, device=device, cache_dir=cache_dir, progress=progress)}
    layers = list(layers or model.layers)
    feats = extract(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                    budget_bytes=budget_bytes, progress=progress)
    return dict(zip(layers, _resident((feats[layer] for layer in layers), budget_bytes), strict=True))


def _resident(arrays, budget_bytes: float | None = None):
    """Each lazily opened array loaded while the running total of loaded bytes is within
    ``budget_bytes`` (all of them without a budget), else as it is (read on use)."""
    used = 0
    for a in arrays:
        if budget_bytes is None or used + a.nbytes <= budget_bytes:
            used += a.nbytes
            a = a.load()
        yield a


# ---- the entry point ---------------------------------------------------------------------

def check_protocol(bench: Benchmark, protocol: str) -> None:
    """Refuse a protocol no kind has, or one the benchmark's kind does not have."""
    if protocol not in protocols():
        raise DataError(f"protocol {protocol!r} is not one of {protocols()}.")
    if protocol != protocols()[0] and protocol not in METRIC_KINDS[bench.kind].protocols:
        having = [k for k, rec in METRIC_KINDS.items() if protocol in rec.protocols]
        raise DataError(f"benchmark {bench.identifier}: protocol {protocol!r} applies to "
                        f"{'/'.join(k.upper() for k in having)} benchmarks (this one is {bench.kind}); drop --protocol "
                        f"or pick a {' or '.join(f'*.{k}' for k in having)} benchmark.")


def score(model, benchmark: str | Benchmark, *, layers=None, reduction="avgpool", seed: int = 0,
          device="auto", cache_dir=None, budget_bytes=None, progress=False, features=None,
          dask: str | None = None, dask_workers: int = 2, protocol: str | None = None) -> xr.Dataset:
    """Score a model (spec string or LoadedModel) on a benchmark; returns a Score Dataset.

    ``dask``: fit the encoding ridge's targets on a dask cluster (``"local"``, ``"slurm"``
    or a scheduler address); the numbers are those of the in-process fit. ``protocol``:
    ``"brainscore"`` reproduces Brain-Score's PLS number (PLS benchmarks only); default
    the benchmark's own (``"neuroalign"``: leak-free layer choice). ``device`` reaches every
    kind that computes in torch (extraction, ridge, RSA, CKA, OOD).
    """
    from .models import load_model

    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    protocol = protocol or bench.options.get("protocol", "neuroalign")
    check_protocol(bench, protocol)
    if isinstance(model, str):
        model = load_model(model)
    stimuli = bench.stimuli()
    if features is None:
        features = model_features(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                                  budget_bytes=budget_bytes, progress=progress)
    from .progress import showing
    from .resampling import attach, resample_key
    from .versions import content_hash

    data = bench.load()
    with showing(progress):  # bars over layers and folds on a terminal
        ds = run_metric(bench.kind, features, data, bench, seed=seed, device=device, protocol=protocol,
                        stimuli=stimuli, budget_bytes=budget_bytes, dask=dask, dask_workers=dask_workers)
    ds.attrs.update(benchmark_version=int(bench.version),
                    benchmark_hash=content_hash(bench, data, stimuli.content_hash, protocol), kind=bench.kind)
    ds = attach(ds, data, bench, resample_key(bench, ds.attrs["benchmark_hash"]))
    ds.attrs.update(
        model=getattr(model, "name", str(model)), model_identity=getattr(model, "identity", ""),
        benchmark=bench.identifier, kind=bench.kind, region=bench.region, seed=int(seed),
        reduction=str(reduction), data_hash=stimuli.content_hash, versions=json.dumps(versions()),
        model_parameters=_n_parameters(model),
    )
    return ds


def _n_parameters(model) -> int:
    """Parameters of the model's network (-1 when it has none to count); shown on the model pages."""
    module = getattr(model, "module", None)
    return int(sum(p.numel() for p in module.parameters())) if hasattr(module, "parameters") else -1


def save_score(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """A Score as NetCDF; its large arrays (out-of-fold predictions, model RDM or Gram, draws)
    chunked and compressed (:func:`neuroalign.atomic.chunked_encoding`)."""
    from .atomic import chunked_encoding

    return write_netcdf(ds, path, encoding=chunked_encoding(ds))


def load_score(path: str | os.PathLike) -> xr.Dataset:
    return read_netcdf(path, what="score file")


def result_rows(ds: xr.Dataset) -> pd.DataFrame:
    """Results-table rows: one per layer (``scope="layer"``, full-data numbers, ``selected`` marks
    the chosen layer) and one ``scope="reported"`` row with the benchmark's unbiased score.
    Every row's ``raw``, ``ceiling`` and ``normalized`` follow the kind's one convention
    (``normalization``) over the same neuroids (``n_neuroids`` − ``n_excluded``). Reads the
    fields every Score declares (:data:`neuroalign.scorers.SCORE_FIELDS`, ``LAYER_VARS``)."""
    from .scorers import LATE_COLUMNS, SCORE_FIELDS, VALUE_COLUMNS, kind_columns

    a = {**SCORE_FIELDS, **ds.attrs}  # a Score written before a field existed reads it as not applicable
    columns = result_columns()
    values = [*VALUE_COLUMNS, *kind_columns(), *LATE_COLUMNS, *kind_columns(late=True)]
    base = {c: np.nan for c in columns}
    base.update(model=a["model"], model_identity=a.get("model_identity", ""), benchmark=a["benchmark"], kind=a["kind"], region=a["region"],
                n_neuroids=ds.sizes.get("neuroid", np.nan), n_stimuli=a["n_stimuli"],
                normalization=a["normalization"], protocol=a["protocol"], n_excluded=a["n_excluded"],
                excluded_reason=a["excluded_reason"], benchmark_version=a.get("benchmark_version", np.nan),
                benchmark_hash=a.get("benchmark_hash", ""),
                model_parameters=a["model_parameters"] if a.get("model_parameters", -1) >= 0 else np.nan)
    rows = []
    for i, layer in enumerate(ds["layer"].values.astype(str)):
        row = dict(base, scope="layer", layer=layer, selected=bool(layer == a["layer"]))
        row.update({col: float(ds[f"layer_{col}"].values[i]) for col in values if f"layer_{col}" in ds})
        rows.append(row)
    summary = dict(base, scope="reported", layer=a["layer"], selected=True)
    summary.update({col: a[f"aggregate_{col}" if col in VALUE_COLUMNS[:3] else col] for col in values})
    rows.append(summary)
    return pd.DataFrame(rows, columns=columns)


def refusal_rows(model: str, benchmark: str, reason: str) -> pd.DataFrame:
    """The results row of a sandboxed job whose output the host refused: no number, the reason
    in ``excluded_reason`` (``"refused: ..."``), which the leaderboard shows instead of a score."""
    try:
        b = get_benchmark(benchmark)
        ident, kind, region = b.identifier, b.kind, b.region
    except NeuroalignError:
        ident, kind, region = benchmark, "", ""
    columns = result_columns()
    row = {c: np.nan for c in columns}
    row.update(model=model, model_identity="", benchmark=ident, kind=kind, region=region, scope="reported", layer="",
               selected=True, normalization="none (refused)", excluded_reason=" ".join(reason.split())[:500])
    return pd.DataFrame([row], columns=columns)


def check_identities(table: pd.DataFrame, *, atol: float = 1e-9) -> list[str]:
    """The stated identities of every row (docs/methods.md), as messages naming each row that
    breaks one; empty when all hold. Checked by ``neuroalign results`` before it writes."""
    from .registry import ensure_loaded

    ensure_loaded()  # a plugin kind's records (its normaliser, its checks)
    bad = []
    t = table.reset_index(drop=True)
    for i, row in t.iterrows():
        def num(c):
            v = pd.to_numeric(pd.Series([row.get(c, np.nan)]), errors="coerce").iloc[0]
            return float(v)

        where = f"row {i} ({row.get('model')} × {row.get('benchmark')}, {row.get('scope')} {row.get('layer')})"
        raw, c, n = num("raw"), num("ceiling"), num("normalized")
        kind, proto = str(row.get("kind")), str(row.get("protocol"))
        if np.isfinite(n):
            strategy = NORMALIZERS.get(f"{kind}:{proto}", NORMALIZERS.get(kind))
            if strategy is None:
                bad.append(f"{where}: kind {kind!r} has no normalisation but normalized = {n}")
                continue
            expect = strategy(raw, c)
            if not np.isclose(n, expect, rtol=1e-7, atol=atol):
                bad.append(f"{where}: normalized {n} != {expect} from raw {raw} and ceiling {c}")
        for check in getattr(METRIC_KINDS.get(kind), "checks", ()):
            bad.extend(check(row, num, where, atol))
        ne, nn = num("n_excluded"), num("n_neuroids")
        if np.isfinite(ne) and np.isfinite(nn) and not 0 <= ne <= nn:
            bad.append(f"{where}: n_excluded {ne} outside 0..n_neuroids {nn}")
    return bad
