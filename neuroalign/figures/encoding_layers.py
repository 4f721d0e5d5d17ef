"""Figure 1: layer-by-layer encoding predictivity per model, under the noise ceiling.

Why: which depth of a network best predicts a brain area is the first thing a reader
asks; the ceiling band says how much of the gap is noise rather than model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ._common import (ci_yerr, filter_models, layer_order, load_results, model_colours, new_figure, rows_of_kind,
                      save_figure, sort_rows)


def encoding_layers(results, out_dir, *, models=None, benchmarks=None, name: str = "encoding_layers"):
    """One panel per benchmark: raw predictivity (Pearson r) against layer, a line per model.

    The noise ceiling is drawn in the same units as ``raw``: the table's ``ceiling`` is a
    reliability, so the highest reachable r is ``sqrt(ceiling)`` (dashed line), and
    ``sqrt(ceiling_low)``–``sqrt(ceiling_high)`` is shaded where those columns are
    filled. Error bars are ``ci_low``/``ci_high``; a ring marks the selected layer.
    CSV columns: ``benchmark, model, layer, layer_index, raw, ci_low, ci_high,
    normalized, selected, ceiling, ceiling_r, ceiling_r_low, ceiling_r_high``.
    """
    df = filter_models(rows_of_kind(load_results(results), "encoding", "encoding_layers"), models, benchmarks)
    df = df.assign(layer_index=layer_order(df))
    benches = list(pd.unique(df["benchmark"]))
    ceil = df.groupby("benchmark")[["ceiling", "ceiling_low", "ceiling_high"]].median()
    table = df.assign(
        ceiling=df["benchmark"].map(ceil["ceiling"]),
        ceiling_r=np.sqrt(df["benchmark"].map(ceil["ceiling"])),
        ceiling_r_low=np.sqrt(df["benchmark"].map(ceil["ceiling_low"])),
        ceiling_r_high=np.sqrt(df["benchmark"].map(ceil["ceiling_high"])),
    )[["benchmark", "model", "layer", "layer_index", "raw", "ci_low", "ci_high", "normalized", "selected",
       "ceiling", "ceiling_r", "ceiling_r_low", "ceiling_r_high"]]
    table = sort_rows(table)

    colours = model_colours(table["model"])
    fig, axes = new_figure(len(benches), width=max(4.2, 0.35 * table["layer_index"].max() + 3))
    for ax, bench in zip(axes, benches):
        sub = table[table["benchmark"] == bench]
        c = sub["ceiling_r"].iloc[0]
        lo, hi = sub["ceiling_r_low"].iloc[0], sub["ceiling_r_high"].iloc[0]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color="0.85", zorder=0, label="noise ceiling")
        if np.isfinite(c):
            ax.axhline(c, color="0.4", ls="--", lw=1, zorder=1, label=None if np.isfinite(lo) else "noise ceiling")
        ticks: dict[int, str] = {}
        for model, m in sub.groupby("model", sort=True):
            m = m.sort_values("layer_index")
            col = colours[model]
            ax.errorbar(m["layer_index"], m["raw"], yerr=ci_yerr(m), color=col, marker="o", ms=4, lw=1.5,
                        capsize=2, label=model)
            sel = m[m["selected"]]
            ax.scatter(sel["layer_index"], sel["raw"], s=110, facecolors="none", edgecolors=col, lw=1.5, zorder=5)
            for i, lay in zip(m["layer_index"], m["layer"]):
                ticks.setdefault(int(i), lay)
        if sub["model"].nunique() == 1:
            ax.set_xticks(list(ticks), list(ticks.values()), rotation=45, ha="right", fontsize=7)
        else:
            ax.set_xlabel("layer (index in the model)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("predictivity (Pearson r, held-out)")
        ax.set_title(bench, fontsize=10)
        ax.set_ylim(bottom=min(0.0, float(np.nanmin(sub["raw"])) - 0.05))
        ax.legend(fontsize=7, frameon=False)
    return save_figure(fig, table, out_dir, name)
