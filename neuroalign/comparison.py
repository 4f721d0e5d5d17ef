"""Paired model comparison: is model A more brain-like than model B on these benchmarks?

Two Scores of one benchmark version hold the same resamples (:mod:`neuroalign.resampling`),
so their difference is resampled draw by draw, with nothing refitted: the paired 95 %
interval is ``diff ± z·√V`` (Schütt et al. 2023 combination of the both / stimuli / units
variances of the differenced draws), the two-sided p-value is that of ``diff / √V`` under
the normal approximation (so ``p < 0.05`` exactly when the interval excludes 0), and
``q_value`` is Benjamini–Hochberg across the benchmarks of one call. Definitions:
docs/methods.md ("Paired comparison").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from .errors import DataError
from .resampling import combined_variance, draws_of, interval, sizes_of

COLUMNS = ["benchmark", "model_a", "model_b", "score_a", "score_b", "diff", "ci_low", "ci_high", "p_value",
           "q_value", "scale", "n_stimuli", "n_neuroids", "method", "n_subjects"]
METHOD = "paired two-factor bootstrap ({n} shared draws, Schütt et al. 2023 variance); BH-FDR over the call's benchmarks"
#: The scale a difference is reported on, with the Score attribute holding its point value.
SCALES = {"normalized": "aggregate_normalized", "raw": "aggregate_raw"}


def bh_fdr(p) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN and do not count)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok])]
        ranked = p[order] * ok.size / np.arange(1, ok.size + 1)
        q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def _version(ds: xr.Dataset) -> str:
    from .versions import version_label

    return f"{ds.attrs.get('benchmark')} {version_label(ds.attrs.get('benchmark_version', '?'), ds.attrs.get('benchmark_hash', ''))}"


def check_comparable(a: xr.Dataset, b: xr.Dataset, where=("score A", "score B")) -> None:
    """Same benchmark, same version and content hash, same draws; otherwise a DataError naming both."""
    keys = ("benchmark", "benchmark_version", "benchmark_hash")
    if a.attrs.get("benchmark") != b.attrs.get("benchmark"):
        raise DataError(f"cannot compare scores of different benchmarks: {where[0]} is {_version(a)}, {where[1]} is "
                        f"{_version(b)}; compare two models on one benchmark.")
    if any(str(a.attrs.get(k)) != str(b.attrs.get(k)) for k in keys):
        raise DataError(f"cannot compare scores of different benchmark versions: {where[0]} is {_version(a)}, "
                        f"{where[1]} is {_version(b)}; rescore both on the same benchmark version.")
    for name, ds in zip(where, (a, b)):
        if "resample_raw" not in ds:
            raise DataError(f"{name} ({ds.attrs.get('model')} on {ds.attrs.get('benchmark')}) has no shared "
                            "resamples (scored before they existed, or a kind without them); rescore it.")
    if a.attrs.get("resample_key") != b.attrs.get("resample_key") or a.sizes["resample"] != b.sizes["resample"]:
        raise DataError(f"{where[0]} and {where[1]} were resampled differently; rescore both with this version.")


def compare_scores(a: xr.Dataset, b: xr.Dataset, where=("score A", "score B")) -> dict:
    """One row of :data:`COLUMNS` (``q_value`` = ``p_value`` until :func:`bh_fdr` runs over a call)."""
    check_comparable(a, b, where)
    finite = all(np.isfinite(ds.attrs.get("aggregate_normalized", np.nan)) and
                 np.isfinite(ds["resample_normalized"].values).any() for ds in (a, b))
    scale = "normalized" if finite else "raw"
    sa, sb = float(a.attrs[SCALES[scale]]), float(b.attrs[SCALES[scale]])
    da, db = draws_of(a, scale), draws_of(b, scale)
    d = {f: da[f] - db[f] for f in da}
    diff = sa - sb
    n = sizes_of(a)
    sd = float(np.sqrt(combined_variance(d, n)))
    lo, hi = interval(diff, d, n=n)
    p = float(2 * norm.sf(abs(diff) / sd)) if sd > 0 else (0.0 if diff else 1.0)
    return {"benchmark": a.attrs["benchmark"], "model_a": a.attrs["model"], "model_b": b.attrs["model"],
            "score_a": sa, "score_b": sb, "diff": diff, "ci_low": lo, "ci_high": hi, "p_value": p, "q_value": p,
            "scale": scale, "n_stimuli": int(a.attrs.get("n_stimuli", -1)), **unit_counts(a),
            "method": METHOD.format(n=a.sizes["resample"])}


def unit_counts(ds: xr.Dataset) -> dict:
    """``n_neuroids`` and ``n_subjects`` of a Score, each missing (NA) where its data has no such
    unit: an RSA benchmark of subject RDMs has subjects, not neuroids."""
    a = ds.attrs
    n_neur = ds.sizes.get("neuroid", a.get("resample_n_units") if a.get("resample_units") == "neuroids" else None)
    return {"n_neuroids": pd.NA if n_neur is None else int(n_neur),
            "n_subjects": pd.NA if a.get("n_subjects") is None else int(a["n_subjects"])}


def table(rows: list[dict]) -> pd.DataFrame:
    """The comparison table: rows with BH-FDR q-values across them."""
    df = pd.DataFrame(rows, columns=COLUMNS).astype({"n_neuroids": "Int64", "n_subjects": "Int64"})
    df["q_value"] = bh_fdr(df["p_value"].values)
    return df


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", str(text))[:120]


def cached_score(model: str, benchmark, cache_dir: str | os.PathLike | None = None, *, name: str | None = None,
                 **score_kw) -> xr.Dataset:
    """The Score of ``model`` (a spec) on ``benchmark``'s current version, from ``<cache_dir>/scores``
    when there, else scored and written there (NetCDF, atomic); ``name``: the model's name in
    the Score and the file (a workflow grid name), default the spec."""
    from .benchmarks import get_benchmark
    from .scoring import load_score, save_score, score
    from .versions import content_hash

    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    name = name or model
    if cache_dir is None:
        return score(model, bench, cache_dir=cache_dir, **score_kw).assign_attrs(model=name)
    h = content_hash(bench)
    path = Path(cache_dir) / "scores" / f"{_safe(name)}__{_safe(bench.identifier)}@v{bench.version}-{h}.nc"
    if path.is_file():
        return load_score(path)
    ds = score(model, bench, cache_dir=cache_dir, **score_kw).assign_attrs(model=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_score(ds, path)
    return ds


def workflow_models(config: str | os.PathLike | None = None) -> dict[str, dict]:
    """``name -> {spec, layers?, reduction?}`` of a workflow config's grid (default: the built-in
    pipelines/config/default.yaml), so ``compare`` takes the names the leaderboard shows."""
    from .workflow import DEFAULT, grid_models, with_defaults
    from .yamlsafe import safe_load

    path = Path(config) if config else DEFAULT
    if not path.is_file():
        raise DataError(f"workflow config {path} does not exist; give the config the workflow ran with (--config).")
    return grid_models(with_defaults(safe_load(path.read_text()) or {}))


def workflow_score(name: str, bench, results_dir) -> xr.Dataset | None:
    """The workflow's Score of grid model ``name`` (``<results_dir>/scores/<name>/<benchmark>.nc``)
    when it is of the benchmark's current version and carries the shared draws, else None."""
    from .scoring import load_score
    from .versions import content_hash

    path = Path(results_dir) / "scores" / name / f"{bench.identifier}.nc"
    if not path.is_file():
        return None
    ds = load_score(path)
    fresh = str(ds.attrs.get("benchmark_hash")) == content_hash(bench) and "resample_raw" in ds
    return ds if fresh else None


