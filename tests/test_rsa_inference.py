"""Bootstrap and noise ceiling: parity with rsatoolbox on explicit samples, real data."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from rsatoolbox.inference import boot_noise_ceiling
from rsatoolbox.rdm import RDMs, compare

from neuroalign.data.rdms import make_rdms
from neuroalign.similarity import bootstrap, noise_ceiling

PAIRS = [("pearson", "corr"), ("spearman", "spearman"), ("kendall", "tau-a"), ("cosine", "cosine"),
         ("cosine_cov", "cosine_cov"), ("corr_cov", "corr_cov")]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(1)
    n = 25
    base = rng.random(n * (n - 1) // 2)
    data = base + 0.7 * rng.random((5, base.size))
    model = base[None] + rng.random((2, base.size))
    return n, model, data, rng.integers(0, n, n)


@pytest.mark.parametrize("ours,ref", PAIRS)
def test_noise_ceiling_matches_rsatoolbox(toy, ours, ref):
    _, _, data, _ = toy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo_r, up_r = boot_noise_ceiling(RDMs(data), method=ref)
    lo, up = noise_ceiling(data, ours)
    assert abs(lo - lo_r) <= 1e-6 and abs(up - up_r) <= 1e-6 and lo < up


@pytest.mark.parametrize("ours,ref", PAIRS)
def test_bootstrap_sample_with_repeated_stimuli_matches_rsatoolbox(toy, ours, ref):
    n, model, data, idx = toy
    assert len(np.unique(idx)) < n  # the sample repeats stimuli
    C = np.bincount(idx, minlength=n)[None].astype(float)
    Q = np.array([[2, 0, 1, 1, 1]], float)  # subject 0 twice, subject 1 left out
    sel = np.repeat(np.arange(5), [2, 0, 1, 1, 1])
    M = RDMs(model).subsample_pattern("index", idx)
    for counts, D, desc in [((C, None), RDMs(data).subsample_pattern("index", idx), "index"),
                            ((C, Q), RDMs(data[sel], rdm_descriptors={"subj": sel}).subsample_pattern("index", idx),
                             "subj")]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = compare(M, D, ref).mean(1)
            lo, up = boot_noise_ceiling(D, method=ref, rdm_descriptor=desc)
        res = bootstrap(model, data, ours, counts=counts)
        assert np.abs(res.samples[0] - ev).max() <= 1e-6
        assert abs(res.ceiling_samples[0, 0] - lo) <= 1e-6 and abs(res.ceiling_samples[0, 1] - up) <= 1e-6


def test_whitened_bootstrap_at_large_n_is_finite():
    # n >= 100 with repeated stimuli: rsatoolbox's whitening cannot handle the NaN pairs
    rng = np.random.default_rng(4)
    n = 120
    x = rng.normal(size=(n, 6))
    sq = ((x[:, None] - x[None]) ** 2).sum(-1)
    data = np.stack([sq + rng.random((n, n)) * 3 for _ in range(3)])
    data = (data + data.transpose(0, 2, 1)) / 2
    for k in range(3):
        np.fill_diagonal(data[k], 0)
    res = bootstrap(sq, data, "corr_cov", n_samples=8, seed=3)
    assert np.isfinite(res.samples).all() and np.isfinite(res.ceiling_samples).all()
    assert (res.samples > 0.3).all()


def test_bootstrap_intervals_cover_point_and_shrink_with_kind(toy):
    _, model, data, _ = toy
    res = bootstrap(model, data, "pearson", kind="both", n_samples=300, seed=0)
    lo, hi = res.ci(0.95)
    assert np.all(lo < res.point) and np.all(res.point < hi) and np.all(hi - lo > 0)
    res_s = bootstrap(model, data, "pearson", kind="subject", n_samples=300, seed=0)
    assert np.all(res_s.ci()[1] - res_s.ci()[0] < hi - lo)  # stimulus + subject variance > subject only
    again = bootstrap(model, data, "pearson", kind="both", n_samples=300, seed=0)
    np.testing.assert_array_equal(again.samples, res.samples)  # seeded


def test_real_noise_ceiling_human_it(data_root):
    brain = sio.loadmat(Path(data_root) / "kriegeskorte2008_92" / "92_brainRDMs.mat")["RDMs"]
    assert brain.shape == (1, 4, 2)
    subj = np.stack([(np.asarray(brain[0, s, 0]["RDM"], float) + np.asarray(brain[0, s, 1]["RDM"], float)) / 2
                     for s in range(4)])
    rdms = make_rdms(subj, [f"k{i:02d}" for i in range(92)], rdm_coords={"subject": [1, 2, 3, 4]})
    lo, up = noise_ceiling(rdms, "spearman")
    lo_r, up_r = boot_noise_ceiling(RDMs(rdms.values), method="spearman")
    assert 0 < lo < up < 1
    assert abs(lo - lo_r) <= 1e-6 and abs(up - up_r) <= 1e-6
