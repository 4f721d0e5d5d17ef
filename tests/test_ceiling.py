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
    from neuroalign.datasets.cowley import load_cowley

    asm, _ = load_cowley("210325")
    rel = split_half_reliability(asm, n_splits=10)
    assert rel.sizes["neuroid"] == 50
    assert 0.65 < float(rel.median()) < 0.85


# ---- unequal repeat counts (issue: ceilings with unequal repeats) -------------------------

def _unequal(seed=0, n_img=400, n_neur=60, noise_var=4.0, few=2, many=10, frac_few=0.8):
    """400 images × 60 neurons, signal variance 1, trial-noise variance 4; 80 % of the
    images have 2 repeats, the rest 10 (NaN-padded, as Cowley's raw files are)."""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_img, n_neur))
    n = np.where(rng.permutation(n_img) < int(frac_few * n_img), few, many)
    trials = signal[:, None, :] + rng.standard_normal((n_img, many, n_neur)) * np.sqrt(noise_var)
    trials[np.arange(many)[None, :] >= n[:, None]] = np.nan
    vals = trials.reshape(n_img * many, n_neur)
    sids = np.repeat([f"s{i:03d}" for i in range(n_img)], many)
    keep = np.isfinite(vals[:, 0])
    analytic = signal.var(0, ddof=1) / (signal.var(0, ddof=1) + np.mean(noise_var / n))
    return make_assembly(vals[keep], stimulus_id=sids[keep]), signal, n, analytic


def test_default_ceiling_with_unequal_repeats_matches_analytic():
    from neuroalign.ceiling import averaged_reliability

    asm, _, _, analytic = _unequal()
    assert abs(float(np.median(analytic)) - 0.373) < 0.02  # 1 / (1 + 4 · (0.8/2 + 0.2/10))
    rel = averaged_reliability(asm)
    assert abs(float(np.median(rel.values)) - float(np.median(analytic))) < 0.02
    # Brain-Score's internal consistency (shared split of repetition indices) is biased here:
    bs = split_half_reliability(asm, n_splits=10)
    assert float(np.median(bs.values)) - float(np.median(analytic)) > 0.1


def test_default_ceiling_is_the_r2_ceiling_of_the_averages():
    """A perfect model (the noise-free signal) reaches r² ≈ the ceiling against the averages."""
    from neuroalign.ceiling import averaged_reliability
    from neuroalign.data.assembly import average_repetitions
    from neuroalign.metrics import pearson_r

    asm, signal, _, _ = _unequal(seed=3)
    avg = average_repetitions(asm)
    r = pearson_r(np.asarray(avg.values), signal[[int(s[1:]) for s in avg["stimulus_id"].values]])
    rel = averaged_reliability(asm).values
    assert abs(float(np.median(r**2)) - float(np.median(rel))) < 0.02


def test_default_ceiling_on_a_balanced_design_equals_split_half():
    from neuroalign.ceiling import averaged_reliability

    asm, _ = _sim()
    rel = averaged_reliability(asm)
    expected = SIG**2 / (SIG**2 + NOISE**2 / R)
    np.testing.assert_allclose(rel.values[:3], expected[:3], atol=0.02)
    np.testing.assert_allclose(rel.values[:3], split_half_reliability(asm, n_splits=10).values[:3], atol=0.02)
    assert rel["low_ceiling"].values.tolist() == [False, False, False, True]


def test_ncsnr_uses_each_neuroids_own_repeat_counts():
    """n for NC is per neuroid: neuroid 0 keeps 10 trials per image, the others lose trials."""
    rng = np.random.default_rng(5)
    n_img, reps = 4000, 10
    signal = rng.standard_normal((n_img, 2))
    trials = signal[:, None, :] + rng.standard_normal((n_img, reps, 2)) * 2.0
    trials[:, 2:, 1] = np.nan  # neuroid 1: two trials per image
    asm = make_assembly(trials.reshape(n_img * reps, 2), stimulus_id=np.repeat([f"s{i}" for i in range(n_img)], reps))
    snr, nc = ncsnr(asm)
    snr2 = signal.var(0) / 4.0  # realised signal variance over the noise variance
    true_nc = 100 * snr2 / (snr2 + 1 / np.array([10.0, 2.0]))
    np.testing.assert_allclose(nc.values, true_nc, atol=1.5)
    assert nc.values[0] - nc.values[1] > 30  # one n for both (neuroid 0's) would make them equal


def test_feve_weighs_images_equally_with_unequal_repeats():
    """Noise differs between the 2-repeat and the 10-repeat images: a perfect model has FEVE 1,
    a half-signal model 0.75 (the trial-weighted MSE against image-weighted noise gave ~0.5)."""
    rng = np.random.default_rng(7)
    n_img, many = 500, 10
    signal = rng.standard_normal((n_img, 3))
    n = np.where(np.arange(n_img) < 400, 2, many)
    sd = np.where(n == many, 2.0, 1.0)[:, None, None]
    trials = signal[:, None, :] + rng.standard_normal((n_img, many, 3)) * sd
    trials[np.arange(many)[None, :] >= n[:, None]] = np.nan
    vals = trials.reshape(n_img * many, 3)
    keep = np.isfinite(vals[:, 0])
    sids = np.repeat([f"s{i}" for i in range(n_img)], many)[keep]
    asm = make_assembly(vals[keep], stimulus_id=sids)

    def pred(values):
        return xr.DataArray(values, dims=("stimulus", "neuroid"),
                            coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(n_img)])})

    np.testing.assert_allclose(feve(asm, pred(signal)).values, 1.0, atol=0.06)
    np.testing.assert_allclose(feve(asm, pred(0.5 * signal)).values, 0.75, atol=0.06)
