"""Figure 3: in-distribution against out-of-distribution predictivity.

In the style of Ren & Bashivan (2024): one point per model and layer; points under the
identity line lose predictivity out of distribution, and the distance says how much.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ._common import filter_models, journal_figure, legend_below, load_results, model_colours, save_figure, styled
from ..errors import DataError


def _yerr(centre, lo, hi):
    return np.vstack([centre - lo, hi - centre]).clip(min=0)


def _draw_intervals(ax, m: pd.DataFrame, colour) -> bool:
    """Horizontal (ID) and vertical (OOD) error bars on the rows that have both intervals."""
    m = m[m[["id_ci_low", "id_ci_high", "ood_ci_low", "ood_ci_high"]].notna().all(axis=1)]
    if m.empty:
        return False
    ax.errorbar(m["id_score"], m["ood_score"], xerr=_yerr(m["id_score"], m["id_ci_low"], m["id_ci_high"]),
                yerr=_yerr(m["ood_score"], m["ood_ci_low"], m["ood_ci_high"]), fmt="none", ecolor=colour, lw=0.6,
                alpha=0.7, zorder=2)
    return True


@styled
def id_vs_ood(results, out_dir, *, models=None, benchmarks=None, name: str = "id_vs_ood"):
    """One panel per benchmark: OOD against ID predictivity, identity line drawn.

    A dot is one layer of one model. Uses every row with both scores filled (whatever its
    ``kind``), all on one scale: the ceiling-normalised ``id_normalized``/``ood_normalized``
    when every row has them (the scale ``gap`` and ``ratio`` are on), else the raw
    ``id_score``/``ood_score`` for every row. Error bars: each layer's 95 % fold interval
    (``id_ci_*`` for ID, ``ci_*`` for OOD, both of raw r), on the normalised scale divided by
    the same √ceiling as the scores (a constant per side: ``id_normalized / id_score``); rows
    without one get none. ``gap`` and ``ratio`` are taken from the table, or computed as
    ``id − ood`` and ``ood / id`` where empty. CSV columns: ``benchmark, model, layer,
    id_score, ood_score, gap, ratio, scale, id_ci_low, id_ci_high, ood_ci_low, ood_ci_high``.
    """
    df = load_results(results)
    df = filter_models(df[df["id_score"].notna() & df["ood_score"].notna()], models, benchmarks)
    if df.empty:
        raise DataError("id_vs_ood: no results row has both id_score and ood_score; run an OOD benchmark first.")
    normed = df["id_normalized"].notna() & df["ood_normalized"].notna()
    stale = normed & (not normed.all())  # rows whose table gap/ratio are on the normalised scale not drawn
    normed[:] = bool(normed.all())  # one scale per figure: normalised only when every row has it
    df = df.assign(gap=df["gap"].mask(stale), ratio=df["ratio"].mask(stale))
    with np.errstate(divide="ignore", invalid="ignore"):  # raw -> plotted scale, per side (1 on the raw scale)
        f_id = (df["id_normalized"] / df["id_score"]).where(normed, 1.0)
        f_ood = (df["ood_normalized"] / df["ood_score"]).where(normed, 1.0)
    df = df.assign(id_score=df["id_normalized"].where(normed, df["id_score"]),
                   ood_score=df["ood_normalized"].where(normed, df["ood_score"]),
                   scale=np.where(normed, "normalised", "raw"),
                   id_ci_low=df["id_ci_low"] * f_id, id_ci_high=df["id_ci_high"] * f_id,
                   ood_ci_low=df["ci_low"] * f_ood, ood_ci_high=df["ci_high"] * f_ood)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = df.assign(gap=df["gap"].fillna(df["id_score"] - df["ood_score"]),
                          ratio=df["ratio"].fillna(df["ood_score"] / df["id_score"]))
    table = table[["benchmark", "model", "layer", "id_score", "ood_score", "gap", "ratio", "scale", "id_ci_low",
                   "id_ci_high", "ood_ci_low", "ood_ci_high"]].reset_index(drop=True)
    benches = list(pd.unique(table["benchmark"]))
    colours = model_colours(table["model"])
    fig, axes = journal_figure(len(benches), height_mm=80)
    scale = "ceiling-normalised r" if (table["scale"] == "normalised").all() else "raw Pearson r"
    handles: dict = {}
    for ax, bench in zip(axes, benches):
        sub = table[table["benchmark"] == bench]
        vals = sub[["id_score", "ood_score", "id_ci_low", "id_ci_high", "ood_ci_low", "ood_ci_high"]].to_numpy(float)
        lo, hi = min(0.0, np.nanmin(vals)), np.nanmax(vals)  # the intervals inside the axes too
        pad = 0.05 * (hi - lo or 1.0)
        handles["identity (no OOD loss)"] = ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad],
                                                                    color="0.5", ls="--", lw=0.8)[0]
        for model, m in sub.groupby("model", sort=True):
            handles[f"{model} (a dot per layer)"] = ax.scatter(m["id_score"], m["ood_score"], color=colours[model],
                                                               s=14, zorder=3)
            if _draw_intervals(ax, m, colours[model]):
                handles["95% interval (folds), ID and OOD"] = Line2D([], [], ls="none", marker="+", ms=8, color="0.2")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(f"in-distribution ({scale})")
        ax.set_ylabel(f"out-of-distribution ({scale})")
        ax.set_title(bench)
    legend_below(fig, handles, ncols=2)
    return save_figure(fig, table, out_dir, name)
