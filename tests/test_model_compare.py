"""Paired model comparison (issue 26 §3): known answers on simulated encoding and RSA data,
parity of the paired-difference variance with rsatoolbox's pattern bootstrap, versions, BH-FDR."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign import resampling as rs
from neuroalign.comparison import COLUMNS, bh_fdr, compare_scores, table
from neuroalign.errors import DataError

N_PAIRS = 100


def _score(model, raw, normalized, draws, key, n_stimuli, version=1):
    factors = list(draws["raw"])
    ds = xr.Dataset({f"resample_{s}": (("factor", "resample"), np.stack([draws[s][f] for f in factors]))
                     for s in ("raw", "normalized")}, coords={"factor": factors})
    ds.attrs.update(model=model, benchmark="sim", benchmark_version=version, benchmark_hash=f"h{version}",
                    resample_key=key, aggregate_raw=float(raw), aggregate_normalized=float(normalized),
                    n_stimuli=n_stimuli)
    return ds


NOISE = {"a": 1.0, "equal": 1.0, "deficit": 3.0}  # model A, a model as good, a worse one
RSA_NOISE = {"a": 1.0, "equal": 1.0, "deficit": 6.0}  # 30 stimuli, 5 subjects: a clear deficit


def _encoding_models(i, n_stim=120, n_neur=40, n_rep=4, n_draws=400):
    """Three models of one simulated dataset, predicting the signal with the noise of ``NOISE``."""
    from neuroalign.scorers import NORMALIZERS

    rng = np.random.default_rng(i)
    signal = rng.normal(size=(n_stim, n_neur))
    trials = signal[:, None, :] + 1.5 * rng.normal(size=(n_stim, n_rep, n_neur))
    means = trials.mean(1)
    parts = (means, trials.var(1, ddof=1) / n_rep)
    key = f"sim{i}"
    C = rs.draw_counts(key, np.arange(n_stim).astype(str), n_draws)
    U = rs.draw_counts(key, np.arange(n_neur).astype(str), n_draws, what="neuroids")
    inc = np.ones(n_neur, bool)
    out = {}
    for name, noise in NOISE.items():
        pred = signal + noise * rng.normal(size=signal.shape)
        raw, ceil = rs.neural_draws(pred, means, parts, inc, None, None)
        draws = rs.neural_factor_draws(pred, means, parts, inc, C, U, NORMALIZERS["encoding"])
        out[name] = _score(name, raw[0], raw[0] / np.sqrt(ceil[0]), draws, key, n_stim)
    return out


def _rsa_models(i, n_stim=30, n_sub=5, n_draws=200):
    """The same for RSA: subjects' RDMs of a latent geometry plus noise; the three models in one evaluation."""
    from neuroalign.data.assembly import make_assembly
    from neuroalign.similarity import bootstrap, compute_rdms

    rng = np.random.default_rng(1000 + i)
    ids = [f"s{k}" for k in range(n_stim)]
    latent = rng.normal(size=(n_stim, 12))

    def rdms(xs, names):
        return xr.concat([compute_rdms(make_assembly(x, stimulus_id=ids), "correlation") for x in xs],
                         "rdm").assign_coords(rdm=names)

    data = rdms([latent + rng.normal(size=latent.shape) for _ in range(n_sub)], [f"sub{k}" for k in range(n_sub)])
    models = rdms([latent + n * rng.normal(size=latent.shape) for n in RSA_NOISE.values()], list(RSA_NOISE))
    key = f"rsa{i}"
    C = rs.draw_counts(key, ids, n_draws)
    U = rs.draw_counts(key, np.arange(n_sub).astype(str), n_draws, what="subjects")
    full = bootstrap(models, data, method="pearson", n_samples=2, ceiling=True, device="cpu")
    draws = rs.rsa_factor_draws(models, data, "pearson", C, U)
    return {name: _score(name, full.point[m], full.point[m] / full.ceiling[1],
                         {s: {f: d[:, m] for f, d in draws[s].items()} for s in draws}, key, n_stim)
            for m, name in enumerate(RSA_NOISE)}


@pytest.mark.parametrize("models", [_encoding_models, _rsa_models], ids=["encoding", "rsa"])
def test_equal_models_cover_zero_and_a_deficit_is_detected(models):
    covers = detected = 0
    for i in range(N_PAIRS):
        m = models(i)
        row = compare_scores(m["a"], m["equal"])
        covers += row["ci_low"] <= 0 <= row["ci_high"]
        assert row["ci_low"] <= row["diff"] <= row["ci_high"]
        row = compare_scores(m["a"], m["deficit"])
        detected += row["ci_low"] > 0 and row["p_value"] < 0.05
    assert covers >= 0.9 * N_PAIRS, covers
    assert detected >= 0.9 * N_PAIRS, detected


