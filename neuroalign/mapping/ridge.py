"""Cross-validated ridge with one alpha per target, in torch, on CPU or GPU.

Why this shape: the stimuli (X) are shared by every neuroid, so the expensive part —
one symmetric eigendecomposition of the centred training stimuli — is done once
(:func:`make_plan`) and every alpha and every target reuses it (:func:`solve_targets`).
With ``X_c = U S Vᵀ`` (``λ = S²``), the ridge weights for a target ``y`` are
``w(α) = X_cᵀ U diag(1/(λ+α)) Uᵀ y_c``, so each alpha is a rescaling of ``z = Uᵀ y_c``.

* ``cv="loo"``: exact leave-one-out errors (``e_i = r_i / (1 - H_ii)``) with an
  unpenalised intercept, the same criterion and numbers as scikit-learn's
  ``RidgeCV(alpha_per_target=True)``. Cost per alpha: ``n·r`` per target.
* ``cv="gcv"``: generalised cross-validation (Golub, Heath & Wahba 1979): LOO with
  ``H_ii`` replaced by its mean ``tr(H)/n``. Cost per alpha: ``r`` per target.
* ``cv=K`` (or a scikit-learn splitter): exact K-fold, one eigendecomposition per fold,
  alphas chosen by the mean over folds of the validation MSE (himalaya's default rule).

Dual form (``X_c X_cᵀ``, n×n) when ``n_samples ≤ n_features``, primal (``X_cᵀ X_c``) otherwise.
Intercepts: X and Y are centred with *training* means, so the constant direction is
never penalised and cannot pass for signal. Targets go through in batches so memory
stays bounded whatever the number of neuroids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold

from ..device import resolve_device
from ..errors import DataError
from ..metrics import r2_score

DEFAULT_ALPHAS = tuple(np.logspace(-2, 6, 20).tolist())
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Basis:
    """Eigenbasis of one set of centred training stimuli (and its validation projection)."""

    U: torch.Tensor  # (n_train, r) orthonormal left singular vectors of X_c
    lam: torch.Tensor  # (r,) eigenvalues of X_c X_cᵀ (= squared singular values)
    XtU: torch.Tensor | None  # (p, r) X_cᵀ U: basis coefficients -> primal weights (full data only)
    x_mean: torch.Tensor  # (p,) training mean of X (zeros without intercept)
    train: np.ndarray | None = None  # row indices (K-fold only)
    val: np.ndarray | None = None
    B: torch.Tensor | None = None  # (n_val, r) (X_val - mean) X_cᵀ U

    def to(self, device) -> "Basis":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Basis(mv(self.U), mv(self.lam), mv(self.XtU), mv(self.x_mean), self.train, self.val, mv(self.B))


@dataclass
class Plan:
    """Everything target-independent: the full-data basis, fold bases, alphas, mode."""

    full: Basis
    folds: list[Basis] = field(default_factory=list)
    alphas: torch.Tensor | None = None
    mode: str = "gcv"  # "gcv" | "loo" | "kfold"
    fit_intercept: bool = True
    n_samples: int = 0
    solver: str = "dual"

    def to(self, device) -> "Plan":
        return Plan(
            self.full.to(device), [f.to(device) for f in self.folds], self.alphas.to(device),
            self.mode, self.fit_intercept, self.n_samples, self.solver,
        )


def _basis(X: torch.Tensor, fit_intercept: bool, solver: str, X_val: torch.Tensor | None = None) -> Basis:
    """Eigendecompose centred X in the cheaper of its dual (n×n) or primal (p×p) form.

    With ``X_val`` (a K-fold validation block) the validation projection ``B`` is
    computed instead of ``XtU``, through the kernel in dual form (cheaper than ``X_cᵀU``).
    """
    work = X.dtype
    if work != torch.float64 and X.device.type != "mps":
        # Decompose in float64 whatever the working precision: a float32 Gram/covariance squares
        # the condition number and its small eigenvalues drown in rounding, which silently
        # pushes the alpha choice up (seen on real layers). Targets still run in ``work``.
        b = _basis(X.double(), fit_intercept, solver, None if X_val is None else X_val.double())
        cast = lambda t: None if t is None else t.to(work)  # noqa: E731
        return Basis(U=cast(b.U), lam=cast(b.lam), XtU=cast(b.XtU), x_mean=cast(b.x_mean), B=cast(b.B))
    n, p = X.shape
    x_mean = X.mean(0) if fit_intercept else torch.zeros(p, dtype=X.dtype, device=X.device)
    Xc = X - x_mean
    eps = torch.finfo(X.dtype).eps
    use_dual = solver == "dual" or (solver == "auto" and n <= p)
    if use_dual:
        lam, Q = torch.linalg.eigh(Xc @ Xc.T)
        keep = lam > lam.max().clamp_min(0) * max(n, p) * eps * 10
        lam, U = lam[keep], Q[:, keep]
        if X_val is not None:
            B = ((X_val - x_mean) @ Xc.T) @ U
            return Basis(U=U.contiguous(), lam=lam, XtU=None, x_mean=x_mean, B=B)
        XtU = Xc.T @ U
    else:
        lam, V = torch.linalg.eigh(Xc.T @ Xc)
        keep = lam > lam.max().clamp_min(0) * max(n, p) * eps * 10
        lam, V = lam[keep], V[:, keep]
        s = lam.sqrt()
        U = (Xc @ V) / s
        XtU = V * s
        if X_val is not None:
            return Basis(U=U.contiguous(), lam=lam, XtU=None, x_mean=x_mean, B=(X_val - x_mean) @ XtU)
    return Basis(U=U.contiguous(), lam=lam, XtU=XtU.contiguous(), x_mean=x_mean)


def _as_folds(cv, n: int):
    if isinstance(cv, (int, np.integer)):
        return list(KFold(int(cv)).split(np.zeros(n)))
    if hasattr(cv, "split"):
        return list(cv.split(np.zeros((n, 1))))
    return [(np.asarray(a), np.asarray(b)) for a, b in cv]


def make_plan(X, *, alphas=DEFAULT_ALPHAS, cv="gcv", fit_intercept=True, solver="auto",
              dtype="float32", device="auto") -> Plan:
    """Decompose the stimuli once (full data, plus one basis per fold in K-fold mode)."""
    dev = resolve_device(device)
    tdtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype
    X = torch.as_tensor(np.asarray(X), dtype=tdtype, device=dev) if not isinstance(X, torch.Tensor) else X.to(dev, tdtype)
    if X.ndim != 2:
        raise DataError(f"ridge: X must be 2-D (samples, features); got shape {tuple(X.shape)}.")
    if not torch.isfinite(X).all():
        raise DataError(f"ridge: X has {int((~torch.isfinite(X)).sum())} non-finite values; clean the features first.")
    a = torch.as_tensor(np.atleast_1d(np.asarray(alphas, dtype=np.float64)), dtype=tdtype, device=dev)
    if (a <= 0).any():
        raise DataError(f"ridge: alphas must be > 0, got {a.min().item()}.")
    n = X.shape[0]
    if solver not in ("auto", "dual", "primal"):
        raise DataError(f"ridge: solver must be 'auto', 'dual' or 'primal', not {solver!r}.")
    folds: list[Basis] = []
    if isinstance(cv, str):
        if cv not in ("gcv", "loo"):
            raise DataError(f"ridge: cv must be 'gcv', 'loo', an int K or a splitter; got {cv!r}.")
        mode = cv
    else:
        mode = "kfold"
        for train, val in _as_folds(cv, n):
            train, val = np.asarray(train), np.asarray(val)
            if len(train) < 2 or len(val) == 0:
                raise DataError(f"ridge: a fold has {len(train)} training and {len(val)} validation samples.")
            b = _basis(X[train], fit_intercept, solver, X_val=X[val])
            b.train, b.val = train, val
            folds.append(b)
    full = _basis(X, fit_intercept, solver)
    used = "dual" if solver == "dual" or (solver == "auto" and n <= X.shape[1]) else "primal"
    return Plan(full, folds, a, mode, fit_intercept, n, used)


def _batch_size(plan: Plan, n_targets: int, target_batch_size, budget_bytes: float) -> int:
    if target_batch_size:
        return int(target_batch_size)
    n = plan.n_samples
    per_target = n * len(plan.alphas) * plan.full.U.element_size() * 3
    return int(max(1, min(n_targets, budget_bytes // max(per_target, 1))))


def solve_targets(plan: Plan, Y, *, target_batch_size: int | None = None,
                  memory_budget: float = 512e6) -> dict[str, np.ndarray]:
    """Choose an alpha per target and refit on all samples, batch by batch.

    Returns numpy ``alpha_index (t,)``, ``alpha (t,)``, ``cv_scores (n_alphas, t)``
    (negative mean squared held-out error; higher is better), ``coef (t, p)`` and
    ``intercept (t,)``. Pure function of (plan, Y): what a dask worker runs per chunk.
    """
    full = plan.full
    dev, dt = full.U.device, full.U.dtype
    Y = np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    n, t = Y.shape
    if n != plan.n_samples:
        raise DataError(f"ridge: X has {plan.n_samples} samples but Y has {n}.")
    A = len(plan.alphas)
    bs = _batch_size(plan, t, target_batch_size, memory_budget)
    out = {
        "cv_scores": np.empty((A, t)), "alpha_index": np.empty(t, dtype=np.int64),
        "coef": np.empty((t, full.XtU.shape[0]), dtype=np.float64 if dt == torch.float64 else np.float32),
        "intercept": np.empty(t),
    }
    alphas = plan.alphas
    if plan.mode == "loo":
        h = full.lam[None, :] / (full.lam[None, :] + alphas[:, None])  # (A, r)
        one_minus_diag = 1.0 - (full.U.square() @ h.T).T  # (A, n)
        if plan.fit_intercept:
            one_minus_diag = one_minus_diag - 1.0 / n
    for start in range(0, t, bs):
        sl = slice(start, min(t, start + bs))
        Yb = torch.as_tensor(Y[:, sl], dtype=dt, device=dev)
        y_mean = Yb.mean(0) if plan.fit_intercept else torch.zeros(Yb.shape[1], dtype=dt, device=dev)
        Yc = Yb - y_mean
        z = full.U.T @ Yc  # (r, b)
        if plan.mode == "loo":
            fitted = torch.matmul(full.U, h[:, :, None] * z[None])  # (A, n, b)
            err = (Yc[None] - fitted) / one_minus_diag[:, :, None]
            scores = -err.square().mean(1)
            del fitted, err
        elif plan.mode == "gcv":
            g = alphas[:, None] / (full.lam[None, :] + alphas[:, None])  # (A, r)
            perp = (Yc.square().sum(0) - z.square().sum(0)).clamp_min(0)
            rss = perp[None] + g.square() @ z.square()
            df = (full.lam[None] / (full.lam[None] + alphas[:, None])).sum(1) + (1.0 if plan.fit_intercept else 0.0)
            scores = -(rss / n) / (1.0 - df / n).square()[:, None]
        else:
            scores = torch.zeros(A, Yb.shape[1], dtype=dt, device=dev)
            for f in plan.folds:
                Ytr = Yb[f.train]
                m = Ytr.mean(0) if plan.fit_intercept else torch.zeros_like(y_mean)
                zf = f.U.T @ (Ytr - m)
                coefs = zf[None] / (f.lam[None, :, None] + alphas[:, None, None])  # (A, r, b)
                pred = torch.matmul(f.B, coefs)  # (A, n_val, b)
                scores += -((Yb[f.val] - m)[None] - pred).square().mean(1)
                del coefs, pred
            scores /= len(plan.folds)
        scores = torch.nan_to_num(scores, nan=-torch.inf)
        best = scores.argmax(0)  # first maximum, as scikit-learn and himalaya
        coef = full.XtU @ (z / (full.lam[:, None] + alphas[best][None, :]))  # (p, b)
        intercept = y_mean - full.x_mean @ coef
        out["cv_scores"][:, sl] = scores.double().cpu().numpy()
        out["alpha_index"][sl] = best.cpu().numpy()
        out["coef"][sl] = coef.T.cpu().numpy()
        out["intercept"][sl] = intercept.double().cpu().numpy()
    out["alpha"] = plan.alphas.double().cpu().numpy()[out["alpha_index"]]
    return out


class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with a per-target alpha chosen by GCV, exact LOO or K-fold CV.

    Parameters: ``alphas`` grid; ``cv`` = ``"gcv"`` (fast, default), ``"loo"`` (exact
    leave-one-out, scikit-learn parity), an int K or a scikit-learn splitter;
    ``alpha_per_target`` (False: one alpha for all targets, by the mean score);
    ``fit_intercept``; ``dtype`` ``"float32"``/``"float64"``; ``device`` (``"auto"``);
    ``target_batch_size`` (None: sized from ``memory_budget`` bytes); ``solver``
    ``"auto"``/``"dual"``/``"primal"``.

    Fitted: ``alpha_ (t,)``, ``coef_ (t, p)``, ``intercept_ (t,)``, ``cv_scores_
    (n_alphas, t)`` (negative held-out MSE per alpha), ``best_score_ (t,)``.
    ``score(X, Y)`` is the mean over targets of R² (scikit-learn's convention); use
    :func:`neuroalign.metrics.pearson_r` for correlations.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, cv="gcv", alpha_per_target=True, fit_intercept=True,
                 dtype="float32", device="auto", target_batch_size=None, solver="auto",
                 memory_budget=512e6):
        self.alphas = alphas
        self.cv = cv
        self.alpha_per_target = alpha_per_target
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.device = device
        self.target_batch_size = target_batch_size
        self.solver = solver
        self.memory_budget = memory_budget

    def _plan(self, X) -> Plan:
        return make_plan(X, alphas=self.alphas, cv=self.cv, fit_intercept=self.fit_intercept,
                         solver=self.solver, dtype=self.dtype, device=self.device)

    def fit(self, X, Y):
        Y = np.asarray(Y)
        self._ravel = Y.ndim == 1
        if not np.isfinite(Y).all():
            raise DataError(f"ridge: Y has {int((~np.isfinite(Y)).sum())} non-finite values.")
        plan = self._plan(X)
        res = solve_targets(plan, Y, target_batch_size=self.target_batch_size, memory_budget=self.memory_budget)
        if not self.alpha_per_target:
            idx = int(np.argmax(res["cv_scores"].mean(1)))
            one = solve_targets(_single_alpha(plan, idx), Y, target_batch_size=self.target_batch_size,
                                memory_budget=self.memory_budget)
            one["cv_scores"], one["alpha_index"] = res["cv_scores"], np.full_like(res["alpha_index"], idx)
            one["alpha"] = np.full(len(one["alpha"]), float(np.asarray(self.alphas).ravel()[idx]))
            res = one
        return self._set_fitted(plan, res)

    def _set_fitted(self, plan: Plan, res: dict):
        self.alpha_ = res["alpha"]
        self.coef_ = res["coef"]
        self.intercept_ = res["intercept"]
        self.cv_scores_ = res["cv_scores"]
        self.best_score_ = res["cv_scores"][res["alpha_index"], np.arange(len(res["alpha_index"]))] \
            if res["cv_scores"].shape[0] > 1 else res["cv_scores"][0]
        self.n_features_in_ = plan.full.XtU.shape[0]
        self.solver_ = plan.solver
        self._ravel = getattr(self, "_ravel", False)
        return self

    def predict(self, X):
        dev = resolve_device(self.device)
        dt = _DTYPES[self.dtype]
        Xt = torch.as_tensor(np.asarray(X), dtype=dt, device=dev)
        W = torch.as_tensor(self.coef_, dtype=dt, device=dev)
        b = torch.as_tensor(self.intercept_, dtype=dt, device=dev)
        pred = (Xt @ W.T + b).cpu().numpy()
        return pred[:, 0] if self._ravel else pred

    def score(self, X, Y, sample_weight=None):
        return float(np.nanmean(r2_score(np.asarray(Y, dtype=np.float64), self.predict(X).astype(np.float64))))


def _single_alpha(plan: Plan, idx: int) -> Plan:
    """The same plan restricted to one alpha (for a shared alpha across targets)."""
    return Plan(plan.full, plan.folds, plan.alphas[idx:idx + 1], plan.mode, plan.fit_intercept,
                plan.n_samples, plan.solver)


def ridge_memory_bytes(n: int, p: int, t: int, dtype: str = "float32") -> int:
    """Peak bytes of a ridge fit: the float64 decomposition (X copy + Gram/covariance +
    eigenvectors) plus the working-precision stimuli, basis, targets and weights."""
    item = 8 if dtype == "float64" else 4
    r = min(n, p)
    decomposition = 8 * (n * p + 2 * r * r)
    working = item * (n * p + p * r + n * r)
    targets = item * (n * t + p * t) + 8 * n * t
    return int(decomposition + working + targets)


def check_ridge_budget(n: int, p: int, t: int, budget_bytes: float | None, *, dtype: str = "float32",
                       what: str = "ridge fit") -> None:
    """Refuse a fit whose estimate exceeds the budget, naming the feature count that would fit."""
    from ..errors import BudgetError

    if budget_bytes is None:
        return
    need = ridge_memory_bytes(n, p, t, dtype)
    if need <= budget_bytes:
        return
    fit = p
    while fit > 16 and ridge_memory_bytes(n, fit, t, dtype) > budget_bytes:
        fit //= 2
    hint = (f"reduce the features to {fit} with --reduction srp:{fit} (sparse random projection)"
            if ridge_memory_bytes(n, fit, t, dtype) <= budget_bytes
            else "fit fewer targets at a time, or raise the budget")
    raise BudgetError(f"{what}: {n} stimuli × {p} features × {t} targets in {dtype} needs about "
                      f"{need / 1e9:.2f} GB, over the budget of {budget_bytes / 1e9:.2f} GB; {hint}.")
