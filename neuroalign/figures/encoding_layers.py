"""Figure 1: layer-by-layer encoding predictivity per model, under the noise ceiling.

Why: which depth of a network best predicts a brain area is the first thing a reader
asks; the ceiling band says how much of the gap is noise rather than model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from ._common import (ci_yerr, filter_models, journal_figure, layer_order, legend_below, load_results, model_colours,
                      rows_of_kind, save_figure, sort_rows, styled)


@styled
def encoding_layers(results, out_dir, *, models=None, benchmarks=None, name: str = "encoding_layers"):
    """One panel per benchmark: raw predictivity (Pearson r) against relative depth, a line per model.

    The x-axis is each layer's relative depth in its model (``layer_index / (n_layers − 1)``:
    0 the first scored layer, 1 the last), so models of different lengths line up; a panel
    with one model (the per-model figures) names its layers at their depths.

    The noise ceiling is drawn in the same units as ``raw``: the table's ``ceiling`` is a
    reliability, so the highest reachable r is ``sqrt(ceiling)`` (dashed line), and
    ``sqrt(ceiling_low)``–``sqrt(ceiling_high)`` is shaded where those columns are
    filled. Error bars are ``ci_low``/``ci_high``; a ring marks the selected layer.
    CSV columns: ``benchmark, model, layer, layer_index, depth, raw, ci_low, ci_high,
    normalized, selected, ceiling, ceiling_r, ceiling_r_low, ceiling_r_high``.
    """
    df = filter_models(rows_of_kind(load_results(results), "encoding", "encoding_layers"), models, benchmarks)
    df = df.assign(layer_index=layer_order(df))
    n_layers = df.groupby("model")["layer_index"].transform("max")
    df = df.assign(depth=df["layer_index"] / n_layers.where(n_layers > 0, 1))
    benches = list(pd.unique(df["benchmark"]))
    ceil = df.groupby("benchmark")[["ceiling", "ceiling_low", "ceiling_high"]].median()
    table = df.assign(
        ceiling=df["benchmark"].map(ceil["ceiling"]),
        ceiling_r=np.sqrt(df["benchmark"].map(ceil["ceiling"])),
        ceiling_r_low=np.sqrt(df["benchmark"].map(ceil["ceiling_low"])),
        ceiling_r_high=np.sqrt(df["benchmark"].map(ceil["ceiling_high"])),
    )[["benchmark", "model", "layer", "layer_index", "depth", "raw", "ci_low", "ci_high", "normalized", "selected",
       "ceiling", "ceiling_r", "ceiling_r_low", "ceiling_r_high"]]
    table = sort_rows(table)

    colours = model_colours(table["model"])
    fig, axes = journal_figure(len(benches))
    handles: dict = {}
    for ax, bench in zip(axes, benches):
        sub = table[table["benchmark"] == bench]
        c = sub["ceiling_r"].iloc[0]
        lo, hi = sub["ceiling_r_low"].iloc[0], sub["ceiling_r_high"].iloc[0]
        if np.isfinite(lo) and np.isfinite(hi):
            handles["noise ceiling range (√reliability)"] = ax.axhspan(lo, hi, color="0.85", zorder=0)
        if np.isfinite(c):
            line = ax.axhline(c, color="0.4", ls="--", lw=0.8, zorder=1)
            handles.setdefault("noise ceiling (√reliability)", line)
        for model, m in sub.groupby("model", sort=True):
            m = m.sort_values("layer_index")
            col = colours[model]
            handles[model] = ax.errorbar(m["depth"], m["raw"], yerr=ci_yerr(m), color=col, marker="o", lw=1.2,
                                         capsize=1.5, elinewidth=0.7)
            sel = m[m["selected"]]
            ax.scatter(sel["depth"], sel["raw"], s=70, facecolors="none", edgecolors=col, lw=1.2, zorder=5)
            if len(sel):
                handles.setdefault("chosen layer (ring)",
                                   Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec="0.2", mew=1.2))
        if sub["model"].nunique() == 1:  # a model's own panel: its layer names at their depths
            ax.set_xticks(sub["depth"], sub["layer"], rotation=45, ha="right", fontsize=6)
            ax.set_xlabel("layer (at its relative depth)")
        else:
            ax.set_xlabel("relative depth (0 first, 1 last scored layer)")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylabel("held-out r (median, neuroids)")
        ax.set_title(bench)
        ax.set_ylim(bottom=min(0.0, float(np.nanmin(sub["raw"])) - 0.05))
    models = sorted(table["model"].unique())
    handles = {**{m: handles[m] for m in models}, **{k: v for k, v in handles.items() if k not in models}}
    if table["ci_low"].notna().any():
        handles["95% interval (outer folds)"] = Line2D([], [], ls="none", marker="|", ms=9, color="0.2")
    legend_below(fig, handles)
    return save_figure(fig, table, out_dir, name)
