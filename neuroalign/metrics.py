"""Per-target goodness-of-fit in torch: one definition of Pearson r and R² for the package.

Columns are targets (neuroids), rows are samples (stimuli). A target whose truth or
prediction is constant has an undefined correlation: it comes back as NaN, never as 0,
so callers can flag it instead of averaging a made-up number in.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(a, dtype=torch.float64) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def _out(t: torch.Tensor, like) -> np.ndarray | torch.Tensor:
    return t if isinstance(like, torch.Tensor) else t.cpu().numpy()


def pearson_r(y_true, y_pred, *, eps: float = 1e-12):
    """Pearson r per column of two ``(n_samples, n_targets)`` arrays (NaN where undefined).

    Returns numpy for numpy input and a tensor for tensor input. Accumulates in float64.
    """
    t, p = _as_tensor(y_true), _as_tensor(y_pred)
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    if t.shape != p.shape:
        raise ValueError(f"pearson_r: shapes differ, {tuple(t.shape)} vs {tuple(p.shape)}.")
    tc = t - t.mean(0)
    pc = p - p.mean(0)
    num = (tc * pc).sum(0)
    st = tc.square().sum(0).sqrt()
    sp = pc.square().sum(0).sqrt()
    den = st * sp
    # relative test: a column is constant if its spread is tiny against its magnitude
    scale_t = t.abs().amax(0).clamp_min(eps) * np.sqrt(t.shape[0])
    scale_p = p.abs().amax(0).clamp_min(eps) * np.sqrt(p.shape[0])
    bad = (st <= 1e-10 * scale_t) | (sp <= 1e-10 * scale_p)
    r = torch.where(bad, torch.full_like(num, float("nan")), num / torch.where(bad, torch.ones_like(den), den))
    r = r.clamp(-1.0, 1.0)
    return _out(r if np.ndim(y_true) > 1 else r[0], y_true)


def r2_score(y_true, y_pred):
    """Coefficient of determination per column, 1 - SS_res/SS_tot (NaN for constant truth).

    Same definition as ``sklearn.metrics.r2_score(..., multioutput="raw_values")`` except
    that a constant target gives NaN instead of an arbitrary 0 or 1.
    """
    t, p = _as_tensor(y_true), _as_tensor(y_pred)
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    ss_res = (t - p).square().sum(0)
    ss_tot = (t - t.mean(0)).square().sum(0)
    bad = ss_tot <= 1e-20 * t.square().sum(0).clamp_min(1e-300)
    r2 = torch.where(bad, torch.full_like(ss_res, float("nan")), 1.0 - ss_res / torch.where(bad, torch.ones_like(ss_tot), ss_tot))
    return _out(r2 if np.ndim(y_true) > 1 else r2[0], y_true)


def constant_columns(y, *, rtol: float = 1e-10) -> np.ndarray:
    """Boolean mask of columns whose values do not vary (their r is undefined)."""
    a = np.asarray(y, dtype=np.float64)
    spread = np.nanmax(a, axis=0) - np.nanmin(a, axis=0)
    scale = np.maximum(np.nanmax(np.abs(a), axis=0), 1e-300)
    return spread <= rtol * scale
