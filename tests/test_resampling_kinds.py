"""Issue 26 §1–3 for PLS, CKA and OOD: a kind declares its draws on its MetricKind record, a
Score keeps what they need (chunked on disk), weighted CKA equals CKA on the drawn data, the OOD
gap's interval separates a transferring model from one that does not, and ``compare`` counts
the units it resampled."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign import resampling as rs


def test_every_kind_declares_its_draws_on_its_record_and_a_plugin_kind_can(monkeypatch):
    from neuroalign.registry import METRIC_KINDS
    from neuroalign.scorers import MetricKind, get_kind

    assert all(get_kind(k).draws is not None for k in ("encoding", "pls", "rsa", "cka", "ood"))
    assert not hasattr(rs, "DRAWS")  # one place: the record
    d = np.random.default_rng(0).normal(0.5, 0.1, 400)

    def draws(ds, data, bench, key, n_draws):
        return {"raw": {"stimuli": d}, "normalized": {"stimuli": 2 * d}, "units": "neuroids", "n": (50, 1)}

    monkeypatch.setitem(METRIC_KINDS, "toy", MetricKind("toy", lambda *a: None, None, "none", draws=draws))
    ds = xr.Dataset(attrs={"kind": "toy", "aggregate_raw": 0.5, "aggregate_normalized": 1.0})
    out = rs.attach(ds, None, None, "toy@v1:x", n_draws=400)
    sd = np.std(d, ddof=1)
    assert out.attrs["ci_high"] == pytest.approx(0.5 + 1.959964 * sd)
    assert out.attrs["normalized_ci_low"] == pytest.approx(1.0 - 2 * 1.959964 * sd)
    assert out.sizes["resample"] == 400 and out.attrs["resample_n_stimuli"] == 50


def test_small_sample_combination_known_answer():
    rng = np.random.default_rng(3)
    draws = {"both": rng.normal(0, 2.0, 5000), "stimuli": rng.normal(0, 1.0, 5000), "units": rng.normal(0, 1.3, 5000)}
    v = {k: np.var(x, ddof=1) for k, x in draws.items()}
    a, b = 30 / 29, 8 / 7
    want = a * v["stimuli"] + b * v["units"] - a * b * (v["both"] - v["stimuli"] - v["units"])
    assert rs.combined_variance(draws, (30, 8)) == pytest.approx(min(max(want, a * v["stimuli"], b * v["units"]),
                                                                     v["both"]))
    assert rs.combined_variance(draws, (10**9, 10**9)) == pytest.approx(rs.combined_variance(draws))  # large samples
    f = 0.6  # RSA: only the distinct stimuli's share of the stimulus variance is real
    s, both = f * v["stimuli"], v["both"] - (1 - f) * v["stimuli"]
    want = a * s + b * v["units"] - a * b * (both - s - v["units"])
    assert rs.combined_variance(draws, (30, 8, f)) == pytest.approx(min(max(want, a * s, b * v["units"]), both))
    assert rs.combined_variance({"stimuli": draws["stimuli"]}, (30, 1, f)) == pytest.approx(f * v["stimuli"])
    assert rs.copy_share(np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])) == pytest.approx(5 / 6)
    C = rs.draw_counts("k", np.arange(40).astype(str), 4000)
    assert rs.copy_share(C) == pytest.approx(1 - (1 - 1 / 40) ** 40, abs=0.005)


@pytest.mark.parametrize("debiased", [False, True])
def test_weighted_cka_is_cka_of_the_drawn_data(debiased):
    from neuroalign.scorers.cka import centred_gram
    from neuroalign.similarity import cka

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 30))
    Y = X[:, :5] @ rng.normal(size=(5, 12)) + rng.normal(size=(40, 12)) + 3.0
    K = centred_gram(X).astype(np.float64)
    one = rs.weighted_cka(K, Y, np.ones((1, 40)), np.ones((1, 12)), debiased)[0]
    assert one == pytest.approx(float(cka(X, Y, debiased=debiased, device="cpu")), abs=1e-6)
    u = rng.integers(0, 3, 12).astype(float)  # neuroid copies: the repeated columns, exactly
    w = (rng.random(40) < 0.7).astype(float)  # stimuli left out, none repeated: CKA of the subset
    keep = w > 0
    for W, U in ((w[None], u[None]), (np.stack([w, w]), u[None]), (np.stack([w, w]), np.stack([u, u]))):
        got = rs.weighted_cka(K, Y, W, U, debiased)[0]  # each code path (one factor fixed, both drawn)
        assert got == pytest.approx(float(cka(X[keep], np.repeat(Y[keep], u.astype(int), axis=1),
                                              debiased=debiased, device="cpu")), abs=1e-6)
    if not debiased:  # biased: stimulus copies are the repeated rows
        w = rng.integers(0, 3, 40).astype(float)
        idx = np.repeat(np.arange(40), w.astype(int))
        assert rs.weighted_cka(K, Y, np.stack([w, w]), u[None], False)[0] == pytest.approx(
            float(cka(X[idx], np.repeat(Y[idx], u.astype(int), axis=1), device="cpu")), abs=1e-6)


def _ood_sides(rng, n=80, p=30, n_rep=4, ood_noise=0.6):
    """ID and OOD sides of one simulated dataset: trials of a signal; the model predicts the signal
    with noise 0.6 on the ID side and ``ood_noise`` on the OOD side."""
    sides = {}
    for side, noise in (("id", 0.6), ("ood", ood_noise)):
        signal = rng.normal(size=(n, p))
        trials = signal[:, None, :] + 1.0 * rng.normal(size=(n, n_rep, p))
        means = trials.mean(1)
        sides[side] = (signal + noise * rng.normal(size=signal.shape), means, (means, trials.var(1, ddof=1) / n_rep))
    return sides


def test_ood_gap_interval_covers_zero_for_a_transferring_model_and_excludes_it_otherwise():
    from neuroalign.scorers import NORMALIZERS

    norm, inc = NORMALIZERS["ood"], np.ones(30, bool)
    covers = detected = 0
    for i in range(20):
        rng = np.random.default_rng(i)
        key = f"ood{i}"
        C = {s: rs.draw_counts(key, np.arange(80).astype(str), 200, what=f"{s} stimuli") for s in ("id", "ood")}
        U = rs.draw_counts(key, np.arange(30).astype(str), 200, what="neuroids")
        for ood_noise in (0.6, 1.5):
            sides = _ood_sides(rng, ood_noise=ood_noise)
            full = {s: rs.neural_draws(*sides[s], inc, None, None) for s in sides}
            gap = norm(*full["id"])[0] - norm(*full["ood"])[0]
            draws = rs.ood_factor_draws(sides, inc, C, U, norm)
            assert set(draws["extra"]["gap"]) == {"both", "stimuli", "units"}
            lo, hi = rs.interval(gap, draws["extra"]["gap"], n=(160, 30))
            assert lo <= gap <= hi
            covers += ood_noise == 0.6 and lo <= 0 <= hi
            detected += ood_noise == 1.5 and lo > 0
    assert covers >= 17 and detected >= 18


@pytest.fixture(scope="module")
def kind_scores(tmp_path_factory):
    """The reference model's two layers scored on synthetic PLS, OOD and a CKA benchmark (100 draws)."""
    from neuroalign.benchmarks import Benchmark, load_stimulus_set
    from neuroalign.models import load_model
    from neuroalign.scoring import model_features, score

    mp = pytest.MonkeyPatch()
    mp.setattr(rs, "N_RESAMPLES", 100)
    model = load_model("reference")
    feats = model_features(model, load_stimulus_set("synthetic"), cache_dir=tmp_path_factory.mktemp("cache"))
    benches = ["synthetic.pls", "synthetic.ood.gratings_to_blobs",
               Benchmark("synthetic.cka", "cka", "synthetic", "synthetic", "CKA on the synthetic set", {"n_halves": 4})]
    out = {}
    for b in benches:
        for layer in ("block1", "block2"):
            ds = score(model, b, features={layer: feats[layer]}, device="cpu")
            ds.attrs["model"] = f"reference-{layer}"
            out[(ds.attrs["kind"], layer)] = ds
    mp.undo()
    return out


