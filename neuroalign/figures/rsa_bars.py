"""Figure 2: RSA bars, model layers against human and monkey IT on the 92 objects.

In the style of Kriegeskorte et al. (2008) / Khaligh-Razavi & Kriegeskorte (2014): a bar
per model layer with its bootstrap interval, and the grey noise-ceiling band (lower
bound: leave-one-subject-out; upper: each subject against the full mean) that a true
model of the area would reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._common import (ci_yerr, filter_models, journal_figure, layer_order, legend_below, load_results, model_colours,
                      rows_of_kind, save_figure, sort_rows, styled)


@styled
def rsa_bars(results, out_dir, *, models=None, benchmarks=None, name: str = "rsa_bars",
             correlation: str = "Spearman ρ"):
    """One panel per RSA benchmark (e.g. human IT, monkey IT): a bar per model × layer.

    Bars are ``raw`` (the RDM correlation, ``correlation``: the benchmarks' comparison,
    Spearman by default); bars of one model sit together, coloured by model and labelled
    by layer only; identical consecutive layers are one bar (``a = b``); error bars ``ci_low``/``ci_high`` (bootstrap
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
    fig, axes = journal_figure(len(benches), height_mm=70)
    handles: dict = {m: Patch(color=colours[m]) for m in sorted(table["model"].unique())}
    for ax, bench in zip(axes, benches):
        sub = _distinct_layers(table[table["benchmark"] == bench])
        x = np.arange(len(sub)) + sub["model"].map({m: i for i, m in enumerate(pd.unique(sub["model"]))}) * 0.6
        clo, chi = sub["ceiling_low"].iloc[0], sub["ceiling_high"].iloc[0]
        if np.isfinite(clo) and np.isfinite(chi):
            if chi > clo:
                handles["noise ceiling (lower–upper bound)"] = ax.axhspan(clo, chi, color="0.82", zorder=0)
            else:
                handles["noise ceiling"] = ax.axhline(clo, color="0.5", ls="--", zorder=0)
        ax.bar(x, sub["raw"], width=0.8, color=[colours[m] for m in sub["model"]], yerr=ci_yerr(sub), capsize=1.5,
               error_kw={"lw": 0.7}, zorder=2)
        ax.set_xticks(x, sub["label"], rotation=90, fontsize=6 if len(sub) > 20 else 6.5)
        ax.set_ylabel(f"RDM correlation ({correlation})")
        ax.set_title(bench)
        ax.axhline(0, color="k", lw=0.5)
    if table["ci_low"].notna().any():
        handles["95% interval (bootstrap over stimuli)"] = Line2D([], [], ls="none", marker="|", ms=9,
                                                                            color="0.2")
    legend_below(fig, handles, ncols=4)
    return save_figure(fig, table, out_dir, name)


def _distinct_layers(sub: pd.DataFrame) -> pd.DataFrame:
    """One bar per distinct result: consecutive layers of a model with identical numbers (the
    same RDM, e.g. AlexNet's ``features.12`` and ``avgpool``) are drawn once, labelled ``a = b``."""
    sub = sub.reset_index(drop=True)
    key = sub[["model", "raw", "ci_low", "ci_high"]].round(12).astype(str).agg("|".join, axis=1)
    group = (key != key.shift()).cumsum()
    labels = sub.groupby(group)["layer"].agg(" = ".join)
    return sub.groupby(group).first().assign(label=labels.values).reset_index(drop=True)
