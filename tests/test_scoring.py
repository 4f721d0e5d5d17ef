"""Known-answer scoring on the synthetic benchmark, real-data ceilings, and the Score's contents."""

import json

import numpy as np
import pytest

from neuroalign.benchmarks import get_benchmark, load_stimulus_set
from neuroalign.errors import UnknownKeyError
from neuroalign.scoring import load_score, model_features, result_rows, save_score, score


@pytest.fixture(scope="module")
def reference_features(tmp_path_factory):
    from neuroalign.models import load_model

    model = load_model("reference")
    stim = load_stimulus_set("synthetic")
    return model, model_features(model, stim, cache_dir=tmp_path_factory.mktemp("cache"))


def test_generator_layer_ranks_first_and_normalises_to_one(reference_features):
    model, feats = reference_features
    s = score(model, "synthetic.encoding", features=feats)
    layer_raw = dict(zip(s["layer"].values, s["layer_raw"].values))
    assert max(layer_raw, key=layer_raw.get) == "block2"  # the generating layer
    assert s.attrs["layer"] == "block2"
    assert abs(s.attrs["aggregate_normalized"] - 1.0) <= 0.05
    assert s.attrs["normalization"].startswith("raw / sqrt(ceiling)")
    # the stored true ceiling of the simulation and the measured one agree
    true = get_benchmark("synthetic.encoding").load().attrs["true_ceiling_median"]
    assert abs(s.attrs["aggregate_ceiling"] - true) < 0.03
    splits = json.loads(s.attrs["splits"])
    assert splits["n_splits"] == 5 and splits["seed"] == 0


def test_shuffled_stimuli_score_zero(reference_features):
    model, feats = reference_features
    rng = np.random.default_rng(0)
    shuffled = {k: v.assign_coords(stimulus_id=("presentation", rng.permutation(v["stimulus_id"].values)))
                for k, v in feats.items()}
    s = score(model, "synthetic.encoding", features=shuffled)
    assert abs(s.attrs["aggregate_raw"]) < 0.08


def test_seed_changes_splits_and_says_so(reference_features):
    model, feats = reference_features
    a = score(model, "synthetic.encoding", features=feats, seed=0)
    b = score(model, "synthetic.encoding", features=feats, seed=1)
    c = score(model, "synthetic.encoding", features=feats, seed=0)
    assert a.attrs["seed"] == 0 and b.attrs["seed"] == 1
    assert json.loads(a.attrs["splits"])["test_stimulus_ids"] != json.loads(b.attrs["splits"])["test_stimulus_ids"]
    np.testing.assert_array_equal(a["raw"].values, c["raw"].values)  # bit for bit on CPU


def test_score_round_trip_and_rows(reference_features, tmp_path):
    model, feats = reference_features
    s = score(model, "synthetic.encoding", features=feats)
    back = load_score(save_score(s, tmp_path / "s.nc"))
    np.testing.assert_array_equal(back["raw"].values, s["raw"].values)
    assert back.attrs["model_identity"] == model.identity
    assert "torch" in json.loads(back.attrs["versions"])
    rows = result_rows(back)
    assert set(rows["scope"]) == {"layer", "reported"}
    rep = rows[rows["scope"] == "reported"].iloc[0]
    assert rep["layer"] == "block2" and rep["normalized"] == pytest.approx(s.attrs["aggregate_normalized"])


def test_cowley_210325_split_half_reliability(data_root):
    from neuroalign.ceiling import split_half_reliability

    da = get_benchmark("cowley2023.210325.encoding").load()
    rel = split_half_reliability(da, seed=0)
    assert 0.70 <= float(np.median(rel.values)) <= 0.80


def test_unknown_benchmark_suggests():
    with pytest.raises(UnknownKeyError, match="Did you mean 'synthetic.encoding'"):
        get_benchmark("synthetic.encodng")


def test_ood_generator_keeps_score_family_matched_model_does_not(reference_features):
    """Known truth: the generator transfers across image families; a model equal to the
    generator on gratings but a scrambled transform of it on blobs shows a clear gap."""
    model, feats = reference_features
    gen = {"block2": feats["block2"]}
    s = score(model, "synthetic.ood.gratings_to_blobs", features=gen)
    assert s.attrs["ratio"] > 0.9 and s.attrs["id_score"] > 0.8

    x = feats["block2"]
    blobs = np.asarray([sid.startswith("syn-blob") for sid in x["stimulus_id"].values])
    rng = np.random.default_rng(1)
    rot = np.linalg.qr(rng.normal(size=(x.shape[1], x.shape[1])))[0]
    vals = np.asarray(x.values, dtype=np.float64).copy()
    z = (vals[blobs] - vals[blobs].mean(0)) / vals[blobs].std(0)
    vals[blobs] = np.tanh(z @ rot)
    mismatched = {"block2": x.copy(data=vals)}
    m = score(model, "synthetic.ood.gratings_to_blobs", features=mismatched)
    assert m.attrs["id_score"] > 0.8  # as good as the generator in distribution...
    assert m.attrs["ratio"] < 0.6  # ...and a clear gap out of distribution
    assert s.attrs["ratio"] - m.attrs["ratio"] > 0.3
