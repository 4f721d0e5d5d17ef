"""Figure 4: the scaling law of sensory digital twins (arXiv 2411.18526, Fig. 6), in two figures.

* :func:`scaling_law`: predictivity (fraction of explainable variance) against recording
  time at the run's declared allocation (more images at a fixed repeat count), one panel
  per dataset, with its sigmoid fit and the band of the bootstrap that ``neuroalign
  scaling`` saved beside its table (``<table>_boot.csv``).
* :func:`scaling_allocation`: "how to spend a recording hour" — at equal recording time,
  FEVE per (images × repeats) allocation with its interval, the best one named
  (``<table>_allocation.csv``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from ..errors import DataError
from ..scaling import FIT_FLOOR, PARAMS, fit_sigmoid, fit_with_boot, sigmoid_log10
from ._common import journal_figure, legend_below, new_figure, read_table, save_figure, styled

log = logging.getLogger(__name__)
SCALING_COLUMNS = ("dataset", "recording_time_s", "feve")
BOOT_COLUMNS = ("dataset",) + PARAMS


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def load_points(points) -> pd.DataFrame:
    """Scaling tables (what :func:`neuroalign.scaling.run_scaling` returns, or their CSVs): one or a list."""
    return pd.concat([read_table(p, SCALING_COLUMNS, "scaling table", "at least (see neuroalign.scaling.run_scaling)")
                      for p in _as_list(points)], ignore_index=True)


def _boot_beside(points, suffix: str = "_boot.csv") -> list:
    found = []
    for p in _as_list(points):
        if isinstance(p, (str, Path)):
            side = Path(p).with_name(Path(p).stem + suffix)
            if side.is_file():
                found.append(side)
    return found


def _title(dataset, sub: pd.DataFrame) -> str:
    """The benchmark id (else the run's dataset label) and the model and layer the points were
    computed with, as ``neuroalign.scaling.write_scaling`` records them."""
    first = lambda c: str(sub[c].dropna().iloc[0]) if c in sub.columns and sub[c].notna().any() else None  # noqa: E731
    who = [w for w in (first("model"), first("layer")) if w]
    data = first("benchmark") or str(dataset)
    return f"{data} · {' '.join(who)}" if who else data


def _draw_points(ax, pts: pd.DataFrame) -> None:
    """The points, one colour per repeat count (a discrete legend); those below the fit's floor hollow."""
    below = pts["y"] < FIT_FLOOR
    reps = sorted(pts["n_repeats"].unique()) if "n_repeats" in pts.columns else [None]
    cmap = mpl.colormaps["viridis"].resampled(max(len(reps), 2))
    for i, r in enumerate(reps):  # a discrete legend, one colour per repeat count
        at = (pts["n_repeats"] == r) if r is not None else pd.Series(True, index=pts.index)
        label = "points" if r is None else f"{r:g} repeat{'s' if r != 1 else ''} per image"
        ax.scatter(pts.loc[at & ~below, "recording_time_s"], pts.loc[at & ~below, "y"], color=cmap(i), s=12,
                   zorder=3, label=label)
        if (at & below).any():
            ax.scatter(pts.loc[at & below, "recording_time_s"], pts.loc[at & below, "y"], facecolor="none",
                       edgecolor=cmap(i), s=12, zorder=3, label="hollow: FEVE < 0 (not fitted)")


@styled
def scaling_law(points, out_dir, *, boot=None, y: str = "feve", ci: float = 0.95, name: str = "scaling_law",
                n_boot: int | None = None, seed: int = 0):
    """One panel per ``dataset``: the declared allocation's points (mean over draws), fitted
    sigmoid and its band.

    The fit uses the points with mean FEVE ≥ 0 (``neuroalign.scaling.FIT_FLOOR``; the
    sigmoid's range), the others are drawn hollow and counted (``n_below_floor``).
    ``boot``: bootstrap refits (``dataset, ymax, k, t50``; DataFrame or CSV, one or a
    list); by default the ``<stem>_boot.csv`` files beside CSV ``points``. A dataset
    without refits is drawn with its fit and no band (``bootstrap`` = ``none`` in the
    fit table): resampling the points themselves would give intervals that are too
    narrow. ``n_boot``/``seed`` are accepted for the caller's signature and unused.
    Writes ``name.csv`` (per point: mean FEVE over draws and the fitted value),
    ``name_fit.csv`` (per dataset and parameter: ``estimate, ci_low, ci_high``) and
    ``name_curve.csv`` (``dataset, recording_time_s, fitted, band_low, band_high``).
    """
    df = load_points(points)
    if "result" in df.columns:  # the curve is the declared allocation; the others are scaling_allocation's
        df = df[df["result"] == "curve"]
    if y not in df.columns:
        raise DataError(f"scaling_law: no column {y!r} in the scaling table (columns: {list(df.columns)}).")
    boot = _boot_beside(points) if boot is None else _as_list(boot)
    boots = (pd.concat([read_table(b, BOOT_COLUMNS, "scaling bootstrap table", "(neuroalign scaling writes it)")
                        for b in boot], ignore_index=True) if boot else pd.DataFrame(columns=list(BOOT_COLUMNS)))
    datasets = list(pd.unique(df["dataset"]))
    fig, axes = journal_figure(len(datasets), height_mm=70)
    tables, fits, curves, handles = [], [], [], {}
    alpha = (1 - ci) / 2
    keys = [c for c in ("n_images", "n_repeats") if c in df.columns] or ["recording_time_s"]
    for ax, ds in zip(axes, datasets):
        sub = df[df["dataset"] == ds]
        pts = sub.groupby(keys, as_index=False).agg(recording_time_s=("recording_time_s", "mean"), y=(y, "mean"),
                                                    n_draws=(y, "size"))
        pts.insert(0, "dataset", ds)
        b = boots.loc[boots["dataset"] == ds, list(PARAMS)].to_numpy(dtype=np.float64)
        fit = (fit_with_boot(pts["recording_time_s"], pts["y"], b, ci=ci) if len(b)
               else fit_sigmoid(pts["recording_time_s"], pts["y"]))
        if not len(b):
            log.warning("scaling_law: no bootstrap refits for %s; drawn without intervals", ds)
        pts["fitted"] = fit.predict(pts["recording_time_s"])
        tables.append(pts.rename(columns={"y": y}))
        fits.append(fit.table().assign(dataset=ds))
        t = np.logspace(np.log10(pts["recording_time_s"].min()) - 0.3, np.log10(pts["recording_time_s"].max()) + 0.3, 120)
        if len(fit.boot):
            bc = np.stack([sigmoid_log10(t, *row) for row in fit.boot])
            band_lo, band_hi = np.quantile(bc, alpha, axis=0), np.quantile(bc, 1 - alpha, axis=0)
            ax.fill_between(t, band_lo, band_hi, color="C0", alpha=0.2, lw=0,
                            label=f"{ci:.0%} band (neurons × test images × draws)")
        else:
            band_lo = band_hi = np.full_like(t, np.nan)
        curves.append(pd.DataFrame({"dataset": ds, "recording_time_s": t, "fitted": fit.predict(t),
                                    "band_low": band_lo, "band_high": band_hi}))
        _draw_points(ax, pts)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.plot(t, fit.predict(t), color="C0", lw=2, label="sigmoid fit")
        ax.set_xscale("log")
        reps = sorted(pd.unique(sub["n_repeats"])) if "n_repeats" in sub.columns else []
        ax.set_xlabel("recording time (s) = images × repeats × (stim. + ISI)"
                      + (f"\nmore images at {reps[0]} repeats each" if len(reps) == 1 else ""))
        ax.set_ylabel("FEVE (fraction of explainable var.)")
        txt = (f"ymax = {fit.ymax:.2f} [{fit.ci_low['ymax']:.2f}, {fit.ci_high['ymax']:.2f}]\n"
               f"k = {fit.k:.2f} [{fit.ci_low['k']:.2f}, {fit.ci_high['k']:.2f}]\n"
               f"t50 = {fit.t50:.3g} s [{fit.ci_low['t50']:.3g}, {fit.ci_high['t50']:.3g}]")
        ax.text(0.98, 0.04, txt, transform=ax.transAxes, ha="right", va="bottom", fontsize=6)
        ax.set_title(_title(ds, sub))
        handles.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels())})
    legend_below(fig, handles, ncols=4)
    fit_table = pd.concat(fits, ignore_index=True)[["dataset", "parameter", "estimate", "ci_low", "ci_high",
                                                    "ci_level", "n_points", "n_boot_ok", "bootstrap"]]
    return save_figure(fig, pd.concat(tables, ignore_index=True), out_dir, name,
                       extra={"fit": fit_table, "curve": pd.concat(curves, ignore_index=True)})


