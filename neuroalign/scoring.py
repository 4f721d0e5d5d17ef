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
                  "brainscore_normalized", "normalization", "ci_low", "ci_high", "ceiling_low", "ceiling_high",
                  "id_score", "ood_score", "gap", "ratio", "id_normalized", "ood_normalized",
                  "gap_ci_low", "gap_ci_high", "n_neuroids", "n_excluded", "excluded_reason", "n_stimuli",
                  "protocol"]
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
    """Per-layer ``presentation × feature`` activations (or a twin's outputs under ``"output"``)."""
    from .activations import extract

    if getattr(model, "is_twin", False):
        from .activations import extract_outputs

        return {"output": extract_outputs(model, stimuli, device=device, cache_dir=cache_dir, progress=progress)}
    layers = list(layers or model.layers)
    feats = extract(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                    budget_bytes=budget_bytes, progress=progress)
    return {layer: feats[layer].load() for layer in layers}


# ---- ceilings and the one normalisation convention per kind ----------------------------

#: How each kind's ``normalized`` is defined (also in each Score's attrs and docs/methods.md).
NORMALIZATION = {
    "encoding": "raw / sqrt(ceiling); raw = median over the included neuroids of held-out Pearson r, "
                "ceiling = median over the same neuroids of the reliability of the averaged responses",
    "pls": "raw / sqrt(ceiling); raw = mean over random halves of the median over the included neuroids of "
           "held-out Pearson r (Brain-Score's PLS protocol), ceiling = median reliability over the same neuroids",
    "pls:brainscore": "raw / ceiling (Brain-Score's convention); raw = Brain-Score's PLS score on all images, "
                      "ceiling = internal consistency (split-half, Spearman-Brown; median over neuroids per split, "
                      "mean over splits)",
    "rsa": "raw / ceiling; ceiling = the upper bound of the RSA noise ceiling on the same stimuli",
    "cka": "none: CKA has no noise ceiling",
    "ood": "raw / sqrt(ceiling) on each side (ceiling on exactly that side's tested images, same neuroids); "
           "gap = id_normalized - ood_normalized, ratio = ood_normalized / id_normalized",
}
NO_CEILING = "none: the responses are repeat-averaged, so no ceiling can be estimated"


def _ceiling(assembly: xr.DataArray, stimulus_ids=None) -> xr.DataArray | None:
    """The default ceiling: reliability of exactly the averaged responses a model is scored
    against (variance components, each image's own trials); None for averaged data."""
    from .ceiling import averaged_reliability

    if is_averaged(assembly):
        return None
    return averaged_reliability(assembly, stimulus_ids=stimulus_ids, min_ceiling=MIN_CEILING)


def _internal_consistency(assembly: xr.DataArray, seed: int = 0, stimulus_ids=None) -> xr.DataArray | None:
    """Brain-Score's ceiling (split-half over repetition indices, Spearman-Brown), for
    ``brainscore_normalized`` only."""
    from .ceiling import split_half_reliability

    if is_averaged(assembly):
        return None
    return split_half_reliability(assembly, seed=seed, stimulus_ids=stimulus_ids, min_ceiling=MIN_CEILING)


def _included(raw: np.ndarray, ceiling: np.ndarray | None) -> tuple[np.ndarray, int, str]:
    """The neuroids a normalised score is computed over, how many are left out, and why."""
    finite = np.isfinite(raw)
    reliable = np.ones_like(finite) if ceiling is None else (ceiling >= MIN_CEILING)
    ok = finite & reliable
    reasons = []
    if (~reliable).sum():
        reasons.append(f"{int((~reliable).sum())} with ceiling < {MIN_CEILING} (or undefined)")
    if (reliable & ~finite).sum():
        reasons.append(f"{int((reliable & ~finite).sum())} with undefined r (constant response or prediction)")
    return ok, int((~ok).sum()), "; ".join(reasons)


def _median(values: np.ndarray, mask: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)[mask]
    return float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")


