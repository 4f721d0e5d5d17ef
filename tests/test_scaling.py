"""The scaling law: sigmoid fit with bootstrap intervals, FEVE, and the subsampling experiment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from neuroalign.ceiling import feve_from_trials
from neuroalign.errors import DataError
from neuroalign.scaling import (PARAMS, _TrialStats, bootstrap_sigmoid, fit_sigmoid, pixel_features,
                                presentation_period, run_scaling, scaling_experiment, sigmoid_log10,
                                simulate_scaling, synthetic_features)

TIMING = {"stimulus_duration_s": 0.1, "interstimulus_s": 0.1}


def _coverage(n_sets, n_boot, *, old_too=0):
    """Share of simulated datasets whose 95 % interval holds each true parameter."""
    times = np.logspace(0.5, 3.5, 12)
    hits, hits_old, widths = np.zeros(3), np.zeros(3), []
    for i in range(n_sets):
        r = np.random.default_rng([i, 7])
        truth = (r.uniform(0.3, 0.8), r.uniform(2.0, 5.0), 10 ** r.uniform(1.2, 2.8))
        trials, preds = simulate_scaling(truth, times, seed=[i, 8])
        fit, y = bootstrap_sigmoid(times, trials, preds, n_boot=n_boot, seed=i)
        assert len(fit.boot) >= 0.95 * n_boot
        hits += fit.covers(truth)
        widths.append(fit.ci_high["ymax"] - fit.ci_low["ymax"])
        if i < old_too:  # today's scheme: resample the fitted points
            hits_old += fit_sigmoid(times, y, n_boot=n_boot, seed=i).covers(truth)
    return hits / n_sets, (hits_old / old_too if old_too else None), np.median(widths)


def test_neuron_image_bootstrap_covers_the_known_curve():
    """Known answer: over 40 simulated recordings (12 points sharing 150 test images and 40
    neurons, 3 draws each) the 95 % intervals hold the true (ymax, k, t50) in ≥ 85 % per
    parameter (bench/bench_scaling_coverage.py runs 100 with ≥ 90 %: 0.97/1.0/1.0 measured).
    Resampling the points instead covers ymax in about 15 % of the same datasets."""
    cov, cov_old, width = _coverage(40, 200, old_too=12)
    assert (cov >= 0.85).all(), dict(zip(PARAMS, cov))
    assert cov_old[0] < 0.5, cov_old  # the simulation tells an honest interval from a narrow one
    assert width < 0.3  # informative, not just wide


def test_trial_stats_are_feve_from_trials_at_unit_weights():
    """The bootstrap's FEVE (weights = resample counts) is the package's FEVE when every weight is 1,
    with unequal repeats and an image with one trial; weights 2 on every image change nothing."""
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(60, 1, 7))
    tr = mu + rng.normal(size=(60, 6, 7))
    tr[rng.random((60, 6)) < 0.3] = np.nan
    tr[3, 1:] = np.nan
    pred = mu[:, 0] + 0.5 * rng.normal(size=(60, 7))
    stats = _TrialStats(tr)
    f = stats.feve(np.ones((2, 60)) * [[1], [2]], pred[None])
    np.testing.assert_allclose(f[0, 0], feve_from_trials(tr, pred)[0], rtol=1e-10)
    np.testing.assert_allclose(f[1, 0], f[0, 0], rtol=1e-10)
    # a resample = the package's FEVE on the resampled images
    idx = rng.integers(0, 60, 60)
    w = np.bincount(idx, minlength=60)[None].astype(float)
    np.testing.assert_allclose(stats.feve(w, pred[None])[0, 0], feve_from_trials(tr[idx], pred[idx])[0], rtol=1e-10)


def test_fit_bounds_ymax_and_keeps_negative_values():
    """ymax ≤ 1 even when the points climb past it; negative FEVE is fitted as measured, not as 0."""
    t = np.logspace(0, 4, 15)
    steep = fit_sigmoid(t, sigmoid_log10(t, 1.3, 2.0, 1e3))
    assert steep.ymax <= 1.0 and abs(steep.ymax - 1.0) < 1e-6
    y = sigmoid_log10(t, 0.6, 3.0, 100.0)
    y_neg = y.copy()
    y_neg[:3] = -0.4
    a, b = fit_sigmoid(t, y), fit_sigmoid(t, y_neg)
    assert abs(a.ymax - 0.6) < 1e-4 and abs(a.k - 3.0) < 1e-3
    assert b.k > a.k + 0.3  # the negative points pull the curve (clipped to 0 they would barely move it)
    with pytest.raises(DataError, match="3 distinct"):
        fit_sigmoid([1, 1, 10, 10], [0.1, 0.1, 0.5, 0.5])


def test_presentation_period_from_metadata_and_overrides(data_root):
    from neuroalign.datasets.cowley import load_cowley
    from neuroalign.datasets.synthetic import load_synthetic

    cowley, _ = load_cowley("210325")
    assert presentation_period(cowley) == pytest.approx(0.2)  # 100 ms flash + 100 ms blank
    assert presentation_period(cowley, interstimulus_s=0.3) == pytest.approx(0.4)
    synth, _ = load_synthetic(n_images=20, n_neurons=3, n_repetitions=2)
    with pytest.raises(DataError, match="stimulus_duration_s.*--stimulus-duration-s"):
        presentation_period(synth)
    assert presentation_period(synth, stimulus_duration_s=0.05, interstimulus_s=0.15) == pytest.approx(0.2)


@pytest.fixture(scope="module")
def small_synthetic():
    from neuroalign.datasets.synthetic import load_synthetic

    assembly, stimuli = load_synthetic(n_images=300, n_neurons=30, n_repetitions=8)
    return assembly, synthetic_features(stimuli, assembly.attrs["generator_layer"])


def test_scaling_experiment_on_synthetic_benchmark(small_synthetic):
    """Generator-layer features can explain nearly all explainable variance, given data."""
    assembly, feats = small_synthetic
    df = scaling_experiment(assembly, feats, [15, 40, 100, 230], [1, 2, 8], seed=0, dataset="synthetic", **TIMING)
    assert len(df) == 12 and (df["n_test"] == 60).all() and (df["n_neuroids"] == 30).all()
    np.testing.assert_allclose(df["recording_time_s"], df["n_images"] * df["n_repeats"] * 0.2)  # (0.1 + 0.1) s a trial
    best = df[(df["n_images"] == 230) & (df["n_repeats"] == 8)].iloc[0]
    assert best["feve"] > 0.85  # the true mapping is linear in these features
    small = df[(df["n_images"] == 15) & (df["n_repeats"] == 1)].iloc[0]
    assert small["feve"] < best["feve"] - 0.3
    rho = spearmanr(df["recording_time_s"], df["feve"]).statistic
    assert rho > 0.8
    for n_img in (15, 40, 100, 230):  # more repeats per image help at a fixed image count
        sub = df[df["n_images"] == n_img].sort_values("n_repeats")
        assert sub["feve"].iloc[-1] > sub["feve"].iloc[0]


def test_scaling_experiment_with_the_true_signal_as_features():
    """Features that are the neurons' true means: FEVE → 1 as images grow; pure noise features: ≤ 0."""
    import xarray as xr

    from neuroalign.data.assembly import make_assembly

    rng = np.random.default_rng(0)
    n_stim, n_rep, n_neur = 300, 5, 12
    signal = rng.normal(size=(n_stim, n_neur))
    trials = signal[:, None, :] + rng.normal(size=(n_stim, n_rep, n_neur))
    ids = [f"s{i:04d}" for i in range(n_stim)]
    asm = make_assembly(trials.reshape(-1, n_neur), stimulus_id=np.repeat(ids, n_rep),
                        repetition=np.tile(np.arange(n_rep), n_stim), neuroid_id=[f"n{i}" for i in range(n_neur)],
                        region="toy")
    as_feats = lambda v: xr.DataArray(v, dims=("presentation", "feature"),  # noqa: E731
                                      coords={"stimulus_id": ("presentation", ids)})
    good = scaling_experiment(asm, as_feats(signal), [30, 200], [5], seed=0, **TIMING)
    # a linear fit of p=12 weights from n images with target noise var 1/5 leaves about
    # p·0.2/n of the unit signal variance unexplained: ~0.08 at n=30, ~0.012 at n=200
    assert 0.82 < good["feve"].iloc[0] < 0.97
    assert abs(good["feve"].iloc[1] - 0.988) < 0.03
    junk = scaling_experiment(asm, as_feats(rng.normal(size=(n_stim, 5))), [200], [5], seed=0, **TIMING)
    assert junk["feve"].iloc[0] < 0.05