def test_pls_ood_cka_scores_keep_their_inputs_and_intervals_contain_their_points(kind_scores, tmp_path):
    import h5py

    from neuroalign.comparison import compare_scores, table
    from neuroalign.scoring import save_score

    kept = {"pls": ("prediction",), "ood": ("id_prediction", "ood_prediction"), "cka": ("model_gram",)}
    for (kind, layer), ds in kind_scores.items():
        a = ds.attrs
        assert all(ds[v].dtype == np.float32 for v in kept[kind])
        assert "two-factor" in a["ci_method"] and ds.sizes["resample"] == 100
        assert a["ci_low"] < a["aggregate_raw"] < a["ci_high"]
        if kind != "cka":  # CKA has no ceiling: no normalised scale
            assert a["normalized_ci_low"] < a["aggregate_normalized"] < a["normalized_ci_high"]
        if kind == "ood":
            assert a["gap_ci_low"] < a["gap"] < a["gap_ci_high"] and "resample_gap" in ds
        with h5py.File(save_score(ds, tmp_path / f"{kind}_{layer}.nc"), "r") as f:  # chunked, compressed
            assert f[kept[kind][0]].chunks == tuple(min(n, 512) for n in ds[kept[kind][0]].shape)
            assert f[kept[kind][0]].compression == "gzip"
    cka = kind_scores[("cka", "block2")]
    gram = cka["model_gram"].values
    assert gram.shape == (600, 600) and np.allclose(gram.sum(0), 0, atol=1e-2 * abs(gram).max())  # centred
    df = table([compare_scores(kind_scores[(k, "block2")], kind_scores[(k, "block1")]) for k in kept])
    assert list(df["scale"]) == ["normalized", "normalized", "raw"]
    assert list(df["n_neuroids"]) == [60, 60, 60] and df["n_subjects"].isna().all()
    assert (df["ci_low"] <= df["diff"]).all() and (df["diff"] <= df["ci_high"]).all()
    assert df["diff"].iloc[0] > 0 and df["ci_low"].iloc[0] > 0  # the generator's layer predicts better (PLS)


def test_compare_counts_subjects_for_subject_rdm_benchmarks():
    from neuroalign.comparison import compare_scores, table

    rng = np.random.default_rng(0)

    def fake(model, **extra):
        ds = xr.Dataset({f"resample_{s}": (("factor", "resample"), rng.normal(0.3, 0.05, (3, 50)))
                         for s in ("raw", "normalized")}, coords={"factor": ["both", "stimuli", "units"], **extra})
        ds.attrs.update(model=model, benchmark="b", benchmark_version=1, benchmark_hash="h", resample_key="k",
                        aggregate_raw=0.3, aggregate_normalized=0.5, n_stimuli=92)
        return ds

    rsa = table([compare_scores(*(fake(m).assign_attrs(n_subjects=4, resample_units="subjects",
                                                       resample_n_units=4, resample_n_stimuli=92)
                                  for m in "ab"))])
    assert rsa["n_subjects"].iloc[0] == 4 and rsa["n_neuroids"].isna().iloc[0]
    enc = table([compare_scores(*(fake(m, neuroid_id=("neuroid", np.arange(7))) for m in "ab"))])
    assert enc["n_neuroids"].iloc[0] == 7 and enc["n_subjects"].isna().iloc[0]
