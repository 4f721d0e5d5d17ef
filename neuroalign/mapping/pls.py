"""PLS regression under Brain-Score's protocol, so our numbers compare with theirs.

Brain-Score's neural predictivity ("-pls" benchmarks): sort stimuli by ``stimulus_id``,
10 shuffle splits 90/10 on ``stimulus_id`` (StratifiedShuffleSplit when a stratification
coord exists, else ShuffleSplit; ``random_state=1``), ``PLSRegression(n_components=25,
scale=False)``, Pearson r per neuroid on the held-out split, median over neuroids per
split, then mean over splits.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from ..data.assembly import align_on_stimulus_id, stimulus_ids
from ..metrics import pearson_r, r2_score


class PLS(RegressorMixin, BaseEstimator):
    """scikit-learn's PLSRegression with Brain-Score's defaults (25 components, no scaling).

    The number of components is capped at the rank the data allows, as a fit with
    fewer samples than components would otherwise fail.
    """

    def __init__(self, n_components: int = 25, scale: bool = False, max_iter: int = 500):
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter

    def fit(self, X, Y):
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        k = min(self.n_components, X.shape[0] - 1, X.shape[1])
        self.pls_ = PLSRegression(n_components=k, scale=self.scale, max_iter=self.max_iter).fit(X, Y)
        self.coef_, self.intercept_ = self.pls_.coef_, self.pls_.intercept_
        return self

    def predict(self, X):
        return self.pls_.predict(np.asarray(X, dtype=np.float64))

    def score(self, X, Y, sample_weight=None):
        return float(np.nanmean(r2_score(np.asarray(Y, dtype=np.float64), self.predict(X))))


def brainscore_splits(stimulus_ids, *, n_splits: int = 10, test_size: float = 0.1, strata=None,
                      seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's split of ``stimulus_ids`` (in the given order) into positional (train, test)."""
    train_size = round(1.0 - test_size, 10)
    if strata is not None:
        splitter = StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
        return list(splitter.split(np.zeros(len(stimulus_ids)), np.asarray(strata)))
    splitter = ShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
    return list(splitter.split(np.zeros(len(stimulus_ids))))


def brainscore_pls_protocol(features: xr.DataArray, responses: xr.DataArray, *, n_splits: int = 10,
                            test_size: float = 0.1, stratify_coord: str | None = None, seed: int = 1,
                            n_components: int = 25, estimator=None) -> xr.Dataset:
    """Score ``features`` against averaged ``responses`` the Brain-Score way.

    Returns a Dataset with ``r`` (split, neuroid), ``r_split_median`` (split) and the
    scalar ``score`` = mean over splits of the per-split median over neuroids
    (Brain-Score's order of aggregation); ``estimator`` swaps PLS for another mapping
    under the same protocol.
    """
    features, responses = align_on_stimulus_id(features, responses)
    order = np.argsort(stimulus_ids(responses), kind="stable")
    responses = responses.isel(presentation=order)
    features = features.isel({features.dims[0]: order})
    strata = responses[stratify_coord].values if stratify_coord else None
    splits = brainscore_splits(responses["stimulus_id"].values, n_splits=n_splits, test_size=test_size,
                               strata=strata, seed=seed)
    X = np.asarray(features.values, dtype=np.float64)
    Y = np.asarray(responses.values, dtype=np.float64)
    est = estimator if estimator is not None else PLS(n_components=n_components)
    r = np.full((len(splits), Y.shape[1]), np.nan)
    for k, (tr, te) in enumerate(splits):
        model = clone(est).fit(X[tr], Y[tr])
        r[k] = pearson_r(Y[te], np.asarray(model.predict(X[te])).reshape(len(te), -1))
    med = np.nanmedian(r, axis=1)
    neuroid_coords = {k: ("neuroid", c.values) for k, c in responses.coords.items() if c.dims == ("neuroid",)}
    return xr.Dataset(
        {"r": (("split", "neuroid"), r), "r_split_median": ("split", med), "score": ((), float(np.mean(med)))},
        coords={**neuroid_coords, "split": np.arange(len(splits))},
        attrs={"protocol": "brainscore", "n_splits": n_splits, "test_size": test_size, "seed": seed,
               "stratify_coord": stratify_coord or "", "estimator": repr(est),
               "aggregation": "median over neuroids per split, then mean over splits"},
    )
