"""The RDM contract: ``(rdm, row, col)`` DataArrays whose ``row``/``col`` are stimulus ids.

One container for model, neural and behavioural RDMs so every comparison joins on
stimulus ids. ``rdm`` carries free coords (subject, session, region, layer, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy.spatial.distance import squareform

from ..errors import DataError


def make_rdms(values: np.ndarray, stimulus_ids: Sequence, *, rdm_coords: Mapping[str, Sequence] | None = None,
              attrs: Mapping | None = None, name: str = "rdms") -> xr.DataArray:
    """Build an RDM set from square ``(n_rdm, n, n)`` or condensed ``(n_rdm, n(n-1)/2)`` values."""
    values = np.asarray(values, dtype=np.float64)
    ids = np.asarray([str(s) for s in stimulus_ids])
    n = len(ids)
    if values.ndim == 1 or (values.ndim == 2 and values.shape != (n, n)):
        values = np.atleast_2d(values)
        if values.shape[1] != n * (n - 1) // 2:
            raise DataError(f"{name}: condensed RDMs need {n * (n - 1) // 2} values for {n} stimuli, got {values.shape[1]}.")
        values = np.stack([squareform(v, checks=False) for v in values])
    elif values.ndim == 2:
        values = values[None]
    if values.shape[1:] != (n, n):
        raise DataError(f"{name}: RDM shape {values.shape[1:]} does not match {n} stimulus ids.")
    coords = {"row": ids, "col": ids}
    for key, vals in (rdm_coords or {}).items():
        coords[key] = ("rdm", np.asarray(vals))
    return xr.DataArray(values, dims=("rdm", "row", "col"), coords=coords, name=name, attrs=dict(attrs or {}))


def upper_triangle(rdms: xr.DataArray) -> np.ndarray:
    """Condensed ``(n_rdm, n(n-1)/2)`` values, row-major upper triangle (scipy/rsatoolbox order)."""
    n = rdms.sizes["row"]
    iu = np.triu_indices(n, k=1)
    return np.asarray(rdms.values)[:, iu[0], iu[1]]
