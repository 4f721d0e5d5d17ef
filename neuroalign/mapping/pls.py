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


def pls2_regression(X: np.ndarray, Y: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PLS2 regression (scikit-learn's ``PLSRegression``, ``scale=False``) solved exactly.

    Each component's X weights are the dominant left singular vector of the deflated
    cross-covariance ``Xₖᵀ Yₖ`` — the fixed point NIPALS' power iteration approaches (at the
    rate ``(σ₂/σ₁)²``; scikit-learn stops at 500 iterations, short of it when σ₂ ≈ σ₁, as on
    untrained networks' features). The vector comes from the eigenvectors of ``CᵀC`` (q × q,
    q = targets) or ``CCᵀ`` (the smaller), and ``C`` is updated in closed form after each
    deflation (``C ← C − (tᵀt) p qᵀ``), so a fit never iterates. Deflation, loadings and
    ``coef_ = W (PᵀW)⁺ Qᵀ`` are scikit-learn's. Returns (coef (targets, features), x_mean, y_mean).
    """
    from scipy.linalg import pinv

    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    X0, Yk = X - x_mean, Y - y_mean
    C = X0.T @ Yk
    # one row per component: X is deflated implicitly, Xₖ = X₀ − Σ tⱼpⱼᵀ (no n × p update)
    W, P = np.zeros((n_components, X.shape[1])), np.zeros((n_components, X.shape[1]))
    Q, T = np.zeros((n_components, Y.shape[1])), np.zeros((n_components, X.shape[0]))
    scale0 = None
    k = 0
    while k < n_components:
        if not np.any(np.abs(Yk) >= 10 * np.finfo(Y.dtype).eps):  # scikit-learn: "y residual is constant"
            break
        if C.shape[1] <= C.shape[0]:
            vals, vecs = np.linalg.eigh(C.T @ C)
            w = C @ vecs[:, -1]
        else:
            vals, vecs = np.linalg.eigh(C @ C.T)
            w = vecs[:, -1].copy()
        scale0 = vals[-1] if scale0 is None else scale0
        norm = np.sqrt(w @ w)
        if vals[-1] <= 1e-24 * scale0 or norm == 0:  # nothing left to explain: X's rank is spent
            break
        w /= norm
        t = X0 @ w
        if k:
            t -= T[:k].T @ (P[:k] @ w)
        tt = t @ t
        p = X0.T @ t
        if k:
            p -= P[:k].T @ (T[:k] @ t)
        p /= tt
        q = (t @ Yk) / tt
        Yk -= np.outer(t, q)
        C -= tt * np.outer(p, q)
        W[k], P[k], Q[k], T[k] = w, p, q, t
        k += 1
    if k == 0:
        return np.zeros((Y.shape[1], X.shape[1])), x_mean, y_mean
    W, P, Q = W[:k].T, P[:k].T, Q[:k].T
    rotations = W @ pinv(P.T @ W, check_finite=False)
    return (rotations @ Q.T).T, x_mean, y_mean


class PLS(RegressorMixin, BaseEstimator):
    """PLS regression with Brain-Score's defaults (25 components, no scaling).

    ``solver="exact"`` (default) solves each component by eigen-decomposition
    (:func:`pls2_regression`); ``solver="nipals"`` is scikit-learn's ``PLSRegression``
    itself, which ``protocol=brainscore`` uses so its number is Brain-Score's to the last
    digit, unconverged power iterations included. The two agree wherever NIPALS converges.
    The number of components is capped at the rank the data allows, as a fit with fewer
    samples than components would otherwise fail.
    """

    def __init__(self, n_components: int = 25, scale: bool = False, max_iter: int = 500, solver: str = "exact"):
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter
        self.solver = solver

    def fit(self, X, Y):
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        k = min(self.n_components, X.shape[0] - 1, X.shape[1])
        if self.solver == "nipals":
            self.pls_ = PLSRegression(n_components=k, scale=self.scale, max_iter=self.max_iter).fit(X, Y)
            self.coef_, self.intercept_ = self.pls_.coef_, self.pls_.intercept_
            self._x_mean = self.pls_._x_mean
            return self
        if self.solver != "exact":
            raise ValueError(f"PLS: solver must be 'exact' or 'nipals', got {self.solver!r}.")
        if self.scale:
            raise ValueError("PLS: scale=True is only offered by solver='nipals' (Brain-Score uses scale=False).")
        self.coef_, self._x_mean, self.intercept_ = pls2_regression(X, Y.reshape(len(Y), -1), k)
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        if self.solver == "nipals":
            return self.pls_.predict(X)
        return (X - self._x_mean) @ self.coef_.T + self.intercept_

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
                            n_components: int = 25, estimator=None, solver: str = "exact") -> xr.Dataset:
    """Score ``features`` against averaged ``responses`` the Brain-Score way.

    Returns a Dataset with ``r`` (split, neuroid), ``r_split_median`` (split) and the
    scalar ``score`` = mean over splits of the per-split median over neuroids
    (Brain-Score's order of aggregation); ``estimator`` swaps PLS for another mapping
    under the same protocol; ``solver`` is :class:`PLS`'s ("nipals": scikit-learn's own,
    Brain-Score's digits; "exact": the converged answer, faster).
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
    est = estimator if estimator is not None else PLS(n_components=n_components, solver=solver)
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
