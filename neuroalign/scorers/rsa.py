"""RSA: model RDMs per layer against data RDMs, with bootstrap and noise ceiling, over random halves."""

from __future__ import annotations


import numpy as np
import pandas as pd
import xarray as xr

from ..progress import steps
from ..data.assembly import as_averaged, select_stimuli
from ..errors import DataError
from ._build import (NORMALIZATION, build_score)

N_HALVES = 50  # random halves (cheap: one batched evaluation each)


def _per_subject(rdms: xr.DataArray) -> xr.DataArray:
    """Average RDMs of one subject (e.g. two sessions) so the noise ceiling runs over subjects."""
    if "subject" in rdms.coords and pd.Index(rdms["subject"].values).has_duplicates:
        return rdms.groupby("subject").mean("rdm").rename(subject="rdm").assign_coords(
            subject=("rdm", np.unique(rdms["subject"].values)))
    return rdms


def _finite(features: xr.DataArray, layer: str) -> xr.DataArray:
    """``features``, refused with the layer and stimuli named when any value is NaN or Inf (the
    bootstrap would otherwise score them as zeros); a lazy store is checked chunk by chunk."""
    bad = np.asarray((~np.isfinite(features)).any([d for d in features.dims if d != features.dims[0]]).values)
    if bad.any():
        ids = features["stimulus_id"].values[bad].tolist()
        raise DataError(f"RSA: layer {layer!r} has non-finite (NaN/Inf) features for {len(ids)} stimul"
                        f"{'us' if len(ids) == 1 else 'i'}, e.g. {ids[:5]}; re-extract them (delete the cached "
                        "store) or fix the model.")
    return features


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

    from ..selection import half_sample_interval, random_halves
    from ..similarity import bootstrap, compute_rdms

    layers = list(features)
    data_rdms = _per_subject(data_rdms)
    ids = data_rdms["row"].values.astype(str)
    model_rdms = xr.concat([compute_rdms(_finite(select_stimuli(features[layer], ids), layer), "correlation")
                            for layer in steps(layers, "RSA: layer RDMs")], dim="rdm").assign_coords(layer=("rdm", layers))
    n_sub = data_rdms.sizes["rdm"]
    ceil = n_sub > 1
    boot = bootstrap(model_rdms, data_rdms, method=method, kind="stimulus", n_samples=n_bootstrap, seed=seed,
                     ceiling=ceil, device=device)
    per_layer = np.asarray(boot.point, dtype=float)
    ci_layer = boot.ci(0.95)
    halves = random_halves(ids, n_halves or N_HALVES, seed)
    # selection and report halves in one batch: one evaluator (one sort plan per RDM) for both
    both = bootstrap(model_rdms, data_rdms, method=method, ceiling=ceil, device=device,
                     counts=(torch.as_tensor(np.concatenate(_half_counts(ids, halves))), None))
    B = len(halves)
    on_sel = both.samples[:B]
    rep = both.samples[B:]
    rep_ceiling = both.ceiling_samples[B:] if ceil else None
    choice = np.argmax(np.where(np.isfinite(on_sel), on_sel, -np.inf), axis=1)
    half_raw = rep[np.arange(B), choice]
    raw = float(np.nanmean(half_raw))
    upper = float(np.nanmean(rep_ceiling[:, 1])) if ceil else float("nan")
    lower = float(np.nanmean(rep_ceiling[:, 0])) if ceil else float("nan")
    low, high = boot.ceiling if ceil else (np.nan, np.nan)
    ci = half_sample_interval(half_raw)
    if ceil and not upper > 0:
        raise DataError(f"RSA: the upper noise-ceiling bound of the {n_sub} data RDMs is {upper:.3g} (they do not "
                        "agree with each other), so no normalised score exists; check the data RDMs (rows, "
                        "subjects), or give a single RDM to report the raw score only.")
    norm = raw / upper if ceil else float("nan")
    modal = layers.index(pd.Series(np.array(layers)[choice]).mode().iloc[0])
    return build_score(
        {"layer_raw": ("layer", per_layer), "layer_ci_low": ("layer", ci_layer[0]),
         "layer_ci_high": ("layer", ci_layer[1]),
         "layer_normalized": ("layer", per_layer / high if ceil else np.full(len(layers), np.nan)),
         "layer_ceiling": ("layer", np.full(len(layers), high)),  # full-data bounds for the all-stimuli rows
         "layer_ceiling_low": ("layer", np.full(len(layers), low)),
         "layer_ceiling_high": ("layer", np.full(len(layers), high)),
         "layer_selection_score": ("layer", np.nanmean(on_sel, axis=0)),
         "raw_per_half": ("half", half_raw), "chosen_layer_per_half": ("half", np.array(layers)[choice]),
         "model_rdm": (("model_row", "model_col"), model_rdms.values[modal].astype(np.float32))},
        {"layer": layers, "model_row": ids, "model_col": ids},
        **{
            "metric": f"RSA: correlation-distance model RDM vs data RDM(s), {method}, mean over subjects; "
                      f"layer rows: all stimuli with 95% stimulus-bootstrap intervals ({n_bootstrap} samples)",
            "normalization": NORMALIZATION["rsa"] if ceil else "none: a single data RDM has no ceiling",
            "layer": layers[modal],
            "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half of the "
                               "stimuli and scored on the other; the modal choice is named",
            "aggregate_raw": raw, "aggregate_ceiling": upper, "aggregate_normalized": norm,
            "brainscore_normalized": norm, "n_excluded": 0, "excluded_reason": "",
            "ceiling_low": lower, "ceiling_high": upper,
            "full_data_ceiling_low": float(low), "full_data_ceiling_high": float(high),
            "ci_low": ci[0], "ci_high": ci[1], "ci_method": "mean ± t(n-1) sd over random halves (delete-half jackknife)",
            "protocol": "neuroalign",
            "n_subjects": int(n_sub), "n_bootstrap": n_bootstrap, "n_stimuli": int(len(ids)),
        },
    )


def neural_rdms(data) -> xr.DataArray:
    """The benchmark's data RDMs, one per subject (RDMs from averaged responses when given responses)."""
    if not {"rdm", "row", "col"} <= set(data.dims):
        from ..similarity import compute_rdms

        data = compute_rdms(as_averaged(data), "correlation")
    return _per_subject(data)


def metric(features, data, bench, *, seed=0, device="auto"):
    o = bench.options
    return score_rsa(features, neural_rdms(data), method=o.get("method", "spearman"), seed=seed, n_halves=o.get("n_halves"),
                     device=device)
