"""Figure 3: in-distribution against out-of-distribution predictivity.

In the style of Ren & Bashivan (2024): one point per model and layer; points under the
identity line lose predictivity out of distribution, and the distance says how much.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import filter_models, journal_figure, legend_below, load_results, model_colours, save_figure, styled
from ..errors import DataError


@styled
def id_vs_ood(results, out_dir, *, models=None, benchmarks=None, name: str = "id_vs_ood"):
    """One panel per benchmark: OOD against ID predictivity, identity line drawn.

    A dot is one layer of one model. Uses every row with both scores filled (whatever its
    ``kind``), all on one scale: the ceiling-normalised ``id_normalized``/``ood_normalized``
    when every row has them (the scale ``gap`` and ``ratio`` are on), else the raw
    ``id_score``/``ood_score`` for every row. Per-layer intervals are not in the results
    table (only the reported row's ``gap_ci_*``), so none are drawn. ``gap`` and ``ratio`` are
    taken from the table, or computed as ``id − ood`` and ``ood / id`` where empty.
    CSV columns: ``benchmark, model, layer, id_score, ood_score, gap, ratio, scale``.
    """
    df = load_results(results)
    df = filter_models(df[df["id_score"].notna() & df["ood_score"].notna()], models, benchmarks)
    if df.empty:
        raise DataError("id_vs_ood: no results row has both id_score and ood_score; run an OOD benchmark first.")
    normed = df["id_normalized"].notna() & df["ood_normalized"].notna()
    stale = normed & (not normed.all())  # rows whose table gap/ratio are on the normalised scale not drawn
    normed[:] = bool(normed.all())  # one scale per figure: normalised only when every row has it
    df = df.assign(gap=df["gap"].mask(stale), ratio=df["ratio"].mask(stale))
    df = df.assign(id_score=df["id_normalized"].where(normed, df["id_score"]),
                   ood_score=df["ood_normalized"].where(normed, df["ood_score"]),
                   scale=np.where(normed, "normalised", "raw"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table = df.assign(gap=df["gap"].fillna(df["id_score"] - df["ood_score"]),
                          ratio=df["ratio"].fillna(df["ood_score"] / df["id_score"]))
    table = table[["benchmark", "model", "layer", "id_score", "ood_score", "gap", "ratio", "scale"]].reset_index(drop=True)
    benches = list(pd.unique(table["benchmark"]))
    colours = model_colours(table["model"])
    fig, axes = journal_figure(len(benches), height_mm=80)
    scale = "ceiling-normalised r" if (table["scale"] == "normalised").all() else "raw Pearson r"
    handles: dict = {}
    for ax, bench in zip(axes, benches):
        sub = table[table["benchmark"] == bench]
        vals = np.concatenate([sub["id_score"], sub["ood_score"]])
        lo, hi = min(0.0, vals.min()), vals.max()
        pad = 0.05 * (hi - lo or 1.0)
        handles["identity (no OOD loss)"] = ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad],
                                                                    color="0.5", ls="--", lw=0.8)[0]
        for model, m in sub.groupby("model", sort=True):
            handles[f"{model} (a dot per layer)"] = ax.scatter(m["id_score"], m["ood_score"], color=colours[model],
                                                               s=14, zorder=3)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(f"in-distribution ({scale})")
        ax.set_ylabel(f"out-of-distribution ({scale})")
        ax.set_title(bench)
    legend_below(fig, handles, ncols=2)
    return save_figure(fig, table, out_dir, name)
