"""Issue 26 §4–5: the leaderboard says which differences are real (tiers, pairwise tables,
reliability, the aggregate compared with the shared draws, n/N), and shows versions.

Score files carry draws ``point + s·z`` (tests/fake_scores.py), so every number is known in
closed form: the paired difference of models a and b has sd ``|s_a − s_b|``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_scores import fake_score, unit_noise, write_scores
from scipy.stats import norm

from neuroalign.errors import DataError
from neuroalign.leaderboard import leaderboard_data, write_leaderboard
from neuroalign.scoring import RESULT_COLUMNS

ENC, RSA, PLS = "cowley2023.210325.encoding", "kriegeskorte2008.human_it.rsa", "cowley2023.210325.pls"
REGION = {ENC: "V4", RSA: "IT", PLS: "V4"}
KIND = {ENC: "encoding", RSA: "rsa", PLS: "pls"}
# benchmark: model: (normalised point, draw sd s)
ENC_SCORES = {"delta": (0.95, 0.0), "alpha": (0.9, 0.04), "charlie": (0.8, 0.02), "bravo": (0.2, 0.06)}
RSA_SCORES = {"delta": (0.5, 0.05), "alpha": (0.52, 0.03), "charlie": (0.3, 0.01)}  # bravo: no IT score


def _results(scores: dict, hashes=None) -> pd.DataFrame:
    rows = []
    for bench, by_model in scores.items():
        for model, (point, _) in by_model.items():
            row = {c: np.nan for c in RESULT_COLUMNS}
            row.update(model=model, benchmark=bench, kind=KIND[bench], region=REGION[bench], scope="reported",
                       layer="l2", selected=True, raw=0.8 * point, ceiling=0.64, normalized=point,
                       ci_low=0.8 * point - 0.05, ci_high=0.8 * point + 0.05, benchmark_version=1,
                       benchmark_hash=(hashes or {}).get((model, bench), "0123abcd0123abcd"))
            rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _scores(scores: dict, no_draws=()) -> dict:
    out = {}
    for seed, (bench, by_model) in enumerate(scores.items()):
        z = unit_noise(seed)
        for model, (point, s) in by_model.items():
            out[(model, bench)] = fake_score(model, bench, point, s, kind=KIND[bench], region=REGION[bench], z=z,
                                             draws=bench not in no_draws)
    return out


def test_benchmark_tiers_pairs_and_reliability_known_answers():
    data = leaderboard_data(_results({ENC: ENC_SCORES}), scores=_scores({ENC: ENC_SCORES}))
    dec = data["decisions"]["benchmarks"][ENC]
    assert [(r["model"], r["tier"]) for r in dec["models"]] == [("delta", "a"), ("alpha", "a"), ("charlie", "b"),
                                                                 ("bravo", "c")]
    assert dec["scale"] == "normalized"
    pairs = {(p["model_a"], p["model_b"]): p for p in dec["pairs"]}
    p = pairs.get(("delta", "alpha")) or pairs[("alpha", "delta")]
    sign = 1 if ("delta", "alpha") in pairs else -1
    assert sign * p["diff"] == pytest.approx(0.05)
    assert sorted((sign * p["ci_low"], sign * p["ci_high"])) == pytest.approx([0.05 - 1.96 * 0.04, 0.05 + 1.96 * 0.04],
                                                                               abs=1e-4)
    p_values = {"da": 2 * norm.sf(0.05 / 0.04), "dc": 2 * norm.sf(0.15 / 0.02), "ac": 2 * norm.sf(0.1 / 0.02),
                "db": 2 * norm.sf(0.75 / 0.06), "ab": 2 * norm.sf(0.7 / 0.02), "cb": 2 * norm.sf(0.6 / 0.04)}
    assert p["p_value"] == pytest.approx(p_values["da"], rel=1e-6)
    assert p["q_value"] == pytest.approx(p_values["da"], rel=1e-6)  # the largest p: q = p·6/6
    points = np.array([v[0] for v in ENC_SCORES.values()])
    se2 = np.array([v[1] for v in ENC_SCORES.values()]) ** 2
    assert dec["reliability"] == pytest.approx(1 - se2.mean() / points.var(ddof=1), rel=1e-6)  # 0.98839
    assert dec["reliability"] == pytest.approx(0.98839, abs=1e-5)
    m = {e["model"]: e for e in data["models"]}
    assert m["charlie"]["benchmarks"][ENC]["tier"] == "b"


def test_aggregate_compared_with_shared_draws_and_missing_models_unranked():
    scores = {ENC: ENC_SCORES, RSA: RSA_SCORES}
    data = leaderboard_data(_results(scores), scores=_scores(scores))
    models = {e["model"]: e for e in data["models"]}
    assert data["ranked_set"] == [ENC, RSA]
    bravo = models["bravo"]  # no IT score: shows 1/2, never ranked (neither as 0 nor as its own average)
    assert (bravo["rank"], bravo["overall"], bravo["n_in_set"], bravo["n_set"]) == (None, None, 1, 2)
    assert [e["model"] for e in data["models"] if e["rank"]] == ["delta", "alpha", "charlie"]  # 0.725, 0.71, 0.55
    agg = data["decisions"]["aggregate"]
    assert [r["model"] for r in agg["models"]] == ["delta", "alpha", "charlie"]  # bravo not compared
    z1, z2 = unit_noise(0), unit_noise(1)
    for name, e in models.items():
        if name == "bravo":
            continue
        (p1, s1), (p2, s2) = ENC_SCORES[name], RSA_SCORES[name]
        assert e["overall"] == pytest.approx(0.5 * (p1 + p2))
        sd = np.std(0.5 * (s1 * z1 + s2 * z2), ddof=1)
        assert e["overall_ci"] == pytest.approx([e["overall"] - 1.959964 * sd, e["overall"] + 1.959964 * sd], abs=1e-5)
    # delta − alpha: 0.015 over the sd of 0.5·(−0.04 z1 + 0.02 z2) (≈ 0.022): not different; both beat charlie
    assert {r["model"]: r["tier"] for r in agg["models"]} == {"alpha": "a", "delta": "a", "charlie": "b"}
    # a region's mean carries the interval of its one benchmark's draws
    assert models["alpha"]["region_ci"]["IT"] == pytest.approx([0.52 - 1.959964 * 0.03, 0.52 + 1.959964 * 0.03],
                                                               abs=1e-5)


def test_kinds_without_draws_are_named_never_guessed(tmp_path):
    scores = {ENC: ENC_SCORES, PLS: {"delta": (0.6, 0.0), "alpha": (0.5, 0.0), "charlie": (0.4, 0.0),
                                     "bravo": (0.3, 0.0)}}
    write_scores(tmp_path / "scores", _scores(scores, no_draws=(PLS,)).values())
    data = leaderboard_data(_results(scores), scores=tmp_path / "scores")
    pls = data["decisions"]["benchmarks"][PLS]
    assert all(r["tier"] is None and r["why"].startswith("no paired draws (pls") for r in pls["models"])
    agg = data["decisions"]["aggregate"]
    assert agg["missing_draws"] == [PLS] and all(r["tier"] is None for r in agg["models"])
    assert all(e["overall_ci"] is None for e in data["models"])
    assert data["decisions"]["benchmarks"][ENC]["models"][0]["tier"] == "a"  # encoding still tiered


def test_versions_shown_and_never_mixed(tmp_path):
    scores = {ENC: ENC_SCORES}
    data = leaderboard_data(_results(scores), scores=_scores(scores))
    assert [(b["id"], b["version"], b["hash"]) for b in data["benchmarks"]] == [(ENC, 1, "0123abcd0123abcd")]
    mixed = _results(scores, hashes={("bravo", ENC): "ffff0000ffff0000"})
    with pytest.raises(DataError, match=r"two versions \(v1 \(0123abcd\) and v1 \(ffff0000\)\)"):
        leaderboard_data(mixed)
    stale = _scores(scores)
    stale[("bravo", ENC)].attrs["benchmark_hash"] = "ffff0000ffff0000"  # a score file left from another version
    dec = leaderboard_data(_results(scores), scores=stale)["decisions"]["benchmarks"][ENC]
    assert {r["model"]: r["why"] for r in dec["models"]}["bravo"].startswith("score file of another version")


def test_site_pages_show_tiers_intervals_and_pairs(tmp_path):
    scores = {ENC: ENC_SCORES, RSA: RSA_SCORES}
    write_scores(tmp_path / "scores", _scores(scores).values())
    _results(scores).to_csv(tmp_path / "results.csv", index=False)
    paths = write_leaderboard(tmp_path / "results.csv", tmp_path / "site", scores=tmp_path / "scores")
    page = paths["benchmarks"][ENC].read_text()
    assert 'id="version">version v1' in page and "0123abcd0123abcd" in page
    assert page.count('class="num pair') == 12 and page.count(" sig\"") == 10  # 4 models: 12 cells, 5 of 6 pairs
    main = paths["html"].read_text()
    assert 'data-tier="a"' in main and "0.95–0.95" in main  # delta's draws have no spread: a point interval
    assert (tmp_path / "site" / "benchmarks" / "aggregate.html").is_file()
    wide = pd.read_csv(paths["csv"]).set_index("model")
    assert wide.loc["charlie", f"{ENC}.tier"] == "b" and wide.loc["bravo", "n_in_set"] == 1
    assert wide.loc["charlie", f"{ENC}.normalized_ci_low"] == pytest.approx(0.8 - 1.959964 * 0.02, abs=1e-5)


def test_letters_share_exactly_the_pairs_not_different():
    """Non-adjacent models not different share a letter even when the model between them differs from
    one of them (delta ≈ charlie, alpha ≠ charlie): runs of adjacent models would separate them."""
    from neuroalign.tiers import letters

    sig = {frozenset(p) for p in (("alpha", "charlie"), ("delta", "bravo"), ("alpha", "bravo"), ("charlie", "bravo"))}
    order = ["delta", "alpha", "charlie", "bravo"]
    got = letters(order, lambda a, b: frozenset((a, b)) in sig)
    assert got == {"delta": "ab", "alpha": "a", "charlie": "b", "bravo": "c"}
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            assert bool(set(got[a]) & set(got[b])) == (frozenset((a, b)) not in sig)
