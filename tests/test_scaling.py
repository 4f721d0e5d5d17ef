"""The scaling law: sigmoid fit with bootstrap intervals, FEVE, and the subsampling experiment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from neuroalign.ceiling import feve_from_trials
from neuroalign.errors import DataError
from neuroalign.scaling import (PARAMS, _TrialStats, bootstrap_sigmoid, default_grid, fit_sigmoid,
                                load_scaling_data, presentation_period, run_scaling, sigmoid_log10,
                                simulate_recording, simulate_scaling)

TIMING = {"stimulus_duration_s": 0.1, "interstimulus_s": 0.1}


def synthetic_features(stimuli, layer: str, network_seed: int = 0):
    """The reference net's spatially averaged ``layer`` for a synthetic stimulus set."""
    import xarray as xr

    from neuroalign.models.reference import build_reference_net, preprocess_uint8, reference_features
    from neuroalign.ood.image_stats import load_pixels

    feats = reference_features(build_reference_net(network_seed), preprocess_uint8(load_pixels(stimuli)),
                               layer).double().numpy()
    return xr.DataArray(feats, dims=("presentation", "feature"),
                        coords={"stimulus_id": ("presentation", list(stimuli.stimulus_ids))})


def pixel_features(stimuli, *, size: int = 16, n_components: int = 256, seed: int = 0):
    """Box-downsampled RGB pixels through a seeded random projection (and its rectified half)."""
    import xarray as xr

    from neuroalign.ood.image_stats import load_pixels

    pix = load_pixels(stimuli, size=size).reshape(len(stimuli), -1).astype(np.float64) / 255.0
    pix = pix - pix.mean(0)
    proj = np.random.default_rng(seed).normal(size=(pix.shape[1], n_components)) / np.sqrt(pix.shape[1])
    feats = np.concatenate([pix @ proj, np.abs(pix @ proj)], axis=1)
    return xr.DataArray(feats, dims=("presentation", "feature"),
                        coords={"stimulus_id": ("presentation", list(stimuli.stimulus_ids))})


def scaling_experiment(assembly, features, image_counts, repeat_counts, **kw):
    """Every (images, repeats) pair as one table (the curve at each repeat count), one draw each."""
    kw.setdefault("n_draws", 1)
    allocations = [(a, b) for a in image_counts for b in repeat_counts]
    return run_scaling(assembly, features, [], 1, allocations, **kw).points


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


def test_fit_bounds_ymax_and_leaves_negative_values_out():
    """ymax ≤ 1 even when the points climb past it; the sigmoid's range is (0, ymax], so points
    with negative FEVE are left out of the fit and counted (issue 27: restrict the fit, say so)."""
    t = np.logspace(0, 4, 15)
    steep = fit_sigmoid(t, sigmoid_log10(t, 1.3, 2.0, 1e3))
    assert steep.ymax <= 1.0 and abs(steep.ymax - 1.0) < 1e-6
    y = sigmoid_log10(t, 0.6, 3.0, 100.0)
    y_neg = y.copy()
    y_neg[:3] = -0.4
    a, b = fit_sigmoid(t, y), fit_sigmoid(t, y_neg)
    assert abs(a.ymax - 0.6) < 1e-4 and abs(a.k - 3.0) < 1e-3
    assert abs(b.ymax - 0.6) < 1e-3 and b.n_points == 12 and b.n_below == 3
    assert b.table()["n_below_floor"].iloc[0] == 3
    with pytest.raises(DataError, match="3 distinct"):
        fit_sigmoid([1, 1, 10, 10], [0.1, 0.1, 0.5, 0.5])


def test_fit_held_at_a_bound_is_the_bounded_fit():
    """Where LM leaves the bounds (ymax > 1: a curve still rising at the largest budget), the
    active-set step (the crossed parameter held at its bound, LM on the others) reaches the
    bounded trust-region fit's optimum: the same parameters, a sum of squares no larger."""
    from scipy.optimize import curve_fit

    from neuroalign.scaling import _fit_at_bounds, _inside, _jac_x, _model_x, _setup

    rng = np.random.default_rng(0)
    t = np.logspace(0.5, 3.0, 8)
    checked = 0
    for _ in range(20):
        y = sigmoid_log10(t, 1.6, rng.uniform(1.0, 3.0), 10 ** rng.uniform(2.5, 3.5)) + rng.normal(0, 0.02, t.size)
        _, x, y, bounds, p0 = _setup(t, y)
        lm = curve_fit(_model_x, x, y, p0=p0, jac=_jac_x, method="lm", maxfev=5000)[0]
        if _inside(lm, bounds):
            continue
        fast = _fit_at_bounds(x, y, lm, bounds)
        trf = curve_fit(_model_x, x, y, p0=np.clip(p0, *bounds), jac=_jac_x, bounds=bounds, maxfev=20000)[0]
        sse = lambda p: float(((_model_x(x, *p) - y) ** 2).sum())  # noqa: E731
        assert fast is not None and fast[0] == 1.0  # ymax held at its bound
        assert sse(fast) <= sse(trf) * (1 + 1e-8)  # the same optimum, to the trust region's tolerance
        np.testing.assert_allclose(fast, trf, rtol=1e-3, atol=1e-3)
        checked += 1
    assert checked >= 15  # incl. fits where LM also pushed t50 out (held, then freed again)


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
    run = run_scaling(assembly, feats, [40, 150, 500], 6, [(40, 1), (150, 1), (500, 1)], seed=0, n_draws=2,
                      device="cpu", dataset="cowley210325")
    df = run.points
    assert len(df) == 12 and (df["n_test"] == 128).all()
    assert (df.loc[df["result"] == "curve", "n_repeats"] == 6).all()
    assert 0 < df["n_neuroids"].iloc[0] <= 50
    # trials actually used: at most images x repeats, and 6 repeats exist for every image;
    # each costs 0.2 s of recording (100 ms flash + 100 ms blank, the dataset's metadata)
    assert (df["n_trials"] == df["n_images"] * df["n_repeats"]).all()
    np.testing.assert_allclose(df["recording_time_s"], df["n_trials"] * 0.2)
    mean = df.groupby(["n_images", "n_repeats"])["feve"].mean()
    assert mean[(500, 6)] > 0.05 and mean[(500, 6)] > mean[(40, 1)] + 0.1
    assert spearmanr(df["recording_time_s"], df["feve"]).statistic > 0.6
    # the curve alone (3 points at 6 repeats): pixel features from 40 images predict worse than the
    # test mean, which the sigmoid (range (0, ymax]) does not describe, so it is not fitted and says so
    curve = df[df["result"] == "curve"].groupby("n_images")["feve"].mean()
    if (curve >= 0).sum() < 3:
        with pytest.raises(DataError, match="FEVE ≥ 0.0, got 2; add larger budgets"):
            run.fit(n_boot=100, seed=0)
        return
    fit = run.fit(n_boot=100, seed=0)
    assert len(fit.boot) >= 95 and 0 < fit.ymax <= 1 and (fit.boot[:, 0] <= 1).all()
    for p in PARAMS:
        assert fit.ci_low[p] <= getattr(fit, p) <= fit.ci_high[p]