def model_score(name: str, benchmark: str, *, models: dict, results=None, cache_dir=None, **score_kw) -> xr.Dataset:
    """A model's Score by grid name or spec: the workflow's file under ``results`` when current,
    else scored (and cached) with the grid entry's spec, layers and reduction (``name`` itself
    when it is no grid name)."""
    from .benchmarks import get_benchmark

    bench = get_benchmark(benchmark)
    ds = workflow_score(name, bench, results) if results else None
    if ds is not None:
        return ds
    entry = models.get(name, {})
    if entry.get("sandbox"):  # submitted code runs sandboxed in the workflow, never in this process
        raise DataError(f"{name} is a submitted model: compare reads its workflow score "
                        f"(<results>/scores/{name}/{bench.identifier}.nc, current version) and none is there; run the "
                        "workflow first and pass --results.")
    kw = {**score_kw, **{k: entry[k] for k in ("layers", "reduction") if entry.get(k)}}
    return cached_score(entry.get("spec", name), bench, cache_dir, name=name, **kw)


def compare(model_a=None, model_b=None, benchmarks=(), *, scores=None, cache_dir=None, results=None, config=None,
            **score_kw) -> pd.DataFrame:
    """Paired comparison of two models, one row per benchmark (:data:`COLUMNS`).

    Either ``model_a``/``model_b`` (names of the workflow config's grid, ``config`` or the
    built-in default, or specs) with ``benchmarks`` (ids, benchmark files or ``brainscore:``
    ids): read from the workflow's ``results`` folder when scored there on the current
    version, else scored unless cached under ``cache_dir``; or ``scores``: pairs
    ``(score_a, score_b)`` of Datasets or NetCDF paths.
    """
    from .scoring import load_score

    if scores is not None:
        pairs = [tuple(load_score(s) if isinstance(s, (str, os.PathLike)) else s for s in pair) for pair in scores]
        names = [tuple(str(s) if isinstance(s, (str, os.PathLike)) else f"score {k}" for k, s in zip("AB", pair))
                 for pair in scores]
    else:
        if not (model_a and model_b and benchmarks):
            raise DataError("compare: give two models and at least one --benchmark, or --scores A.nc B.nc.")
        models = workflow_models(config)
        pairs = [tuple(model_score(m, b, models=models, results=results, cache_dir=cache_dir, **score_kw)
                       for m in (model_a, model_b)) for b in benchmarks]
        names = [(f"{model_a} on {b}", f"{model_b} on {b}") for b in benchmarks]
    return table([compare_scores(a, b, where) for (a, b), where in zip(pairs, names)])
