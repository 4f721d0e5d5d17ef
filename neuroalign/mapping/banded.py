"""Banded ridge: several feature bands (e.g. layers) at once, each with its own scale.

Each candidate scaling ``γ`` multiplies band ``b`` by ``γ_b`` before an ordinary
ridge; a per-band scale is a per-band penalty ``α/γ_b²``. Candidates are the grid
``scales ** n_bands`` (up to a common factor, which alpha absorbs), each target keeps
the (scaling, alpha) with the best cross-validation score, and weights are returned
on the original, unscaled features. Simple and exact, for a handful of bands.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from ..errors import DataError
from ..metrics import r2_score
from .ridge import DEFAULT_ALPHAS, RidgeCV, _uses_dual, make_plan, solve_targets, stimulus_gram


def scaling_grid(n_bands: int, scales=(0.0, 0.1, 0.3, 1.0)) -> np.ndarray:
    """All per-band scalings with max 1 (others are multiples), at least one band on."""
    out = []
    for combo in itertools.product(scales, repeat=n_bands):
        c = np.asarray(combo, dtype=np.float64)
        if c.max() > 0 and np.isclose(c.max(), max(scales)):
            out.append(c / c.max())
    return np.unique(np.round(np.asarray(out), 12), axis=0)


class BandedRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge over concatenated bands with a per-target, per-band scale chosen by CV.

    ``bands``: sizes of the consecutive feature blocks of X (e.g. ``[512, 1024]``).
    Fitted: ``band_scales_ (t, n_bands)``, ``alpha_ (t,)``, ``coef_ (t, p)`` on the
    original features, ``intercept_ (t,)``, ``best_score_ (t,)``.
    """

    def __init__(self, bands, scales=(0.0, 0.1, 0.3, 1.0), alphas=DEFAULT_ALPHAS, cv=5,
                 fit_intercept=True, dtype="float32", device="auto", target_batch_size=None):
        self.bands = bands
        self.scales = scales
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.device = device
        self.target_batch_size = target_batch_size

    def fit(self, X, Y):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        sizes = np.asarray(self.bands, dtype=int)
        if sizes.sum() != X.shape[1]:
            raise DataError(f"banded ridge: bands {sizes.tolist()} sum to {sizes.sum()}, X has {X.shape[1]} features.")
        band_of = np.repeat(np.arange(len(sizes)), sizes)
        grid = scaling_grid(len(sizes), self.scales)
        t = Y.shape[1]
        best = np.full(t, -np.inf)
        self.band_scales_ = np.zeros((t, len(sizes)))
        self.alpha_ = np.zeros(t)
        self.coef_ = np.zeros((t, X.shape[1]))
        self.intercept_ = np.zeros(t)
        band_grams = {}  # X_b X_bᵀ per band, once: a scaling's Gram is Σ γ_b² X_b X_bᵀ
        for gamma in grid:
            col_scale = gamma[band_of]
            on = col_scale > 0
            gram = None
            if _uses_dual("auto", X.shape[0], int(on.sum())):
                for b in np.flatnonzero(gamma > 0):
                    if b not in band_grams:
                        band_grams[b] = stimulus_gram(X[:, band_of == b], dtype=self.dtype, device=self.device)
                gram = sum(gamma[b] ** 2 * band_grams[b] for b in np.flatnonzero(gamma > 0))
            plan = make_plan(X[:, on] * col_scale[on], alphas=self.alphas, cv=self.cv, gram=gram,
                             fit_intercept=self.fit_intercept, dtype=self.dtype, device=self.device)
            res = solve_targets(plan, Y, target_batch_size=self.target_batch_size)
            score = res["cv_scores"][res["alpha_index"], np.arange(t)]
            upd = score > best
            if not upd.any():
                continue
            best[upd] = score[upd]
            self.band_scales_[upd] = gamma
            self.alpha_[upd] = res["alpha"][upd]
            coef = np.zeros((int(upd.sum()), X.shape[1]))
            coef[:, on] = res["coef"][upd] * col_scale[on]
            self.coef_[upd] = coef
            self.intercept_[upd] = res["intercept"][upd]
        self.best_score_ = best
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def score(self, X, Y, sample_weight=None):
        Y = np.asarray(Y, dtype=np.float64)
        return float(np.nanmean(r2_score(Y.reshape(len(Y), -1), self.predict(X))))


__all__ = ["BandedRidgeCV", "RidgeCV", "scaling_grid"]
