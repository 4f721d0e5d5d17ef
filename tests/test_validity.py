"""Numbers a reviewer would sign (issue 15): one normalisation convention, leak-free OOD,
Brain-Score's PLS protocol, RSA scores that do not hang on one random half, one ridge."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign.benchmarks import get_benchmark, load_stimulus_set
from neuroalign.scoring import check_identities, model_features, result_rows, score


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from neuroalign.models import load_model

    model = load_model("reference")
    feats = model_features(model, load_stimulus_set("synthetic"), cache_dir=tmp_path_factory.mktemp("cache"))
    return model, feats


# ---- §2: one normalisation convention ---------------------------------------------------

def test_generator_layer_normalises_alike_under_encoding_and_pls(reference):
    model, feats = reference
    gen = {"block2": feats["block2"]}
    enc = score(model, "synthetic.encoding", features=gen)
    pls = score(model, "synthetic.pls", features=gen)
    assert abs(enc.attrs["aggregate_normalized"] - pls.attrs["aggregate_normalized"]) < 0.05
    assert abs(enc.attrs["aggregate_normalized"] - 1.0) < 0.05
    for s in (enc, pls):  # raw, ceiling and normalised over one neuroid set, by one stated identity
        a = s.attrs
        assert a["aggregate_normalized"] == pytest.approx(a["aggregate_raw"] / np.sqrt(a["aggregate_ceiling"]))
        assert a["normalization"].startswith("raw / sqrt(ceiling)")


def test_rows_state_identities_and_exclusions(reference):
    """Every row of every kind follows its identity; the row counts what it excluded and why."""
    model, feats = reference
    rows = pd.concat([result_rows(score(model, b, features=feats))
                      for b in ("synthetic.encoding", "synthetic.pls", "synthetic.ood.gratings_to_blobs")])
    assert check_identities(rows) == []
    enc = rows[(rows.benchmark == "synthetic.encoding") & (rows.scope == "reported")].iloc[0]
    assert enc["n_excluded"] >= 0 and isinstance(enc["excluded_reason"], str)
    assert np.isfinite(enc["brainscore_normalized"]) and np.isfinite(enc["ci_low"]) and enc["ci_low"] < enc["raw"]
    broken = rows.copy()
    broken.loc[broken.index[0], "normalized"] = float(broken.iloc[0]["normalized"]) * 1.01
    assert check_identities(broken)  # the check can fail


def test_exclusions_are_counted_on_a_known_unreliable_neuron():
    """Two neuroids of pure noise: excluded, named in the row, and kept out of raw and ceiling alike."""
    from neuroalign.data.assembly import make_assembly
    from neuroalign.scorers.encoding import score_encoding

    rng = np.random.default_rng(0)
    n_img, reps, n_neur = 300, 4, 12
    x = rng.standard_normal((n_img, 20))
    signal = x @ rng.standard_normal((20, n_neur))
    signal[:, -2:] = 0.0  # noise-only neuroids
    trials = signal[:, None, :] + rng.standard_normal((n_img, reps, n_neur)) * 2.0
    ids = [f"s{i}" for i in range(n_img)]
    asm = make_assembly(trials.reshape(-1, n_neur), stimulus_id=np.repeat(ids, reps))
    feats = {"x": xr.DataArray(x, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})}
    s = score_encoding(feats, asm)
    assert s.attrs["n_excluded"] == 2 and "ceiling < 0.1" in s.attrs["excluded_reason"]
    ok = s["included"].values
    assert s.attrs["aggregate_raw"] == pytest.approx(float(np.median(s["raw"].values[ok])))
    assert s.attrs["aggregate_ceiling"] == pytest.approx(float(np.median(s["ceiling"].values[ok])))


# ---- §3: OOD without selection bias, on equal footing -----------------------------------

def test_unrelated_layers_give_a_gap_interval_covering_zero(reference):
    """Ten random-feature 'layers' unrelated to the responses: choosing the layer on the reported
    ID score would inflate ID (and the gap); the nested choice leaves the gap centred on 0."""
    model, feats = reference
    rng = np.random.default_rng(3)
    ids = feats["block2"]["stimulus_id"].values
    layers = {f"random{i}": xr.DataArray(rng.standard_normal((len(ids), 64)), dims=("presentation", "feature"),
                                         coords={"stimulus_id": ("presentation", ids)}) for i in range(10)}
    s = score(model, "synthetic.ood.gratings_to_blobs", features=layers)
    a = s.attrs
    assert a["gap_ci_low"] <= 0.0 <= a["gap_ci_high"]
    assert a["n_id_tested"] == a["n_ood_tested"]  # equally many test images on both sides
    assert abs(a["id_score"]) < 0.1


def test_generator_transfers_with_a_normalised_ratio_of_one(reference):
    model, feats = reference
    s = score(model, "synthetic.ood.gratings_to_blobs", features={"block2": feats["block2"]})
    a = s.attrs
    assert abs(a["ratio"] - 1.0) < 0.05
    assert a["ratio"] == pytest.approx(a["ood_normalized"] / a["id_normalized"])
    assert a["n_id_tested"] == a["n_ood_tested"] > 0
    assert np.isfinite(a["id_ceiling"]) and np.isfinite(a["aggregate_ceiling"])


def test_ood_layer_choice_never_sees_test_images(reference):
    """The choice follows the inner scores on the training images: reversing which layer has
    the better inner score reverses the choice, whatever the test scores say."""
    from neuroalign.selection import nested_choice

    inner = np.array([[0.1, 0.5, 0.2], [0.3, 0.4, 0.25]])
    np.testing.assert_array_equal(nested_choice(inner), [1, 0, 1])
    model, feats = reference
    s = score(model, "synthetic.ood.gratings_to_blobs", features={k: feats[k] for k in ("block1", "block2")})
    inner = s["layer_inner_score"].values
    chosen = s["chosen_layer_per_fold"].values
    np.testing.assert_array_equal(chosen, np.array(["block1", "block2"])[np.argmax(inner, axis=0)])


# ---- §4: the PLS protocol exactly as Brain-Score runs it ----------------------------------

def test_brainscore_protocol_is_the_full_data_protocol_with_its_seed(reference):
    from neuroalign.ceiling import split_half_reliability
    from neuroalign.data.assembly import average_repetitions
    from neuroalign.mapping import brainscore_pls_protocol

    model, feats = reference
    data = get_benchmark("synthetic.pls").load()
    s = score(model, "synthetic.pls", features={"block2": feats["block2"]}, protocol="brainscore")
    ref = brainscore_pls_protocol(feats["block2"], average_repetitions(data), seed=1, solver="nipals")  # Brain-Score's fit
    assert s.attrs["aggregate_raw"] == pytest.approx(float(ref["score"]), abs=1e-12)
    assert s.attrs["n_stimuli"] == data["stimulus_id"].to_index().nunique()  # all images, not a half
    ic = split_half_reliability(data, seed=0).attrs["aggregate_brainscore"]
    assert s.attrs["aggregate_normalized"] == pytest.approx(float(ref["score"]) / ic)
    rows = result_rows(s)
    assert (rows["protocol"] == "brainscore").all() and check_identities(rows) == []
    default = score(model, "synthetic.pls", features={"block2": feats["block2"]})
    assert default.attrs["protocol"] == "neuroalign" and default.attrs["n_stimuli"] == s.attrs["n_stimuli"]


def test_brainscore_protocol_is_refused_for_other_kinds(reference):
    from neuroalign.errors import DataError

    model, feats = reference
    with pytest.raises(DataError, match="applies to PLS benchmarks"):
        score(model, "synthetic.encoding", features=feats, protocol="brainscore")


# ---- §7: one ridge, scaled on training images only ----------------------------------------

def test_feature_scale_uses_training_rows_only():
    from neuroalign.mapping import ALPHAS, RidgeCV, default_ridge

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30))
    Y = X @ rng.standard_normal((30, 4)) + rng.standard_normal((120, 4))
    a = default_ridge(device="cpu", dtype="float64").fit(X[:100], Y[:100])
    b = default_ridge(device="cpu", dtype="float64").fit(X[:100] * 1000.0, Y[:100])
    np.testing.assert_allclose(a.predict(X[100:]), b.predict(X[100:] * 1000.0), rtol=1e-8)  # scale-free alphas
    assert a.feature_scale_ == pytest.approx(float(np.sqrt(np.var(X[:100], axis=0).mean())))
    # the same fit as unscaled ridge with alphas multiplied by the squared scale
    plain = RidgeCV(alphas=tuple(np.array(ALPHAS) * a.feature_scale_**2), dtype="float64", device="cpu")
    np.testing.assert_allclose(plain.fit(X[:100], Y[:100]).predict(X[100:]), a.predict(X[100:]), rtol=1e-8)


# ---- §8: RSA scores that do not hang on one random half -----------------------------------

def test_rsa_reported_score_is_stable_across_seeds(data_root, tmp_path_factory):
    from neuroalign.models import load_model

    model = load_model("torchvision:squeezenet1_1")
    feats = model_features(model, load_stimulus_set("kriegeskorte2008_92"),
                           cache_dir=tmp_path_factory.mktemp("cache"))
    scores = [score(model, "kriegeskorte2008.human_it.rsa", features=feats, seed=seed) for seed in range(5)]
    values = np.array([s.attrs["aggregate_raw"] for s in scores])
    assert np.ptp(values) <= 0.03
    for s in scores:
        a = s.attrs
        assert a["ci_low"] < a["aggregate_raw"] < a["ci_high"]
        assert a["aggregate_normalized"] == pytest.approx(a["aggregate_raw"] / a["aggregate_ceiling"])


# ---- every registered metric builds a complete Score (issue 16 §4) -------------------------

@pytest.mark.parametrize("kind", sorted(__import__("neuroalign.scorers", fromlist=["kinds"]).kinds()))
def test_every_metric_declares_every_field(reference, kind):
    """Parametrised over the registry, so a newly registered kind is tested here too."""
    from neuroalign.benchmarks import Benchmark
    from neuroalign.scorers import LAYER_VARS, SCORE_FIELDS

    model, feats = reference
    options = {"ood": {"split": "label", "column": "family", "train": "gratings", "test": "blobs"},
               "pls": {"n_splits": 3}, "rsa": {"n_halves": 10}, "cka": {"n_halves": 4}}.get(kind, {})
    bench = Benchmark(f"synthetic.test_{kind}", kind, "synthetic", "synthetic", "registry test", options)
    s = score(model, bench, features={k: feats[k] for k in ("block2", "block3")})
    assert set(SCORE_FIELDS) <= set(s.attrs) and all(v in s for v in LAYER_VARS)
    rows = result_rows(s)
    assert check_identities(rows) == [] and len(rows) == 3
    assert rows["normalization"].astype(bool).all()
