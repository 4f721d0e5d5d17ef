"""RDMs from activations or responses: correlation, (squared) Euclidean, cosine,
Mahalanobis and cross-validated Mahalanobis (crossnobis), in torch.

Conventions follow rsatoolbox's ``calc_rdm`` so numbers agree: ``euclidean`` is the
squared distance divided by the number of channels, ``correlation`` is 1 - Pearson r
between patterns, crossnobis averages over leave-one-fold-out splits of the
repetitions (``d_ij = (a_i - a_j)' Λ (b_i - b_j) / n_channel``, ``a`` the mean of the
training folds, ``b`` the held-out fold). ``cosine`` is 1 - cosine similarity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import xarray as xr

from ..data.rdms import make_rdms
from ..device import resolve_device
from ..errors import DataError, unknown
from ._tensors import group_codes, id_positions, torch_dtype
from .noise import NOISE_METHODS, noise_precision

RDM_METHODS = ("correlation", "euclidean", "cosine", "mahalanobis", "crossnobis")


def _observations(data, stimulus_ids, repetition, stimulus_coord, cv_coord, name):
    """-> values (n_obs, n_channel) numpy, stimulus ids per observation, cv label or None."""
    if isinstance(data, xr.DataArray):
        obs_dim = data.dims[0]
        for d in data.dims:
            if stimulus_coord in data.coords and data.coords[stimulus_coord].dims == (d,):
                obs_dim = d
        if stimulus_coord not in data.coords:
            raise DataError(f"{data.name or name}: no {stimulus_coord!r} coord; label the presentations with stimulus ids.")
        data = data.transpose(obs_dim, ...)
        vals = np.ascontiguousarray(data.values, dtype=np.float64).reshape(data.shape[0], -1)
        sids = np.asarray(data[stimulus_coord].values, dtype=str)
        cv = np.asarray(data[cv_coord].values) if cv_coord in data.coords else None
        return vals, sids, cv
    vals = np.ascontiguousarray(data.detach().cpu() if torch.is_tensor(data) else data, dtype=np.float64)
    vals = vals.reshape(vals.shape[0], -1)
    sids = np.asarray([str(s) for s in (stimulus_ids if stimulus_ids is not None else range(vals.shape[0]))])
    if len(sids) != vals.shape[0]:
        raise DataError(f"{name}: {len(sids)} stimulus ids for {vals.shape[0]} rows.")
    return vals, sids, (None if repetition is None else np.asarray(repetition))


def _group_mean(x: torch.Tensor, codes: torch.Tensor, n: int) -> torch.Tensor:
    out = x.new_zeros((n, x.shape[1])).index_add_(0, codes, x)
    cnt = x.new_zeros(n).index_add_(0, codes, x.new_ones(x.shape[0]))
    return out / cnt[:, None]


def _precision(noise, x, codes, n_stim, p):
    if noise is None:
        return None
    if isinstance(noise, str):
        if noise not in NOISE_METHODS:
            raise unknown("noise estimate", noise, NOISE_METHODS, "Or pass a precision matrix.")
        resid = x - _group_mean(x, codes, n_stim)[codes]
        return noise_precision(resid, noise, dof=x.shape[0] - n_stim)
    prec = torch.as_tensor(np.asarray(noise.detach().cpu() if torch.is_tensor(noise) else noise, dtype=np.float64))
    if prec.shape != (p, p):
        raise DataError(f"noise precision has shape {tuple(prec.shape)}; expected ({p}, {p}) for {p} channels.")
    return prec.to(x)


def _crossnobis(x, codes, cv, n_stim, prec, uniques):
    folds = np.unique(cv)
    if len(folds) < 2:
        raise DataError("crossnobis needs at least two repetitions (folds) per stimulus; "
                        f"found cv labels {folds.tolist()}.")
    rdm = 0
    for f in folds:
        test = torch.as_tensor(cv == f, device=x.device)
        for part, label in ((test, "held-out"), (~test, "training")):
            present = torch.zeros(n_stim, dtype=torch.bool, device=x.device)
            present[codes[part]] = True
            if not bool(present.all()):
                miss = uniques[~present.cpu().numpy()]
                raise DataError(f"crossnobis: stimulus_id(s) {miss[:10].tolist()} have no {label} "
                                f"observations for fold {f!r}; each stimulus needs every repetition.")
        b = _group_mean(x[test], codes[test], n_stim)
        a = _group_mean(x[~test], codes[~test], n_stim)
        k = a @ (b if prec is None else b @ prec.T).T  # k_ij = a_i Λ b_j
        d = torch.diagonal(k)
        rdm = rdm + (d[:, None] + d[None, :] - k - k.T)
    rdm = rdm / len(folds) / x.shape[1]
    return rdm


def _single(data, method, noise, stimulus_ids, repetition, stimulus_coord, cv_coord, dev, dt, name):
    vals, sids, cv = _observations(data, stimulus_ids, repetition, stimulus_coord, cv_coord, name)
    codes_np, uniques = group_codes(sids)
    x = torch.as_tensor(vals, device=dev).to(dt)
    codes = torch.as_tensor(codes_np, device=dev)
    n, p = len(uniques), x.shape[1]
    prec = _precision(noise, x, codes, n, p) if method in ("mahalanobis", "crossnobis") else None
    if method == "crossnobis":
        if cv is None:
            raise DataError(f"{name}: crossnobis needs a {cv_coord!r} coord (or repetition=...) to form folds.")
        rdm = _crossnobis(x, codes, cv, n, prec, uniques)
    else:
        m = _group_mean(x, codes, n)
        if method == "euclidean" or method == "mahalanobis":
            k = m @ (m if prec is None else m @ prec.T).T
            d = torch.diagonal(k)
            rdm = (d[:, None] + d[None, :] - 2 * k) / p
        else:
            if method == "correlation":
                m = m - m.mean(1, keepdim=True)
            m = m / torch.linalg.norm(m, dim=1, keepdim=True)
            rdm = 1 - m @ m.T
    rdm = 0.5 * (rdm + rdm.T)
    rdm.fill_diagonal_(0.0)
    return rdm, uniques


def compute_rdms(data, method: str = "correlation", *, noise=None, stimulus_ids=None, repetition=None,
                 stimulus_coord: str = "stimulus_id", cv_coord: str = "repetition", device="auto",
                 dtype="float64", name: str = "rdms") -> xr.DataArray:
    """RDM(s) ``(rdm, row, col)`` over stimulus ids (see :func:`neuroalign.data.rdms.make_rdms`).

    ``data``: a DataArray whose presentation dim carries ``stimulus_id`` (other dims are
    flattened into channels; repeats of a stimulus are averaged, or form the folds of
    crossnobis via ``cv_coord``), a plain ``(n_obs, n_channel)`` array (with optional
    ``stimulus_ids``/``repetition``), or a mapping name -> such data (one RDM each, coord
    ``name`` on ``rdm``; later entries are put in the first one's stimulus order).
    ``noise`` (mahalanobis/crossnobis): a precision matrix, or one of ``diag``, ``full``,
    ``shrinkage_eye``, ``shrinkage_diag`` to estimate it from the residuals around the
    stimulus means (as rsatoolbox's ``prec_from_unbalanced``); None = identity.
    """
    if method not in RDM_METHODS:
        raise unknown("RDM method", method, RDM_METHODS)
    dev, dt = resolve_device(device), torch_dtype(dtype)
    items = data.items() if isinstance(data, Mapping) else [(None, data)]
    mats, ids, names = [], None, []
    with torch.no_grad():
        for key, d in items:
            rdm, u = _single(d, method, noise, stimulus_ids, repetition, stimulus_coord, cv_coord, dev, dt,
                             str(key if key is not None else name))
            if ids is None:
                ids = u
            else:  # into the first entry's stimulus order
                idx = torch.as_tensor(id_positions(u, ids), device=rdm.device)
                rdm = rdm[idx][:, idx]
            mats.append(rdm.cpu().numpy())
            names.append(str(key) if key is not None else method)
    noise_attr = "identity" if noise is None else (noise if isinstance(noise, str) else "given")
    return make_rdms(np.stack(mats), ids, rdm_coords={"name": names},
                     attrs={"method": method, "noise": noise_attr}, name=name)
