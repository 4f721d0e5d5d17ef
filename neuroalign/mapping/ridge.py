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
  Folds read their kernels off one Gram product; the validation predictions of all alphas
  cost one product per factor of the (often low-rank) filter matrix ``1/(λ+α)``.

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
    x_mean: torch.Tensor | None  # (p,) training mean of X (zeros without intercept; full data only)
    train: np.ndarray | None = None  # row indices (K-fold only)
    val: np.ndarray | None = None
    B: torch.Tensor | None = None  # (n_val, r) (X_val - mean) X_cᵀ U
    Xc: torch.Tensor | None = None  # (n, p) centred X, when XtU is left to :meth:`weights_map`

    def to(self, device) -> "Basis":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Basis(mv(self.U), mv(self.lam), mv(self.XtU), mv(self.x_mean), self.train, self.val, mv(self.B),
                     mv(self.Xc))

    def weights_map(self, n_targets: int):
        """Basis coefficients ``(r, b)`` -> primal weights ``(p, b)``.

        ``X_cᵀU`` (p×r) costs ``p·n·r`` once and pays back only past ``p`` targets; with
        fewer, ``X_cᵀ (U w)`` per batch is cheaper (a layer scored on a few hundred neurons).
        """
        if self.XtU is not None:
            return lambda w: self.XtU @ w
        if n_targets > self.Xc.shape[1]:
            XtU = (self.Xc.T @ self.U).contiguous()
            return lambda w: XtU @ w
        return lambda w: self.Xc.T @ (self.U @ w)


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


def _decomposition_dtype(X: torch.Tensor) -> torch.dtype:
    # Decompose in float64 whatever the working precision: a float32 Gram/covariance squares
    # the condition number and its small eigenvalues drown in rounding, which silently
    # pushes the alpha choice up (seen on real layers). Targets still run in X's dtype.
    return X.dtype if X.device.type == "mps" else torch.float64


