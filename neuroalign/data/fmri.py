"""fMRI response maps -> assembly, through a nilearn masker (voxels become neuroids)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError
from .assembly import make_assembly


def load_fmri_betas(maps: str | os.PathLike, mask: str | os.PathLike, table: str | os.PathLike | pd.DataFrame, *,
                    region: str | None = None, standardize: str | None = None) -> xr.DataArray:
    """Per-stimulus response maps (4D NIfTI) inside an ROI mask -> ``presentation × neuroid``.

    ``table`` maps each volume to a stimulus: columns ``volume`` (0-based index into the
    4th axis) and ``stimulus_id``, optionally ``repetition`` and any metadata columns.
    Voxels get ``neuroid_id`` ``v<i>_<j>_<k>``, voxel indices and mm coordinates.
    """
    from nilearn.image import coord_transform, load_img
    from nilearn.maskers import NiftiMasker

    maps, mask = Path(maps), Path(mask)
    for p in (maps, mask):
        if not p.exists():
            raise DataError(f"fMRI file {p} does not exist.")
    df = pd.read_csv(table) if not isinstance(table, pd.DataFrame) else table.copy()
    for col in ("volume", "stimulus_id"):
        if col not in df.columns:
            raise DataError(f"volume table {table if not isinstance(table, pd.DataFrame) else '<DataFrame>'}: missing column {col!r}.")
    img = load_img(str(maps))
    if img.ndim != 4:
        raise DataError(f"{maps}: expected a 4D NIfTI (x, y, z, volume), got {img.ndim}D.")
    n_vol = img.shape[3]
    bad = df.loc[(df["volume"] < 0) | (df["volume"] >= n_vol), "volume"].tolist()
    if bad:
        raise DataError(f"volume table refers to volumes {bad[:10]} but {maps} has {n_vol}.")
    masker = NiftiMasker(mask_img=str(mask), standardize=standardize)
    data = masker.fit_transform(img)  # (volume, voxel)
    mask_data = np.asarray(masker.mask_img_.get_fdata()).astype(bool)
    ijk = np.argwhere(mask_data)  # same C order as the masker's voxel order
    xyz = np.column_stack(coord_transform(ijk[:, 0], ijk[:, 1], ijk[:, 2], masker.mask_img_.affine))
    extra = {c: df[c].to_numpy() for c in df.columns if c not in ("volume", "stimulus_id", "repetition")}
    return make_assembly(
        data[df["volume"].to_numpy()],
        stimulus_id=df["stimulus_id"].astype(str).to_numpy(),
        repetition=df["repetition"].to_numpy() if "repetition" in df.columns else None,
        neuroid_id=[f"v{i}_{j}_{k}" for i, j, k in ijk],
        region=region or mask.name.split(".")[0],
        presentation_coords={"volume": df["volume"].to_numpy(), **extra},
        neuroid_coords={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2],
                        "x_mm": xyz[:, 0], "y_mm": xyz[:, 1], "z_mm": xyz[:, 2]},
        attrs={"identifier": maps.name, "mask": str(mask)},
    )
