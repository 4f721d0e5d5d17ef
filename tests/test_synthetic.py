import numpy as np

from neuroalign.data.assembly import trials_array
from neuroalign.datasets.synthetic import load_synthetic


def split_half_sb(trials, n_splits=20, seed=0):
    """Independent test-side implementation of split-half + Spearman-Brown."""
    rng = np.random.default_rng(seed)
    n_rep = trials.shape[1]
    rs = []
    for _ in range(n_splits):
        p = rng.permutation(n_rep)
        a, b = trials[:, p[: n_rep // 2]].mean(1), trials[:, p[n_rep // 2:]].mean(1)
        a, b = a - a.mean(0), b - b.mean(0)
        rs.append((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0)))
    r = np.mean(rs, 0)
    return 2 * r / (1 + r)


def test_default_shape_families_and_ceiling(synthetic):
    da, stim = synthetic
    assert da.sizes == {"presentation": 6000, "neuroid": 60}
    assert stim.metadata["family"].value_counts().to_dict() == {"gratings": 300, "blobs": 300}
    t, _ = trials_array(da)
    emp = np.median(split_half_sb(t))
    assert abs(emp - da.attrs["true_ceiling_median"]) <= 0.03
    assert 0.6 < da.attrs["true_ceiling_median"] < 0.95


def test_deterministic_and_seeded():
    a, sa = load_synthetic(n_images=40, n_neurons=5, n_repetitions=4)
    b, sb = load_synthetic(n_images=40, n_neurons=5, n_repetitions=4)
    c, sc = load_synthetic(n_images=40, n_neurons=5, n_repetitions=4, seed=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert sa.content_hash == sb.content_hash != sc.content_hash


def test_true_ceiling_tracks_snr_and_repeats():
    lo, _ = load_synthetic(n_images=300, n_neurons=40, n_repetitions=2, snr=0.2)
    hi, _ = load_synthetic(n_images=300, n_neurons=40, n_repetitions=20, snr=1.0)
    assert lo.attrs["true_ceiling_median"] < 0.4 < 0.9 < hi.attrs["true_ceiling_median"]
    t, _ = trials_array(lo)
    assert abs(np.median(split_half_sb(t, 1)) - lo.attrs["true_ceiling_median"]) < 0.1