def test_rsa_paired_difference_variance_matches_rsatoolbox_pattern_bootstrap(k92):
    """92 objects, human IT (4 subjects): two model RDMs (monkey IT, mean behaviour); the variance
    of the paired difference over our stimulus draws against eval_bootstrap_pattern's."""
    import rsatoolbox
    from rsatoolbox.inference import eval_bootstrap_pattern

    from neuroalign.scorers.rsa import neural_rdms

    rdms = k92[0]
    data = neural_rdms(rdms["human_it_subjects"])
    ids = data["row"].values.astype(str)
    models = {"monkey": rdms["monkey_it"], "behaviour": rdms["behaviour"].mean("rdm").expand_dims("rdm")}
    n = 2000
    C = rs.draw_counts("parity", ids, n)
    both = xr.concat([m.sel(row=ids, col=ids).reset_coords(drop=True).drop_vars("rdm", errors="ignore")
                      for m in models.values()], "rdm")
    ours = rs.rsa_factor_draws(both, data, "spearman", C, None)["raw"]["stimuli"]
    var_ours = np.nanvar(ours[:, 0] - ours[:, 1], ddof=1)
    ref_data = rsatoolbox.rdm.RDMs(data.transpose("rdm", "row", "col").values, dissimilarity_measure="correlation",
                                   pattern_descriptors={"index": np.arange(len(ids))})
    ref_models = [rsatoolbox.model.ModelFixed(k, rsatoolbox.rdm.RDMs(m.sel(row=ids, col=ids).values[0][None]))
                  for k, m in models.items()]
    np.random.seed(0)
    res = eval_bootstrap_pattern(ref_models, ref_data, method="spearman", N=n, boot_noise_ceil=False)
    ev = res.evaluations.reshape(n, -1)
    ok = np.isfinite(ev).all(1)
    var_ref = np.var(ev[ok, 0] - ev[ok, 1], ddof=1)
    assert var_ours == pytest.approx(var_ref, rel=0.10), (var_ours, var_ref)


def test_different_versions_are_refused_naming_both():
    m = _encoding_models(0)
    a, b = m["a"], m["equal"]
    b.attrs.update(benchmark_version=2, benchmark_hash="h2")
    with pytest.raises(DataError, match=r"v1 \(h1\).*v2 \(h2\)"):
        compare_scores(a, b, where=("a.nc", "b.nc"))


def test_bh_fdr_and_table_columns():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    q = bh_fdr(p)
    # sorted 0.01, 0.03, 0.04, 0.2 (m = 4): 0.04, min(0.06, 0.0533), 0.0533, 0.2
    assert np.allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, np.nan, 0.2], equal_nan=True)
    m = _encoding_models(0)
    df = table([compare_scores(m["a"], m["deficit"])])
    assert list(df.columns) == COLUMNS and df["q_value"].iloc[0] == df["p_value"].iloc[0]
    assert df["scale"].iloc[0] == "normalized"


def test_compact_letters_known_answer():
    from neuroalign.tiers import letters

    # a > c, a > d, b > d; everything else not different: runs a-b, b-c, c-d
    sig = {frozenset(p) for p in (("a", "c"), ("a", "d"), ("b", "d"))}
    got = letters(list("abcd"), lambda x, y: frozenset((x, y)) in sig)
    assert got == {"a": "a", "b": "ab", "c": "bc", "d": "c"}
    assert letters(list("abc"), lambda x, y: False) == {"a": "a", "b": "a", "c": "a"}
    assert letters(list("abc"), lambda x, y: True) == {"a": "a", "b": "b", "c": "c"}


