"""Noise covariance / precision from residuals, for Mahalanobis and crossnobis RDMs.

Same estimators and degrees-of-freedom conventions as rsatoolbox's
``cov_from_residuals`` / ``prec_from_residuals`` (``diag``, ``full``, ``shrinkage_eye``:
Ledoit & Wolf 2004, ``shrinkage_diag``: Schäfer & Strimmer 2005), in torch.
"""

from __future__ import annotations

import torch

from ..errors import unknown

NOISE_METHODS = ("diag", "full", "shrinkage_eye", "shrinkage_diag")


def noise_covariance(residuals: torch.Tensor, method: str = "shrinkage_diag", dof: int | None = None) -> torch.Tensor:
    """Channel covariance of ``residuals`` ``(n_obs, n_channel)``; ``dof`` defaults to n_obs - 1."""
    if method not in NOISE_METHODS:
        raise unknown("noise covariance method", method, NOISE_METHODS)
    x = residuals - residuals.mean(0, keepdim=True)
    n, p = x.shape
    dof = n - 1 if dof is None else dof
    eye = torch.eye(p, dtype=x.dtype, device=x.device)
    if method == "diag":
        return torch.diag((x * x).sum(0) / dof)
    s_sum = x.T @ x
    if method == "full":
        return s_sum / dof
    s2_sum = (x * x).T @ (x * x)
    if method == "shrinkage_eye":
        s = s_sum / n
        b2 = (s2_sum / n - s * s).sum() / n
        m = torch.diagonal(s).sum() / p
        d2 = ((s - m * eye) ** 2).sum()
        b2 = torch.minimum(d2, b2)
        return (b2 / d2 * m * eye + (d2 - b2) / d2 * s) * n / dof
    s = s_sum / dof
    var = torch.diagonal(s)
    std = torch.sqrt(var)
    s_mean = s_sum / std[None, :] / std[:, None] / (n - 1)
    s2_mean = s2_sum / var[None, :] / var[:, None] / (n - 1)
    var_hat = n / dof ** 2 * (s2_mean - s_mean ** 2)
    off = ~torch.eye(p, dtype=torch.bool, device=x.device)
    lamb = torch.clamp(var_hat[off].sum() / (s_mean[off] ** 2).sum(), 0.0, 1.0)
    return s * (eye + (1 - lamb) * off)


def noise_precision(residuals: torch.Tensor, method: str = "shrinkage_diag", dof: int | None = None) -> torch.Tensor:
    """Inverse of :func:`noise_covariance` (the ``noise`` argument of Mahalanobis/crossnobis)."""
    return torch.linalg.inv(noise_covariance(residuals, method, dof))
