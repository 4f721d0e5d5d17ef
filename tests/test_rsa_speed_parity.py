"""The fast Spearman bootstrap (one-off sort plans, integer-key sorts of pooled ranks) gives
rsatoolbox's numbers: its own bootstrap loop replayed with the same draws, explicit
subject resamples, ties in model and data RDMs, and the rank kernels against scipy."""

import warnings

import numpy as np
import pytest
import torch
from rsatoolbox.inference import boot_noise_ceiling, eval_bootstrap_pattern
from rsatoolbox.model import ModelFixed
from rsatoolbox.rdm import RDMs, compare
from scipy.stats import rankdata

from neuroalign.similarity import bootstrap, noise_ceiling
from neuroalign.similarity.kernels import RankPlan, weighted_ranks_exact

TOL = 1e-10


@pytest.fixture(scope="module")
def tied():
    """30 conditions, 5 subjects; a categorical model RDM (4 distinct values) and data
    rounded to two decimals, so model, data and pooled ranks all have ties."""
    rng = np.random.default_rng(7)
    n = 30
    iu = np.triu_indices(n, 1)
    cat = rng.integers(0, 3, n)
    model_sq = (cat[:, None] != cat[None]).astype(float) + 0.5 * (np.abs(cat[:, None] - cat[None]) == 2)
    base = rng.random(iu[0].size)
    data = np.round(base + 0.6 * model_sq[iu] + 0.8 * rng.random((5, base.size)), 2)
    smooth = base[None] + rng.random((1, base.size))
    return n, np.concatenate([model_sq[iu][None], smooth]), data


def _replay_counts(seed, n_samples, n):
    """The stimulus counts eval_bootstrap_pattern draws after np.random.seed(seed)."""
    rs = np.random.RandomState(seed)
    return np.stack([np.bincount(rs.randint(0, n, size=n), minlength=n) for _ in range(n_samples)]).astype(float)


def test_spearman_bootstrap_replays_rsatoolbox(tied):
    n, model, data = tied
    N = 6
    np.random.seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = eval_bootstrap_pattern([ModelFixed(f"m{i}", RDMs(model[i:i + 1])) for i in range(2)], RDMs(data),
                                     method="spearman", N=N)
    C = _replay_counts(11, N, n)
    assert (C > 1).any()  # samples repeat stimuli
    res = bootstrap(model, data, "spearman", counts=(C, None), device="cpu")
    ev = np.asarray(ref.evaluations).reshape(N, 2)
    np.testing.assert_allclose(res.samples, ev, rtol=0, atol=TOL)
    nc = np.asarray(ref.noise_ceiling, float)  # (2, N): lower, upper per sample
    np.testing.assert_allclose(res.ceiling_samples, nc.T, rtol=0, atol=TOL)
    assert np.all(nc[0] < nc[1])