# ---- issue 27: one declared allocation, and the allocations at equal recording time -------

def test_curve_holds_its_allocation_and_allocations_share_one_time():
    asm, feats, _ = simulate_recording(n_images=300, n_neurons=12, n_repeats=4, seed=0)
    images, reps, alloc = default_grid(asm, 4, min_images=20)
    assert reps == 4 and alloc == [(images[-1], 1), (images[-1] // 2, 2), (images[-1] // 4, 4)]
    run = run_scaling(asm, feats, images, reps, alloc, n_draws=2, device="cpu")
    pts = run.points
    curve, al = pts[pts["result"] == "curve"], pts[pts["result"] == "allocation"]
    assert (curve["n_repeats"] == 4).all() and sorted(curve["n_images"].unique()) == images
    assert al["n_trials"].nunique() == 1  # equal recording time
    assert pts["n_test"].nunique() == 1 and run.test_trials.shape[1] == 4  # one test set, all its repeats


def test_feve_follows_images_and_repeats_not_time():
    """Known answer (the stimulus-driven simulator): at equal recording time, spreading trials over
    more images beats repeating few (noise averages out either way; a linear map needs images),
    the allocation table names it with an interval, and the curve matches the simulator's truth."""
    asm, feats, truth = simulate_recording(n_images=500, n_neurons=20, n_repeats=4, n_features=40, seed=1)
    images, reps, alloc = default_grid(asm, 4, min_images=40)
    run = run_scaling(asm, feats, images, reps, alloc, n_draws=3, device="cpu", seed=1)
    table = run.allocations(n_boot=200, seed=0)
    assert table["best"].sum() == 1 and table.loc[table["best"], "n_repeats"].item() == 1
    assert (table["ci_low"] <= table["feve"]).all() and (table["feve"] <= table["ci_high"]).all()
    assert table["feve"].iloc[0] - table["feve"].iloc[-1] > 0.1  # same time, different FEVE
    expect = [truth(n, reps, n_draws=5) for n in images]
    got = run.points[run.points["result"] == "curve"].groupby("n_images")["feve"].mean().to_numpy()
    assert got[0] < 0 and expect[0] < 0  # a ridge from as many images as features: worse than the mean
    np.testing.assert_allclose(got[1:], expect[1:], atol=0.05)


def test_scaling_reads_a_benchmark_and_refuses_averaged_data():
    asm, stimuli = load_scaling_data("synthetic.encoding")
    assert "repetition" in asm.coords and len(stimuli) == len(np.unique(asm["stimulus_id"].values))
    with pytest.raises(DataError, match="no single trials"):
        load_scaling_data("kriegeskorte2008.human_it.rsa")


def test_tables_and_figure_titles_name_the_benchmark_model_and_layer(tmp_path, monkeypatch):
    """Issue 28: `neuroalign scaling` records the benchmark id, the model and the layer in all four
    tables, and both scaling figures' titles name them (not the run's label)."""
    import pandas as pd
    from matplotlib.figure import Figure

    from neuroalign.cli import main
    from neuroalign.figures import scaling_allocation, scaling_law

    out = tmp_path / "run.csv"
    assert main(["scaling", "synthetic.encoding", "--model", "reference", "--model-name", "ref-net", "--layer",
                 "block2", "--name", "myrun", "--n-points", "3", "--n-draws", "1", "--n-boot", "20", "--min-images",
                 "20", "--stimulus-duration-s", "0.1", "--interstimulus-s", "0.1", "--device", "cpu", "--cache-dir",
                 str(tmp_path / "cache"), "--out", str(out)]) == 0
    for suffix in ("", "_boot", "_fit", "_allocation"):
        t = pd.read_csv(tmp_path / f"run{suffix}.csv")
        assert (t["benchmark"] == "synthetic.encoding").all() and (t["model"] == "ref-net").all(), suffix
        assert (t["layer"] == "block2").all() and (t["dataset"] == "myrun").all(), suffix
    titles = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (titles.append(self.axes[0].get_title()),
                                                                  real(self, *a, **k))[1])
    scaling_law(out, tmp_path / "figs")
    scaling_allocation(out, tmp_path / "figs")
    assert titles[0] == "synthetic.encoding · ref-net block2"
    assert titles[-1].startswith("synthetic.encoding · ref-net block2: ")
