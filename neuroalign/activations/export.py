"""``extract --out``: a model's activations as one file a user opens with plain xarray.

Why: the cache's Zarr stores are keyed for reuse, not for reading by hand. The export is one
Dataset with a variable per layer on the shared ``presentation`` dimension (``stimulus_id``
coordinate) and a feature dimension per layer (``<layer>_feature``): ``.nc`` is NetCDF4,
``.zarr`` a Zarr store with consolidated metadata (``xr.open_zarr(path)`` works as is).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError

SUFFIXES = (".nc", ".zarr")


def _safe(layer: str) -> str:
    return layer.replace("/", "_")


def features_dataset(feats: dict[str, xr.DataArray], attrs: dict) -> xr.Dataset:
    """One variable per layer; only plain coordinates (stimulus_id) and string/number attrs."""
    first = next(iter(feats.values()))
    ids = np.asarray(first["stimulus_id"].values, dtype=str)
    data = {_safe(k): ((("presentation", f"{_safe(k)}_feature")), np.asarray(v.values, dtype=np.float32),
                       {"layer": k}) for k, v in feats.items()}
    ds = xr.Dataset(data, coords={"stimulus_id": ("presentation", ids)})
    ds.attrs = {k: str(v) for k, v in attrs.items() if not isinstance(v, dict)}
    return ds


def write_features(feats: dict[str, xr.DataArray], path: Path, attrs: dict) -> Path:
    """Write atomically: NetCDF (``.nc``) or consolidated Zarr (``.zarr``)."""
    from ..atomic import atomic_path, write_netcdf

    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"--out {path}: give a .nc (NetCDF) or .zarr (Zarr) file name.")
    ds = features_dataset(feats, attrs)
    if path.suffix == ".nc":
        return write_netcdf(ds, path)
    with atomic_path(path) as tmp:
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)  # v2: consolidated .zmetadata
    return path
