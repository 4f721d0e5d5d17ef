"""Issue 28 §2: every figure at journal size (85 mm one column, 180 mm full width, 300 dpi,
fonts ≥ 6 pt), its legend inside the figure and off every plotted band and point; and
what each figure shows (relative depth, one scale, distinct layers, discrete repeats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from neuroalign.figures import encoding_layers, finetune_tradeoff, id_vs_ood, make_all_figures, rsa_bars, scaling_law
from neuroalign.figures._common import DPI, FULL_MM, SINGLE_MM
from neuroalign.scaling import sigmoid_log10

MM = 1 / 25.4


@pytest.fixture
def drawn(monkeypatch):
    """Every Figure saved, captured as it is written."""
    figs = []
    real = Figure.savefig

    def keep(self, *a, **k):
        if self not in figs:
            figs.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figs


def _table(tmp_path):
    rows = []
    for m, layers in (("shallow", ("c1", "c2", "c3")), ("deep", tuple(f"b{i}" for i in range(9)))):
        for i, layer in enumerate(layers):
            raw = 0.2 + 0.3 * i / (len(layers) - 1)
            rows.append(dict(model=m, benchmark="synthetic.encoding", kind="encoding", region="synthetic", layer=layer,
                             selected=str(i == 1), raw=raw, ceiling=0.81, ceiling_low=0.7, ceiling_high=0.9,
                             normalized=raw / 0.9, ci_low=raw - 0.02, ci_high=raw + 0.02))
            for bench in ("k92.human_it", "k92.monkey_it"):
                r = 0.05 + 0.01 * min(i, 6)  # the deep model's last layers repeat one result (e.g. features.12, avgpool)
                rows.append(dict(model=m, benchmark=bench, kind="rsa", region="IT", layer=layer, selected="False",
                                 raw=r, ceiling=0.3, ceiling_low=0.12, ceiling_high=0.3, ci_low=r - 0.03, ci_high=r + 0.03))
            rows.append(dict(model=m, benchmark="cowley.ood", kind="ood", region="V4", layer=layer, selected="False",
                             raw=raw, id_score=raw, ood_score=raw - 0.1, id_normalized=raw / 0.8 if m == "deep" else None,
                             ood_normalized=(raw - 0.1) / 0.8 if m == "deep" else None, id_ci_low=raw - 0.03,
                             id_ci_high=raw + 0.03, ci_low=raw - 0.13, ci_high=raw - 0.07))
    path = tmp_path / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = np.repeat(np.logspace(0, 3, 6), 3)
    pd.DataFrame({"dataset": "toy", "model": "deep", "layer": "b4", "recording_time_s": t,
                  "n_images": np.repeat(np.arange(6), 3), "n_repeats": np.tile([1, 2, 4], 6),
                  "feve": sigmoid_log10(t, 0.7, 2.0, 30.0)}).to_csv(tmp_path / "scaling.csv", index=False)
    return path


def _bands_and_points(fig):
    """Window extents of every shaded band, fill and marker collection drawn in the panels."""
    out = []
    for ax in fig.axes:
        out += [p.get_window_extent() for p in ax.patches if p.get_alpha() is None or p.get_alpha() > 0]
        out += [c.get_window_extent() for c in ax.collections if len(c.get_paths()) or isinstance(c, PolyCollection)]
    return [b for b in out if b.width > 0 and b.height > 0]


def test_every_figure_at_journal_size_with_free_legends(tmp_path, drawn):
    made = make_all_figures(tmp_path if _table(tmp_path) else None, tmp_path / "figs", n_boot=20)
    made["finetune"] = finetune_tradeoff(pd.DataFrame([dict(condition=c, seed=0, noise_level=n, heldout_predictivity=p,
                                                            task_fidelity=0.8, robustness=0.8 - n)
                                                       for c, p in (("neural", 0.5), ("shuffled", 0.3))
                                                       for n in (0.0, 0.1)]), tmp_path / "figs")
    assert {"encoding_layers", "rsa_bars", "id_vs_ood", "scaling_law", "finetune"} <= set(made)
    assert len(drawn) == len(made)
    for fig in drawn:
        w, h = fig.get_size_inches()
        assert w in (pytest.approx(SINGLE_MM * MM), pytest.approx(FULL_MM * MM)) and h < 240 * MM
        fig.canvas.draw()
        frame = fig.bbox
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
        assert min(sizes) >= 6, min(sizes)  # readable in print at this size
        legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends
        for leg in legends:
            box = leg.get_window_extent()
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0, "legend cut off"
            assert not any(box.overlaps(b) for b in _bands_and_points(fig)), "legend over a band or points"
    for paths in made.values():
        im = Image.open(paths["png"])
        assert im.info["dpi"][0] == pytest.approx(DPI, rel=1e-3)
        assert SINGLE_MM * MM * DPI - 2 <= im.size[0] <= FULL_MM * MM * DPI + 2


def test_what_each_figure_shows(tmp_path, drawn):
    results = _table(tmp_path)
    t = pd.read_csv(encoding_layers(results, tmp_path)["csv"])
    for m, n in (("shallow", 3), ("deep", 9)):  # relative depth 0..1 whatever the number of layers
        np.testing.assert_allclose(t[t["model"] == m]["depth"], np.linspace(0, 1, n))
    labels = [x.get_text() for x in drawn[-1].legends[0].get_texts()]
    assert "chosen layer (ring)" in labels and "95% interval (outer folds)" in labels
    assert "relative depth" in drawn[-1].axes[0].get_xlabel()
    one = encoding_layers(results, tmp_path / "one", models=["deep"])
    assert [x.get_text() for x in drawn[-1].axes[0].get_xticklabels()] == [f"b{i}" for i in range(9)]
    assert one["png"].is_file()

    rsa_bars(results, tmp_path)
    ax = drawn[-1].axes[0]
    ticks = [x.get_text() for x in ax.get_xticklabels()]
    assert "b6 = b7 = b8" in ticks and len(ticks) == 3 + 7  # identical layers drawn once
    assert "Spearman" in ax.get_ylabel()
    legend = [x.get_text() for x in drawn[-1].legends[0].get_texts()]
    assert len(legend) == len(set(legend)) and any("bootstrap" in x for x in legend)

    o = pd.read_csv(id_vs_ood(results, tmp_path)["csv"])
    assert set(o["scale"]) == {"raw"}  # one model lacks normalised scores: every dot on raw r
    np.testing.assert_allclose(o["gap"], 0.1)
    np.testing.assert_allclose(o["id_ci_high"] - o["id_ci_low"], 0.06)  # intervals drawn, on the raw scale here
    np.testing.assert_allclose(o["ood_score"] - o["ood_ci_low"], 0.03)
    assert any("interval" in x.get_text() for x in drawn[-1].legends[0].get_texts())
    assert "raw" in drawn[-1].axes[0].get_xlabel()
    assert any("a dot per layer" in x.get_text() for x in drawn[-1].legends[0].get_texts())

    scaling_law(tmp_path / "scaling.csv", tmp_path / "s")
    fig = drawn[-1]
    assert len(fig.axes) == 1  # no colourbar: a discrete legend of repeat counts
    texts = [x.get_text() for x in fig.legends[0].get_texts()]
    assert {"1 repeat per image", "2 repeats per image", "4 repeats per image"} <= set(texts)
    assert fig.axes[0].get_title() == "toy · deep b4"


def test_model_comparison_figure(tmp_path, drawn):
    """Issue 26 §4: scores with intervals and tier letters per benchmark, at journal size."""
    from fake_scores import fake_score, unit_noise, write_scores

    rows, scores = [], []
    for seed, (bench, kind, region, values) in enumerate((
            ("cowley.encoding", "encoding", "V4", {"a": (0.9, 0.04), "b": (0.95, 0.0), "c": (0.8, 0.02)}),
            ("k92.rsa", "rsa", "IT", {"a": (0.5, 0.03), "b": (0.5, 0.05), "c": (0.3, 0.01)}))):
        for m, (point, s) in values.items():
            rows.append(dict(model=m, benchmark=bench, kind=kind, region=region, scope="reported", layer="l",
                             selected=True, raw=0.8 * point, ceiling=0.64, normalized=point, benchmark_version=1,
                             benchmark_hash="0123abcd0123abcd"))
            scores.append(fake_score(m, bench, point, s, kind=kind, region=region, z=unit_noise(seed)))
    write_scores(tmp_path / "scores", scores)
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    made = make_all_figures(tmp_path / "results.csv", tmp_path / "figs", scores=tmp_path / "scores", per_model=False)
    t = pd.read_csv(made["model_compare"]["csv"])
    enc = t[t["panel"] == "cowley.encoding"]
    assert enc["model"].tolist() == ["b", "a", "c"] and enc["tier"].tolist() == ["a", "a", "b"]
    np.testing.assert_allclose(enc["ci_high"] - enc["score"], [0.0, 1.959964 * 0.04, 1.959964 * 0.02], atol=1e-5)
    assert set(t["panel"]) == {"cowley.encoding", "k92.rsa", "aggregate"}
    fig = drawn[-1]
    w, h = fig.get_size_inches()
    assert w == pytest.approx(FULL_MM * MM) and h < 240 * MM
    fig.canvas.draw()
    assert min(t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()) >= 6
    ax = fig.axes[0]
    assert ax.get_title() == "cowley.encoding\nv1 · reliability 0.89"  # 1 − mean(.0016, 0, .0004) / Var(.9, .95, .8)
    letters = [lab.get_text() for lab in ax.child_axes[0].get_yticklabels()]
    assert letters == ["a", "a", "b"]  # the first panel's tier column, best (top) first
    box = fig.legends[0].get_window_extent()
    assert not any(box.overlaps(b) for b in _bands_and_points(fig))
    im = Image.open(made["model_compare"]["png"])
    assert im.info["dpi"][0] == pytest.approx(DPI, rel=1e-3) and im.size[0] == pytest.approx(FULL_MM * MM * DPI, abs=2)
