"""Outer cross-validated encoding: features -> averaged responses, scored per split and neuroid.

Joins on ``stimulus_id`` (via :func:`neuroalign.data.assembly.align_on_stimulus_id`),
fits a fresh clone of the estimator on each training split, and keeps everything a
Score needs: per-split × per-neuroid Pearson r and R², held-out predictions, alphas.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import clone

from ..progress import steps
from ..data.assembly import align_on_stimulus_id, stimulus_ids
from ..errors import DataError
from ..metrics import constant_columns, pearson_r, r2_score
from .ridge import RidgeCV


def _check_responses(responses: xr.DataArray) -> None:
    vals = np.asarray(responses.values, dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        cols = np.flatnonzero(bad.any(0))
        names = responses["neuroid_id"].values[cols].tolist() if "neuroid_id" in responses.coords else cols.tolist()
        raise DataError(
            f"responses: {int(bad.sum())} NaN/inf value(s) in {len(cols)} neuroid(s) {names[:20]}; "
            "drop those neuroids or impute before fitting."
        )


def cross_validated_encoding(features: xr.DataArray, responses: xr.DataArray, splits,
                             estimator=None) -> xr.Dataset:
    """Fit ``estimator`` (default :class:`RidgeCV`) on each split's training stimuli.

    ``splits``: a list of ``(train_stimulus_ids, test_stimulus_ids)`` or the
    ``(splits, record)`` pair from :func:`neuroalign.mapping.splits.make_splits` (the
    record is stored in ``attrs["splits"]`` as JSON). Returns a Dataset with ``r`` and
    ``r2`` (split, neuroid), ``alpha`` (split, neuroid) when the estimator has one,
    ``inner_r2`` (split, neuroid): the estimator's own CV score on the split's training
    stimuli (for layer choice without the test stimuli), ``prediction`` (presentation, neuroid; mean over the splits that tested it, NaN if
    never tested) and ``constant`` (neuroid): responses without variance, whose r is NaN.
    """
    record = None
    if isinstance(splits, tuple) and len(splits) == 2 and isinstance(splits[1], dict):
        splits, record = splits
    if responses.ndim != 2:
        raise DataError(f"responses: expected (presentation, neuroid), got dims {responses.dims}.")
    _check_responses(responses)
    features, responses = align_on_stimulus_id(features, responses)
    estimator = RidgeCV() if estimator is None else estimator
    sids = stimulus_ids(responses)
    index = pd.Index(sids)
    X = np.asarray(features.values)
    Y = np.asarray(responses.values, dtype=np.float64)
    n_split, n_neur = len(splits), Y.shape[1]
    r = np.full((n_split, n_neur), np.nan)
    r2 = np.full((n_split, n_neur), np.nan)
    alpha = np.full((n_split, n_neur), np.nan)
    inner = np.full((n_split, n_neur), np.nan)
    pred_sum = np.zeros_like(Y)
    pred_n = np.zeros(len(sids), dtype=np.int64)
    test_n = np.zeros(n_split, dtype=np.int64)
    # Our ridge in dual form decomposes each split's kernel: compute X Xᵀ once for all splits.
    gram = estimator.shared_gram(X) if isinstance(estimator, RidgeCV) else None
    for k, (train_ids, test_ids) in enumerate(steps(splits, "  folds")):
        tr = index.get_indexer(np.asarray(train_ids, dtype=str))
        te = index.get_indexer(np.asarray(test_ids, dtype=str))
        if (tr < 0).any() or (te < 0).any():
            missing = np.concatenate([np.asarray(train_ids, dtype=str)[tr < 0], np.asarray(test_ids, dtype=str)[te < 0]])
            raise DataError(f"split {k}: {len(missing)} stimulus_id(s) not in the responses, e.g. {missing[:10].tolist()}.")
        if np.intersect1d(tr, te).size:
            raise DataError(f"split {k}: {np.intersect1d(tr, te).size} stimuli are in both train and test.")
        fit_kw = {} if gram is None else {"gram": gram[np.ix_(tr, tr)]}
        est = clone(estimator).fit(X[tr], Y[tr], **fit_kw)
        pred = np.asarray(est.predict(X[te]), dtype=np.float64).reshape(len(te), n_neur)
        r[k] = pearson_r(Y[te], pred)
        r2[k] = r2_score(Y[te], pred)
        if hasattr(est, "best_score_"):  # inner CV score on the training stimuli only (neg. MSE -> R²)
            var = Y[tr].var(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                inner[k] = 1.0 + np.asarray(est.best_score_, dtype=np.float64).reshape(-1) / np.where(var > 0, var, np.nan)
        if hasattr(est, "alpha_"):
            alpha[k] = np.broadcast_to(np.asarray(est.alpha_, dtype=np.float64), (n_neur,))
        np.add.at(pred_sum, te, pred)
        np.add.at(pred_n, te, 1)
        test_n[k] = len(te)
    with np.errstate(invalid="ignore", divide="ignore"):
        prediction = pred_sum / pred_n[:, None]
    prediction[pred_n == 0] = np.nan
    neuroid_coords = {k: ("neuroid", c.values) for k, c in responses.coords.items() if c.dims == ("neuroid",)}
    pres_coords = {"stimulus_id": ("presentation", sids)}
    ds = xr.Dataset(
        {
            "r": (("split", "neuroid"), r),
            "r2": (("split", "neuroid"), r2),
            "alpha": (("split", "neuroid"), alpha),
            "inner_r2": (("split", "neuroid"), inner),
            "prediction": (("presentation", "neuroid"), prediction),
            "n_test": ("split", test_n),
            "constant": ("neuroid", constant_columns(Y)),
        },
        coords={**neuroid_coords, **pres_coords, "split": np.arange(n_split)},
        attrs={"estimator": repr(estimator), "metric": "pearson_r",
               "splits": json.dumps(record) if record is not None else json.dumps(
                   {"test_stimulus_ids": [np.asarray(te, dtype=str).tolist() for _, te in splits]})},
    )
    return ds