def _neural_summary(kind: str, raw: np.ndarray, ceiling: xr.DataArray | None, ic: xr.DataArray | None,
                    layer_neuroid: np.ndarray | None = None) -> dict:
    """Score attrs and per-layer values of one convention: ``raw``, ``ceiling`` and
    ``normalized`` over one neuroid set (``normalized = raw / sqrt(ceiling)``), the excluded
    count and reason, and Brain-Score's ``median raw / median internal consistency``."""
    c = None if ceiling is None else np.asarray(ceiling.values, dtype=np.float64)
    ok, n_excl, why = _included(raw, c)
    agg_raw = _median(raw, ok)
    agg_c = float("nan") if c is None else _median(c, ok)
    norm = (lambda r: r / np.sqrt(agg_c)) if c is not None and agg_c > 0 else (lambda r: float("nan"))
    bs_c = float("nan") if ic is None else float(ic.attrs["aggregate_brainscore"])
    out = {
        "attrs": {
            "aggregate_raw": agg_raw, "aggregate_ceiling": agg_c, "aggregate_normalized": float(norm(agg_raw)),
            "brainscore_normalized": float(np.nanmedian(raw)) / bs_c if ic is not None else float("nan"),
            "normalization": NORMALIZATION[kind] if c is not None else NO_CEILING,
            "ceiling_method": "" if ceiling is None else ceiling.attrs.get("method", ""),
            "n_excluded": n_excl, "excluded_reason": why, "n_included": int(ok.sum()),
            "min_ceiling": MIN_CEILING,
        },
        "included": ok,
    }
    if layer_neuroid is not None:
        layer_raw = np.array([_median(row, ok) for row in layer_neuroid])
        out["layer_raw"] = layer_raw
        out["layer_normalized"] = np.array([norm(v) for v in layer_raw], dtype=np.float64)
        out["layer_brainscore_normalized"] = (np.nanmedian(layer_neuroid, axis=1) / bs_c if ic is not None
                                              else np.full(len(layer_raw), np.nan))
    return out