def test_tiers_separate_a_deficit_and_ranking_reliability():
    from neuroalign.tiers import benchmark_tiers, ranking_reliability

    m = _encoding_models(3)
    models, pairs, rel = benchmark_tiers([m["a"], m["equal"], m["deficit"]])
    tier = dict(zip(models["model"], models["tier"]))
    assert tier["deficit"] and not set(tier["deficit"]) & (set(tier["a"]) | set(tier["equal"]))
    assert set(tier["a"]) & set(tier["equal"])
    assert len(pairs) == 3 and (models["ci_low"] <= models["score"]).all() and (models["score"] <= models["ci_high"]).all()
    assert 0 < rel <= 1
    assert ranking_reliability([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == 1.0
    assert ranking_reliability([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]) == 0.0


def test_scores_keep_what_a_comparison_needs_and_the_cli_compares_them(tmp_path, capsys):
    """End to end on the synthetic benchmark: a Score keeps the out-of-fold predictions, the shared
    draws and both intervals (each containing its point); `neuroalign compare --scores` writes the table."""
    import pandas as pd

    from neuroalign.benchmarks import load_stimulus_set
    from neuroalign.cli import main
    from neuroalign.models import load_model
    from neuroalign.scoring import model_features, result_rows, save_score, score

    model = load_model("reference")
    feats = model_features(model, load_stimulus_set("synthetic"), cache_dir=tmp_path / "cache")
    good = score(model, "synthetic.encoding", features={"block2": feats["block2"]})
    poor = score(model, "synthetic.encoding", features={"block1": feats["block1"]})
    poor.attrs["model"] = "reference-block1"
    for ds in (good, poor):
        a = ds.attrs
        assert ds["prediction"].dtype == np.float32 and ds["prediction"].sizes["stimulus"] == a["n_stimuli"]
        assert a["ci_low"] <= a["aggregate_raw"] <= a["ci_high"]
        assert a["normalized_ci_low"] <= a["aggregate_normalized"] <= a["normalized_ci_high"]
        assert "two-factor" in a["ci_method"] and ds.sizes["resample"] == rs.N_RESAMPLES
    assert good.attrs["resample_key"] == poor.attrs["resample_key"]
    row = result_rows(good).iloc[-1]
    assert row["benchmark_version"] == 1 and row["benchmark_hash"] == good.attrs["benchmark_hash"]
    assert row["normalized_ci_low"] == good.attrs["normalized_ci_low"]
    a, b = save_score(good, tmp_path / "a.nc"), save_score(poor, tmp_path / "b.nc")
    assert main(["compare", "--scores", str(a), str(b), "--table", str(tmp_path / "cmp.csv")]) == 0
    df = pd.read_csv(tmp_path / "cmp.csv")
    assert list(df.columns) == COLUMNS and df["diff"].iloc[0] > 0 and df["ci_low"].iloc[0] > 0
    assert "reference-block1" in capsys.readouterr().out
    poor.attrs["benchmark_hash"] = "0" * 16
    save_score(poor, tmp_path / "c.nc")
    assert main(["compare", "--scores", str(a), str(tmp_path / "c.nc")]) == 2
    err = capsys.readouterr().err
    assert "a.nc" in err and "c.nc" in err and "Traceback" not in err


def test_compare_by_workflow_name_reads_the_workflow_scores_and_scores_only_what_is_missing(tmp_path, capsys,
                                                                                           monkeypatch):
    """Issue 26 must-show: `compare efficientnet-lite0 squeezenet-untrained` takes the grid's names.
    A name's current score file under --results is read; a missing one is scored with the config's spec
    and layers (once, then cached); a stale one (another content hash) is rescored."""
    import pandas as pd
    import yaml

    from neuroalign import scoring
    from neuroalign.cli import main
    from neuroalign.comparison import compare, workflow_models

    assert workflow_models()["squeezenet-untrained"]["spec"] == "torchvision:squeezenet1_1"  # the default grid
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"models": {"ref-good": {"spec": "reference", "layers": ["block2"]},
                                              "ref-poor": {"spec": "reference", "layers": ["block1"]}},
                                   "benchmarks": ["synthetic.encoding"]}))
    calls, real = [], scoring.score

    def counted(model, bench, **kw):
        calls.append((model, kw.get("layers")))
        return real(model, bench, **kw)

    monkeypatch.setattr(scoring, "score", counted)
    good = real("reference", "synthetic.encoding", layers=["block2"], cache_dir=tmp_path / "cache")
    good.attrs["model"] = "ref-good"
    (tmp_path / "results" / "scores" / "ref-good").mkdir(parents=True)
    scoring.save_score(good, tmp_path / "results" / "scores" / "ref-good" / "synthetic.encoding.nc")

    kw = dict(results=tmp_path / "results", config=cfg, cache_dir=tmp_path / "cache")
    df = compare("ref-good", "ref-poor", ["synthetic.encoding"], **kw)
    assert calls == [("reference", ["block1"])]  # only the missing score, with the config's layers
    assert (df["model_a"].iloc[0], df["model_b"].iloc[0]) == ("ref-good", "ref-poor")
    assert df["score_a"].iloc[0] == good.attrs["aggregate_normalized"] and df["diff"].iloc[0] > 0
    assert main(["compare", "ref-good", "ref-poor", "--benchmark", "synthetic.encoding", "--results",
                 str(tmp_path / "results"), "--config", str(cfg), "--cache-dir", str(tmp_path / "cache"),
                 "--table", str(tmp_path / "cmp.csv")]) == 0
    assert len(calls) == 1 and "ref-poor" in capsys.readouterr().out  # cached: nothing rescored
    assert pd.read_csv(tmp_path / "cmp.csv")["diff"].iloc[0] == pytest.approx(df["diff"].iloc[0])

    good.attrs["benchmark_hash"] = "0" * 16  # left by an older benchmark version: rescored, not compared
    scoring.save_score(good, tmp_path / "results" / "scores" / "ref-good" / "synthetic.encoding.nc")
    compare("ref-good", "ref-poor", ["synthetic.encoding"], **kw)
    assert calls[1:] == [("reference", ["block2"])]
