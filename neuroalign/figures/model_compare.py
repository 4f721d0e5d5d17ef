"""Model comparison: each benchmark's scores with their 95 % intervals and tier letters.

A panel per benchmark whose Scores carry the shared draws (and one for the ranked aggregate
when every benchmark of its set does): a dot per model with its paired-bootstrap interval,
best on top, and its compact-letter tier at the right; models sharing a letter are not
significantly different after FDR (:mod:`neuroalign.leaderboard.decisions`). The numbers are
the leaderboard's (its benchmark pages hold the pairwise matrices).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ._common import journal_figure, legend_below, model_colours, save_figure, styled

SCALE_LABEL = {"normalized": "ceiling-normalised score", "raw": "raw score (no ceiling for every model)"}


def comparison_table(results, scores) -> pd.DataFrame:
    """``panel, version, scale, reliability, model, score, ci_low, ci_high, tier``: one row per
    model with a tier, per benchmark (``panel`` = id) and the aggregate (``panel`` = "aggregate")."""
    from ..leaderboard.table import leaderboard_data

    data = leaderboard_data(results, scores=scores)
    dec = data["decisions"]
    versions = {b["id"]: (f"v{b['version']}" if b.get("version") is not None else "") for b in data["benchmarks"]}
    rows = []
    for panel, d in [*dec["benchmarks"].items(), ("aggregate", dec["aggregate"])]:
        for r in d["models"]:
            if r["tier"] is not None:
                rows.append({"panel": panel, "version": versions.get(panel, ""), "scale": d["scale"],
                             "reliability": d["reliability"], **{k: r[k] for k in
                                                                 ("model", "score", "ci_low", "ci_high", "tier")}})
    return pd.DataFrame(rows, columns=["panel", "version", "scale", "reliability", "model", "score", "ci_low",
                                       "ci_high", "tier"])


@styled
def model_compare(results, out_dir, *, scores, name: str = "model_compare") -> dict:
    """The figure from the results table and the score NetCDFs' folder; its CSV is
    :func:`comparison_table`. Raises DataError when no benchmark has two models with draws."""
    from ..errors import DataError

    table = comparison_table(results, scores)
    panels = list(pd.unique(table["panel"]))
    if not panels:
        raise DataError(f"model_compare: no benchmark in {scores} has two models with paired draws; score at least "
                        "two models on an encoding or RSA benchmark.")
    n_models = table.groupby("panel").size().max()
    fig, axes = journal_figure(len(panels), height_mm=14 + 6 * n_models)
    colours = model_colours(table["model"])
    for ax, panel in zip(axes, panels):
        sub = table[table["panel"] == panel].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        err = np.vstack([sub["score"] - sub["ci_low"], sub["ci_high"] - sub["score"]]).clip(0)
        for i, r in sub.iterrows():
            ax.errorbar(r["score"], y[i], xerr=err[:, [i]], fmt="o", color=colours[r["model"]], ms=3.5, capsize=1.5,
                        lw=0.8)
        ax.set_yticks(y, sub["model"])
        ax.set_ylim(-0.7, len(sub) - 0.3)
        tiers = ax.secondary_yaxis("right")
        tiers.set_yticks(y, sub["tier"])
        tiers.tick_params(length=0)
        rel = sub["reliability"].iloc[0]
        detail = " · ".join(x for x in (str(sub["version"].iloc[0]).strip(),
                                         "" if pd.isna(rel) else f"reliability {rel:.2f}") if x)
        ax.set_title(f"{panel}\n{detail}" if detail else panel, fontsize=7)  # long ids: two lines, never cut
        ax.set_xlabel(SCALE_LABEL.get(sub["scale"].iloc[0], "score"))
        ax.grid(axis="x", lw=0.3, color="0.85")
    handles = {"score with its 95% interval (paired two-factor bootstrap)": Line2D([], [], marker="o", color="0.3",
                                                                                   ms=3.5),
               "right: tier letters (shared letter = not significantly different, BH-FDR)": Line2D([], [], ls="none")}
    legend_below(fig, handles, ncols=1)
    return save_figure(fig, table, out_dir, name)
