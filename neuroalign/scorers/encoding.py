"""Encoding: cross-validated ridge from a layer to averaged responses, the layer chosen nested."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from ..data.assembly import as_averaged
from ..failpoints import failpoint
from ..progress import steps
from ._build import (build_score, ceiling_of, ceiling_vars, internal_consistency_of,
                     included_neuroids, masked_median, neural_summary,
                     undefined_as_zero)

def score_encoding(features: dict[str, xr.DataArray], assembly: xr.DataArray, *, n_splits: int = 5,
                   seed: int = 0, estimator=None, budget_bytes: float | None = None, device="auto",
                   ceiling_method: str = "reliability") -> xr.Dataset:
    """Outer K-fold ridge per layer, with the layer chosen per fold on training stimuli only.

    For each outer fold every layer is fitted on the training stimuli; the layer whose
    inner (GCV) score on those training stimuli is highest is the fold's choice, and the
    reported raw score of each neuroid is its held-out Pearson r under that choice.
    """
    from ..mapping import check_ridge_budget, cross_validated_encoding, default_ridge, make_splits

    avg = as_averaged(assembly)
    for layer, f in features.items():  # refuse before any work, naming the setting that fits
        check_ridge_budget(avg.sizes["presentation"], f.shape[1], avg.sizes["neuroid"], budget_bytes,
                           what=f"ridge fit of layer {layer!r}")
    splits, record = make_splits(avg["stimulus_id"].values, n_splits=n_splits, seed=seed)
    estimator = estimator if estimator is not None else default_ridge(device=device)
    layers = list(features)
    per_layer = {}
    for layer in steps(layers, "ridge: layers"):
        per_layer[layer] = cross_validated_encoding(features[layer], avg, (splits, record), estimator)
        failpoint("encoding.layer")
    inner = np.stack([np.nanmean(per_layer[layer]["inner_r2"].values, axis=1) for layer in layers])  # (layer, split)
    return nested_score(
        "encoding", per_layer, inner, layers, assembly, splits, record, seed=seed, ceiling_method=ceiling_method,
        metric="Pearson r on held-out stimuli (outer K-fold), ridge with per-neuroid alpha by GCV",
        layer_selection="nested: per outer fold, the layer with the best inner GCV R² on that fold's training "
                        "stimuli; the reported score never uses a fold's test stimuli for the choice")


def nested_score(kind: str, per_layer: dict, inner: np.ndarray, layers: list, assembly: xr.DataArray, splits,
                 record: dict, *, seed: int, ceiling_method: str, metric: str, layer_selection: str) -> xr.Dataset:
    """The Score of a nested outer K-fold (encoding, PLS): per fold the layer with the best
    ``inner`` (layer, split) score; ``per_layer`` holds each layer's cross-validated fit (held-out
    Pearson ``r`` per split × neuroid and the out-of-fold ``prediction``). The neuroid set is the
    data's, and a model's undefined r counts as 0 (``n_undefined``)."""
    from ..selection import corrected_fold_interval, nested_choice

    r = np.stack([per_layer[layer]["r"].values for layer in layers])  # (layer, split, neuroid)
    avg = as_averaged(assembly)
    ceiling = ceiling_of(assembly, method=ceiling_method)
    from ..metrics import constant_columns  # torch: imported when scoring, not with the kinds

    constant = constant_columns(avg.values)
    ok = included_neuroids(None, None if ceiling is None else ceiling.values, constant)[0]
    choice = nested_choice(inner)  # per split
    n_undef = int((ok & (~np.isfinite(r[choice, np.arange(r.shape[1])])).any(0)).sum())
    r = undefined_as_zero(r, ok)[0]  # a model's undefined r is 0, in every split (the set is the data's)
    raw_split = r[choice, np.arange(r.shape[1])]  # (split, neuroid)
    raw = np.nanmean(raw_split, axis=0)
    layer_neuroid = np.nanmean(r, axis=1)  # (layer, neuroid), mean over splits
    summary = neural_summary(kind, raw, ceiling, internal_consistency_of(assembly, seed),
                             layer_neuroid=layer_neuroid, constant=constant)
    split_scores = np.array([masked_median(row, summary["included"]) for row in raw_split])
    n_test = np.array([len(te) for _, te in splits])
    n_train = int(avg.sizes["presentation"] - n_test.mean())
    ci = corrected_fold_interval(split_scores, n_train, int(n_test.mean()))
    layer_ci = np.array([corrected_fold_interval(np.array([masked_median(row, summary["included"]) for row in r[i]]),
                                                 n_train, int(n_test.mean())) for i in range(len(layers))])
    sids, oof = out_of_fold(per_layer, [layers[c] for c in choice], splits)
    return build_score(
        {
            "raw": ("neuroid", raw),
            "raw_per_split": (("split", "neuroid"), raw_split),
            **ceiling_vars(raw, ceiling, summary["included"]),
            "layer_raw": ("layer", summary["layer_raw"]),
            "layer_normalized": ("layer", summary["layer_normalized"]),
            "layer_brainscore_normalized": ("layer", summary["layer_brainscore_normalized"]),
            "layer_ci_low": ("layer", layer_ci[:, 0]), "layer_ci_high": ("layer", layer_ci[:, 1]),
            "layer_raw_per_neuroid": (("layer", "neuroid"), layer_neuroid),
            "layer_inner_score": (("layer", "split"), inner),
            "chosen_layer_per_split": ("split", np.array([layers[c] for c in choice])),
            "prediction": (("stimulus", "neuroid"), oof),
        },
        {"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers, "split": np.arange(len(splits)),
         "stimulus_id": ("stimulus", sids)},
        **{
            "metric": metric, **summary["attrs"], "n_undefined": n_undef,
            "layer": pd.Series([layers[c] for c in choice]).mode().iloc[0],
            "layer_selection": layer_selection,
            "splits": json.dumps(record),
            "ci_low": ci[0], "ci_high": ci[1],
            "ci_method": "95% interval of the mean over outer folds, Nadeau-Bengio corrected variance",
            "protocol": "neuroalign",
            "n_stimuli": int(avg.sizes["presentation"]),
        },
    )


def out_of_fold(per_layer: dict, chosen: list, splits) -> tuple[np.ndarray, np.ndarray]:
    """Each stimulus's held-out prediction from the layer its fold chose (float32, stimulus ×
    neuroid): what a comparison resamples without refitting (:mod:`neuroalign.resampling`)."""
    first = per_layer[chosen[0]]
    sids = first["stimulus_id"].values.astype(str)
    index = pd.Index(sids)
    oof = np.full(first["prediction"].shape, np.nan, dtype=np.float32)
    for (_, test), layer in zip(splits, chosen):
        rows = index.get_indexer(np.asarray(test, dtype=str))
        oof[rows] = per_layer[layer]["prediction"].values[rows]
    return sids, oof


def metric(features, data, bench, *, seed=0, device="auto", budget_bytes=None, dask=None, dask_workers=2):
    """The registry's entry: one alpha grid and device whether the fit is distributed or not."""
    from ..mapping import ALPHAS, DistributedRidgeCV, dask_cluster, default_ridge
    from ..mapping.defaults import FEATURE_SCALE

    o = bench.options
    with dask_cluster(dask, n_workers=dask_workers) as address:
        est = (DistributedRidgeCV(alphas=ALPHAS, device=device, feature_scale=FEATURE_SCALE, client=address)
               if address else default_ridge(device=device))
        return score_encoding(features, data, n_splits=o.get("n_splits", 5), seed=seed, estimator=est,
                              budget_bytes=budget_bytes, ceiling_method=o.get("ceiling", "reliability"))
