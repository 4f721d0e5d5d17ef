"""In-distribution vs out-of-distribution predictivity of one feature space on one split.

Protocol (one choice, stated here and in the output's attrs): the in-distribution
(ID) stimuli are cut into ``n_id_folds`` folds (grouped by image content hash, so copies
of one image share a fold) and the OOD stimuli, shuffled, into as many chunks. Each
fold's mapping is fitted on the other ID folds only — the estimator's own inner CV picks
alphas on those stimuli alone, and its inner score on them (``inner_r2``) is what a layer
is chosen by, never a test score — and predicts its held-out ID fold and its OOD chunk,
each cut to the same number of images, so both sides are tested on equally many images
by the very same models. Per-neuroid Pearson r is averaged over folds on each side.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.assembly import (
    NEUROID,
    TIME_BIN,
    align_on_stimulus_id,
    as_averaged,
    is_averaged,
    select_stimuli,
    validate_assembly,
)
from ..device import resolve_device
from ..errors import DataError
from ..metrics import pearson_r
from .splits import OODSplit

PROTOCOL = ("K-fold over the in-distribution set (grouped by content hash) and K chunks of the OOD set; each "
            "fold's mapping, fitted on the other ID folds only, predicts its held-out ID fold and its OOD chunk, "
            "both cut to the same number of images; per-neuroid Pearson r averaged over folds")


def default_estimator(device="auto"):
    """The package's ridge (:func:`neuroalign.mapping.default_ridge`: GCV, per-neuroid alpha)."""
    from ..mapping import default_ridge

    return default_ridge(device=device)


def min_cosine_distance(test: np.ndarray, train: np.ndarray, device="auto",
                        chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each test row: the minimum cosine distance to any training row, and that row's index.

    A zero vector has cosine similarity 0 with everything (distance 1). Float64 except
    on MPS (which has none): near-duplicates differ from exact copies in the 7th digit.
    """
    dev = resolve_device(device)
    dtype = torch.float32 if dev.type == "mps" else torch.float64
    tr = torch.as_tensor(np.asarray(train), dtype=dtype, device=dev)
    tr = tr / tr.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dist, arg = [], []
    for start in range(0, len(test), chunk):
        te = torch.as_tensor(np.asarray(test[start:start + chunk]), dtype=dtype, device=dev)
        te = te / te.norm(dim=1, keepdim=True).clamp_min(1e-12)
        best = (te @ tr.T).max(dim=1)
        dist.append((1.0 - best.values).clamp_min(0.0).cpu().numpy())
        arg.append(best.indices.cpu().numpy())
    return np.concatenate(dist).astype(np.float64), np.concatenate(arg)


def _matrix(features: xr.DataArray, responses: xr.DataArray, label: str) -> np.ndarray:
    """Feature rows for the stimuli of ``responses``, joined on stimulus_id."""
    if not isinstance(features, xr.DataArray) or "stimulus_id" not in features.coords:
        raise DataError(f"{label}: expected an xarray.DataArray with a 'stimulus_id' coord.")
    aligned, _ = align_on_stimulus_id(features, responses)
    x = np.asarray(aligned.values, dtype=np.float64).reshape(aligned.shape[0], -1)
    if not np.isfinite(x).all():
        raise DataError(f"{label}: NaN or inf values for the split's stimuli.")
    return x


def _targets(avg: xr.DataArray, ids: list[str], side: str) -> np.ndarray:
    y = np.asarray(avg.values, dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise DataError(
            f"responses: {bad.sum()} non-finite averaged value(s) on the {side} side, e.g. stimulus "
            f"{ids[rows[0]]!r}, neuroid {avg['neuroid_id'].values[cols[0]]!r}; drop those neuroids or stimuli."
        )
    return y


def _predict(est, x: np.ndarray) -> np.ndarray:
    out = est.predict(x)
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    return np.asarray(out, dtype=np.float64).reshape(len(x), -1)


def _clone(est):
    try:
        from sklearn.base import clone

        return clone(est)
    except (TypeError, AttributeError, RuntimeError):
        return copy.deepcopy(est)


def describe_estimator(est) -> str:
    """``Class(param=value, ...)`` with arrays summarised (sklearn's repr trips on array params)."""
    try:
        params = est.get_params(deep=False)
    except AttributeError:
        return type(est).__name__
    parts = []
    for k, v in sorted(params.items()):
        if isinstance(v, (np.ndarray, list, tuple)) and len(v) > 3:
            arr = np.asarray(v, dtype=float)
            v = f"[{len(arr)} values {arr.min():g}..{arr.max():g}]"
        parts.append(f"{k}={v}")
    return f"{type(est).__module__}.{type(est).__name__}({', '.join(parts)})"


def _per_neuroid(values, neuroid_ids: np.ndarray, label: str) -> np.ndarray:
    if isinstance(values, xr.DataArray) and NEUROID in values.dims and "neuroid_id" in values.coords:
        s = pd.Series(np.asarray(values.values, dtype=float).ravel(), index=values["neuroid_id"].values.astype(str))
        missing = [n for n in neuroid_ids if n not in s.index]
        if missing:
            raise DataError(f"{label}: ceiling lacks neuroid_id {missing[:10]}.")
        return s.loc[neuroid_ids].to_numpy()
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float).ravel()
    if arr.shape != (len(neuroid_ids),):
        raise DataError(f"{label}: ceiling returned shape {arr.shape}, expected ({len(neuroid_ids)},).")
    return arr


def _folds(split: OODSplit, ids: list[str], n_folds: int, seed: int):
    from sklearn.model_selection import GroupKFold, KFold

    if split.groups is not None:
        groups = split.groups.loc[ids].to_numpy()
        n_groups = len(pd.unique(groups))
        if not 2 <= n_folds <= n_groups:
            raise DataError(f"n_id_folds must be in 2..{n_groups} (distinct ID images), got {n_folds}.")
        return list(GroupKFold(n_folds, shuffle=True, random_state=seed).split(ids, groups=groups))
    if not 2 <= n_folds <= len(ids):
        raise DataError(f"n_id_folds must be in 2..{len(ids)} (ID stimuli), got {n_folds}.")
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(ids))


