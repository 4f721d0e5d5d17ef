"""The neural-data contract: labelled ``presentation × neuroid [× time_bin]`` arrays.

Close to Brain-Score's NeuroidAssembly on purpose (same dim and coord names), but a
plain ``xarray.DataArray`` with flat coords so NetCDF round-trips with plain xarray.
Single trials stay single trials; averaging is an explicit step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..atomic import read_netcdf, write_netcdf
from ..errors import DataError

PRESENTATION = "presentation"
NEUROID = "neuroid"
TIME_BIN = "time_bin"
REQUIRED_PRESENTATION_COORDS = ("stimulus_id", "repetition")
REQUIRED_NEUROID_COORDS = ("neuroid_id", "region")


def make_assembly(
    values: np.ndarray,
    *,
    stimulus_id: Sequence,
    repetition: Sequence[int] | None = None,
    neuroid_id: Sequence | None = None,
    region: str | Sequence[str] = "unknown",
    time_bin: Sequence | None = None,
    presentation_coords: Mapping[str, Sequence] | None = None,
    neuroid_coords: Mapping[str, Sequence] | None = None,
    attrs: Mapping | None = None,
    name: str = "responses",
) -> xr.DataArray:
    """Build a validated assembly from a ``(presentation, neuroid[, time_bin])`` array.

    ``repetition`` defaults to the running count of each ``stimulus_id`` (0, 1, ...),
    so repeated presentations of one image are numbered automatically.
    """
    values = np.asarray(values)
    if values.ndim not in (2, 3):
        raise DataError(
            f"assembly {name!r}: values must be 2-D (presentation, neuroid) or 3-D "
            f"(presentation, neuroid, time_bin); got shape {values.shape}."
        )
    n_pres, n_neur = values.shape[:2]
    stimulus_id = np.asarray([str(s) for s in stimulus_id])
    if len(stimulus_id) != n_pres:
        raise DataError(
            f"assembly {name!r}: {len(stimulus_id)} stimulus_ids for {n_pres} presentations."
        )
    if repetition is None:
        repetition = pd.Series(stimulus_id).groupby(stimulus_id).cumcount().to_numpy()
    if neuroid_id is None:
        neuroid_id = [f"n{i:04d}" for i in range(n_neur)]
    if isinstance(region, str):
        region = [region] * n_neur
    coords: dict[str, tuple] = {
        "stimulus_id": (PRESENTATION, stimulus_id),
        "repetition": (PRESENTATION, np.asarray(repetition, dtype=np.int64)),
        "neuroid_id": (NEUROID, np.asarray([str(n) for n in neuroid_id])),
        "region": (NEUROID, np.asarray(list(region), dtype=str)),
    }
    for key, vals in (presentation_coords or {}).items():
        coords[key] = (PRESENTATION, np.asarray(vals))
    for key, vals in (neuroid_coords or {}).items():
        coords[key] = (NEUROID, np.asarray(vals))
    dims = [PRESENTATION, NEUROID]
    if values.ndim == 3:
        dims.append(TIME_BIN)
        tb = np.arange(values.shape[2]) if time_bin is None else np.asarray(time_bin)
        coords["time_bin_id"] = (TIME_BIN, tb)
    da = xr.DataArray(values, dims=dims, coords=coords, name=name, attrs=dict(attrs or {}))
    return validate_assembly(da, name=name)


def validate_assembly(da: xr.DataArray, name: str | None = None) -> xr.DataArray:
    """Check dims and required coords; raise :class:`DataError` naming what is wrong."""
    label = name or da.name or "assembly"
    if not isinstance(da, xr.DataArray):
        raise DataError(f"{label}: expected an xarray.DataArray, got {type(da).__name__}.")
    allowed = ({PRESENTATION, NEUROID}, {PRESENTATION, NEUROID, TIME_BIN})
    if set(da.dims) not in allowed or da.dims[:2] != (PRESENTATION, NEUROID):
        raise DataError(
            f"{label}: dims are {da.dims}; expected ('presentation', 'neuroid') or "
            "('presentation', 'neuroid', 'time_bin'). Use da.transpose/rename to fix."
        )
    for coord, dim in [(c, PRESENTATION) for c in ("stimulus_id",)] + [
        (c, NEUROID) for c in REQUIRED_NEUROID_COORDS
    ]:
        if coord not in da.coords:
            raise DataError(f"{label}: missing coord {coord!r} on dim {dim!r}.")
        if da.coords[coord].dims != (dim,):
            raise DataError(f"{label}: coord {coord!r} must lie on {dim!r}, not {da.coords[coord].dims}.")
    if da.sizes[PRESENTATION] == 0 or da.sizes[NEUROID] == 0:
        raise DataError(f"{label}: empty assembly (sizes {dict(da.sizes)}).")
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool) or np.issubdtype(da.dtype, np.complexfloating):
        raise DataError(f"{label}: values have dtype {da.dtype}; responses must be real numbers (float or int). "
                        "Convert them, e.g. da.astype('float64').")
    for coord in ("stimulus_id", "neuroid_id"):
        if any("\x00" in str(v) for v in da[coord].values):
            raise DataError(f"{label}: a {coord} holds a NUL character ('\\x00'), which files cannot store; "
                            "remove it from the ids.")
    nid = pd.Index(da["neuroid_id"].values)
    if nid.has_duplicates:
        dups = nid[nid.duplicated()].unique()[:5].tolist()
        raise DataError(f"{label}: duplicate neuroid_id {dups}; neuroid ids must be unique.")
    if "repetition" in da.coords:
        key = pd.MultiIndex.from_arrays([da["stimulus_id"].values, da["repetition"].values])
        if key.has_duplicates:
            dups = key[key.duplicated()][:5].tolist()
            raise DataError(
                f"{label}: (stimulus_id, repetition) pairs repeat, e.g. {dups}; number repeats 0..n-1."
            )
    else:
        sid = pd.Index(da["stimulus_id"].values)
        if sid.has_duplicates:
            raise DataError(
                f"{label}: stimulus_id repeats but there is no 'repetition' coord, e.g. "
                f"{sid[sid.duplicated()].unique()[:5].tolist()}."
            )
    return da


def is_averaged(da: xr.DataArray) -> bool:
    """True when each stimulus_id occurs once (no repeats left to average)."""
    return not pd.Index(da["stimulus_id"].values).has_duplicates


def as_averaged(da: xr.DataArray) -> xr.DataArray:
    """``da`` itself when each stimulus occurs once, else :func:`average_repetitions` of it."""
    return da if is_averaged(da) else average_repetitions(da)


def average_repetitions(da: xr.DataArray) -> xr.DataArray:
    """Mean over repeats per ``stimulus_id`` (NaN-aware), in first-seen stimulus order.

    The result has one presentation per stimulus, a ``n_repetitions`` coord with the
    number of finite trials averaged, and every per-stimulus presentation coord kept.
    """
    validate_assembly(da)
    sids = da["stimulus_id"].values
    order = pd.unique(sids)
    codes = pd.Index(order).get_indexer(sids)
    vals = np.asarray(da.values, dtype=np.float64)
    n_stim = len(order)
    moved = vals.reshape(vals.shape[0], -1)
    finite = np.isfinite(moved)
    sums = np.zeros((n_stim, moved.shape[1]))
    counts = np.zeros((n_stim, moved.shape[1]))
    np.add.at(sums, codes, np.where(finite, moved, 0.0))
    np.add.at(counts, codes, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums / counts).reshape((n_stim,) + vals.shape[1:])
    first = pd.Series(np.arange(len(sids))).groupby(codes).first().to_numpy()
    pres_coords = {}
    for key, coord in da.coords.items():
        if coord.dims == (PRESENTATION,) and key not in ("repetition", "stimulus_id"):
            pres_coords[key] = coord.values[first]
    n_rep = np.bincount(codes, minlength=n_stim)
    pres_coords["n_repetitions"] = n_rep
    out = make_assembly(
        mean,
        stimulus_id=order,
        repetition=np.zeros(n_stim, dtype=np.int64),
        neuroid_id=da["neuroid_id"].values,
        region=da["region"].values,
        time_bin=da["time_bin_id"].values if "time_bin_id" in da.coords else None,
        presentation_coords=pres_coords,
        neuroid_coords={
            k: c.values for k, c in da.coords.items() if c.dims == (NEUROID,) and k not in REQUIRED_NEUROID_COORDS
        },
        attrs={**da.attrs, "averaged_over_repetitions": 1},
        name=da.name or "responses",
    )
    return out


def trials_array(da: xr.DataArray, stimulus_ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reshape single trials to ``(stimulus, repetition, neuroid)`` with NaN padding.

    Returns the array and the stimulus ids in its order. Ceilings need this shape.
    """
    validate_assembly(da)
    if TIME_BIN in da.dims:
        raise DataError("trials_array: select or average time bins first (da.mean('time_bin')).")
    sids = da["stimulus_id"].values
    order = pd.unique(sids) if stimulus_ids is None else np.asarray(stimulus_ids, dtype=str)
    idx = pd.Index(order).get_indexer(sids)
    keep = idx >= 0
    if stimulus_ids is not None:
        missing = sorted(set(order) - set(sids))
        if missing:
            raise DataError(f"trials_array: stimulus_ids not in the assembly: {missing[:10]}.")
    rep = pd.Series(sids[keep]).groupby(sids[keep]).cumcount().to_numpy()
    out = np.full((len(order), rep.max() + 1, da.sizes[NEUROID]), np.nan)
    out[idx[keep], rep] = np.asarray(da.values, dtype=np.float64)[keep]
    return out, np.asarray(order)


