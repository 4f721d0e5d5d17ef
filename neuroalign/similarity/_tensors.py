"""Shared plumbing: RDM sets as torch tensors of condensed vectors, joined on stimulus ids.

Everything numeric in ``neuroalign.similarity`` runs on these tensors so that CPU and
GPU share one code path; labels (stimulus ids, rdm coords) stay with the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..device import resolve_device
from ..errors import DataError


def torch_dtype(dtype) -> torch.dtype:
    """``"float64"``/``np.float64``/``torch.float64`` -> torch dtype (float64 by default)."""
    if dtype is None:
        return torch.float64
    if isinstance(dtype, torch.dtype):
        return dtype
    return {"float64": torch.float64, "float32": torch.float32, "double": torch.float64,
            "float": torch.float32}.get(str(np.dtype(dtype)), torch.float64)


def triu_pairs(n: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column index of each condensed entry (row-major upper triangle, scipy order)."""
    iu = torch.triu_indices(n, n, offset=1, device=device)
    return iu[0], iu[1]


def to_square(v: torch.Tensor, n: int) -> torch.Tensor:
    """Condensed ``(..., P)`` -> symmetric ``(..., n, n)`` with a zero diagonal."""
    i, j = triu_pairs(n, v.device)
    out = v.new_zeros(v.shape[:-1] + (n, n))
    out[..., i, j] = v
    out[..., j, i] = v
    return out


def n_from_pairs(p: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * p)) / 2))
    if n * (n - 1) // 2 != p:
        raise DataError(f"a condensed RDM of length {p} is not n(n-1)/2 for any n; pass square RDMs.")
    return n


@dataclass
class RDMSet:
    """Condensed RDM values ``(n_rdm, P)`` on a device, plus the labels they came with."""

    values: torch.Tensor
    stimulus_ids: np.ndarray
    coords: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.stimulus_ids)

    def reorder(self, ids) -> "RDMSet":
        """The same RDMs over ``ids`` (a permutation/subset of this set's ids), by id."""
        ids = np.asarray(ids, dtype=str)
        idx = id_positions(self.stimulus_ids, ids)
        if np.array_equal(idx, np.arange(self.n)):
            return self
        sq = to_square(self.values, self.n)
        t = torch.as_tensor(idx, device=sq.device)
        sq = sq[:, t][:, :, t]
        i, j = triu_pairs(len(ids), sq.device)
        return RDMSet(sq[:, i, j], ids, self.coords)


def id_positions(have, ids) -> np.ndarray:
    """Position in ``have`` of each of ``ids``; ids it lacks raise an error naming them."""
    ids = np.asarray(ids, dtype=str)
    idx = pd.Index(np.asarray(have, dtype=str)).get_indexer(ids)
    if (idx < 0).any():
        missing = ids[idx < 0]
        raise DataError(f"RDMs lack {len(missing)} stimulus_id(s), e.g. {missing[:10].tolist()}; "
                        "compare RDMs over the same stimuli.")
    return idx


def as_rdmset(rdms, *, device="auto", dtype=torch.float64, stimulus_ids=None, name="rdms") -> RDMSet:
    """Accept an RDM DataArray ``(rdm, row, col)``, a square ``(n, n)``/``(k, n, n)`` array,
    or condensed ``(P,)``/``(k, P)`` values; return an :class:`RDMSet`."""
    dev = resolve_device(device)
    dtype = torch_dtype(dtype)
    if isinstance(rdms, RDMSet):
        return RDMSet(rdms.values.to(dev, dtype), rdms.stimulus_ids, rdms.coords)
    if isinstance(rdms, xr.DataArray):
        if set(rdms.dims) != {"rdm", "row", "col"}:
            raise DataError(f"{rdms.name or name}: RDM dims are {rdms.dims}; expected ('rdm', 'row', 'col') "
                            "as made by neuroalign.data.rdms.make_rdms.")
        rdms = rdms.transpose("rdm", "row", "col")
        ids = np.asarray(rdms["row"].values, dtype=str)
        if not np.array_equal(ids, np.asarray(rdms["col"].values, dtype=str)):
            raise DataError(f"{rdms.name or name}: row and col stimulus ids differ; RDMs must be square over one id list.")
        coords = {k: np.asarray(c.values) for k, c in rdms.coords.items() if c.dims == ("rdm",)}
        sq = torch.as_tensor(np.asarray(rdms.values, dtype=np.float64), device=dev).to(dtype)
        i, j = triu_pairs(len(ids), dev)
        return RDMSet(sq[:, i, j], ids, coords)
    arr = torch.as_tensor(np.asarray(rdms.detach().cpu() if torch.is_tensor(rdms) else rdms, dtype=np.float64))
    arr = arr.to(dev, dtype)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1] and (stimulus_ids is None or len(stimulus_ids) == arr.shape[0]) \
            and arr.shape[0] * (arr.shape[0] - 1) // 2 != arr.shape[1]:
        arr = arr[None]
    if arr.ndim == 3:
        n = arr.shape[1]
        i, j = triu_pairs(n, dev)
        arr = arr[:, i, j]
    elif arr.ndim != 2:
        raise DataError(f"{name}: expected RDM values of 1-3 dims, got shape {tuple(arr.shape)}.")
    n = n_from_pairs(arr.shape[1])
    ids = np.asarray([str(s) for s in (stimulus_ids if stimulus_ids is not None else range(n))])
    if len(ids) != n:
        raise DataError(f"{name}: {len(ids)} stimulus ids for RDMs over {n} conditions.")
    return RDMSet(arr, ids, {})


def align_pair(a: RDMSet, b: RDMSet) -> tuple[RDMSet, RDMSet]:
    """Put ``a`` on ``b``'s stimulus order (join on stimulus id; both sets must match)."""
    extra = np.setdiff1d(a.stimulus_ids, b.stimulus_ids)
    if len(extra):
        raise DataError(f"model RDMs have {len(extra)} stimulus_id(s) the data RDMs lack, e.g. "
                        f"{extra[:10].tolist()}; select the same stimuli on both sides.")
    return a.reorder(b.stimulus_ids), b


def group_codes(ids) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row and the unique ids in first-seen order."""
    codes, uniques = pd.factorize(np.asarray(ids, dtype=str))
    return codes, np.asarray(uniques, dtype=str)