ALLOCATION_COLUMNS = ("dataset", "n_images", "n_repeats", "recording_time_s", "feve", "ci_low", "ci_high")


def scaling_allocation(points, out_dir, *, allocation=None, name: str = "scaling_allocation"):
    """"How to spend a recording hour": one panel per dataset, FEVE (with its interval) of
    each allocation of one recording time to images × repeats; the best is named.
    ``allocation``: the tables (DataFrame or CSV, one or a list); by default the
    ``<stem>_allocation.csv`` files beside CSV ``points``. Returns None when there are none."""
    found = _boot_beside(points, "_allocation.csv") if allocation is None else _as_list(allocation)
    if not found:
        return None
    df = pd.concat([read_table(a, ALLOCATION_COLUMNS, "scaling allocation table", "(neuroalign scaling writes it)")
                    for a in found], ignore_index=True)
    datasets = list(pd.unique(df["dataset"]))
    fig, axes = new_figure(len(datasets), width=4.4, height=3.6)
    for ax, ds in zip(axes, datasets):
        sub = df[df["dataset"] == ds].sort_values("n_repeats").reset_index(drop=True)
        x = np.arange(len(sub))
        best = int(sub["feve"].idxmax())
        colors = ["C1" if i == best else "C0" for i in x]
        ax.bar(x, sub["feve"], color=colors, alpha=0.8)
        ax.errorbar(x, sub["feve"], yerr=[sub["feve"] - sub["ci_low"], sub["ci_high"] - sub["feve"]], fmt="none",
                    ecolor="k", capsize=3, lw=1)
        ax.set_xticks(x, [f"{int(i)} × {int(r)}" for i, r in zip(sub["n_images"], sub["n_repeats"])], fontsize=8)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel("images × repeats per image")
        ax.set_ylabel("fraction of explainable variance explained")
        b = sub.iloc[best]
        ax.set_title(f"{_title(ds, sub)}: {float(sub['recording_time_s'].mean()):.0f} s of recording\nbest {int(b['n_images'])} × "
                     f"{int(b['n_repeats'])}: {b['feve']:.2f} [{b['ci_low']:.2f}, {b['ci_high']:.2f}]", fontsize=9)
    return save_figure(fig, df, out_dir, name)
