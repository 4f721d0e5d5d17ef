"""Linear CKA (Kornblith et al. 2019) and debiased linear CKA (unbiased HSIC, Song et al.
2012; Nguyen et al. 2021), in Gram form, in torch.

The biased estimator drifts with the number of stimuli (towards 1 for high-dimensional
features with few stimuli); the debiased one does not, so the result records which was used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..device import resolve_device
from ..errors import DataError
from ._tensors import group_codes, torch_dtype


class CKAScore(float):
    """A float that remembers the estimator (``variant``) and the number of stimuli."""

    variant: str
    n_stimuli: int

    def __new__(cls, value, variant, n_stimuli):
        obj = super().__new__(cls, value)
        obj.variant, obj.n_stimuli = variant, n_stimuli
        return obj

    def __repr__(self):
        return f"CKAScore({float(self):.6g}, variant={self.variant!r}, n_stimuli={self.n_stimuli})"


def _per_stimulus(da: xr.DataArray, name: str) -> tuple[np.ndarray, np.ndarray]:
    dim = next((d for d in da.dims if "stimulus_id" in da.coords and da["stimulus_id"].dims == (d,)), None)
    if dim is None:
        raise DataError(f"{name}: no 'stimulus_id' coord on any dim; CKA joins on stimulus ids.")
    da = da.transpose(dim, ...)
    x = np.asarray(da.values, dtype=np.float64).reshape(da.shape[0], -1)
    codes, ids = group_codes(da["stimulus_id"].values)
    if len(ids) < len(codes):  # average repeats
        x = pd.DataFrame(x).groupby(codes).mean().to_numpy()
    return x, ids


def _align(X, Y):
    if isinstance(X, xr.DataArray) and isinstance(Y, xr.DataArray):
        x, xid = _per_stimulus(X, "X")
        y, yid = _per_stimulus(Y, "Y")
        idx = pd.Index(xid).get_indexer(yid)
        if (idx < 0).any():
            raise DataError(f"X lacks {int((idx < 0).sum())} stimulus_id(s) of Y, e.g. {yid[idx < 0][:10].tolist()}.")
        return x[idx], y
    x = np.asarray(X.values if isinstance(X, xr.DataArray) else X, dtype=np.float64)
    y = np.asarray(Y.values if isinstance(Y, xr.DataArray) else Y, dtype=np.float64)
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"CKA needs the same stimuli on both sides: {x.shape[0]} vs {y.shape[0]} rows.")
    return x, y


def hsic(K: torch.Tensor, L: torch.Tensor, debiased: bool) -> torch.Tensor:
    """HSIC of Gram matrices: biased ``tr(KHLH)/(n-1)^2`` or unbiased (Song et al. 2012)."""
    n = K.shape[0]
    if not debiased:
        Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
        return (Kc * L).sum() / (n - 1) ** 2
    if n < 4:
        raise DataError(f"debiased CKA needs at least 4 stimuli, got {n}.")
    K = K - torch.diag(torch.diagonal(K))
    L = L - torch.diag(torch.diagonal(L))
    t = (K * L).sum() + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * (K.sum(0) @ L.sum(1))
    return t / (n * (n - 3))


def cka(X, Y, debiased: bool = False, *, device="auto", dtype="float64") -> CKAScore:
    """Linear CKA between ``X`` (stimulus × features) and ``Y`` (stimulus × neurons/features).

    DataArrays are joined on ``stimulus_id`` (repeats averaged); arrays must share row order.
    """
    x, y = _align(X, Y)
    dev, dt = resolve_device(device), torch_dtype(dtype)
    with torch.no_grad():
        xt = torch.as_tensor(x, device=dev).to(dt)
        yt = torch.as_tensor(y, device=dev).to(dt)
        K, L = xt @ xt.T, yt @ yt.T
        kl, kk, ll = hsic(K, L, debiased), hsic(K, K, debiased), hsic(L, L, debiased)
        val = kl / torch.sqrt(kk * ll) if float(kk * ll) > 0 else kl.new_tensor(float("nan"))
    return CKAScore(float(val), "debiased_linear_cka" if debiased else "linear_cka", x.shape[0])