def _mean_noise(responses: xr.DataArray, ids: list[str]) -> np.ndarray | None:
    """Per stimulus (in ``ids`` order) and neuroid: the variance of the trial mean,
    ``var_trials (ddof 1) / n``; None for averaged responses (no repeats)."""
    if is_averaged(responses):
        return None
    from ..data.assembly import trials_array

    trials, _ = trials_array(responses, ids)
    n = np.isfinite(trials).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.nanvar(trials, axis=1, ddof=1) / n
    return np.where(n >= 2, v, np.nan)


def _range_terms(y: np.ndarray, pred: np.ndarray, noise: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per neuroid, on one side's tested images: the prediction's error variance beyond
    the noise of the averaged response, ``MSE − mean noise``, and the explainable signal
    variance, ``Var(y) − mean noise`` (both NaN without repeats). The range-matched control
    (docs/methods.md, "OOD") compares the two sides' errors at one signal variance."""
    if noise is None:
        nan = np.full(y.shape[1], np.nan)
        return nan, nan
    nz = np.nanmean(noise, axis=0)
    return ((y - pred) ** 2).mean(0) - nz, y.var(axis=0) - nz


def _fit_folds(x_id, y_id, x_ood, y_ood, folds, chunks, estimator, rng, noise_id, noise_ood) -> dict:
    """Each fold's mapping on the other ID folds; its held-out ID fold and OOD chunk,
    cut to equally many images, scored per neuroid."""
    n_f, n_neur = len(folds), y_id.shape[1]
    out = {k: np.full((n_f, n_neur), np.nan) for k in ("id_r", "ood_r", "alpha", "id_err", "ood_err", "ood_ev")}
    out.update(inner=np.full(n_f, np.nan), n_test=np.zeros(n_f, dtype=np.int64),
               n_train=np.zeros(n_f, dtype=np.int64), id_used=[], ood_used=[],
               id_pred=np.full((len(x_id), n_neur), np.nan, np.float32),
               ood_pred=np.full((len(x_ood), n_neur), np.nan, np.float32),
               id_fold=np.full(len(x_id), -1), ood_fold=np.full(len(x_ood), -1))
    for k, (tr, te) in enumerate(folds):
        m = min(len(te), len(chunks[k]))  # equally many test images on both sides
        te, oc = np.sort(rng.permutation(te)[:m]), np.sort(chunks[k][:m])
        est = _clone(estimator)
        est.fit(x_id[tr], y_id[tr])
        p_id, p_ood = _predict(est, x_id[te]), _predict(est, x_ood[oc])
        out["id_r"][k] = pearson_r(y_id[te], p_id)
        out["id_pred"][te], out["ood_pred"][oc], out["id_fold"][te], out["ood_fold"][oc] = p_id, p_ood, k, k
        out["ood_r"][k] = pearson_r(y_ood[oc], p_ood)
        out["id_err"][k] = _range_terms(y_id[te], p_id, None if noise_id is None else noise_id[te])[0]
        out["ood_err"][k], out["ood_ev"][k] = _range_terms(y_ood[oc], p_ood, None if noise_ood is None else noise_ood[oc])
        if hasattr(est, "best_score_"):  # inner CV score on the fold's training stimuli (neg. MSE -> R²)
            var = y_id[tr].var(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["inner"][k] = float(np.nanmean(1.0 + np.asarray(est.best_score_, dtype=np.float64).reshape(-1)
                                                   / np.where(var > 0, var, np.nan)))
        out["n_test"][k], out["n_train"][k] = m, len(tr)
        out["id_used"].extend(te.tolist())
        out["ood_used"].extend(oc.tolist())
        alpha = getattr(est, "alpha_", None)
        if alpha is not None:
            if isinstance(alpha, torch.Tensor):
                alpha = alpha.detach().cpu().numpy()
            alpha = np.asarray(alpha, dtype=float).ravel()
            if alpha.size in (1, n_neur):
                out["alpha"][k] = alpha
    return out


def _distance(features, distance_features, distance_space, avg_id, avg_ood, x_id, x_ood, device):
    """The train–test distance: per OOD stimulus, the nearest ID stimulus (cosine) and the space named."""
    if distance_space is None:
        distance_space = "model features" if distance_features is None else str(
            distance_features.attrs.get("layer") or distance_features.name or "distance_features")
        if distance_features is None and (features.attrs.get("layer") or features.name):
            distance_space = f"model features ({features.attrs.get('layer') or features.name})"
    if distance_features is None:
        d_id, d_ood = x_id, x_ood
    else:
        d_id = _matrix(distance_features, avg_id, "distance_features")
        d_ood = _matrix(distance_features, avg_ood, "distance_features")
    nearest, arg = min_cosine_distance(d_ood, d_id, device=device)
    return nearest, arg, distance_space


def evaluate_ood(features: xr.DataArray, responses: xr.DataArray, split: OODSplit, *,
                 estimator=None, n_id_folds: int = 5, seed: int = 0,
                 ceiling: Callable[[xr.DataArray], object] | None = None,
                 distance_features: xr.DataArray | None = None, distance_space: str | None = None,
                 device="auto") -> xr.Dataset:
    """Fit on ID stimuli only; score ID held-out folds and the OOD set; report gap and ratio.

    ``features``: ``presentation × feature`` with ``stimulus_id`` (one row per image).
    ``responses``: a neural assembly, single trials or averaged. ``ceiling``: called on
    the single trials of each side (``presentation × neuroid``), returns one value per
    neuroid; used only when ``responses`` has repetitions. The train–test distance is the
    mean over OOD stimuli of the minimum cosine distance to an ID stimulus in
    ``distance_features`` (default: ``features``), named by ``distance_space``.

    Returns a Dataset with per-neuroid ``id_r``, ``ood_r``, ``gap``, ``ratio``, per-fold
    ``id_r_folds``/``ood_r_folds``, per-fold error and signal variances for the range-matched
    control (``id_err_folds``, ``ood_err_folds``, ``ood_ev_folds``; single trials only),
    optional ceilings and chosen alphas, the per-OOD-stimulus ``nearest_distance``, each tested
    image's out-of-fold prediction (``id_prediction``/``ood_prediction``, float32, with its
    fold ``*_tested_fold``), and
    medians over neuroids in attrs (``id_score``, ``ood_score``, ``gap``, ``ratio`` =
    ood_score / id_score, NaN when id_score <= 0).
    """
    validate_assembly(responses)
    if TIME_BIN in responses.dims:
        raise DataError("evaluate_ood: select or average time bins first (responses.mean('time_bin')).")
    averaged = as_averaged(responses)
    id_ids, ood_ids = list(split.train_ids), list(split.test_ids)
    avg_id = select_stimuli(averaged, id_ids)
    avg_ood = select_stimuli(averaged, ood_ids)
    x_id = _matrix(features, avg_id, "features")
    x_ood = _matrix(features, avg_ood, "features")
    y_id = _targets(avg_id, id_ids, "in-distribution")
    y_ood = _targets(avg_ood, ood_ids, "out-of-distribution")
    neuroid_ids = averaged["neuroid_id"].values.astype(str)

    estimator = default_estimator(device) if estimator is None else estimator
    folds = _folds(split, id_ids, n_id_folds, seed)
    rng = np.random.default_rng([seed, 11])
    chunks = np.array_split(rng.permutation(len(ood_ids)), len(folds))
    f = _fit_folds(x_id, y_id, x_ood, y_ood, folds, chunks, estimator, rng,
                   _mean_noise(responses, id_ids), _mean_noise(responses, ood_ids))
    id_r = np.nanmean(f["id_r"], axis=0)
    ood_r = np.nanmean(f["ood_r"], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_n = np.where(id_r != 0, ood_r / id_r, np.nan)
    id_score = float(np.nanmedian(id_r))
    ood_score = float(np.nanmedian(ood_r))
    nearest, arg, distance_space = _distance(features, distance_features, distance_space, avg_id, avg_ood,
                                             x_id, x_ood, device)

    ds = xr.Dataset(
        {
            "id_r": (NEUROID, id_r), "ood_r": (NEUROID, ood_r),
            "gap": (NEUROID, id_r - ood_r), "ratio": (NEUROID, ratio_n),
            "id_r_folds": (("fold", NEUROID), f["id_r"]), "ood_r_folds": (("fold", NEUROID), f["ood_r"]),
            **{f"{k}_folds": (("fold", NEUROID), f[k]) for k in ("id_err", "ood_err", "ood_ev")},
            "inner_r2": ("fold", f["inner"]), "n_test": ("fold", f["n_test"]), "n_train": ("fold", f["n_train"]),
            "nearest_distance": ("ood_stimulus", nearest),
        },
        coords={
            "neuroid_id": (NEUROID, neuroid_ids), "region": (NEUROID, averaged["region"].values),
            "fold": np.arange(len(folds)), "ood_stimulus_id": ("ood_stimulus", np.asarray(ood_ids)),
            "nearest_id_stimulus_id": ("ood_stimulus", np.asarray(id_ids)[arg]),
        },
    )
    if np.isfinite(f["alpha"]).any():
        ds["alpha"] = (("fold", NEUROID), f["alpha"])
    ds, id_tested, ood_tested = _with_predictions(ds, f, id_ids, ood_ids)
    ds.attrs = {
        "split_name": split.name, "split_record": json.dumps(split.record, sort_keys=True),
        "protocol": PROTOCOL, "n_id_folds": len(folds), "seed": seed, "estimator": describe_estimator(estimator),
        "n_id": len(id_ids), "n_ood": len(ood_ids), "n_neuroids": len(neuroid_ids),
        "n_id_tested": len(id_tested), "n_ood_tested": len(ood_tested),
        "id_tested_ids": json.dumps(id_tested), "ood_tested_ids": json.dumps(ood_tested),
        "id_score": id_score, "ood_score": ood_score, "gap": id_score - ood_score,
        "ratio": ood_score / id_score if id_score > 0 else float("nan"),
        "train_test_distance": float(nearest.mean()), "distance_space": distance_space,
        "distance_metric": "mean over OOD stimuli of min cosine distance to an ID stimulus",
    }
    _add_ceilings(ds, responses, ceiling, id_tested, ood_tested, neuroid_ids)
    return ds


def _with_predictions(ds: xr.Dataset, f: dict, id_ids, ood_ids):
    """``ds`` with each tested image's one out-of-fold prediction and its fold, per side; and the
    tested ids of each side (what a comparison resamples without refitting)."""
    tested = {}
    for side, ids in (("id", id_ids), ("ood", ood_ids)):
        used = sorted(f[f"{side}_used"])
        tested[side] = [ids[i] for i in used]
        ds = ds.assign_coords({f"{side}_tested": tested[side]})
        ds[f"{side}_prediction"] = ((f"{side}_tested", NEUROID), f[f"{side}_pred"][used])
        ds[f"{side}_tested_fold"] = (f"{side}_tested", f[f"{side}_fold"][used])
    return ds, tested["id"], tested["ood"]


def _add_ceilings(ds, responses, ceiling, id_tested, ood_tested, neuroid_ids) -> None:
    """Each side's ceiling on exactly its tested images (single trials and a callable only)."""
    if ceiling is None or is_averaged(responses):
        ds.attrs["ceiling"] = "none: no ceiling callable given" if ceiling is None else \
            "none: responses have no repetitions"
        return
    c_id = _per_neuroid(ceiling(select_stimuli(responses, id_tested)), neuroid_ids, "ID ceiling")
    c_ood = _per_neuroid(ceiling(select_stimuli(responses, ood_tested)), neuroid_ids, "OOD ceiling")
    ds["id_ceiling"] = (NEUROID, c_id)
    ds["ood_ceiling"] = (NEUROID, c_ood)
    ds.attrs["id_ceiling"] = float(np.nanmedian(c_id))
    ds.attrs["ood_ceiling"] = float(np.nanmedian(c_ood))
