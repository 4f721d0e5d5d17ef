"""RDM comparisons: parity with rsatoolbox.rdm.compare, NaN handling, real 92-object data."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from rsatoolbox.rdm import RDMs, compare

from neuroalign.data.rdms import make_rdms
from neuroalign.similarity import compare_rdms

PAIRS = [("pearson", "corr"), ("spearman", "spearman"), ("kendall", "tau-a"), ("cosine", "cosine"),
         ("cosine_cov", "cosine_cov"), ("corr_cov", "corr_cov")]


def _rdms(n, k, seed, ties=False):
    rng = np.random.default_rng(seed)
    v = rng.random((k, n * (n - 1) // 2))
    if ties:
        v[:, ::3] = np.round(v[:, ::3], 1)
    return v


@pytest.mark.parametrize("ours,ref", PAIRS)
@pytest.mark.parametrize("n", [20, 110])
def test_parity_with_rsatoolbox(ours, ref, n):
    if ours == "kendall" and n > 50:
        pytest.skip("tau-a parity checked at n=20 (rsatoolbox's loop is slow)")
    a, b = _rdms(n, 3, 0, ties=True), _rdms(n, 2, 1)
    b = b + 0.8 * a[:2]
    assert np.abs(compare_rdms(a, b, ours) - compare(RDMs(a), RDMs(b), ref)).max() <= 1e-6


@pytest.mark.parametrize("ours,ref", PAIRS)
def test_nan_pairs_dropped_like_rsatoolbox(ours, ref):
    a, b = _rdms(30, 2, 2), _rdms(30, 3, 3)
    a[:, [0, 5, 77]] = np.nan
    b[:, [0, 5, 77]] = np.nan
    assert np.abs(compare_rdms(a, b, ours) - compare(RDMs(a), RDMs(b), ref)).max() <= 1e-6


def test_different_nan_positions_compare_pairwise():
    a, b = _rdms(15, 1, 4), _rdms(15, 2, 5)
    b[0, :10] = np.nan
    out = compare_rdms(a, b, "pearson")
    assert np.isclose(out[0, 0], np.corrcoef(a[0, 10:], b[0, 10:])[0, 1])
    assert np.isclose(out[0, 1], np.corrcoef(a[0], b[1])[0, 1])


def test_whitened_with_nans_at_large_n_returns_numbers():
    # rsatoolbox's sparse path (n >= 100) cannot whiten RDMs with NaN pairs
    a, b = _rdms(120, 2, 6), _rdms(120, 2, 7)
    a[:, :40] = np.nan
    b[:, :40] = np.nan
    for m in ("cosine_cov", "corr_cov"):
        out = compare_rdms(a, b, m)
        assert np.isfinite(out).all() and np.abs(out).max() < 1


def test_join_on_stimulus_id():
    rng = np.random.default_rng(8)
    ids = [f"s{i}" for i in range(12)]
    x = rng.normal(size=(12, 4))
    sq = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    perm = rng.permutation(12)
    a = make_rdms(sq, ids)
    b = make_rdms(sq[perm][:, perm], np.asarray(ids)[perm])
    assert np.isclose(compare_rdms(a, b, "spearman")[0, 0], 1.0)


def test_monkey_vs_human_it_spearman(data_root):
    mat = sio.loadmat(Path(data_root) / "kriegeskorte2008_92" / "Kriegeskorte_Neuron2008_supplementalData.mat")
    fig1 = mat["RDMs_mIT_hIT_fig1"][0]
    ids = [f"k{i:02d}" for i in range(92)]
    monkey = make_rdms(np.asarray(fig1[0]["RDM"], float).ravel(), ids)
    human = make_rdms(np.asarray(fig1[1]["RDM"], float).ravel(), ids)
    rho = compare_rdms(monkey, human, "spearman")[0, 0]
    assert 0.40 <= rho <= 0.48
    assert abs(rho - 0.4390) <= 0.03
    assert abs(rho - compare(RDMs(monkey.values), RDMs(human.values), "spearman")[0, 0]) <= 1e-6