def _eig_kept(K: torch.Tensor, n_dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of a symmetric PSD matrix, dropping those at rounding level."""
    lam, Q = torch.linalg.eigh(K)
    keep = lam > lam.max().clamp_min(0) * n_dims * torch.finfo(K.dtype).eps * 10
    return lam[keep], Q[:, keep]


def _gram(X: torch.Tensor) -> torch.Tensor:
    """Uncentred Gram matrix of all stimuli, in the decomposition precision."""
    Xh = X.to(_decomposition_dtype(X))
    return Xh @ Xh.T


def _as_tensor(X, dtype, device) -> torch.Tensor:
    """X (array or tensor) in the working dtype (``"float32"``/``"float64"`` or a torch dtype) on ``device``."""
    tdtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype
    dev = resolve_device(device)
    return X.to(dev, tdtype) if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X), dtype=tdtype, device=dev)


def stimulus_gram(X, *, dtype="float32", device="auto") -> torch.Tensor:
    """The uncentred Gram matrix of ``X`` in the decomposition precision, on ``device``.

    Outer splits can share it: pass ``gram[train][:, train]`` to :meth:`RidgeCV.fit`.
    """
    return _gram(_as_tensor(X, dtype, device))


def _dual_basis(G: torch.Tensor, X: torch.Tensor, fit_intercept: bool, train: np.ndarray | None = None,
                val: np.ndarray | None = None) -> Basis:
    """Eigenbasis of the centred kernel of the training rows, read off the full Gram ``G``.

    Centring uses the training mean: ``(x-m)·(x'-m) = x·x' - x·m - m·x' + m·m``, so every
    fold shares one Gram product. With ``train`` and ``val`` (a K-fold fold) the validation
    projection ``B`` replaces the weight map; with neither, the basis of all rows.
    """
    work = X.dtype
    if val is None:
        Ktt, Kvt = G, None
    else:
        tr = torch.as_tensor(train, device=G.device)
        Ktt, Kvt = G[tr][:, tr], G[torch.as_tensor(val, device=G.device)][:, tr]
    if fit_intercept:
        col = Ktt.mean(0)
        mu = col.mean()
        Ktt = Ktt - col[None, :] - col[:, None] + mu
        if Kvt is not None:
            Kvt = Kvt - Kvt.mean(1, keepdim=True) - col[None, :] + mu
    lam, U = _eig_kept(Ktt, max(Ktt.shape[0], X.shape[1]))
    if Kvt is not None:
        return Basis(U=U.to(work).contiguous(), lam=lam.to(work), XtU=None, x_mean=None, B=(Kvt @ U).to(work))
    x_mean = X.mean(0) if fit_intercept else torch.zeros_like(X[0])
    # X_cᵀU (basis coefficients -> weights) runs in the working precision: its accuracy does not
    # depend on the spectrum. It is formed on demand (:meth:`Basis.weights_map`).
    return Basis(U=U.to(work).contiguous(), lam=lam.to(work), XtU=None, x_mean=x_mean, Xc=(X - x_mean).contiguous())


def _primal_basis(X: torch.Tensor, fit_intercept: bool, X_val: torch.Tensor | None = None) -> Basis:
    """Eigenbasis from the p×p covariance (more stimuli than features)."""
    work = X.dtype
    Xh = X.to(_decomposition_dtype(X))
    x_mean = Xh.mean(0) if fit_intercept else torch.zeros_like(Xh[0])
    Xc = Xh - x_mean
    lam, V = _eig_kept(Xc.T @ Xc, max(X.shape))
    s = lam.sqrt()
    U = (Xc @ V) / s
    XtU = V * s
    cast = lambda t: t.to(work).contiguous()  # noqa: E731
    if X_val is not None:
        B = (X_val.to(Xh.dtype) - x_mean) @ XtU
        return Basis(U=cast(U), lam=cast(lam), XtU=None, x_mean=None, B=cast(B))
    return Basis(U=cast(U), lam=cast(lam), XtU=cast(XtU), x_mean=cast(x_mean))


def _uses_dual(solver: str, n: int, p: int) -> bool:
    return solver == "dual" or (solver == "auto" and n <= p)


def _as_folds(cv, n: int):
    if isinstance(cv, (int, np.integer)):
        return list(KFold(int(cv)).split(np.zeros(n)))
    if hasattr(cv, "split"):
        return list(cv.split(np.zeros((n, 1))))
    return [(np.asarray(a), np.asarray(b)) for a, b in cv]


def make_plan(X, *, alphas=DEFAULT_ALPHAS, cv="gcv", fit_intercept=True, solver="auto",
              dtype="float32", device="auto", gram=None) -> Plan:
    """Decompose the stimuli once (full data, plus one basis per fold in K-fold mode).

    ``gram``: the uncentred ``X Xᵀ`` of these rows, when the caller already has it (a
    block of :func:`stimulus_gram` shared by outer splits); used in dual form only.
    """
    X = _as_tensor(X, dtype, device)
    dev, tdtype = X.device, X.dtype
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
    if gram is not None:  # one Gram product of all stimuli, shared by the dual bases
        gram = torch.as_tensor(gram).to(dev, _decomposition_dtype(X))
        if tuple(gram.shape) != (n, n):
            raise DataError(f"ridge: gram must be ({n}, {n}) for {n} samples; got {tuple(gram.shape)}.")
    if isinstance(cv, str):
        if cv not in ("gcv", "loo"):
            raise DataError(f"ridge: cv must be 'gcv', 'loo', an int K or a splitter; got {cv!r}.")
        mode = cv
    else:
        mode = "kfold"
        split = [(np.asarray(a), np.asarray(b)) for a, b in _as_folds(cv, n)]
        for train, val in split:
            if len(train) < 2 or len(val) == 0:
                raise DataError(f"ridge: a fold has {len(train)} training and {len(val)} validation samples.")
        for train, val in split:
            if _uses_dual(solver, len(train), X.shape[1]):
                gram = _gram(X) if gram is None else gram
                b = _dual_basis(gram, X, fit_intercept, train, val)
            else:
                b = _primal_basis(X[train], fit_intercept, X_val=X[val])
            b.train, b.val = train, val
            folds.append(b)
    used = "dual" if _uses_dual(solver, n, X.shape[1]) else "primal"
    if used == "dual":
        full = _dual_basis(_gram(X) if gram is None else gram, X, fit_intercept)
    else:
        full = _primal_basis(X, fit_intercept)
    return Plan(full, folds, a, mode, fit_intercept, n, used)


def _batch_size(plan: Plan, n_targets: int, target_batch_size, budget_bytes: float) -> int:
    if target_batch_size:
        return int(target_batch_size)
    n = plan.n_samples
    per_target = n * len(plan.alphas) * plan.full.U.element_size() * 3
    bs = int(max(1, min(n_targets, budget_bytes // max(per_target, 1))))
    # A multiple of 64 columns keeps BLAS on its fast path (MKL: 1066 columns ran 1.3x slower than 1024).
    return bs - bs % 64 if 128 <= bs < n_targets else bs


def solve_targets(plan: Plan, Y, *, target_batch_size: int | None = None,
                  memory_budget: float = 512e6, weights: str = "primal") -> dict[str, np.ndarray]:
    """Choose an alpha per target and refit on all samples, batch by batch.

    Returns numpy ``alpha_index (t,)``, ``alpha (t,)``, ``cv_scores (n_alphas, t)``
    (negative mean squared held-out error; higher is better), ``intercept (t,)`` and the
    weights: ``coef (t, p)`` (``weights="primal"``), or for a dual plan with
    ``weights="basis"`` the basis coefficients ``basis_coef`` ``(r, t)`` (a torch tensor;
    ``coef = (X_cᵀ U) basis_coef``), which skips the ``p·n·t`` product of the primal weights
    when only predictions are needed. Pure function of (plan, Y): what a dask worker runs per chunk.
    """
    if weights not in ("primal", "basis"):
        raise DataError(f"ridge: weights must be 'primal' or 'basis', not {weights!r}.")
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
    basis = weights == "basis" and full.Xc is not None
    out = {"cv_scores": np.empty((A, t)), "alpha_index": np.empty(t, dtype=np.int64), "intercept": np.empty(t)}
    if basis:
        out["basis_coef"] = torch.empty((full.U.shape[1], t), dtype=dt, device=dev)
        mean_map = (full.Xc @ full.x_mean) @ full.U  # x̄ᵀ X_cᵀ U: the intercept's share of the weights
    else:
        out["coef"] = np.empty((t, full.x_mean.shape[0]), dtype=np.float64 if dt == torch.float64 else np.float32)
        to_weights = full.weights_map(t)
    alphas = plan.alphas
    setup, cv_scores = _MODES[plan.mode]
    state = setup(plan, t)
    for start in range(0, t, bs):
        sl = slice(start, min(t, start + bs))
        Yb = torch.as_tensor(Y[:, sl], dtype=dt, device=dev)
        y_mean = Yb.mean(0) if plan.fit_intercept else torch.zeros(Yb.shape[1], dtype=dt, device=dev)
        Yc = Yb - y_mean
        z = full.U.T @ Yc  # (r, b)
        scores = cv_scores(plan, state, Yb, Yc, z)
        scores = torch.nan_to_num(scores, nan=-torch.inf)
        best = scores.argmax(0)  # first maximum, as scikit-learn and himalaya
        w = z / (full.lam[:, None] + alphas[best][None, :])  # (r, b)
        if basis:
            out["basis_coef"][:, sl] = w
            intercept = y_mean - mean_map @ w
        else:
            coef = to_weights(w)  # (p, b)
            intercept = y_mean - full.x_mean @ coef
            out["coef"][sl] = coef.T.cpu().numpy()
        out["cv_scores"][:, sl] = scores.double().cpu().numpy()
        out["alpha_index"][sl] = best.cpu().numpy()
        out["intercept"][sl] = intercept.double().cpu().numpy()
    out["alpha"] = plan.alphas.double().cpu().numpy()[out["alpha_index"]]
    return out


# ---- the cross-validation modes: per mode, a setup once per fit and the scores of a target batch ----

def _loo_setup(plan: Plan, n_targets: int):
    full, alphas, n = plan.full, plan.alphas, plan.n_samples
    h = full.lam[None, :] / (full.lam[None, :] + alphas[:, None])  # (A, r)
    one_minus_diag = 1.0 - (full.U.square() @ h.T).T  # (A, n)
    if plan.fit_intercept:
        one_minus_diag = one_minus_diag - 1.0 / n
    return h, one_minus_diag


def _loo_scores(plan: Plan, state, Yb, Yc, z):
    """Exact leave-one-out errors from the hat matrix's diagonal."""
    h, one_minus_diag = state
    fitted = torch.matmul(plan.full.U, h[:, :, None] * z[None])  # (A, n, b)
    err = (Yc[None] - fitted) / one_minus_diag[:, :, None]
    scores = -err.square().mean(1)
    del fitted, err
    return scores


def _gcv_scores(plan: Plan, state, Yb, Yc, z):
    """Generalised cross-validation: the residual sum of squares over (1 - df/n)²."""
    full, alphas, n = plan.full, plan.alphas, plan.n_samples
    g = alphas[:, None] / (full.lam[None, :] + alphas[:, None])  # (A, r)
    zz = z.square()
    perp = (torch.linalg.vector_norm(Yc, dim=0).square_() - zz.sum(0)).clamp_min_(0)
    rss = torch.addmm(perp[None], g.square(), zz)
    df = (full.lam[None] / (full.lam[None] + alphas[:, None])).sum(1) + (1.0 if plan.fit_intercept else 0.0)
    return -(rss / n) / (1.0 - df / n).square()[:, None]


def _kfold_mode_scores(plan: Plan, state, Yb, Yc, z):
    return _kfold_scores(state, Yb, plan.fit_intercept, len(plan.alphas))


#: ``Plan.mode`` -> (setup(plan, n_targets) once per fit, scores(plan, state, Yb, Yc, z) per target batch).
_MODES = {
    "gcv": (lambda plan, n_targets: None, _gcv_scores),
    "loo": (_loo_setup, _loo_scores),
    "kfold": (lambda plan, n_targets: _fold_operators(plan, n_targets), _kfold_mode_scores),
}


def _filter_factors(lam: torch.Tensor, alphas: torch.Tensor, tol: float):
    """Low-rank factors of the ridge filters ``g[a, k] = 1/(λ_k + α_a)``: ``g ≈ C @ D``.

    The filter matrix is a Cauchy matrix, numerically of low rank when the alphas and
    the spectrum overlap little (a well-conditioned layer, or a dense alpha grid), so
    ``m < n_alphas`` products replace one per alpha. Rows are scaled to a maximum of 1
    before the SVD and the smallest ``m`` whose largest entry error is ≤ ``tol`` is
    kept (checked, not assumed). Returns ``None`` when that saves less than a quarter.
    """
    lam64, a64 = lam.double(), alphas.double()
    scale = a64 + lam64.min().clamp_min(0)
    gs = scale[:, None] / (lam64[None, :] + a64[:, None])  # (A, r), entries in (0, 1]
    u, sv, vt = torch.linalg.svd(gs, full_matrices=False)
    A = len(alphas)
    for m in range(1, A):
        if 4 * m > 3 * A:
            return None
        if ((u[:, :m] * sv[:m]) @ vt[:m] - gs).abs().max() <= tol:
            C = u[:, :m] * sv[:m] / scale[:, None]
            return C.to(lam.dtype), vt[:m].to(lam.dtype).contiguous()
    return None


def _fold_operators(plan: Plan, n_targets: int) -> list[tuple]:
    """Per fold, ``op = [B diag(d_j)]_j`` stacked to ``(m·n_val, r)``, built once per fit.

    ``d_j`` are the rows of the filter factors (:func:`_filter_factors`, with their
    ``C``), or the filters ``1/(λ+α)`` themselves (``m = n_alphas``, ``C = None``), so a
    target batch costs one ``Uᵀ Y_train`` and one GEMM per fold whatever the number of alphas.
    With enough targets, ``op Uᵀ`` ``(m·n_val, n_train)`` is formed once instead (its
    ``m·n_val·r·n_train`` pays back when ``r ≈ n_train``, the dual case): one GEMM per fold
    and batch, no ``Uᵀ Y_train`` (same numbers up to float rounding: the product is reassociated).
    """
    dev = plan.full.U.device
    tol = 1e-6 if plan.full.U.dtype != torch.float64 else 1e-13
    ops = []
    for f in plan.folds:
        factors = _filter_factors(f.lam, plan.alphas, tol)
        D = factors[1] if factors else 1.0 / (f.lam[None, :] + plan.alphas[:, None])
        op = (f.B[None] * D[:, None, :]).reshape(-1, f.B.shape[1])
        U = f.U
        (rows, r), n_tr = op.shape, U.shape[0]
        if n_targets * (r * n_tr + rows * r - rows * n_tr) > rows * r * n_tr:
            op, U = op @ U.T, None  # training targets straight to validation predictions
        ops.append((U, None if factors is None else factors[0], op,
                    torch.as_tensor(f.train, device=dev), torch.as_tensor(f.val, device=dev)))
    return ops


def _kfold_scores(ops: list[tuple], Yb: torch.Tensor, fit_intercept: bool, n_alphas: int) -> torch.Tensor:
    """Negated validation MSE per alpha and target of one batch, averaged over the folds."""
    scores = torch.zeros(n_alphas, Yb.shape[1], dtype=Yb.dtype, device=Yb.device)
    for U, C, op, tr, va in ops:
        Ytr = Yb[tr]
        m = Ytr.mean(0) if fit_intercept else torch.zeros_like(Ytr[0])
        Ytr = Ytr - m
        pred = (op @ (Ytr if U is None else U.T @ Ytr)).view(op.shape[0] // len(va), len(va), -1)
        if C is not None:
            pred = torch.tensordot(C, pred, dims=1)  # (A, n_val, b)
        pred.sub_((Yb[va] - m)[None])  # now residuals
        scores -= pred.square_().mean(1)
    return scores / len(ops)


class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with a per-target alpha chosen by GCV, exact LOO or K-fold CV.

    Parameters: ``alphas`` grid; ``cv`` = ``"gcv"`` (fast, default), ``"loo"`` (exact
    leave-one-out, scikit-learn parity), an int K or a scikit-learn splitter;
    ``alpha_per_target`` (False: one alpha for all targets, by the mean score);
    ``fit_intercept``; ``dtype`` ``"float32"``/``"float64"``; ``device`` (``"auto"``);
    ``target_batch_size`` (None: sized from ``memory_budget`` bytes); ``solver``
    ``"auto"``/``"dual"``/``"primal"``; ``feature_scale`` ``None`` or ``"rms"``: divide X by
    one number, the RMS over features of the *training* rows' standard deviations (ddof 0),
    so one alpha grid fits layers of any magnitude (alphas then live in that scaled space;
    ``feature_scale_`` keeps the number, ``coef_`` is mapped back to the raw features).

    Fitted: ``alpha_ (t,)``, ``coef_ (t, p)``, ``intercept_ (t,)``, ``cv_scores_
    (n_alphas, t)`` (negative held-out MSE per alpha), ``best_score_ (t,)``.
    ``score(X, Y)`` is the mean over targets of R² (scikit-learn's convention); use
    :func:`neuroalign.metrics.pearson_r` for correlations.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, cv="gcv", alpha_per_target=True, fit_intercept=True,
                 dtype="float32", device="auto", target_batch_size=None, solver="auto",
                 memory_budget=512e6, feature_scale=None):
        self.alphas = alphas
        self.cv = cv
        self.alpha_per_target = alpha_per_target
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.device = device
        self.target_batch_size = target_batch_size
        self.solver = solver
        self.memory_budget = memory_budget
        self.feature_scale = feature_scale

    def shared_gram(self, X) -> torch.Tensor | None:
        """``X Xᵀ`` for outer splits of ``X`` to share (pass its blocks to :meth:`fit`), or
        None when this estimator decomposes in primal form (more stimuli than features)."""
        X = np.asarray(X)
        return stimulus_gram(X, dtype=self.dtype, device=self.device) if _uses_dual(self.solver, *X.shape) else None

    def _plan(self, X, gram=None) -> Plan:
        return make_plan(X, alphas=self.alphas, cv=self.cv, fit_intercept=self.fit_intercept,
                         solver=self.solver, dtype=self.dtype, device=self.device, gram=gram)

    def fit(self, X, Y, gram=None):
        """Fit; ``gram`` (optional) is ``X Xᵀ`` from :func:`stimulus_gram`, to share across splits."""
        Y = np.asarray(Y)
        self._ravel = Y.ndim == 1
        if not np.isfinite(Y).all():
            raise DataError(f"ridge: Y has {int((~np.isfinite(Y)).sum())} non-finite values.")
        scale = self._training_scale(X)
        if scale != 1.0:
            X = (X / scale) if isinstance(X, torch.Tensor) else np.asarray(X) / scale
            gram = None if gram is None else gram / scale**2
        self.feature_scale_ = scale
        plan = self._plan(X, gram)
        res = self._solve(plan, Y)
        if not self.alpha_per_target:
            idx = int(np.argmax(res["cv_scores"].mean(1)))
            one = self._solve(_single_alpha(plan, idx), Y)
            one["cv_scores"], one["alpha_index"] = res["cv_scores"], np.full_like(res["alpha_index"], idx)
            one["alpha"] = np.full(len(one["alpha"]), float(np.asarray(self.alphas).ravel()[idx]))
            res = one
        self._set_fitted(plan, res)
        if scale != 1.0 and self._basis is None:  # weights on the raw features: predict needs no scale
            self.coef_ = self.coef_ / scale
        return self

    def _training_scale(self, X) -> float:
        """The ``feature_scale`` divisor of these (training) rows; 1.0 when off or degenerate."""
        if self.feature_scale is None:
            return 1.0
        if self.feature_scale != "rms":
            raise DataError(f"ridge: feature_scale must be None or 'rms', got {self.feature_scale!r}.")
        Xn = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
        s = float(np.sqrt(np.mean(np.var(Xn, axis=0, dtype=np.float64))))
        return s if np.isfinite(s) and s > 0 else 1.0

    def _solve(self, plan: Plan, Y: np.ndarray) -> dict:
        """All targets against one plan (:func:`solve_targets`); subclasses distribute it.

        A dual plan with at least as many targets as stimuli keeps basis coefficients and
        ``X_c`` (``n·p`` ≤ the ``t·p`` of the weights), so the weights' ``p·n·t`` product is
        paid only if ``coef_`` is read; with fewer targets the weights are the cheaper form."""
        t = 1 if Y.ndim == 1 else Y.shape[1]
        basis = plan.solver == "dual" and t >= plan.n_samples
        return solve_targets(plan, Y, target_batch_size=self.target_batch_size, memory_budget=self.memory_budget,
                             weights="basis" if basis else "primal")

    @property
    def coef_(self) -> np.ndarray:
        """Weights ``(t, p)`` on the raw features; after a dual fit formed on first access
        (``X_cᵀ U`` times the basis coefficients, ``p·n·t``) and kept."""
        d = self.__dict__
        if d.get("_coef") is None:
            if d.get("_basis") is None:
                raise AttributeError("coef_: this RidgeCV is not fitted yet; call fit(X, Y) first.")
            Xc, U, W = self._basis
            d["_coef"] = (Xc.T @ (U @ W)).T.cpu().numpy() / self.feature_scale_
        return d["_coef"]

    @coef_.setter
    def coef_(self, value) -> None:
        """Weights set by hand replace the basis form: predict uses them."""
        self.__dict__["_coef"] = value
        self.__dict__["_basis"] = None

    def _set_fitted(self, plan: Plan, res: dict):
        self.alpha_ = res["alpha"]
        self.coef_ = res.get("coef")
        self._basis = (plan.full.Xc, plan.full.U, res["basis_coef"]) if "basis_coef" in res else None
        self.intercept_ = res["intercept"]
        self.cv_scores_ = res["cv_scores"]
        self.best_score_ = res["cv_scores"][res["alpha_index"], np.arange(len(res["alpha_index"]))] \
            if res["cv_scores"].shape[0] > 1 else res["cv_scores"][0]
        self.n_features_in_ = plan.full.x_mean.shape[0]
        self.solver_ = plan.solver
        self._ravel = getattr(self, "_ravel", False)
        return self

    def predict(self, X):
        """``X coef_ᵀ + intercept_``; after a basis-form fit (see :meth:`_solve`)
        ``((X/s) X_cᵀ U) basis_coef + intercept_`` (``s`` the feature scale), equal up to float rounding."""
        Xt = _as_tensor(X, self.dtype, self.device)
        b = _as_tensor(self.intercept_, Xt.dtype, Xt.device)
        if self.__dict__.get("_basis") is not None:
            Xc, U, W = (a.to(Xt.device, Xt.dtype) for a in self._basis)
            Xs = Xt if self.feature_scale_ == 1.0 else Xt / self.feature_scale_
            pred = ((Xs @ Xc.T) @ U) @ W + b
        else:
            pred = Xt @ _as_tensor(self.coef_, Xt.dtype, Xt.device).T + b
        pred = pred.cpu().numpy()
        return pred[:, 0] if self._ravel else pred

    def score(self, X, Y, sample_weight=None):
        return float(np.nanmean(r2_score(np.asarray(Y, dtype=np.float64), self.predict(X).astype(np.float64))))


def _single_alpha(plan: Plan, idx: int) -> Plan:
    """The same plan restricted to one alpha (for a shared alpha across targets). Its scores
    are discarded, so it scores the cheap way (GCV) and carries no folds."""
    return Plan(plan.full, [], plan.alphas[idx:idx + 1], "gcv", plan.fit_intercept, plan.n_samples, plan.solver)


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