def test_spearman_subject_and_stimulus_resample_with_ties(tied):
    n, model, data = tied
    rng = np.random.default_rng(3)
    for trial in range(3):
        idx = rng.integers(0, n, n)
        q = np.bincount(rng.integers(0, 5, 5), minlength=5)
        if (q > 0).sum() < 2:
            q[np.argmin(q)] += 1
        sel = np.repeat(np.arange(5), q)
        D = RDMs(data[sel], rdm_descriptors={"subj": sel}).subsample_pattern("index", idx)
        M = RDMs(model).subsample_pattern("index", idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = compare(M, D, "spearman").mean(1)
            lo, up = boot_noise_ceiling(D, method="spearman", rdm_descriptor="subj")
        C = np.bincount(idx, minlength=n)[None].astype(float)
        res = bootstrap(model, data, "spearman", counts=(C, q[None].astype(float)), device="cpu")
        np.testing.assert_allclose(res.samples[0], ev, rtol=0, atol=TOL)
        assert abs(res.ceiling_samples[0, 0] - lo) <= TOL and abs(res.ceiling_samples[0, 1] - up) <= TOL


def test_spearman_noise_ceiling_with_ties(tied):
    _, _, data = tied
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo_r, up_r = boot_noise_ceiling(RDMs(data), method="spearman")
    lo, up = noise_ceiling(data, "spearman", device="cpu")
    assert abs(lo - lo_r) <= TOL and abs(up - up_r) <= TOL


def _materialised_ranks(x, w):
    """scipy's average ranks on the vector with each entry repeated w times, per entry."""
    rep = np.repeat(x, w.astype(int))
    r = rankdata(rep)
    first = np.concatenate([[0], np.cumsum(w.astype(int))[:-1]])
    return np.where(w > 0, r[np.minimum(first, len(r) - 1)], np.nan)


def test_rank_kernels_match_scipy_on_materialised_vectors():
    rng = np.random.default_rng(5)
    P = 400
    x = np.round(rng.random((3, P)), 1)  # heavy ties
    x[1] = rng.random(P)                  # no ties
    w = rng.integers(0, 4, (2, P)).astype(float)
    plan = RankPlan(torch.tensor(x)[None])
    got = plan.ranks(torch.tensor(w)).numpy()
    keys = torch.tensor(np.round(x * 10))[None].expand(2, 3, P).contiguous()  # integer keys, same order
    packed = weighted_ranks_exact(keys, torch.tensor(w)).numpy()
    floatpath = weighted_ranks_exact(keys + 0.25, torch.tensor(w), kmax=float("inf")).numpy()
    at = torch.tensor(rng.integers(0, P, (2, 50)))
    sub = plan.ranks(torch.tensor(w), at=at).numpy()
    for s in range(2):
        for a in range(3):
            ref = _materialised_ranks(x[a], w[s])
            keep = w[s] > 0
            np.testing.assert_array_equal(got[s, a][keep], ref[keep])
            if a != 1:
                np.testing.assert_array_equal(packed[s, a][keep], ref[keep])
                np.testing.assert_array_equal(floatpath[s, a][keep], ref[keep])
            np.testing.assert_array_equal(sub[s, a], got[s, a][at[s].numpy()])


def test_spearman_subject_only_batch(tied):
    """Subject resamples share the stimulus weights; several in one batch."""
    _, model, data = tied
    Q = np.array([[2, 0, 1, 1, 1], [0, 3, 0, 1, 1], [1, 1, 1, 1, 1]], float)
    res = bootstrap(model, data, "spearman", counts=(None, Q), device="cpu")
    for s, q in enumerate(Q.astype(int)):
        sel = np.repeat(np.arange(5), q)
        D = RDMs(data[sel], rdm_descriptors={"subj": sel})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = compare(RDMs(model), D, "spearman").mean(1)
            lo, up = boot_noise_ceiling(D, method="spearman", rdm_descriptor="subj")
        np.testing.assert_allclose(res.samples[s], ev, rtol=0, atol=TOL)
        assert abs(res.ceiling_samples[s, 0] - lo) <= TOL and abs(res.ceiling_samples[s, 1] - up) <= TOL


def test_spearman_cpu_batches_are_capped_and_give_the_same_samples():
    """On CPU a Spearman batch holds at most RANK_CPU_BATCH_BYTES of working memory (smaller
    batches are faster there); Pearson keeps the max_memory_gb bound. Any batch size gives
    the same samples."""
    from neuroalign.similarity.evaluate import RANK_CPU_BATCH_BYTES, Evaluator

    rng = np.random.default_rng(3)
    n, k = 200, 5
    iu = np.triu_indices(n, 1)
    truth = rng.normal(size=(n, 10))
    data = np.stack([np.abs(truth[:, None] - truth[None] + rng.normal(size=(n, n, 10))).sum(-1)[iu] for _ in range(k)])
    model = data.mean(0, keepdims=True) + rng.normal(size=(1, iu[0].size))
    ev = Evaluator(torch.as_tensor(model), torch.as_tensor(data), n, "spearman")
    per = ev.bytes_per_sample(1)
    assert ev.batch_size(1, 1.0) == RANK_CPU_BATCH_BYTES // per < 2 ** 30 // per
    assert Evaluator(torch.as_tensor(model), torch.as_tensor(data), n, "pearson").batch_size(1, 1.0) == \
        2 ** 30 // Evaluator(torch.as_tensor(model), torch.as_tensor(data), n, "pearson").bytes_per_sample(1)
    S = ev.batch_size(1, 1.0) + 7  # two batches, the second partial
    capped = bootstrap(model, data, "spearman", n_samples=S, seed=1, device="cpu")
    single = bootstrap(model, data, "spearman", n_samples=S, seed=1, device="cpu", max_memory_gb=per / 2 ** 30)
    assert capped.info["batch"] == ev.batch_size(1, 1.0) and single.info["batch"] == 1
    np.testing.assert_allclose(capped.samples, single.samples, rtol=0, atol=1e-12)
    np.testing.assert_allclose(capped.ceiling_samples, single.ceiling_samples, rtol=0, atol=1e-12)