def test_scaling_experiment_joins_features_on_stimulus_id(small_synthetic):
    assembly, feats = small_synthetic
    shuffled = feats.isel(presentation=np.random.default_rng(1).permutation(feats.sizes["presentation"]))
    a = scaling_experiment(assembly, feats, [100], [2], seed=3, **TIMING)
    b = scaling_experiment(assembly, shuffled, [100], [2], seed=3, **TIMING)
    np.testing.assert_allclose(a["feve"], b["feve"], rtol=1e-6)
    with pytest.raises(DataError, match="no features"):
        scaling_experiment(assembly, feats.isel(presentation=slice(0, 200)), [50], [1], **TIMING)
    with pytest.raises(DataError, match="image counts"):
        scaling_experiment(assembly, feats, [1000], [1], **TIMING)


def test_scaling_experiment_on_cowley_210325(data_root):
    """Real single trials (6–10 repeats per image, NaN-padded): predictivity grows with recording."""
    from neuroalign.datasets.cowley import load_cowley

    assembly, stimuli = load_cowley("210325")
    feats = pixel_features(stimuli, size=12, n_components=128)
    run = run_scaling(assembly, feats, [40, 150, 500], [1, 6], seed=0, n_draws=2, device="cpu",
                      dataset="cowley210325")
    df = run.points
    assert len(df) == 12 and (df["n_test"] == 128).all()
    assert 0 < df["n_neuroids"].iloc[0] <= 50
    # trials actually used: at most images x repeats, and 6 repeats exist for every image;
    # each costs 0.2 s of recording (100 ms flash + 100 ms blank, the dataset's metadata)
    assert (df["n_trials"] == df["n_images"] * df["n_repeats"]).all()
    np.testing.assert_allclose(df["recording_time_s"], df["n_trials"] * 0.2)
    mean = df.groupby(["n_images", "n_repeats"])["feve"].mean()
    assert mean[(500, 6)] > 0.05 and mean[(500, 6)] > mean[(40, 1)] + 0.1
    assert spearmanr(df["recording_time_s"], df["feve"]).statistic > 0.6
    fit = run.fit(n_boot=100, seed=0)
    assert len(fit.boot) >= 95 and 0 < fit.ymax <= 1 and (fit.boot[:, 0] <= 1).all()
    for p in PARAMS:
        assert fit.ci_low[p] <= getattr(fit, p) <= fit.ci_high[p]
