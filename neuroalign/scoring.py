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
from .benchmarks import Benchmark, get_benchmark, load_stimulus_set
from .data.assembly import as_averaged, is_averaged, select_stimuli, stimulus_ids
from .errors import DataError
from .failpoints import failpoint

MIN_CEILING = 0.1  # neurons below this reliability are reported, not normalised
RESULT_COLUMNS = ["model", "benchmark", "kind", "region", "scope", "layer", "selected", "raw", "ceiling", "normalized",
                  "ci_low", "ci_high", "ceiling_low", "ceiling_high", "id_score", "ood_score", "gap", "ratio",
                  "n_neuroids", "n_stimuli"]


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
    """Per-layer ``presentation × feature`` activations (or a twin's outputs under ``"output"``)."""
    from .activations import extract

    if getattr(model, "is_twin", False):
        from .activations import extract_outputs

        return {"output": extract_outputs(model, stimuli, device=device, cache_dir=cache_dir, progress=progress)}
    layers = list(layers or model.layers)
    feats = extract(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                    budget_bytes=budget_bytes, progress=progress)
    return {layer: feats[layer].load() for layer in layers}


# ---- per-kind scoring --------------------------------------------------------------------

def _ceiling(assembly: xr.DataArray, seed: int, stimulus_ids=None) -> xr.DataArray | None:
    from .ceiling import split_half_reliability

    if is_averaged(assembly):
        return None
    return split_half_reliability(assembly, seed=seed, stimulus_ids=stimulus_ids, min_ceiling=MIN_CEILING)


def _normalise(raw: np.ndarray, ceiling: np.ndarray | None) -> np.ndarray:
    """r/√ceiling, NaN where the ceiling is below ``MIN_CEILING`` or absent."""
    if ceiling is None:
        return np.full_like(raw, np.nan)
    return raw / np.sqrt(np.where(ceiling >= MIN_CEILING, ceiling, np.nan))


ENCODING_ALPHAS = tuple(np.logspace(-3, 7, 21))


def _unit_scale(features: xr.DataArray) -> xr.DataArray:
    """Divide a layer by one number, its RMS feature standard deviation, so one alpha grid
    fits layers of any magnitude. A single scalar: no per-feature statistics, no responses."""
    x = np.asarray(features.values, dtype=np.float64)
    scale = float(np.sqrt(np.mean(np.var(x, axis=0))))
    return features.copy(data=x / scale) if scale > 0 else features


