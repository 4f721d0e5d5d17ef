"""Figure 2: RSA bars, model layers against human and monkey IT on the 92 objects.

In the style of Kriegeskorte et al. (2008) / Khaligh-Razavi & Kriegeskorte (2014): a bar
per model layer with its bootstrap interval, and the grey noise-ceiling band (lower
bound: leave-one-subject-out; upper: each subject against the full mean) that a true
model of the area would reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ._common import (ci_yerr, filter_models, layer_order, load_results, model_colours, new_figure, rows_of_kind,
                      save_figure, sort_rows)


def rsa_bars(results, out_dir, *, models=None, benchmarks=None, name: str = "rsa_bars"):
    """One panel per RSA benchmark (e.g. human IT, monkey IT): a bar per model × layer.

    Bars are ``raw`` (the RDM correlation); error bars ``ci_low``/``ci_high`` (bootstrap
    over stimuli); the band spans ``ceiling_low``–``ceiling_high`` (a line at
    ``ceiling`` when the bounds are empty). CSV columns: ``benchmark, model, layer,
    layer_index, raw, ci_low, ci_high, ceiling_low, ceiling_high, normalized``.
    """
    df = filter_models(rows_of_kind(load_results(results), "rsa", "rsa_bars"), models, benchmarks)
    df = df.assign(layer_index=layer_order(df))
    benches = list(pd.unique(df["benchmark"]))
    # one ceiling per benchmark: bounds if given, else the point ceiling for both
    lo = df["ceiling_low"].fillna(df["ceiling"])
    hi = df["ceiling_high"].fillna(df["ceiling"])
    df = df.assign(ceiling_low=lo.groupby(df["benchmark"]).transform("median"),
                   ceiling_high=hi.groupby(df["benchmark"]).transform("median"))
    table = df[["benchmark", "model", "layer", "layer_index", "raw", "ci_low", "ci_high",
                "ceiling_low", "ceiling_high", "normalized"]]
    table = sort_rows(table)

    colours = model_colours(table["model"])
    n_bars = table.groupby("benchmark").size().max()
    fig, axes = new_figure(len(benches), width=max(4.0, 0.28 * n_bars + 2.0), height=4.2)
    for ax, bench in zip(axes, benches):
        sub = table[table["benchmark"] == bench].reset_index(drop=True)
        x = np.arange(len(sub))
        clo, chi = sub["ceiling_low"].iloc[0], sub["ceiling_high"].iloc[0]
        if np.isfinite(clo) and np.isfinite(chi):
            if chi > clo:
                ax.axhspan(clo, chi, color="0.82", zorder=0, label="noise ceiling")
            else:
                ax.axhline(clo, color="0.5", ls="--", zorder=0, label="noise ceiling")
        ax.bar(x, sub["raw"], color=[colours[m] for m in sub["model"]], yerr=ci_yerr(sub), capsize=2,
               error_kw={"lw": 0.8}, zorder=2)
        labels = sub["layer"] if sub["model"].nunique() == 1 else sub["model"] + ":" + sub["layer"]
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("RDM correlation with the brain")
        ax.set_title(bench, fontsize=10)
        ax.axhline(0, color="k", lw=0.6)
        handles = [Patch(color=colours[m], label=m) for m in sorted(sub["model"].unique())]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7, frameon=False)
    return save_figure(fig, table, out_dir, name)
