"""The scaling law: sigmoid fit with bootstrap intervals, FEVE, and the subsampling experiment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from neuroalign.errors import DataError
from neuroalign.scaling import fit_sigmoid, pixel_features, scaling_experiment, sigmoid_log10, synthetic_features


@pytest.mark.parametrize("truth, noise", [((0.8, 2.5, 120.0), 0.02), ((0.45, 5.0, 8.0), 0.01)])
def test_fit_recovers_a_given_sigmoid_within_its_bootstrap_intervals(truth, noise):
    """Over 30 simulated recordings (25 noisy points each) the 95% intervals contain the truth.

    A percentile bootstrap over 25 points covers a little under nominal (about 90%
    measured over 100 datasets), so the bound is 80% per parameter: a biased fit or
    intervals that ignore the noise would fall far below it.
    """
    names = ("ymax", "k", "t50")
    hits, estimates = np.zeros(3), []
    n_sets = 30
    for s in range(n_sets):
        rng = np.random.default_rng([s, 1])
        t = np.logspace(np.log10(truth[2]) - 2, np.log10(truth[2]) + 2, 25)
        y = sigmoid_log10(t, *truth) + rng.normal(0, noise, t.size)
        fit = fit_sigmoid(t, y, n_boot=150, seed=s)
        assert len(fit.boot) >= 140
        hits += [fit.ci_low[n] <= v <= fit.ci_high[n] for n, v in zip(names, truth)]
        estimates.append([fit.ymax, fit.k, fit.t50])
        # informative intervals, not just wide ones
        assert fit.ci_high["ymax"] - fit.ci_low["ymax"] < 0.15
        assert np.log10(fit.ci_high["t50"] / fit.ci_low["t50"]) < 0.6
    assert (hits / n_sets >= 0.8).all(), dict(zip(names, hits / n_sets))
    med = np.median(estimates, axis=0)
    assert abs(med[0] - truth[0]) < 0.02
    assert abs(med[1] / truth[1] - 1) < 0.15
    assert abs(np.log10(med[2] / truth[2])) < 0.05


def test_fit_needs_three_distinct_times():
    with pytest.raises(DataError, match="3 distinct"):
        fit_sigmoid([1, 1, 10, 10], [0.1, 0.1, 0.5, 0.5])


@pytest.fixture(scope="module")
def small_synthetic():
    from neuroalign.data.synthetic import load_synthetic

    assembly, stimuli = load_synthetic(n_images=300, n_neurons=30, n_repetitions=8)
    return assembly, synthetic_features(stimuli, assembly.attrs["generator_layer"])


def test_scaling_experiment_on_synthetic_benchmark(small_synthetic):
    """Generator-layer features can explain nearly all explainable variance, given data."""
    assembly, feats = small_synthetic
    df = scaling_experiment(assembly, feats, [15, 40, 100, 230], [1, 2, 8], seed=0, dataset="synthetic")
    assert len(df) == 12 and (df["n_test"] == 60).all() and (df["n_neuroids"] == 30).all()
    np.testing.assert_allclose(df["recording_time_s"], df["n_images"] * df["n_repeats"] * 0.1)
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
    good = scaling_experiment(asm, as_feats(signal), [30, 200], [5], seed=0)
    # a linear fit of p=12 weights from n images with target noise var 1/5 leaves about
    # p·0.2/n of the unit signal variance unexplained: ~0.08 at n=30, ~0.012 at n=200
    assert 0.82 < good["feve"].iloc[0] < 0.97
    assert abs(good["feve"].iloc[1] - 0.988) < 0.03
    junk = scaling_experiment(asm, as_feats(rng.normal(size=(n_stim, 5))), [200], [5], seed=0)
    assert junk["feve"].iloc[0] < 0.05


def test_scaling_experiment_joins_features_on_stimulus_id(small_synthetic):
    assembly, feats = small_synthetic
    shuffled = feats.isel(presentation=np.random.default_rng(1).permutation(feats.sizes["presentation"]))
    a = scaling_experiment(assembly, feats, [100], [2], seed=3)
    b = scaling_experiment(assembly, shuffled, [100], [2], seed=3)
    np.testing.assert_allclose(a["feve"], b["feve"], rtol=1e-6)
    with pytest.raises(DataError, match="no features"):
        scaling_experiment(assembly, feats.isel(presentation=slice(0, 200)), [50], [1])
    with pytest.raises(DataError, match="image counts"):
        scaling_experiment(assembly, feats, [1000], [1])


def test_scaling_experiment_on_cowley_210325(data_root):
    """Real single trials (6–10 repeats per image, NaN-padded): predictivity grows with recording."""
    from neuroalign.data.cowley import load_cowley

    assembly, stimuli = load_cowley("210325")
    feats = pixel_features(stimuli, size=12, n_components=128)
    df = scaling_experiment(assembly, feats, [40, 150, 500], [1, 6], seed=0, dataset="cowley210325")
    assert len(df) == 6 and (df["n_test"] == 128).all()
    assert 0 < df["n_neuroids"].iloc[0] <= 50
    # trials actually used: at most images x repeats, and 6 repeats exist for every image
    assert (df["n_trials"] == df["n_images"] * df["n_repeats"]).all()
    big = df[(df["n_images"] == 500) & (df["n_repeats"] == 6)]["feve"].iloc[0]
    tiny = df[(df["n_images"] == 40) & (df["n_repeats"] == 1)]["feve"].iloc[0]
    assert big > 0.05 and big > tiny + 0.1
    assert spearmanr(df["recording_time_s"], df["feve"]).statistic > 0.6