def select_stimuli(da: xr.DataArray, ids: Sequence[str]) -> xr.DataArray:
    """All presentations of the given stimuli, in the given order; names missing ids."""
    wanted = [str(s) for s in ids]
    have_ids = stimulus_ids(da)
    have = set(have_ids.tolist())
    missing = [s for s in wanted if s not in have]
    if missing:
        raise DataError(
            f"{da.name or 'assembly'}: {len(missing)} stimulus_id(s) not present, e.g. {missing[:10]}."
        )
    pos = pd.Index(wanted)
    codes = pos.get_indexer(have_ids)
    keep = np.flatnonzero(codes >= 0)
    keep = keep[np.argsort(codes[keep], kind="stable")]
    return da.isel({PRESENTATION: keep})


def stimulus_ids(da) -> np.ndarray:
    """The ``stimulus_id`` coord as a plain ``<U`` array, whatever dtype the store gave it."""
    return np.asarray(np.asarray(da["stimulus_id"].values).tolist(), dtype=str)


def feature_rows(features: xr.DataArray, ids) -> np.ndarray:
    """Row of ``features`` (one per stimulus) for each of ``ids``; duplicate feature ids and
    ids without features raise errors naming them."""
    if "stimulus_id" not in features.coords:
        raise DataError("features need a 'stimulus_id' coord on their first dim.")
    fid = pd.Index(stimulus_ids(features))
    if fid.has_duplicates:
        raise DataError(
            f"features: duplicate stimulus_id {fid[fid.duplicated()].unique()[:5].tolist()}."
        )
    ids = np.asarray(ids, dtype=str)
    idx = fid.get_indexer(ids)
    if (idx < 0).any():
        missing = pd.unique(ids[idx < 0])
        raise DataError(
            f"{len(missing)} stimulus_id(s) in the responses have no features/images, e.g. "
            f"{missing[:10].tolist()}. Check that the stimulus set and the recordings match."
        )
    return idx


def align_on_stimulus_id(features: xr.DataArray, responses: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Reorder ``features`` (one row per stimulus) to the stimuli of averaged ``responses``.

    Every join in neuroalign goes through here (or :func:`feature_rows`): by id, never by
    position. Responses whose stimulus ids the features lack raise an error naming them.
    """
    idx = feature_rows(features, stimulus_ids(responses))
    return features.isel({features.dims[0]: idx}), responses


def save_assembly(da: xr.DataArray, path: str | os.PathLike) -> Path:
    """Write NetCDF atomically; readable with plain ``xarray.open_dataarray``."""
    validate_assembly(da)
    return write_netcdf(da, path)


def load_assembly(path: str | os.PathLike) -> xr.DataArray:
    return validate_assembly(read_netcdf(path, what="assembly file", array=True), name=str(path))