def _ceiling_vars(raw: np.ndarray, ceiling, ok) -> dict:
    """Per-neuroid Score variables shared by the neural kinds."""
    cvals = np.full(raw.shape, np.nan) if ceiling is None else np.asarray(ceiling.values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(ok & (cvals > 0), raw / np.sqrt(cvals), np.nan)
    return {"ceiling": ("neuroid", cvals), "normalized": ("neuroid", per), "included": ("neuroid", ok)}


# ---- per-kind scoring --------------------------------------------------------------------

def score_encoding(features: dict[str, xr.DataArray], assembly: xr.DataArray, *, n_splits: int = 5,
                   seed: int = 0, estimator=None, budget_bytes: float | None = None, device="auto") -> xr.Dataset:
    """Outer K-fold ridge per layer, with the layer chosen per fold on training stimuli only.

    For each outer fold every layer is fitted on the training stimuli; the layer whose
    inner (GCV) score on those training stimuli is highest is the fold's choice, and the
    reported raw score of each neuroid is its held-out Pearson r under that choice.
    """
    from .mapping import check_ridge_budget, cross_validated_encoding, default_ridge, make_splits
    from .selection import nested_choice

    avg = as_averaged(assembly)
    for layer, f in features.items():  # refuse before any work, naming the setting that fits
        check_ridge_budget(avg.sizes["presentation"], f.shape[1], avg.sizes["neuroid"], budget_bytes,
                           what=f"ridge fit of layer {layer!r}")
    splits, record = make_splits(avg["stimulus_id"].values, n_splits=n_splits, seed=seed)
    estimator = estimator if estimator is not None else default_ridge(device=device)
    layers = list(features)
    per_layer = {}
    for layer in layers:
        per_layer[layer] = cross_validated_encoding(features[layer], avg, (splits, record), estimator)
        failpoint("encoding.layer")
    r = np.stack([per_layer[layer]["r"].values for layer in layers])  # (layer, split, neuroid)
    inner = np.stack([np.nanmean(per_layer[layer]["inner_r2"].values, axis=1) for layer in layers])  # (layer, split)
    choice = nested_choice(inner)  # per split
    raw_split = r[choice, np.arange(r.shape[1])]  # (split, neuroid)
    raw = np.nanmean(raw_split, axis=0)
    ceiling = _ceiling(assembly)
    layer_neuroid = np.nanmean(r, axis=1)  # (layer, neuroid), mean over splits
    summary = _neural_summary("encoding", raw, ceiling, _internal_consistency(assembly, seed),
                              layer_neuroid=layer_neuroid)
    chosen = pd.Series([layers[c] for c in choice]).mode().iloc[0]
    split_scores = np.array([_median(row, summary["included"]) for row in raw_split])
    n_test = np.array([len(te) for _, te in splits])
    from .selection import corrected_fold_interval

    ci = corrected_fold_interval(split_scores, int(avg.sizes["presentation"] - n_test.mean()), int(n_test.mean()))
    return xr.Dataset(
        {
            "raw": ("neuroid", raw),
            "raw_per_split": (("split", "neuroid"), raw_split),
            **_ceiling_vars(raw, ceiling, summary["included"]),
            "layer_raw": ("layer", summary["layer_raw"]),
            "layer_normalized": ("layer", summary["layer_normalized"]),
            "layer_brainscore_normalized": ("layer", summary["layer_brainscore_normalized"]),
            "layer_raw_per_neuroid": (("layer", "neuroid"), layer_neuroid),
            "layer_inner_score": (("layer", "split"), inner),
            "chosen_layer_per_split": ("split", np.array([layers[c] for c in choice])),
        },
        coords={"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers, "split": np.arange(len(splits))},
        attrs={
            "metric": "Pearson r on held-out stimuli (outer K-fold), ridge with per-neuroid alpha by GCV",
            **summary["attrs"],
            "layer": chosen,
            "layer_selection": "nested: per outer fold, the layer with the best inner GCV R² on that fold's training "
                               "stimuli; the reported score never uses a fold's test stimuli for the choice",
            "splits": json.dumps(record),
            "ci_low": ci[0], "ci_high": ci[1],
            "ci_method": "95% interval of the mean over outer folds, Nadeau-Bengio corrected variance",
            "protocol": "neuroalign",
            "n_stimuli": int(avg.sizes["presentation"]),
        },
    )


N_HALVES = {"pls": 10, "rsa": 50, "cka": 20}


def _stratify_coord(avg: xr.DataArray) -> str | None:
    """Brain-Score stratifies its splits by ``object_name`` where the data has that coord."""
    return "object_name" if "object_name" in avg.coords else None


def score_pls(features, assembly, *, seed: int = 0, protocol: str = "neuroalign",
              n_halves: int | None = None) -> xr.Dataset:
    """PLS under Brain-Score's protocol (25 components, 10 × 90/10 ShuffleSplit with
    ``random_state=1``, stratified by ``object_name`` where present).

    ``protocol="neuroalign"`` (default): the layer is chosen on one random half of the
    images and scored on the other, over ``n_halves`` halves; normalised r/√reliability.
    ``protocol="brainscore"``: Brain-Score's number exactly — all images, normalised by
    its internal consistency (raw/ceiling) — for the best candidate layer (optimistic when
    there are several: Brain-Score commits a layer on other data).
    """
    from .mapping import brainscore_pls_protocol
    from .selection import half_sample_interval, random_halves

    if protocol not in ("neuroalign", "brainscore"):
        raise DataError(f"pls: protocol must be 'neuroalign' or 'brainscore', got {protocol!r}.")
    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    strat = _stratify_coord(avg)

    def run(layer, sub=None):
        data = avg if sub is None else select_stimuli(avg, sub)
        return brainscore_pls_protocol(features[layer], data, seed=1, stratify_coord=strat)

    full = [run(layer) for layer in layers]
    layer_neuroid = np.stack([f["r"].mean("split").values for f in full])
    ic = _internal_consistency(assembly, seed)
    common = {"coords": {"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers}}
    metric = ("Brain-Score PLS protocol (25 components, 10 × 90/10 ShuffleSplit random_state=1"
              + (f", stratified by {strat}" if strat else "") + "; Pearson r per neuroid)")
    if protocol == "brainscore":
        scores = np.array([float(f["score"]) for f in full])
        best = int(np.nanargmax(scores))
        bs_c = float(ic.attrs["aggregate_brainscore"]) if ic is not None else float("nan")
        norm = scores[best] / bs_c if ic is not None else float("nan")
        return xr.Dataset(
            {"raw": ("neuroid", layer_neuroid[best]), "raw_per_split": (("split", "neuroid"), full[best]["r"].values),
             "ceiling": ("neuroid", ic.values if ic is not None else np.full(layer_neuroid.shape[1], np.nan)),
             "layer_raw": ("layer", scores),
             "layer_normalized": ("layer", scores / bs_c if ic is not None else np.full(len(layers), np.nan)),
             "layer_brainscore_normalized": ("layer", scores / bs_c if ic is not None else np.full(len(layers), np.nan))},
            **common,
            attrs={"metric": metric + "; median over neuroids per split, mean over splits",
                   "normalization": NORMALIZATION["pls:brainscore"] if ic is not None else NO_CEILING,
                   "ceiling_method": "" if ic is None else ic.attrs["method"],
                   "layer": layers[best],
                   "layer_selection": "Brain-Score protocol: best candidate layer on all images (optimistic with "
                                      "several candidates; pass one layer to reproduce a committed model)",
                   "aggregate_raw": float(scores[best]), "aggregate_ceiling": bs_c, "aggregate_normalized": norm,
                   "brainscore_normalized": norm, "n_excluded": 0, "excluded_reason": "", "protocol": "brainscore",
                   "n_stimuli": int(len(ids)), "ci_low": float("nan"), "ci_high": float("nan")},
        )
    halves = random_halves(ids, n_halves or N_HALVES["pls"], seed)
    per_half, chosen = [], []
    for sel, rep in halves:
        on_sel = [float(run(layer, sel)["score"]) for layer in layers]
        c = int(np.nanargmax(on_sel))
        chosen.append(layers[c])
        per_half.append(run(layers[c], rep)["r"].mean("split").values)
    per_half = np.stack(per_half)  # (half, neuroid)
    raw = np.nanmean(per_half, axis=0)
    ceiling = _ceiling(assembly)
    summary = _neural_summary("pls", raw, ceiling, ic, layer_neuroid=layer_neuroid)
    ok = summary["included"]
    half_raw = np.array([_median(row, ok) for row in per_half])
    attrs = summary["attrs"]
    attrs["aggregate_raw"] = float(np.mean(half_raw))  # mean over halves of the per-half median
    c_agg = attrs["aggregate_ceiling"]
    attrs["aggregate_normalized"] = attrs["aggregate_raw"] / np.sqrt(c_agg) if c_agg > 0 else float("nan")
    ci = half_sample_interval(half_raw)
    return xr.Dataset(
        {"raw": ("neuroid", raw), "raw_per_half": (("half", "neuroid"), per_half),
         **_ceiling_vars(raw, ceiling, ok),
         "layer_raw": ("layer", summary["layer_raw"]), "layer_normalized": ("layer", summary["layer_normalized"]),
         "layer_brainscore_normalized": ("layer", summary["layer_brainscore_normalized"]),
         "chosen_layer_per_half": ("half", np.array(chosen))},
        **common,
        attrs={"metric": metric + "; median over the included neuroids, mean over random halves", **attrs,
               "layer": pd.Series(chosen).mode().iloc[0],
               "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half and "
                                  "scored on the other; the modal choice is named",
               "ci_low": ci[0], "ci_high": ci[1],
               "ci_method": "mean ± 1.96 sd over random halves (delete-half jackknife)",
               "protocol": "neuroalign", "n_stimuli": int(len(ids))},
    )


def _per_subject(rdms: xr.DataArray) -> xr.DataArray:
    """Average RDMs of one subject (e.g. two sessions) so the noise ceiling runs over subjects."""
    if "subject" in rdms.coords and pd.Index(rdms["subject"].values).has_duplicates:
        return rdms.groupby("subject").mean("rdm").rename(subject="rdm").assign_coords(
            subject=("rdm", np.unique(rdms["subject"].values)))
    return rdms


def _half_counts(ids: np.ndarray, halves) -> tuple[np.ndarray, np.ndarray]:
    """0/1 stimulus weights ``(n_halves, n)`` of the selection and report halves."""
    index = pd.Index(ids)
    sel = np.zeros((len(halves), len(ids)))
    for b, (s, _) in enumerate(halves):
        sel[b, index.get_indexer(s)] = 1.0
    return sel, 1.0 - sel


def score_rsa(features, data_rdms: xr.DataArray, *, method: str = "spearman", seed: int = 0,
              n_bootstrap: int = 100, n_halves: int | None = None, device="auto") -> xr.Dataset:
    """Model RDMs (correlation distance) per layer vs the data RDMs, with bootstrap CI and noise ceiling.

    Reported: the mean over ``n_halves`` random halves of the score on one half of the
    layer chosen on the other, normalised by the mean upper noise-ceiling bound on the
    report halves; interval over the halves (split and sampling variability).
    """
    import torch

    from .selection import half_sample_interval, random_halves
    from .similarity import bootstrap, compute_rdms

    layers = list(features)
    data_rdms = _per_subject(data_rdms)
    ids = data_rdms["row"].values.astype(str)
    model_rdms = xr.concat([compute_rdms(select_stimuli(features[layer], ids), "correlation") for layer in layers],
                           dim="rdm").assign_coords(layer=("rdm", layers))
    n_sub = data_rdms.sizes["rdm"]
    ceil = n_sub > 1
    boot = bootstrap(model_rdms, data_rdms, method=method, kind="stimulus", n_samples=n_bootstrap, seed=seed,
                     ceiling=ceil, device=device)
    per_layer = np.asarray(boot.point, dtype=float)
    ci_layer = boot.ci(0.95)
    halves = random_halves(ids, n_halves or N_HALVES["rsa"], seed)
    c_sel, c_rep = (torch.as_tensor(c) for c in _half_counts(ids, halves))
    on_sel = bootstrap(model_rdms, data_rdms, method=method, counts=(c_sel, None), ceiling=False, device=device).samples
    rep = bootstrap(model_rdms, data_rdms, method=method, counts=(c_rep, None), ceiling=ceil, device=device)
    choice = np.argmax(np.where(np.isfinite(on_sel), on_sel, -np.inf), axis=1)
    half_raw = rep.samples[np.arange(len(halves)), choice]
    raw = float(np.nanmean(half_raw))
    upper = float(np.nanmean(rep.ceiling_samples[:, 1])) if ceil else float("nan")
    lower = float(np.nanmean(rep.ceiling_samples[:, 0])) if ceil else float("nan")
    low, high = boot.ceiling if ceil else (np.nan, np.nan)
    ci = half_sample_interval(half_raw)
    norm = raw / upper if ceil else float("nan")
    return xr.Dataset(
        {"layer_raw": ("layer", per_layer), "layer_ci_low": ("layer", ci_layer[0]),
         "layer_ci_high": ("layer", ci_layer[1]),
         "layer_normalized": ("layer", per_layer / high if ceil else np.full(len(layers), np.nan)),
         "layer_selection_score": ("layer", np.nanmean(on_sel, axis=0)),
         "raw_per_half": ("half", half_raw), "chosen_layer_per_half": ("half", np.array(layers)[choice])},
        coords={"layer": layers},
        attrs={
            "metric": f"RSA: correlation-distance model RDM vs data RDM(s), {method}, mean over subjects; "
                      f"layer rows: all stimuli with 95% stimulus-bootstrap intervals ({n_bootstrap} samples)",
            "normalization": NORMALIZATION["rsa"] if ceil else "none: a single data RDM has no ceiling",
            "layer": pd.Series(np.array(layers)[choice]).mode().iloc[0],
            "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half of the "
                               "stimuli and scored on the other; the modal choice is named",
            "aggregate_raw": raw, "aggregate_ceiling": upper, "aggregate_normalized": norm,
            "brainscore_normalized": norm, "n_excluded": 0, "excluded_reason": "",
            "ceiling_low": lower, "ceiling_high": upper,
            "full_data_ceiling_low": float(low), "full_data_ceiling_high": float(high),
            "ci_low": ci[0], "ci_high": ci[1], "ci_method": "mean ± 1.96 sd over random halves (delete-half jackknife)",
            "protocol": "neuroalign",
            "n_subjects": int(n_sub), "n_bootstrap": n_bootstrap, "n_stimuli": int(len(ids)),
        },
    )


def score_cka(features, assembly, *, debiased: bool = True, seed: int = 0, n_halves: int | None = None,
              device="auto") -> xr.Dataset:
    """CKA per layer between features and averaged responses; layer chosen on random halves."""
    from .selection import half_sample_interval, random_halves
    from .similarity import cka

    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    Y = np.asarray(avg.values, dtype=np.float64)

    def value(layer, subset):
        idx = pd.Index(ids).get_indexer(subset)
        return float(cka(select_stimuli(features[layer], subset).values, Y[idx], debiased=debiased, device=device))

    full = [value(layer, ids) for layer in layers]
    halves = random_halves(ids, n_halves or N_HALVES["cka"], seed)
    chosen, half_raw = [], []
    for sel, rep in halves:
        c = layers[int(np.nanargmax([value(layer, sel) for layer in layers]))]
        chosen.append(c)
        half_raw.append(value(c, rep))
    ci = half_sample_interval(half_raw)
    return xr.Dataset(
        {"layer_raw": ("layer", full), "raw_per_half": ("half", np.array(half_raw)),
         "chosen_layer_per_half": ("half", np.array(chosen))},
        coords={"layer": layers},
        attrs={"metric": f"{'debiased' if debiased else 'biased'} linear CKA (Gram form)",
               "cka_variant": "debiased (unbiased HSIC)" if debiased else "biased (drifts with the number of stimuli)",
               "normalization": NORMALIZATION["cka"], "layer": pd.Series(chosen).mode().iloc[0],
               "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half of the "
                                  "stimuli and scored on the other; the modal choice is named",
               "aggregate_raw": float(np.mean(half_raw)), "aggregate_ceiling": float("nan"),
               "aggregate_normalized": float("nan"), "brainscore_normalized": float("nan"),
               "n_excluded": 0, "excluded_reason": "", "protocol": "neuroalign",
               "ci_low": ci[0], "ci_high": ci[1], "ci_method": "mean ± 1.96 sd over random halves",
               "n_stimuli": int(len(ids))},
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


def score_ood(features, assembly, split, *, seed: int = 0, device="auto", estimator=None) -> xr.Dataset:
    """ID vs OOD predictivity per layer: the layer is chosen per fold by its inner score on the
    fold's ID training images; ID and OOD are tested on equally many images and each side is
    normalised by a ceiling on exactly its tested images (where repeats exist)."""
    from .ood import evaluate_ood
    from .selection import corrected_fold_interval, nested_choice

    layers = list(features)
    ceilings = {}  # per side's tested stimulus ids: the same for every layer, computed once

    def ceiling(a):
        key = tuple(stimulus_ids(a))
        if key not in ceilings:
            ceilings[key] = _ceiling(a)
        return ceilings[key]

    res = {layer: evaluate_ood(features[layer], assembly, split, seed=seed, ceiling=ceiling, device=device,
                               estimator=estimator) for layer in layers}
    first = res[layers[0]]
    inner = np.stack([res[layer]["inner_r2"].values for layer in layers])  # (layer, fold)
    choice = nested_choice(inner)
    folds = np.arange(inner.shape[1])
    id_f = np.stack([res[layer]["id_r_folds"].values for layer in layers])[choice, folds]  # (fold, neuroid)
    ood_f = np.stack([res[layer]["ood_r_folds"].values for layer in layers])[choice, folds]
    id_r, ood_r = np.nanmean(id_f, axis=0), np.nanmean(ood_f, axis=0)
    has_c = "id_ceiling" in first
    c_id = first["id_ceiling"].values if has_c else None
    c_ood = first["ood_ceiling"].values if has_c else None
    ok, n_excl, why = _included(np.where(np.isfinite(id_r), ood_r, np.nan),
                                None if not has_c else np.minimum(c_id, c_ood))
    med = lambda v: _median(v, ok)  # noqa: E731
    C_id, C_ood = (med(c_id), med(c_ood)) if has_c else (float("nan"), float("nan"))
    scale_id = np.sqrt(C_id) if has_c else 1.0
    scale_ood = np.sqrt(C_ood) if has_c else 1.0
    id_raw, ood_raw = med(id_r), med(ood_r)
    id_n, ood_n = id_raw / scale_id, ood_raw / scale_ood
    gap_folds = np.array([med(id_f[k]) / scale_id - med(ood_f[k]) / scale_ood for k in folds])
    n_test, n_train = int(first["n_test"].values.mean()), int(first["n_train"].values.mean())
    gap_ci = corrected_fold_interval(gap_folds, n_train, n_test)
    ood_ci = corrected_fold_interval([med(ood_f[k]) for k in folds], n_train, n_test)
    # per layer (every fold with that layer): full-data numbers for layer-by-layer figures
    table = {k: [] for k in ("id_score", "ood_score", "gap", "ratio", "raw", "normalized", "id_normalized",
                             "ood_normalized")}
    for layer in layers:
        i_r = _median(res[layer]["id_r"].values, ok) / scale_id
        o_r = _median(res[layer]["ood_r"].values, ok) / scale_ood
        table["id_score"].append(_median(res[layer]["id_r"].values, ok))
        table["ood_score"].append(_median(res[layer]["ood_r"].values, ok))
        table["raw"].append(table["ood_score"][-1])
        table["normalized"].append(o_r if has_c else float("nan"))
        table["id_normalized"].append(i_r if has_c else float("nan"))
        table["ood_normalized"].append(o_r if has_c else float("nan"))
        table["gap"].append(i_r - o_r)
        table["ratio"].append(o_r / i_r if i_r > 0 else float("nan"))
    scale_note = NORMALIZATION["ood"] if has_c else \
        "none: no repeats, so gap and ratio are on raw Pearson r (no ceiling on either side)"
    return xr.Dataset(
        {f"layer_{k}": ("layer", v) for k, v in table.items()} | {
            "raw": ("neuroid", ood_r), "id_raw": ("neuroid", id_r),
            "id_r_folds": (("fold", "neuroid"), id_f), "ood_r_folds": (("fold", "neuroid"), ood_f),
            "layer_inner_score": (("layer", "fold"), inner),
            "chosen_layer_per_fold": ("fold", np.array(layers)[choice]),
            "id_ceiling": ("neuroid", c_id if has_c else np.full(ood_r.shape, np.nan)),
            "ceiling": ("neuroid", c_ood if has_c else np.full(ood_r.shape, np.nan)),
            "included": ("neuroid", ok)},
        coords={"layer": layers, "fold": folds,
                "neuroid_id": ("neuroid", first["neuroid_id"].values)},
        attrs={"metric": "Pearson r: fit on in-distribution images, tested on held-out ID folds and equally many "
                         "OOD images; " + first.attrs["protocol"],
               "normalization": scale_note,
               "layer": pd.Series(np.array(layers)[choice]).mode().iloc[0],
               "layer_selection": "nested: per fold, the layer with the best inner GCV R² on the fold's ID training "
                                  "images (never the reported ID test images, never the OOD set)",
               "split": split.to_json(),
               "id_score": id_raw, "ood_score": ood_raw, "id_normalized": id_n if has_c else float("nan"),
               "ood_normalized": ood_n if has_c else float("nan"),
               "gap": id_n - ood_n, "ratio": ood_n / id_n if id_n > 0 else float("nan"),
               "gap_ci_low": gap_ci[0], "gap_ci_high": gap_ci[1],
               "ci_low": ood_ci[0], "ci_high": ood_ci[1],
               "ci_method": "95% interval of the mean over folds, Nadeau-Bengio corrected variance",
               "train_test_distance": float(first.attrs.get("train_test_distance", np.nan)),
               "aggregate_raw": ood_raw, "aggregate_ceiling": C_ood, "aggregate_normalized": ood_n if has_c else
               float("nan"), "brainscore_normalized": float("nan"),
               "id_ceiling": C_id, "n_excluded": n_excl, "excluded_reason": why, "protocol": "neuroalign",
               "n_id_tested": int(first.attrs["n_id_tested"]), "n_ood_tested": int(first.attrs["n_ood_tested"]),
               "n_stimuli": split.n_train + split.n_test},
    )


# ---- the entry point ---------------------------------------------------------------------

PROTOCOLS = ("neuroalign", "brainscore")


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
    if protocol not in PROTOCOLS:
        raise DataError(f"protocol {protocol!r} is not one of {PROTOCOLS}.")
    if protocol == "brainscore" and bench.kind != "pls":
        raise DataError(f"benchmark {bench.identifier}: protocol 'brainscore' applies to PLS benchmarks "
                        f"(this one is {bench.kind}); drop --protocol or pick a *.pls benchmark.")
    if isinstance(model, str):
        model = load_model(model)
    stimuli = load_stimulus_set(bench.stimulus_set)
    if features is None:
        features = model_features(model, stimuli, layers, reduction=reduction, device=device, cache_dir=cache_dir,
                                  budget_bytes=budget_bytes, progress=progress)
    data = bench.load()
    o = bench.options
    if bench.kind == "encoding":
        from .mapping import ALPHAS, DistributedRidgeCV, dask_cluster, default_ridge
        from .mapping.defaults import FEATURE_SCALE

        with dask_cluster(dask, n_workers=dask_workers) as address:  # one alpha grid and device whether distributed or not
            est = (DistributedRidgeCV(alphas=ALPHAS, device=device, feature_scale=FEATURE_SCALE, client=address)
                   if address else default_ridge(device=device))
            ds = score_encoding(features, data, n_splits=o.get("n_splits", 5), seed=seed, estimator=est,
                                budget_bytes=budget_bytes)
    elif bench.kind == "pls":
        ds = score_pls(features, data, seed=seed, protocol=protocol, n_halves=o.get("n_halves"))
    elif bench.kind == "rsa":
        if "rdms" not in o:  # neural RDM from averaged responses
            from .similarity import compute_rdms

            avg = as_averaged(data)
            data = compute_rdms(avg, "correlation")
        ds = score_rsa(features, data, method=o.get("method", "spearman"), seed=seed, n_halves=o.get("n_halves"),
                       device=device)
    elif bench.kind == "cka":
        ds = score_cka(features, data, debiased=o.get("debiased", True), seed=seed, n_halves=o.get("n_halves"),
                       device=device)
    elif bench.kind == "ood":
        ds = score_ood(features, data, ood_split(bench, stimuli, seed), seed=seed, device=device)
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


#: Score attrs copied to the reported row (when the Score has them).
_REPORTED_ATTRS = {"raw": "aggregate_raw", "ceiling": "aggregate_ceiling", "normalized": "aggregate_normalized",
                   "brainscore_normalized": "brainscore_normalized", "normalization": "normalization",
                   "ci_low": "ci_low", "ci_high": "ci_high", "ceiling_low": "ceiling_low",
                   "ceiling_high": "ceiling_high", "id_score": "id_score", "ood_score": "ood_score", "gap": "gap",
                   "ratio": "ratio", "id_normalized": "id_normalized", "ood_normalized": "ood_normalized",
                   "n_excluded": "n_excluded", "excluded_reason": "excluded_reason", "n_stimuli": "n_stimuli",
                   "protocol": "protocol", "gap_ci_low": "gap_ci_low", "gap_ci_high": "gap_ci_high"}
#: Per-layer Score variables copied to the layer rows.
_LAYER_VARS = {"raw": "layer_raw", "normalized": "layer_normalized",
               "brainscore_normalized": "layer_brainscore_normalized", "ci_low": "layer_ci_low",
               "ci_high": "layer_ci_high", "id_score": "layer_id_score", "ood_score": "layer_ood_score",
               "gap": "layer_gap", "ratio": "layer_ratio", "id_normalized": "layer_id_normalized",
               "ood_normalized": "layer_ood_normalized"}


def result_rows(ds: xr.Dataset) -> pd.DataFrame:
    """Results-table rows: one per layer (``scope="layer"``, full-data numbers, ``selected`` marks
    the chosen layer) and one ``scope="reported"`` row with the benchmark's unbiased score.
    Every row's ``raw``, ``ceiling`` and ``normalized`` follow the kind's one convention
    (``normalization``) over the same neuroids (``n_neuroids`` − ``n_excluded``)."""
    a = ds.attrs
    base = {c: np.nan for c in RESULT_COLUMNS}
    base.update(model=a["model"], benchmark=a["benchmark"], kind=a["kind"], region=a["region"],
                n_neuroids=ds.sizes.get("neuroid", np.nan), n_stimuli=a.get("n_stimuli", np.nan),
                normalization=a.get("normalization", ""), protocol=a.get("protocol", ""),
                n_excluded=a.get("n_excluded", np.nan), excluded_reason=a.get("excluded_reason", ""),
                ceiling=a.get("aggregate_ceiling", np.nan))
    if a.get("kind") == "ood":
        base["ceiling"] = a.get("aggregate_ceiling", np.nan)
    rows = []
    for i, layer in enumerate(ds["layer"].values.astype(str)):
        row = dict(base, scope="layer", layer=layer, selected=bool(layer == a["layer"]))
        for col, var in _LAYER_VARS.items():
            if var in ds:
                row[col] = float(ds[var].values[i])
        if "ceiling_high" in a and "full_data_ceiling_high" in a:  # RSA layer rows: full-data bounds
            row["ceiling"] = row["ceiling_high"] = float(a["full_data_ceiling_high"])
            row["ceiling_low"] = float(a["full_data_ceiling_low"])
        rows.append(row)
    summary = dict(base, scope="reported", layer=a["layer"], selected=True)
    for col, key in _REPORTED_ATTRS.items():
        if key in a and col in summary:
            summary[col] = a[key]
    rows.append(summary)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def check_identities(table: pd.DataFrame, *, atol: float = 1e-9) -> list[str]:
    """The stated identities of every row (docs/methods.md), as messages naming each row that
    breaks one; empty when all hold. Checked by ``neuroalign results`` before it writes."""
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
            if kind == "rsa" or (kind == "pls" and proto == "brainscore"):
                expect = raw / c
            elif kind in ("encoding", "pls", "ood"):
                expect = raw / np.sqrt(c)
            else:
                bad.append(f"{where}: kind {kind!r} has no normalisation but normalized = {n}")
                continue
            if not np.isclose(n, expect, rtol=1e-7, atol=atol):
                bad.append(f"{where}: normalized {n} != {expect} from raw {raw} and ceiling {c}")
        if kind == "ood" and str(row.get("scope")) == "reported":
            i_n, o_n = num("id_normalized"), num("ood_normalized")
            if np.isfinite(i_n) and np.isfinite(o_n):
                if not np.isclose(num("gap"), i_n - o_n, atol=atol) or not np.isclose(num("ratio"), o_n / i_n,
                                                                                      rtol=1e-7):
                    bad.append(f"{where}: gap/ratio do not follow from id_normalized and ood_normalized")
                if not np.isclose(o_n, n, rtol=1e-7, atol=atol):
                    bad.append(f"{where}: ood_normalized {o_n} != normalized {n}")
        ne, nn = num("n_excluded"), num("n_neuroids")
        if np.isfinite(ne) and np.isfinite(nn) and not 0 <= ne <= nn:
            bad.append(f"{where}: n_excluded {ne} outside 0..n_neuroids {nn}")
    return bad
