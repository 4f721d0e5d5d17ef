"""The shared two-factor bootstrap (issue 26 §2): draws seeded by the benchmark version, weighted
statistics equal to the full-data ones at unit weights, Schütt et al.'s variance combination."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign import resampling as rs


def test_draws_follow_the_ids_not_their_order_and_the_key():
    ids = np.array([f"s{i}" for i in range(30)])
    perm = np.random.default_rng(0).permutation(30)
    a = rs.draw_counts("bench@v1:abc", ids, 50)
    b = rs.draw_counts("bench@v1:abc", ids[perm], 50)
    assert np.array_equal(a[:, perm], b)  # same stimulus, same count, whatever the order
    assert np.all(a.sum(1) == 30)
    assert not np.array_equal(a, rs.draw_counts("bench@v2:abc", ids, 50))
    assert not np.array_equal(a, rs.draw_counts("bench@v1:abc", ids, 50, what="neuroids"))


def test_weighted_median_is_the_median_of_the_repeated_values():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(40, 9))
    v[3, 2] = np.nan
    w = rng.integers(0, 4, size=(40, 9)).astype(float)
    w[5] = 0
    got = rs.weighted_median(v, w)
    for b in range(40):
        rep = np.repeat(v[b], w[b].astype(int))
        rep = rep[np.isfinite(rep)]
        assert (np.isnan(got[b]) if rep.size == 0 else np.isclose(got[b], np.median(rep)))


def test_unit_weights_give_the_full_data_statistics(synthetic):
    from neuroalign.ceiling import averaged_reliability, reliability_parts
    from neuroalign.data.assembly import as_averaged, trials_array
    from neuroalign.metrics import pearson_r

    asm = synthetic[0]
    avg = as_averaged(asm)
    ids = avg["stimulus_id"].values.astype(str)
    Y = avg.values
    P = Y + np.random.default_rng(2).normal(size=Y.shape)
    W = np.ones((1, len(ids)))
    assert np.allclose(rs.weighted_pearson(P, Y, W)[0], pearson_r(Y, P))
    rel = rs.weighted_reliability(reliability_parts(trials_array(asm, ids)[0]), W)[0]
    assert np.allclose(rel, averaged_reliability(asm, stimulus_ids=ids).values, equal_nan=True)
    raw, ceil = rs.neural_draws(P, Y, reliability_parts(trials_array(asm, ids)[0]), np.ones(Y.shape[1], bool),
                                None, None)
    assert np.isclose(raw[0], np.median(pearson_r(Y, P))) and np.isclose(ceil[0], np.nanmedian(rel))


def test_schuett_combination_and_intervals_contain_the_point():
    rng = np.random.default_rng(3)
    draws = {"both": rng.normal(0, 2.0, 5000), "stimuli": rng.normal(0, 1.0, 5000), "units": rng.normal(0, 1.2, 5000)}
    v = {k: np.var(d, ddof=1) for k, d in draws.items()}
    assert np.isclose(rs.combined_variance(draws), min(max(2 * (v["stimuli"] + v["units"]) - v["both"],
                                                           v["stimuli"], v["units"]), v["both"]))
    draws["both"] = rng.normal(0, 2.5, 5000)  # combination below a single factor: raised to it
    assert np.isclose(rs.combined_variance(draws), max(v["stimuli"], v["units"]))
    draws["both"] = rng.normal(0, 1.3, 5000)  # above the both-factor variance: capped at it
    assert np.isclose(rs.combined_variance(draws), np.var(draws["both"], ddof=1))
    lo, hi = rs.interval(0.3, draws)
    assert lo < 0.3 < hi and np.isclose(0.3 - lo, hi - 0.3)
    assert rs.interval(0.3, {"stimuli": draws["stimuli"]})[1] == pytest.approx(0.3 + 1.959964 * np.sqrt(v["stimuli"]))
