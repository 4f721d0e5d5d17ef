"""Compare RDMs: Pearson, Spearman, Kendall's tau-a, cosine, whitened cosine / Pearson.

Numbers match rsatoolbox's ``compare`` (methods ``corr``, ``spearman``, ``tau-a``,
``cosine``, ``cosine_cov``, ``corr_cov``); pairs that are NaN in either RDM of a
comparison are dropped, and the whitened methods restrict their fit to the remaining
pairs (where rsatoolbox raises, this returns a number).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import unknown
from ._tensors import align_pair, as_rdmset, to_square, torch_dtype
from .kernels import weighted_cosine, weighted_ranks, weighted_tau_a, whitened_counts, whitened_masked

METHODS = ("pearson", "spearman", "kendall", "cosine", "cosine_cov", "corr_cov")
_ALIASES = {"corr": "pearson", "correlation": "pearson", "tau-a": "kendall", "tau_a": "kendall",
            "kendall_tau_a": "kendall", "whitened_cosine": "cosine_cov", "whitened_pearson": "corr_cov",
            "rho": "spearman"}
WHITENED = ("cosine_cov", "corr_cov")


def canonical_method(method: str) -> str:
    """The canonical name of a comparison method (accepts rsatoolbox's names)."""
    m = _ALIASES.get(str(method).lower(), str(method).lower())
    if m not in METHODS:
        raise unknown("RDM comparison method", str(method), list(METHODS) + list(_ALIASES))
    return m


def similarity(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, method: str, *, paired: bool = False):
    """Condensed-vector comparison for the non-whitened methods (see :mod:`.kernels` for shapes)."""
    if method == "pearson":
        return weighted_cosine(x, y, w, centre=True, paired=paired)
    if method == "cosine":
        return weighted_cosine(x, y, w, centre=False, paired=paired)
    if method == "spearman":
        return weighted_cosine(weighted_ranks(x, w), weighted_ranks(y, w), w, centre=True, paired=paired)
    if method == "kendall":
        return weighted_tau_a(x, y, w, paired=paired)
    raise ValueError(method)


def _block(x, y, valid, n, method):
    """Compare ``x`` ``(A, P)`` with ``y`` ``(B, P)`` over the pairs in ``valid`` ``(P,)``."""
    x = torch.nan_to_num(x, nan=0.0)
    y = torch.nan_to_num(y, nan=0.0)
    if method in WHITENED:
        centre = method == "corr_cov"
        if bool(valid.all()):
            ones = x.new_ones(1, n)
            return whitened_counts(to_square(x, n)[None], to_square(y, n)[None], ones, centre=centre)[0]
        vsq = to_square(valid.to(x.dtype), n) > 0
        return whitened_masked(to_square(x, n), to_square(y, n), vsq, centre=centre)
    return similarity(x[None], y[None], valid.to(x.dtype)[None], method)[0]


def compare_rdms(a, b, method: str = "spearman", *, device="auto", dtype="float64") -> np.ndarray:
    """Similarity of every RDM in ``a`` with every RDM in ``b``: array ``(n_a, n_b)``.

    ``a``/``b``: RDM DataArrays (joined on stimulus id), square or condensed arrays.
    """
    method = canonical_method(method)
    dt = torch_dtype(dtype)
    A, B = align_pair(as_rdmset(a, device=device, dtype=dt, name="a"), as_rdmset(b, device=device, dtype=dt, name="b"))
    x, y = A.values, B.values
    mx, my = torch.isfinite(x), torch.isfinite(y)
    with torch.no_grad():
        if bool((mx == mx[:1]).all() and (my == mx[:1]).all()):
            out = _block(x, y, mx[0], B.n, method)
        else:
            out = x.new_empty((x.shape[0], y.shape[0]))
            for i in range(x.shape[0]):
                for j in range(y.shape[0]):
                    out[i, j] = _block(x[i:i + 1], y[j:j + 1], mx[i] & my[j], B.n, method)[0, 0]
    return out.cpu().numpy()
