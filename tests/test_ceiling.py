"""Noise ceilings: analytic values on simulated signal + noise, and Cowley 210325."""

import numpy as np
import pytest
import xarray as xr

from neuroalign.ceiling import explainable_variance, feve, ncsnr, spearman_brown, split_half_reliability
from neuroalign.data.assembly import make_assembly

S, R = 1500, 8
SIG = np.array([1.0, 1.0, 1.0, 0.0])
NOISE = np.array([1.0, 2.0, 0.5, 1.0])


def _sim(seed=0, drop=False):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((S, len(SIG))) * SIG + 3.0
    trials = signal[:, None, :] + rng.standard_normal((S, R, len(SIG))) * NOISE
    if drop:  # a few missing trials, as in real data
        gone = rng.random((S, R)) < 0.05
        gone[:, :2] = False  # every stimulus keeps at least two trials
        trials[gone] = np.nan
    vals = trials.reshape(S * R, -1)
    sids = np.repeat([f"s{i}" for i in range(S)], R)
    keep = np.isfinite(vals[:, 0])
    return make_assembly(vals[keep], stimulus_id=sids[keep]), signal


def test_spearman_brown_formula():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, 4) == pytest.approx(0.8)


def test_split_half_matches_analytic_reliability():
    asm, _ = _sim()
    rel = split_half_reliability(asm, n_splits=10)
    expected = SIG**2 / (SIG**2 + NOISE**2 / R)  # reliability of the R-trial mean
    np.testing.assert_allclose(rel.values[:3], expected[:3], atol=0.02)
    assert abs(rel.values[3]) < 0.1
    assert rel["low_ceiling"].values.tolist() == [False, False, False, True]


def test_ncsnr_and_nc_match_analytic():
    asm, _ = _sim(1, drop=True)
    snr, nc = ncsnr(asm, n_trials=R)
    np.testing.assert_allclose(snr.values[:3], SIG[:3] / NOISE[:3], rtol=0.05)
    true_nc = 100 * (SIG / NOISE) ** 2 / ((SIG / NOISE) ** 2 + 1 / R)
    np.testing.assert_allclose(nc.values[:3], true_nc[:3], atol=1.5)
    assert nc.values[3] < 2 and bool(nc["low_ceiling"].values[3])
    assert nc.attrs["units"] == "percent"


def test_feve_and_explainable_variance():
    asm, signal = _sim(2)
    ev = explainable_variance(asm)
    np.testing.assert_allclose(ev.values[:3], SIG[:3] ** 2 / (SIG[:3] ** 2 + NOISE[:3] ** 2), atol=0.02)

    def pred(values):
        return xr.DataArray(values, dims=("stimulus", "neuroid"),
                            coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(S)])})

    np.testing.assert_allclose(feve(asm, pred(signal)).values[:3], 1.0, atol=0.03)
    half = 3.0 + 0.5 * (signal - 3.0)  # FEVE = 1 - 0.25 = 0.75
    np.testing.assert_allclose(feve(asm, pred(half)).values[:3], 0.75, atol=0.03)
    out = feve(asm, pred(np.full_like(signal, 3.0)))
    np.testing.assert_allclose(out.values[:3], 0.0, atol=0.03)
    assert bool(out["low_ceiling"].values[3]) and not out["low_ceiling"].values[:3].any()


def test_cowley_210325_split_half_median(data_root):
    from neuroalign.data.cowley import load_cowley

    asm, _ = load_cowley("210325")
    rel = split_half_reliability(asm, n_splits=10)
    assert rel.sizes["neuroid"] == 50
    assert 0.65 < float(rel.median()) < 0.85
