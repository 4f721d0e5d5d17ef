"""Figure 4: the scaling law of sensory digital twins (arXiv 2411.18526, Fig. 6).

Predictivity (fraction of explainable variance) against recording time on a log axis,
one panel per dataset (the synthetic benchmark and Cowley 210325 in the default
workflow), each with its sigmoid fit and the band of the neuron × test-image bootstrap
that ``neuroalign scaling`` saved beside its table (``<table>_boot.csv``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from ..errors import DataError
from ..scaling import PARAMS, fit_sigmoid, fit_with_boot, sigmoid_log10
from ._common import journal_figure, legend_below, read_table, save_figure, styled

log = logging.getLogger(__name__)
SCALING_COLUMNS = ("dataset", "recording_time_s", "feve")
BOOT_COLUMNS = ("dataset",) + PARAMS


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def load_points(points) -> pd.DataFrame:
    """Scaling tables (what :func:`neuroalign.scaling.run_scaling` returns, or their CSVs): one or a list."""
    return pd.concat([read_table(p, SCALING_COLUMNS, "scaling table", "at least (see neuroalign.scaling.run_scaling)")
                      for p in _as_list(points)], ignore_index=True)


def _boot_beside(points) -> list:
    found = []
    for p in _as_list(points):
        if isinstance(p, (str, Path)):
            side = Path(p).with_name(Path(p).stem + "_boot.csv")
            if side.is_file():
                found.append(side)
    return found


def _title(dataset, sub: pd.DataFrame) -> str:
    """The benchmark (dataset) id and the model (and layer) the points were computed with, when recorded."""
    who = [str(sub[c].iloc[0]) for c in ("model", "layer") if c in sub.columns and sub[c].notna().any()]
    return f"{dataset} · {' '.join(who)}" if who else str(dataset)


@styled
def scaling_law(points, out_dir, *, boot=None, y: str = "feve", ci: float = 0.95, name: str = "scaling_law",
                n_boot: int | None = None, seed: int = 0):
    """One panel per ``dataset``: points (mean over draws), fitted sigmoid and its band.

    The fit uses the values as measured (negative FEVE included; ``0 ≤ ymax ≤ 1``).
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
                            label=f"{ci:.0%} band (bootstrap)")
        else:
            band_lo = band_hi = np.full_like(t, np.nan)
        curves.append(pd.DataFrame({"dataset": ds, "recording_time_s": t, "fitted": fit.predict(t),
                                    "band_low": band_lo, "band_high": band_hi}))
        if "n_repeats" in pts.columns:  # a discrete legend: one colour per repeat count
            reps = sorted(pts["n_repeats"].unique())
            cmap = mpl.colormaps["viridis"].resampled(max(len(reps), 2))
            for i, r in enumerate(reps):
                at = pts["n_repeats"] == r
                ax.scatter(pts.loc[at, "recording_time_s"], pts.loc[at, "y"], color=cmap(i), s=12, zorder=3,
                           label=f"{r:g} repeat{'s' if r != 1 else ''} per image")
        else:
            ax.scatter(pts["recording_time_s"], pts["y"], color="k", s=18, zorder=3)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.plot(t, fit.predict(t), color="C0", lw=2, label="sigmoid fit")
        ax.set_xscale("log")
        ax.set_xlabel("recording time (s)")
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