def score_encoding(features: dict[str, xr.DataArray], assembly: xr.DataArray, *, n_splits: int = 5,
                   seed: int = 0, estimator=None, budget_bytes: float | None = None) -> xr.Dataset:
    """Outer K-fold ridge per layer, with the layer chosen per fold on training stimuli only.

    For each outer fold every layer is fitted on the training stimuli; the layer whose
    inner (GCV) score on those training stimuli is highest is the fold's choice, and the
    reported raw score of each neuroid is its held-out Pearson r under that choice.
    """
    from .mapping import RidgeCV, check_ridge_budget, cross_validated_encoding, make_splits

    avg = as_averaged(assembly)
    for layer, f in features.items():  # refuse before any work, naming the setting that fits
        check_ridge_budget(avg.sizes["presentation"], f.shape[1], avg.sizes["neuroid"], budget_bytes,
                           what=f"ridge fit of layer {layer!r}")
    splits, record = make_splits(avg["stimulus_id"].values, n_splits=n_splits, seed=seed)
    estimator = estimator if estimator is not None else RidgeCV(alphas=ENCODING_ALPHAS)
    layers = list(features)
    per_layer = {}
    for layer in layers:
        per_layer[layer] = cross_validated_encoding(_unit_scale(features[layer]), avg, (splits, record), estimator)
        failpoint("encoding.layer")
    r = np.stack([per_layer[layer]["r"].values for layer in layers])  # (layer, split, neuroid)
    inner = np.stack([np.nanmean(per_layer[layer]["inner_r2"].values, axis=1) for layer in layers])  # (layer, split)
    choice = np.argmax(inner, axis=0)  # per split
    raw_split = r[choice, np.arange(r.shape[1])]  # (split, neuroid)
    raw = np.nanmean(raw_split, axis=0)
    ceiling = _ceiling(assembly, seed)
    cvals = None if ceiling is None else ceiling.values
    normalized = _normalise(raw, cvals)
    layer_neuroid = np.nanmean(r, axis=1)  # (layer, neuroid), mean over splits
    layer_raw = np.nanmedian(layer_neuroid, axis=1)
    layer_norm = [np.nanmedian(_normalise(row, cvals)) for row in layer_neuroid]
    chosen = pd.Series([layers[c] for c in choice]).mode().iloc[0]
    ds = xr.Dataset(
        {
            "raw": ("neuroid", raw),
            "raw_per_split": (("split", "neuroid"), raw_split),
            "ceiling": ("neuroid", cvals if cvals is not None else np.full(raw.shape, np.nan)),
            "normalized": ("neuroid", normalized),
            "layer_raw": ("layer", layer_raw),
            "layer_normalized": ("layer", np.asarray(layer_norm, dtype=float)),
            "layer_raw_per_neuroid": (("layer", "neuroid"), layer_neuroid),
            "inner_score": (("layer", "split"), inner),
            "alpha": (("split", "neuroid"), per_layer[chosen]["alpha"].values),
            "chosen_layer_per_split": ("split", np.asarray([layers[c] for c in choice])),
        },
        coords={"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers,
                "split": np.arange(len(splits)),
                "reliable": ("neuroid", (cvals >= MIN_CEILING) if cvals is not None else np.zeros(raw.shape, bool))},
        attrs={
            "metric": "Pearson r on held-out stimuli (outer K-fold), ridge with per-neuroid alpha by GCV",
            "normalization": "r/sqrt(ceiling)" if cvals is not None else "none: no repetitions, no ceiling",
            "ceiling_method": "" if ceiling is None else ceiling.attrs.get("method", "split-half"),
            "layer": chosen,
            "layer_selection": "per outer fold, the layer with the best inner GCV R² on that fold's training "
                               "stimuli; the reported score never uses a fold's test stimuli for the choice",
            "splits": json.dumps(record),
            "aggregate_raw": float(np.nanmedian(raw)),
            "aggregate_ceiling": float(np.nanmedian(cvals)) if cvals is not None else float("nan"),
            "aggregate_normalized": float(np.nanmedian(normalized)) if cvals is not None else float("nan"),
            "n_unreliable_neuroids": int((cvals < MIN_CEILING).sum()) if cvals is not None else 0,
            "n_stimuli": int(avg.sizes["presentation"]),
        },
    )
    return ds


def _selection_halves(ids: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 7]).permutation(len(ids))
    half = len(ids) // 2
    return np.sort(ids[perm[:half]]), np.sort(ids[perm[half:]])


