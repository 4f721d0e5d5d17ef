"""Each paper figure built from a small results table; the CSV beside it holds the plotted numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign.errors import DataError
from neuroalign.figures import (
    encoding_layers,
    finetune_tradeoff,
    id_vs_ood,
    load_results,
    make_all_figures,
    rsa_bars,
    scaling_law,
)
from neuroalign.scaling import sigmoid_log10

LAYERS = ("conv1", "conv2", "conv3")


@pytest.fixture
def results(tmp_path):
    """Two models × three layers on an encoding, two RSA and one OOD benchmark, written as CSV."""
    rows = []
    for m, base in (("netA", 0.30), ("netB", 0.45)):
        for i, layer in enumerate(LAYERS):
            raw = base + 0.1 * i
            rows.append(dict(model=m, benchmark="synthetic.encoding", kind="encoding", region="synthetic",
                             layer=layer, selected=str(i == 1), raw=raw, ceiling=0.81, normalized=raw / 0.9,
                             ci_low=raw - 0.01, ci_high=raw + 0.02, n_neuroids=60, n_stimuli=600))
            for bench, lo, hi in (("k92.human_it", 0.12, 0.25), ("k92.monkey_it", 0.30, 0.30)):
                r = base / 3 + 0.02 * i
                rows.append(dict(model=m, benchmark=bench, kind="rsa", region="IT", layer=layer,
                                 selected=str(i == 2), raw=r, ceiling=hi, ceiling_low=lo, ceiling_high=hi,
                                 normalized=r / hi, ci_low=r - 0.04, ci_high=r + 0.05, n_stimuli=92))
            rows.append(dict(model=m, benchmark="cowley.ood", kind="ood", region="V4", layer=layer,
                             selected="False", raw=base, id_score=base + 0.1 * i, ood_score=base + 0.02 * i))
    path = tmp_path / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _check_files(paths, *keys):
    for k in ("png", "svg", "csv", *keys):
        assert paths[k].is_file() and paths[k].stat().st_size > 0, k
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths["svg"].read_text()


def test_encoding_layers(results, tmp_path):
    paths = encoding_layers(results, tmp_path / "fig")
    _check_files(paths)
    t = pd.read_csv(paths["csv"])
    assert len(t) == 6
    b = t[t["model"] == "netB"]
    assert b["layer"].tolist() == list(LAYERS)
    assert b["layer_index"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(b["raw"], [0.45, 0.55, 0.65])
    np.testing.assert_allclose(b["ci_high"], [0.47, 0.57, 0.67])
    np.testing.assert_allclose(t["ceiling_r"], 0.9)  # sqrt(0.81): the ceiling in r units
    assert b["selected"].tolist() == [False, True, False]
    # one model alone
    one = pd.read_csv(encoding_layers(results, tmp_path / "one", models=["netA"])["csv"])
    assert set(one["model"]) == {"netA"}
    with pytest.raises(DataError, match="netC"):
        encoding_layers(results, tmp_path / "x", models=["netC"])


def test_rsa_bars(results, tmp_path):
    paths = rsa_bars(results, tmp_path)
    _check_files(paths)
    t = pd.read_csv(paths["csv"])
    assert t["benchmark"].unique().tolist() == ["k92.human_it", "k92.monkey_it"]
    h = t[(t["benchmark"] == "k92.human_it") & (t["model"] == "netA")]
    np.testing.assert_allclose(h["raw"], [0.10, 0.12, 0.14])
    np.testing.assert_allclose(h["ci_low"], [0.06, 0.08, 0.10])
    np.testing.assert_allclose(h["ci_high"], [0.15, 0.17, 0.19])
    np.testing.assert_allclose(h[["ceiling_low", "ceiling_high"]].to_numpy(), [[0.12, 0.25]] * 3)
    mk = t[t["benchmark"] == "k92.monkey_it"]
    np.testing.assert_allclose(mk[["ceiling_low", "ceiling_high"]].to_numpy(), [[0.30, 0.30]] * 6)


def test_rsa_without_rows_names_the_kinds(tmp_path):
    df = pd.DataFrame([dict(model="m", benchmark="b", kind="encoding", layer="l", raw=0.1)])
    with pytest.raises(DataError, match="no rows of kind 'rsa'.*encoding"):
        rsa_bars(df, tmp_path)


def test_id_vs_ood(results, tmp_path):
    paths = id_vs_ood(results, tmp_path)
    _check_files(paths)
    t = pd.read_csv(paths["csv"])
    assert len(t) == 6
    a = t[t["model"] == "netA"]
    np.testing.assert_allclose(a["id_score"], [0.30, 0.40, 0.50])
    np.testing.assert_allclose(a["ood_score"], [0.30, 0.32, 0.34])
    np.testing.assert_allclose(a["gap"], [0.0, 0.08, 0.16])  # computed where the table left it empty
    np.testing.assert_allclose(a["ratio"], [1.0, 0.8, 0.68])


def test_scaling_law_figure(tmp_path):
    """Points averaged over draws, the fit as measured (negatives kept), the band from the
    saved neuron × image bootstrap refits beside the table; no refits: no band."""
    rng = np.random.default_rng(3)
    t = np.repeat(np.logspace(0, 3.5, 12), 2)
    y = sigmoid_log10(t, 0.7, 3.0, 30.0) + rng.normal(0, 0.01, t.size)
    y[:2] -= 0.02  # the first point below 0
    points = pd.DataFrame({"dataset": "toy", "recording_time_s": t, "feve": y, "n_images": np.repeat(np.arange(12), 2),
                           "n_repeats": 2, "draw": np.tile([0, 1], 12)})
    boot = pd.DataFrame({"dataset": "toy", "ymax": rng.normal(0.7, 0.02, 200), "k": rng.normal(3.0, 0.2, 200),
                         "t50": 30.0 * 10 ** rng.normal(0, 0.05, 200)})
    points.to_csv(tmp_path / "toy.csv", index=False)
    boot.to_csv(tmp_path / "toy_boot.csv", index=False)
    paths = scaling_law(tmp_path / "toy.csv", tmp_path / "fig")
    _check_files(paths, "fit", "curve")
    pts = pd.read_csv(paths["csv"])
    assert len(pts) == 12 and (pts["n_draws"] == 2).all()
    np.testing.assert_allclose(pts["feve"], y.reshape(12, 2).mean(1))
    assert (pts["feve"] < 0).any()  # fitted as measured, not floored
    np.testing.assert_allclose(pts["fitted"], sigmoid_log10(pts["recording_time_s"], 0.7, 3.0, 30.0), atol=0.02)
    fit = pd.read_csv(paths["fit"]).set_index("parameter")
    assert fit.index.tolist() == ["ymax", "k", "t50"] and (fit["bootstrap"].str.startswith("neurons x test images")).all()
    assert abs(fit.loc["ymax", "estimate"] - 0.7) < 0.03 and fit.loc["ymax", "ci_high"] - fit.loc["ymax", "ci_low"] < 0.15
    assert (fit["ci_low"] <= fit["estimate"]).all() and (fit["estimate"] <= fit["ci_high"]).all()
    curve = pd.read_csv(paths["curve"])
    assert (curve["band_low"] <= curve["fitted"] + 1e-3).all() and (curve["fitted"] <= curve["band_high"] + 1e-3).all()
    bare = pd.read_csv(scaling_law(points, tmp_path / "bare")["fit"])
    assert (bare["bootstrap"] == "none").all() and bare["ci_low"].isna().all()
    with pytest.raises(DataError, match="feve"):
        scaling_law(points.drop(columns="feve"), tmp_path)


def test_finetune_figure(tmp_path):
    rows = []
    for cond, pred, fid, drop in (("neural", 0.5, 0.80, 0.1), ("task_only", 0.3, 0.82, 0.3), ("shuffled", 0.28, 0.79, 0.3)):
        for seed, jitter in ((0, -0.01), (1, 0.01)):
            for noise in (0.0, 0.1, 0.2):
                rows.append(dict(condition=cond, seed=seed, noise_level=noise, heldout_predictivity=pred + jitter,
                                 task_fidelity=fid, robustness=fid - drop * noise / 0.1 + jitter))
    paths = finetune_tradeoff(pd.DataFrame(rows), tmp_path)
    _check_files(paths)
    t = pd.read_csv(paths["csv"])
    assert t["condition"].unique().tolist() == ["neural", "task_only", "shuffled"]
    n = t[t["condition"] == "neural"]
    np.testing.assert_allclose(n["noise_level"], [0.0, 0.1, 0.2])
    np.testing.assert_allclose(n["robustness"], [0.80, 0.70, 0.60])
    np.testing.assert_allclose(n["robustness_sd"], np.sqrt(2) * 0.01)
    np.testing.assert_allclose(n["heldout_predictivity"], 0.5)
    np.testing.assert_allclose(n["mean_robustness"], 0.65)  # mean over noise levels > 0
    np.testing.assert_allclose(t[t["condition"] == "task_only"]["mean_robustness"], 0.82 - 0.45)
    assert (t["n_seeds"] == 2).all()


def test_make_all_figures_from_a_results_folder(results, tmp_path):
    folder = results.parent
    rng = np.random.default_rng(0)
    tt = np.logspace(0, 3, 10)
    pd.DataFrame({"dataset": "toy", "recording_time_s": tt,
                  "feve": sigmoid_log10(tt, 0.8, 2.0, 20.0) + rng.normal(0, 0.01, 10)}).to_csv(folder / "scaling.csv",
                                                                                              index=False)
    made = make_all_figures(folder, tmp_path / "figs", n_boot=50)
    assert {"encoding_layers", "rsa_bars", "id_vs_ood", "scaling_law"} <= set(made)
    assert "finetune" not in made
    for model in ("netA", "netB"):
        per = made[f"{model}/encoding_layers"]
        assert per["png"].parent == tmp_path / "figs" / "models" / model
        assert set(pd.read_csv(per["csv"])["model"]) == {model}
    # the folder's scaling.csv is not mistaken for results
    assert len(load_results(folder)) == len(pd.read_csv(results))


def test_results_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"model": ["m"], "raw": [0.1]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="bad.csv.*benchmark"):
        load_results(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_results(tmp_path / "nope.csv")
