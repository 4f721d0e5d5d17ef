"""Score files with known shared draws, for the leaderboard's tiers (no model is run).

A Score's normalised draws are ``point + s·z`` with one fixed standardised vector ``z``
(mean 0, variance 1) per benchmark, so the paired difference of two models has variance
``(s_a − s_b)²`` exactly and every interval, p-value and tier is known in closed form.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign.scoring import save_score

N_DRAWS = 1000


def unit_noise(seed: int, n: int = N_DRAWS) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal(n)
    return (z - z.mean()) / z.std(ddof=1)


def fake_score(model, bench, point, s, *, kind="encoding", region="V4", z=None, draws=True, version=1,
               hash_="0123abcd0123abcd") -> xr.Dataset:
    """A Score holding only what the leaderboard reads (raw = 0.8·normalised, one factor: stimuli)."""
    ds = xr.Dataset()
    if draws:
        z = unit_noise(0) if z is None else z
        norm = point + s * z
        ds["resample_normalized"] = (("factor", "resample"), norm[None])
        ds["resample_raw"] = (("factor", "resample"), 0.8 * norm[None])
        ds = ds.assign_coords(factor=["stimuli"])
    ds.attrs = {"model": model, "benchmark": bench, "kind": kind, "region": region, "benchmark_version": version,
                "benchmark_hash": hash_, "resample_key": f"{bench}@v{version}:{hash_}",
                "aggregate_normalized": point, "aggregate_raw": 0.8 * point, "n_stimuli": 100}
    return ds


def write_scores(folder, scores) -> None:
    """The workflow's layout: ``folder/<model>/<benchmark>.nc``."""
    for ds in scores:
        path = folder / ds.attrs["model"] / f"{ds.attrs['benchmark']}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_score(ds, path)
