"""Figure 5: neural fine-tuning, held-out neural predictivity vs task fidelity vs robustness.

Why: a neural loss is worth having if it makes held-out neurons more predictable without
costing the task, and the interesting claim is that it buys robustness; its controls
(e.g. task-only fine-tuning, shuffled neural targets) say what is due to the neurons.

Input table (long format), one row per condition × noise level [× seed]:

========================  =================================================================
``condition``             the training run: e.g. ``neural``, ``task_only``, ``shuffled``
``noise_level``           the strength of the corruption the robustness is measured at
                          (e.g. Gaussian pixel noise sd); ``0`` is clean
``robustness``            task performance (e.g. top-1 accuracy) on images at ``noise_level``
``heldout_predictivity``  neural predictivity on held-out neurons/images (same for every
                          noise level of a condition × seed)
``task_fidelity``         clean task performance (e.g. top-1 accuracy), same per condition × seed
``seed`` (optional)       replicate runs: values are averaged, their sd reported
========================  =================================================================
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ._common import journal_figure, legend_below, new_figure, read_table, save_figure, styled

FINETUNE_COLUMNS = ("condition", "noise_level", "robustness", "heldout_predictivity", "task_fidelity")


def load_finetune(table) -> pd.DataFrame:
    df = read_table(table, FINETUNE_COLUMNS, "fine-tuning table", "[+ seed] (see neuroalign.figures.finetune)")
    if "seed" not in df.columns:
        df["seed"] = 0
    return df


@styled
def finetune_tradeoff(table, out_dir, *, name: str = "finetune"):
    """Three panels: fidelity vs held-out predictivity; robustness vs noise; mean robustness vs predictivity.

    ``mean_robustness`` is the mean of ``robustness`` over the noise levels above 0 (all
    levels if there are none). CSV columns (one row per condition × noise level):
    ``condition, noise_level, robustness, robustness_sd, heldout_predictivity,
    heldout_predictivity_sd, task_fidelity, task_fidelity_sd, mean_robustness, n_seeds``.
    """
    df = load_finetune(table)
    conds = list(pd.unique(df["condition"]))
    per_run = df.groupby(["condition", "seed"], sort=False).agg(
        heldout_predictivity=("heldout_predictivity", "mean"), task_fidelity=("task_fidelity", "mean"))
    noisy = df[df["noise_level"] > 0] if (df["noise_level"] > 0).any() else df
    per_run["mean_robustness"] = noisy.groupby(["condition", "seed"], sort=False)["robustness"].mean()
    summary = per_run.groupby("condition", sort=False).agg(
        heldout_predictivity=("heldout_predictivity", "mean"), heldout_predictivity_sd=("heldout_predictivity", "std"),
        task_fidelity=("task_fidelity", "mean"), task_fidelity_sd=("task_fidelity", "std"),
        mean_robustness=("mean_robustness", "mean"), mean_robustness_sd=("mean_robustness", "std"),
        n_seeds=("task_fidelity", "size"))
    curve = df.groupby(["condition", "noise_level"], sort=False)["robustness"].agg(["mean", "std"]).rename(
        columns={"mean": "robustness", "std": "robustness_sd"}).reset_index()
    out = curve.merge(summary.reset_index(), on="condition", how="left")
    out = out[["condition", "noise_level", "robustness", "robustness_sd", "heldout_predictivity",
               "heldout_predictivity_sd", "task_fidelity", "task_fidelity_sd", "mean_robustness", "n_seeds"]]
    rank = out["condition"].map({c: i for i, c in enumerate(conds)})
    out = out.iloc[np.lexsort((out["noise_level"], rank))].reset_index(drop=True)

    colours = {c: f"C{i % 10}" for i, c in enumerate(conds)}
    fig, (a1, a2, a3) = journal_figure(3, height_mm=58, max_cols=3)
    for c in conds:
        s = summary.loc[c]
        kw = dict(color=colours[c], fmt="o", capsize=2, ms=4)
        a1.errorbar(s["task_fidelity"], s["heldout_predictivity"], xerr=_sd(s["task_fidelity_sd"]),
                    yerr=_sd(s["heldout_predictivity_sd"]), label=c, **kw)
        a3.errorbar(s["mean_robustness"], s["heldout_predictivity"], xerr=_sd(s["mean_robustness_sd"]),
                    yerr=_sd(s["heldout_predictivity_sd"]), label=c, **kw)
        cc = out[out["condition"] == c]
        a2.errorbar(cc["noise_level"], cc["robustness"], yerr=cc["robustness_sd"].fillna(0), color=colours[c],
                    marker="o", ms=4, capsize=2, label=c)
    a1.set(xlabel="task fidelity (clean performance)", ylabel="held-out neural predictivity")
    a2.set(xlabel="noise level", ylabel="task performance under noise")
    a3.set(xlabel="robustness (mean over noise levels > 0)", ylabel="held-out neural predictivity")
    handles = {f"{c} (mean ± sd over seeds)": a1.containers[i] for i, c in enumerate(conds)}
    legend_below(fig, handles, ncols=len(conds))
    return save_figure(fig, out, out_dir, name)


def _sd(v):
    return None if not np.isfinite(v) else v


PARETO_COLUMNS = ("condition", "lam", "heldout_predictivity", "task_fidelity")


def finetune_pareto(table, out_dir, *, name: str = "finetune_pareto"):
    """The λ sweep: held-out predictivity against task fidelity, one curve per condition
    (each starting at the original model, λ = 0; error bars: sd over seeds), and PGD robust
    accuracy against fidelity when the table has it. Input: ``sweep.csv`` of
    :func:`neuroalign.finetune.sweep.run_sweep` (``condition, lam, heldout_predictivity,
    task_fidelity`` [+ ``*_sd``, ``pgd_robust_accuracy``]); the CSV beside the figure is that table."""
    df = read_table(table, PARETO_COLUMNS, "fine-tuning sweep table", "(see neuroalign.finetune.sweep)")
    origin = df[df["condition"] == "original"]
    conds = [c for c in pd.unique(df["condition"]) if c != "original"]
    panels = [("heldout_predictivity", "held-out neural predictivity (median r)")]
    if "pgd_robust_accuracy" in df.columns:
        panels.append(("pgd_robust_accuracy", "PGD robust accuracy (calibrated ε)"))
    fig, axes = new_figure(len(panels), width=4.4, height=3.8)
    for ax, (col, label) in zip(axes, panels):
        for i, c in enumerate(conds):
            d = pd.concat([origin, df[df["condition"] == c]]).sort_values("lam")
            sd = d[col + "_sd"].fillna(0) if col + "_sd" in d else None
            ax.errorbar(d["task_fidelity"], d[col], yerr=sd, color=f"C{i % 10}", marker="o", ms=4, capsize=2, label=c)
            for _, r in d.iloc[1:].iterrows():
                ax.annotate(f"{r['lam']:g}", (r["task_fidelity"], r[col]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points", color=f"C{i % 10}")
        if len(origin):
            ax.plot(origin["task_fidelity"], origin[col], "k*", ms=10, label="original")
        ax.set(xlabel="task fidelity (agreement with the original)", ylabel=label)
        ax.legend(fontsize=7, frameon=False)
    return save_figure(fig, df, out_dir, name)