def score_pls(features, assembly, *, seed: int = 0) -> xr.Dataset:
    """Brain-Score's PLS protocol per layer; layer chosen on one half of the stimuli, reported on the other."""
    from .mapping import brainscore_pls_protocol

    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    sel, rep = _selection_halves(ids, seed)
    layers = list(features)
    full = [brainscore_pls_protocol(features[layer], avg, seed=seed) for layer in layers]
    on_sel = [float(brainscore_pls_protocol(features[layer], select_stimuli(avg, sel), seed=seed)["score"]) for layer in layers]
    chosen = layers[int(np.nanargmax(on_sel))]
    reported = brainscore_pls_protocol(features[chosen], select_stimuli(avg, rep), seed=seed)
    ceiling = _ceiling(assembly, seed)
    c_rep = _ceiling(assembly, seed, stimulus_ids=rep)
    raw_neuroid = reported["r"].mean("split").values
    agg_ceiling = float(np.nanmedian(c_rep.values)) if c_rep is not None else float("nan")
    return xr.Dataset(
        {
            "raw": ("neuroid", raw_neuroid),
            "raw_per_split": (("split", "neuroid"), reported["r"].values),
            "ceiling": ("neuroid", c_rep.values if c_rep is not None else np.full(raw_neuroid.shape, np.nan)),
            "layer_raw": ("layer", [float(f["score"]) for f in full]),
            "layer_selection_score": ("layer", on_sel),
        },
        coords={"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers},
        attrs={
            "metric": "Brain-Score PLS protocol (25 components, 10 × 90/10 ShuffleSplit, Pearson r per neuroid, "
                      "median over neuroids per split, mean over splits)",
            "normalization": "raw/ceiling (Brain-Score's convention)" if ceiling is not None else "none: no ceiling",
            "layer": chosen,
            "layer_selection": "best layer on a random half of the stimuli; score and ceiling reported on the other half",
            "aggregate_raw": float(reported["score"]),
            "aggregate_ceiling": agg_ceiling,
            "aggregate_normalized": float(reported["score"]) / agg_ceiling if c_rep is not None else float("nan"),
            "n_stimuli": int(len(rep)),
            "full_data_ceiling": float(np.nanmedian(ceiling.values)) if ceiling is not None else float("nan"),
        },
    )


def _per_subject(rdms: xr.DataArray) -> xr.DataArray:
    """Average RDMs of one subject (e.g. two sessions) so the noise ceiling runs over subjects."""
    if "subject" in rdms.coords and pd.Index(rdms["subject"].values).has_duplicates:
        return rdms.groupby("subject").mean("rdm").rename(subject="rdm").assign_coords(
            subject=("rdm", np.unique(rdms["subject"].values)))
    return rdms


def score_rsa(features, data_rdms: xr.DataArray, *, method: str = "spearman", seed: int = 0,
              n_bootstrap: int = 100) -> xr.Dataset:
    """Model RDMs (correlation distance) per layer vs the data RDMs, with bootstrap CI and noise ceiling."""
    from .similarity import bootstrap, compare_rdms, compute_rdms, noise_ceiling

    layers = list(features)
    data_rdms = _per_subject(data_rdms)
    ids = data_rdms["row"].values.astype(str)
    model_rdms = xr.concat([compute_rdms(select_stimuli(features[layer], ids), "correlation") for layer in layers],
                           dim="rdm").assign_coords(layer=("rdm", layers))
    n_sub = data_rdms.sizes["rdm"]
    boot = bootstrap(model_rdms, data_rdms, method=method, kind="stimulus", n_samples=n_bootstrap, seed=seed,
                     ceiling=n_sub > 1)
    per_layer = np.asarray(boot.point, dtype=float)
    ci = boot.ci(0.95)
    sel, rep = _selection_halves(ids, seed)
    sub = lambda r, s: r.sel(row=s, col=s)  # noqa: E731
    on_sel = np.nanmean(np.atleast_2d(compare_rdms(sub(model_rdms, sel), sub(data_rdms, sel), method=method)), axis=1)
    chosen_i = int(np.nanargmax(on_sel))
    reported = float(np.nanmean(compare_rdms(sub(model_rdms, rep).isel(rdm=[chosen_i]), sub(data_rdms, rep),
                                             method=method)))
    low, high = boot.ceiling if n_sub > 1 else (np.nan, np.nan)
    low_r, high_r = noise_ceiling(sub(data_rdms, rep), method=method) if n_sub > 1 else (np.nan, np.nan)
    return xr.Dataset(
        {"layer_raw": ("layer", per_layer), "layer_ci_low": ("layer", ci[0]), "layer_ci_high": ("layer", ci[1]),
         "layer_selection_score": ("layer", on_sel)},
        coords={"layer": layers},
        attrs={
            "metric": f"RSA: correlation-distance model RDM vs data RDM(s), {method}, mean over subjects; "
                      f"95% stimulus-bootstrap intervals ({n_bootstrap} samples)",
            "normalization": "raw / upper noise-ceiling bound" if n_sub > 1 else "none: a single data RDM has no ceiling",
            "layer": layers[chosen_i],
            "layer_selection": "best layer on a random half of the stimuli; score reported on the other half",
            "aggregate_raw": reported,
            "aggregate_ceiling": float(high_r),
            "aggregate_normalized": reported / float(high_r) if n_sub > 1 else float("nan"),
            "ceiling_low": float(low), "ceiling_high": float(high),
            "n_subjects": int(n_sub), "n_bootstrap": n_bootstrap, "n_stimuli": int(len(ids)),
        },
    )


def score_cka(features, assembly, *, debiased: bool = True, seed: int = 0) -> xr.Dataset:
    """CKA per layer between features and averaged responses; layer chosen on half the stimuli."""
    from .similarity import cka

    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    Y = np.asarray(avg.values, dtype=np.float64)

    def value(layer, subset):
        idx = pd.Index(ids).get_indexer(subset)
        return float(cka(select_stimuli(features[layer], subset).values, Y[idx], debiased=debiased))

    full = [value(layer, ids) for layer in layers]
    sel, rep = _selection_halves(ids, seed)
    on_sel = [value(layer, sel) for layer in layers]
    chosen = layers[int(np.nanargmax(on_sel))]
    reported = value(chosen, rep)
    return xr.Dataset(
        {"layer_raw": ("layer", full), "layer_selection_score": ("layer", on_sel)},
        coords={"layer": layers},
        attrs={"metric": f"{'debiased' if debiased else 'biased'} linear CKA (Gram form)",
               "cka_variant": "debiased (unbiased HSIC)" if debiased else "biased (drifts with the number of stimuli)",
               "normalization": "none", "layer": chosen,
               "layer_selection": "best layer on a random half of the stimuli; score reported on the other half",
               "aggregate_raw": reported, "aggregate_ceiling": float("nan"), "aggregate_normalized": float("nan"),
               "n_stimuli": int(len(rep))},
    )


def ood_split(bench: Benchmark, stimuli, seed: int = 0):
    from .ood import split_by_clusters, split_by_label, split_by_statistic

    o = bench.options
    if o["split"] == "label":
        return split_by_label(stimuli, o["column"], [o["train"]], [o["test"]])
    if o["split"] == "statistic":
        return split_by_statistic(stimuli, o["statistic"], direction=o.get("direction", "low_to_high"))
    if o["split"] == "clusters":
        return split_by_clusters(stimuli, n_clusters=o["n_clusters"], n_held_out=o["n_held_out"], seed=seed)
    raise DataError(f"benchmark {bench.identifier}: unknown OOD split kind {o['split']!r}.")


def score_ood(features, assembly, split, *, seed: int = 0) -> xr.Dataset:
    """ID vs OOD predictivity per layer; the layer is chosen by in-distribution score only."""
    from .ood import evaluate_ood

    layers = list(features)
    ceilings = {}  # per side's stimulus ids: the same for every layer, computed once

    def ceiling(a):
        key = tuple(stimulus_ids(a))
        if key not in ceilings:
            ceilings[key] = _ceiling(a, seed)
        return ceilings[key]

    results = {layer: evaluate_ood(features[layer], assembly, split, seed=seed, ceiling=ceiling) for layer in layers}
    keys = ("id_score", "ood_score", "gap", "ratio")
    table = {k: [float(results[layer].attrs[k]) for layer in layers] for k in keys}
    chosen = layers[int(np.nanargmax(table["id_score"]))]
    res = results[chosen]
    return xr.Dataset(
        {f"layer_{k}": ("layer", table[k]) for k in keys} | {"layer_raw": ("layer", table["ood_score"]),
                                                            "raw": ("neuroid", res["ood_r"].values),
                                                            "id_raw": ("neuroid", res["id_r"].values)},
        coords={"layer": layers, "neuroid_id": ("neuroid", res["neuroid_id"].values if "neuroid_id" in res.coords
                                                 else assembly["neuroid_id"].values)},
        attrs={"metric": "Pearson r: fit on the in-distribution stimuli, tested on held-out ID folds and on the OOD set",
               "normalization": "none (ratio = OOD / ID)", "layer": chosen,
               "layer_selection": "best in-distribution held-out score (never the OOD set)",
               "split": split.to_json(), **{k: float(res.attrs[k]) for k in keys},
               "train_test_distance": float(res.attrs.get("train_test_distance", np.nan)),
               "aggregate_raw": float(res.attrs["ood_score"]), "aggregate_ceiling": float("nan"),
               "aggregate_normalized": float("nan"), "n_stimuli": split.n_train + split.n_test},
    )


# ---- the entry point ---------------------------------------------------------------------

def score(model, benchmark: str | Benchmark, *, layers=None, reduction="avgpool", seed: int = 0,
          device="auto", cache_dir=None, budget_bytes=None, progress=False, features=None,
          dask: str | None = None, dask_workers: int = 2) -> xr.Dataset:
    """Score a model (spec string or LoadedModel) on a benchmark; returns a Score Dataset.

    ``dask``: fit the encoding ridge's targets on a dask cluster (``"local"``, ``"slurm"``
    or a scheduler address); the numbers are those of the in-process fit.
    """
    from .models import load_model

    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    if isinstance(model, str):
        model = load_model(model)
    stimuli = load_stimulus_set(bench.stimulus_set)
    if features is None:
        features = model_features(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                                  budget_bytes=budget_bytes, progress=progress)
    data = bench.load()
    o = bench.options
    if bench.kind == "encoding":
        from .mapping import DistributedRidgeCV, RidgeCV, dask_cluster

        with dask_cluster(dask, n_workers=dask_workers) as address:  # one alpha grid and device whether distributed or not
            est = (DistributedRidgeCV(alphas=ENCODING_ALPHAS, device=device, client=address) if address
                   else RidgeCV(alphas=ENCODING_ALPHAS, device=device))
            ds = score_encoding(features, data, n_splits=o.get("n_splits", 5), seed=seed, estimator=est,
                                budget_bytes=budget_bytes)
    elif bench.kind == "pls":
        ds = score_pls(features, data, seed=seed)
    elif bench.kind == "rsa":
        if "rdms" not in o:  # neural RDM from averaged responses
            from .similarity import compute_rdms

            avg = as_averaged(data)
            data = compute_rdms(avg, "correlation")
        ds = score_rsa(features, data, method=o.get("method", "spearman"), seed=seed)
    elif bench.kind == "cka":
        ds = score_cka(features, data, debiased=o.get("debiased", True), seed=seed)
    elif bench.kind == "ood":
        ds = score_ood(features, data, ood_split(bench, stimuli, seed), seed=seed)
    else:
        raise DataError(f"benchmark {bench.identifier}: unknown kind {bench.kind!r}.")
    ds.attrs.update(
        model=getattr(model, "name", str(model)), model_identity=getattr(model, "identity", ""),
        benchmark=bench.identifier, kind=bench.kind, region=bench.region, seed=int(seed),
        reduction=str(reduction), data_hash=stimuli.content_hash, versions=json.dumps(versions()),
    )
    return ds


def save_score(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    return write_netcdf(ds, path)


def load_score(path: str | os.PathLike) -> xr.Dataset:
    return read_netcdf(path, what="score file")


def result_rows(ds: xr.Dataset) -> pd.DataFrame:
    """Results-table rows: one per layer (``scope="layer"``, full-data numbers, ``selected`` marks
    the chosen layer) and one ``scope="reported"`` row with the benchmark's unbiased score."""
    a = ds.attrs
    rows = []
    for i, layer in enumerate(ds["layer"].values.astype(str)):
        sel = layer == a["layer"]
        row = {c: np.nan for c in RESULT_COLUMNS}
        row.update(model=a["model"], benchmark=a["benchmark"], kind=a["kind"], region=a["region"], scope="layer",
                   layer=layer,
                   selected=bool(sel), n_stimuli=a.get("n_stimuli", np.nan),
                   n_neuroids=ds.sizes.get("neuroid", np.nan))
        row["raw"] = float(ds["layer_raw"].values[i])
        if "layer_normalized" in ds:
            row["normalized"] = float(ds["layer_normalized"].values[i])
        if "layer_ci_low" in ds:
            row["ci_low"], row["ci_high"] = float(ds["layer_ci_low"].values[i]), float(ds["layer_ci_high"].values[i])
        for k in ("ceiling_low", "ceiling_high"):
            if k in a:
                row[k] = float(a[k])
        for k in ("id_score", "ood_score", "gap", "ratio"):
            if f"layer_{k}" in ds:
                row[k] = float(ds[f"layer_{k}"].values[i])
        row["ceiling"] = a.get("aggregate_ceiling", np.nan)
        rows.append(row)
    summary = {c: np.nan for c in RESULT_COLUMNS}
    summary.update(model=a["model"], benchmark=a["benchmark"], kind=a["kind"], region=a["region"], scope="reported",
                   layer=a["layer"], selected=True, raw=a["aggregate_raw"], ceiling=a["aggregate_ceiling"],
                   normalized=a["aggregate_normalized"], n_stimuli=a.get("n_stimuli", np.nan),
                   n_neuroids=ds.sizes.get("neuroid", np.nan))
    for k in ("id_score", "ood_score", "gap", "ratio", "ceiling_low", "ceiling_high"):
        if k in a:
            summary[k] = float(a[k])
    rows.append(summary)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
