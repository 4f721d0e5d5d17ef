"""Brain-Score's on-disk format, read and written without importing brainscore.

Brain-Score (brainscore_core's ``brainio`` data standard) stores

- an assembly as a netCDF-4 file ``assy_<identifier>.nc`` holding one variable ``data``
  whose dims are ``presentation``, ``neuroid`` [, ``time_bin``]; every coordinate is a
  flat 1-D variable on one dim (MultiIndexes are reset before writing), strings are
  variable-length, the data is zlib-compressed; attrs ``identifier`` and
  ``stimulus_set_identifier`` name the assembly and its stimuli;
- a stimulus set as ``stimulus_<identifier>.csv`` (one row per stimulus: ``stimulus_id``,
  ``filename`` and metadata columns) plus ``stimulus_<identifier>.zip``, a flat zip whose
  members are the ``filename`` values (``<stimulus_id><extension>`` when Brain-Score
  packages it) and nothing else.

Identifiers map to file names with dots replaced by underscores. neuroalign's assembly
contract uses the same dim and coord names, so conversion is mostly a check plus the
handful of renames below (legacy ``image_id``, ``time_bin`` coordinates).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import xarray as xr

from ..atomic import atomic_path, read_netcdf
from ..data.assembly import NEUROID, PRESENTATION, TIME_BIN, make_assembly, validate_assembly
from ..data.stimuli import StimulusSet, zip_members
from ..errors import DataError

DATA_VARIABLE = "data"
ASSEMBLY_PREFIX = "assy_"
STIMULUS_PREFIX = "stimulus_"
_CORE = ("stimulus_id", "repetition", "neuroid_id", "region", "time_bin_id")


# ---- names --------------------------------------------------------------------------
def assembly_filename(identifier: str) -> str:
    """``assy_<identifier>.nc`` with dots as underscores, as Brain-Score names it."""
    return f"{ASSEMBLY_PREFIX}{identifier.replace('.', '_')}.nc"


def stimulus_set_filenames(identifier: str) -> tuple[str, str]:
    """``(stimulus_<identifier>.csv, stimulus_<identifier>.zip)`` with dots as underscores."""
    stem = f"{STIMULUS_PREFIX}{identifier.replace('.', '_')}"
    return f"{stem}.csv", f"{stem}.zip"


# ---- assemblies ---------------------------------------------------------------------
def _netcdf_attr(value):
    """netCDF attributes hold strings and numbers (or 1-D arrays of them); anything else as text."""
    if isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf":
        return value
    return str(value)


def _flat_values(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "O":
        kinds = {type(v) for v in values.tolist()}
        if kinds <= {str}:
            return values.astype(str)
        raise DataError(
            f"coord {name!r} holds Python objects of types {sorted(k.__name__ for k in kinds)}; "
            "netCDF (and Brain-Score) needs strings or numbers. Convert it, e.g. .astype(str)."
        )
    return values


def to_brainscore_assembly(assembly: xr.DataArray, *, identifier: str | None = None,
                           stimulus_set_identifier: str | None = None) -> xr.DataArray:
    """A neuroalign assembly as the DataArray Brain-Score writes: flat coords, its two attrs.

    ``identifier`` and ``stimulus_set_identifier`` default to the assembly's attrs of the
    same name; one of them missing is an error, as Brain-Score's loader relies on both.
    """
    validate_assembly(assembly)
    identifier = identifier or assembly.attrs.get("identifier")
    stim_id = stimulus_set_identifier or assembly.attrs.get("stimulus_set_identifier")
    if not identifier or not stim_id:
        raise DataError(
            f"assembly {assembly.name!r}: Brain-Score needs both an 'identifier' and a "
            f"'stimulus_set_identifier' (got {identifier!r}, {stim_id!r}); pass them or set the attrs."
        )
    dims = [d for d in (PRESENTATION, NEUROID, TIME_BIN) if d in assembly.dims]
    coords = {}
    for name, coord in assembly.coords.items():
        if name in assembly.dims:
            continue  # positional index coords carry no metadata; Brain-Score files have none
        if coord.ndim > 1:
            raise DataError(f"coord {name!r} spans {coord.dims}; Brain-Score's format stores 1-D coords only.")
        coords[name] = (coord.dims, _flat_values(name, coord.values))
    attrs = {k: _netcdf_attr(v) for k, v in assembly.attrs.items() if v is not None}
    attrs.update(identifier=str(identifier), stimulus_set_identifier=str(stim_id))
    return xr.DataArray(assembly.transpose(*dims).values, dims=dims, coords=coords, attrs=attrs)


def write_brainscore_assembly(assembly: xr.DataArray, path: str | os.PathLike, *,
                              identifier: str | None = None, stimulus_set_identifier: str | None = None,
                              compress: bool = True) -> Path:
    """Write ``assembly`` as a Brain-Score assembly file (netCDF-4, variable ``data``), atomically.

    ``path`` may be a folder, in which case the file is named ``assy_<identifier>.nc``.
    """
    bs = to_brainscore_assembly(assembly, identifier=identifier, stimulus_set_identifier=stimulus_set_identifier)
    return _write(bs, path, compress)


def _write(bs: xr.DataArray, path: str | os.PathLike, compress: bool) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / assembly_filename(bs.attrs["identifier"])
    ds = bs.to_dataset(name=DATA_VARIABLE, promote_attrs=True)
    encoding = {DATA_VARIABLE: {"zlib": True, "complevel": 9}} if compress else {}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def to_brainscore_features(features: xr.DataArray, *, layer: str, identifier: str,
                           stimulus_set_identifier: str) -> xr.DataArray:
    """Model features (one row per stimulus, coord ``stimulus_id``) as a Brain-Score
    ModelFeaturesAssembly: dims ``presentation`` × ``neuroid``, ``neuroid_id`` = ``<layer>.<i>``,
    coord ``layer``; trailing dims are flattened in C order as Brain-Score flattens them.
    """
    if "stimulus_id" not in features.coords or features["stimulus_id"].ndim != 1:
        raise DataError(f"features for layer {layer!r}: need a 1-D 'stimulus_id' coord on the stimulus dim.")
    dim = features["stimulus_id"].dims[0]
    features = features.transpose(dim, ...)
    values = np.asarray(features.values).reshape(features.shape[0], -1)
    n = values.shape[1]
    sids = _strings(features["stimulus_id"].values)
    if pd.Index(sids).has_duplicates:
        raise DataError(f"features for layer {layer!r}: duplicate stimulus_id; average repeats first.")
    return xr.DataArray(
        values, dims=(PRESENTATION, NEUROID),
        # two coords per dim at least: brainscore turns a dim's only coord into a plain index, losing its name
        coords={"stimulus_id": (PRESENTATION, sids), "stimulus_num": (PRESENTATION, np.arange(len(sids))),
                "neuroid_id": (NEUROID, np.asarray([f"{layer}.{i}" for i in range(n)])),
                "neuroid_num": (NEUROID, np.arange(n)), "layer": (NEUROID, np.asarray([layer] * n))},
        attrs={"identifier": identifier, "stimulus_set_identifier": stimulus_set_identifier, "layer": layer},
    )


def write_brainscore_features(features: xr.DataArray, path: str | os.PathLike, *, layer: str, identifier: str,
                              stimulus_set_identifier: str, compress: bool = True) -> Path:
    """Write model features as a Brain-Score assembly file (see :func:`to_brainscore_features`)."""
    bs = to_brainscore_features(features, layer=layer, identifier=identifier,
                                stimulus_set_identifier=stimulus_set_identifier)
    return _write(bs, path, compress)


def read_brainscore_assembly(path: str | os.PathLike) -> xr.DataArray:
    """The DataArray stored in a Brain-Score assembly file, as written (no conversion)."""
    ds = read_netcdf(path, what="Brain-Score assembly file", engine="netcdf4")
    if DATA_VARIABLE in ds.data_vars:
        name = DATA_VARIABLE
    elif len(ds.data_vars) == 1:
        name = next(iter(ds.data_vars))
    else:
        raise DataError(
            f"{path}: expected one data variable {DATA_VARIABLE!r} (Brain-Score's layout), found "
            f"{sorted(ds.data_vars)}."
        )
    da = ds[name]
    da.attrs = {**ds.attrs, **da.attrs}
    return da


def _strings(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "OSU":
        return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()])
    return values


def from_brainscore_assembly(da: xr.DataArray, *, region: str | None = None) -> xr.DataArray:
    """A Brain-Score NeuroidAssembly (in memory, flat coords) as a validated neuroalign assembly.

    Legacy ``image_id`` becomes ``stimulus_id``; a missing ``neuroid_id`` is numbered, a
    missing ``region`` comes from ``region`` or the attrs (else ``"unknown"``) and a
    missing ``repetition`` is counted per stimulus; every other coord and attr is kept.
    """
    if PRESENTATION not in da.dims or NEUROID not in da.dims:
        raise DataError(
            f"Brain-Score assembly {da.attrs.get('identifier', da.name)!r} has dims {da.dims}; a neural "
            "assembly needs 'presentation' and 'neuroid' (behavioural assemblies are not supported)."
        )
    extra = set(da.dims) - {PRESENTATION, NEUROID, TIME_BIN}
    if extra:
        raise DataError(f"Brain-Score assembly has unsupported dims {sorted(extra)}; select or average them first.")
    dims = [d for d in (PRESENTATION, NEUROID, TIME_BIN) if d in da.dims]
    da = da.transpose(*dims)
    flat = {}
    for name in list(da.coords):
        c = da.coords[name]
        if name in da.dims or c.ndim > 1:
            continue  # leftovers of a MultiIndex; the levels are kept as their own coords
        flat[name] = (c.dims, _strings(c.values))
    if "stimulus_id" not in flat and "image_id" in flat:
        flat["stimulus_id"] = flat["image_id"]
    if "stimulus_id" not in flat:
        raise DataError("Brain-Score assembly lacks a 'stimulus_id' (or legacy 'image_id') coord on 'presentation'.")
    on = {d: {k: v for k, (cd, v) in flat.items() if cd == (d,)} for d in dims}
    pres, neur = on[PRESENTATION], on[NEUROID]
    rep = pres.get("repetition")
    if rep is not None:
        rep = np.asarray(rep)
        if rep.dtype.kind == "f":
            if not np.all(np.isfinite(rep)) or not np.all(rep == np.round(rep)):
                raise DataError("Brain-Score assembly's 'repetition' coord is not whole numbers.")
        rep = rep.astype(np.int64)
    reg = neur.get("region")
    if reg is None:
        reg = region or str(da.attrs.get("region", "unknown"))
    time_bin = None
    if TIME_BIN in dims:
        tb = on[TIME_BIN]
        if "time_bin_id" in tb:
            time_bin = tb["time_bin_id"]
        elif "time_bin_start" in tb and "time_bin_end" in tb:
            time_bin = np.asarray([f"{s}-{e}" for s, e in zip(tb["time_bin_start"], tb["time_bin_end"])])
    attrs = {k: v for k, v in da.attrs.items() if not isinstance(v, (pd.DataFrame, xr.DataArray)) and v is not None}
    out = make_assembly(
        np.asarray(da.values),
        stimulus_id=pres["stimulus_id"],
        repetition=rep,
        neuroid_id=neur.get("neuroid_id"),
        region=reg,
        time_bin=time_bin,
        presentation_coords={k: v for k, v in pres.items() if k not in _CORE},
        neuroid_coords={k: v for k, v in neur.items() if k not in _CORE},
        attrs=attrs,
        name=str(da.attrs.get("identifier") or da.name or "responses"),
    )
    if TIME_BIN in dims:
        out = out.assign_coords({k: (TIME_BIN, v) for k, v in on[TIME_BIN].items() if k != "time_bin_id"})
    return out


def save_brainscore_assembly(assembly: xr.DataArray, path: str | os.PathLike, **kwargs) -> Path:
    """Alias of :func:`write_brainscore_assembly` (neuroalign's ``save_*`` naming)."""
    return write_brainscore_assembly(assembly, path, **kwargs)


def load_brainscore_assembly(path: str | os.PathLike, *, region: str | None = None) -> xr.DataArray:
    """Read a Brain-Score assembly file as a neuroalign assembly."""
    try:
        return from_brainscore_assembly(read_brainscore_assembly(path), region=region)
    except DataError as exc:
        if str(path) in str(exc):
            raise
        raise DataError(f"{path}: {exc}") from exc


# ---- stimulus sets ------------------------------------------------------------------
def _zip_member(stimulus_id: str, file: str) -> str:
    suffix = PurePosixPath(file).suffix.lower() or ".png"
    return f"{stimulus_id}{suffix}"


def stimulus_set_frame(stimuli: StimulusSet, filenames: list[str] | None = None) -> pd.DataFrame:
    """The CSV table Brain-Score keeps: ``stimulus_id``, ``filename``, then the metadata columns."""
    md = stimuli.metadata.reset_index(drop=True)
    clash = [c for c in ("stimulus_id", "filename") if c in md.columns]
    if clash:
        raise DataError(
            f"stimulus set {stimuli.identifier!r}: metadata columns {clash} clash with Brain-Score's own "
            "columns; rename them first."
        )
    files = filenames or [_zip_member(s, f) for s, f in zip(stimuli.stimulus_ids, stimuli.files)]
    frame = pd.DataFrame({"stimulus_id": stimuli.stimulus_ids, "filename": files})
    return pd.concat([frame, md], axis=1)


def write_brainscore_stimulus_set(stimuli: StimulusSet, folder: str | os.PathLike, *,
                                  identifier: str | None = None) -> tuple[Path, Path]:
    """Write ``stimulus_<id>.csv`` and a flat ``stimulus_<id>.zip`` into ``folder``.

    Image bytes are copied unchanged (no re-encoding), one member per stimulus named
    ``<stimulus_id><extension>`` as Brain-Score's packager names them. Returns both paths.
    """
    identifier = identifier or stimuli.identifier
    folder = Path(folder)
    csv_name, zip_name = stimulus_set_filenames(identifier)
    frame = stimulus_set_frame(stimuli)
    names = frame["filename"].tolist()
    if len(set(names)) != len(names):
        raise DataError(f"stimulus set {identifier!r}: two stimuli map to the same zip member name.")
    with atomic_path(folder / zip_name) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for (sid, data), member in zip(stimuli.iter_bytes(), names):
                zf.writestr(member, data)
    with atomic_path(folder / csv_name) as tmp:
        frame.to_csv(tmp, index=False)
    return folder / csv_name, folder / zip_name


def read_brainscore_stimulus_set(csv_path: str | os.PathLike, images: str | os.PathLike | None = None, *,
                                 identifier: str | None = None, color: str = "error") -> StimulusSet:
    """A Brain-Score stimulus set (CSV + zip, or CSV + the folder it was unzipped to) as a StimulusSet.

    ``images`` defaults to the zip next to the CSV with the same stem. The zip is read in
    place. Every ``filename`` must exist there; legacy ``image_id`` is accepted.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"Brain-Score stimulus CSV {csv_path} does not exist.")
    images = Path(images) if images is not None else csv_path.with_suffix(".zip")
    frame = pd.read_csv(csv_path, dtype={"stimulus_id": str, "image_id": str, "filename": str})
    if "stimulus_id" not in frame.columns and "image_id" in frame.columns:
        frame["stimulus_id"] = frame["image_id"]
    for col in ("stimulus_id", "filename"):
        if col not in frame.columns:
            raise DataError(f"{csv_path}: missing column {col!r}; Brain-Score stimulus CSVs have stimulus_id and filename.")
    files = frame["filename"].tolist()
    if images.is_dir():
        missing = [f for f in files if not (images / f).is_file()]
    elif images.is_file():
        members = set(zip_members(images))
        missing = [f for f in files if f not in members]
    else:
        raise DataError(f"stimulus images {images} (zip or folder) for {csv_path} do not exist.")
    if missing:
        raise DataError(f"{csv_path}: {len(missing)} filename(s) not found in {images}, e.g. {missing[:5]}.")
    if identifier is None:
        stem = csv_path.stem
        identifier = stem[len(STIMULUS_PREFIX):] if stem.startswith(STIMULUS_PREFIX) else stem
    ids = frame["stimulus_id"].astype(str).tolist()
    metadata = frame.drop(columns=[c for c in ("stimulus_id", "filename") if c in frame.columns])
    metadata.index = pd.Index(ids, name="stimulus_id")
    return StimulusSet(identifier, ids, files, images, metadata, color=color)


def stimulus_set_bytes_equal(a: StimulusSet, b: StimulusSet) -> bool:
    """True when both sets hold the same ids in the same order with identical image bytes."""
    if a.stimulus_ids != b.stimulus_ids:
        return False
    return all(x == y for (_, x), (_, y) in zip(a.iter_bytes(), b.iter_bytes()))


def assemblies_equal(a: xr.DataArray, b: xr.DataArray, *, coords: Mapping | None = None) -> list[str]:
    """Differences between two assemblies (values, then each coord), as readable lines; empty if equal.

    Strings are compared as text and numbers exactly (NaN equals NaN); ``coords`` limits
    the comparison to those names. Used by the round-trip checks.
    """
    problems = []
    if a.dims != b.dims or a.shape != b.shape:
        return [f"dims/shape differ: {a.dims}{a.shape} vs {b.dims}{b.shape}"]
    va, vb = np.asarray(a.values), np.asarray(b.values)
    if not np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"):
        problems.append("values differ")
    names = list(coords) if coords is not None else sorted(set(a.coords) | set(b.coords))
    for name in names:
        if name not in a.coords or name not in b.coords:
            problems.append(f"coord {name!r} only in {'first' if name in a.coords else 'second'}")
            continue
        ca, cb = a.coords[name], b.coords[name]
        if ca.dims != cb.dims:
            problems.append(f"coord {name!r} on {ca.dims} vs {cb.dims}")
            continue
        xa, xb = _strings(ca.values), _strings(cb.values)
        if xa.dtype.kind in "OSU" or xb.dtype.kind in "OSU":
            same = np.array_equal(xa.astype(str), xb.astype(str))
        else:
            same = np.array_equal(xa, xb, equal_nan=xa.dtype.kind == "f" and xb.dtype.kind == "f")
        if not same:
            problems.append(f"coord {name!r} differs")
    return problems


# ---- a folder written by brainscore_loader ---------------------------------------------
EXPORT_MANIFEST = "brainscore_export.json"


def read_brainscore_export(folder: str | os.PathLike) -> tuple[xr.DataArray | None, StimulusSet | None]:
    """``(assembly, stimulus set)`` from a folder written by ``brainscore_loader`` (either may be None)."""
    import json

    folder = Path(folder)
    path = folder / EXPORT_MANIFEST
    if not path.is_file():
        raise DataError(f"{folder} holds no {EXPORT_MANIFEST}; write it with scripts_brainscore/brainscore_loader.py.")
    manifest = json.loads(path.read_text())
    assembly = stimuli = None
    if "assembly" in manifest:
        assembly = load_brainscore_assembly(folder / manifest["assembly"]["file"])
    if "stimulus_set" in manifest:
        entry = manifest["stimulus_set"]
        stimuli = read_brainscore_stimulus_set(folder / entry["csv"], folder / entry["zip"],
                                               identifier=entry["identifier"])
    return assembly, stimuli


__all__ = [
    "DATA_VARIABLE", "assembly_filename", "stimulus_set_filenames", "to_brainscore_assembly",
    "write_brainscore_assembly", "read_brainscore_assembly", "from_brainscore_assembly",
    "save_brainscore_assembly", "load_brainscore_assembly", "stimulus_set_frame",
    "write_brainscore_stimulus_set", "read_brainscore_stimulus_set", "stimulus_set_bytes_equal",
    "assemblies_equal", "read_brainscore_export", "to_brainscore_features",
    "write_brainscore_features",
]

