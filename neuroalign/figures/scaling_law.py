"""Figure 4: the scaling law of sensory digital twins (arXiv 2411.18526, Fig. 6).

Predictivity (fraction of explainable variance) against recording time on a log axis,
with the sigmoid in log time fitted per dataset and its bootstrap band: how much more
recording a better twin would need.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..errors import DataError
from ..scaling import PARAMS, fit_sigmoid, sigmoid_log10
from ._common import new_figure, read_table, save_figure

SCALING_COLUMNS = ("dataset", "recording_time_s", "feve")


def load_points(points) -> pd.DataFrame:
    """A scaling table (what :func:`neuroalign.scaling.scaling_experiment` returns) or its CSV."""
    return read_table(points, SCALING_COLUMNS, "scaling table", "at least (see neuroalign.scaling.scaling_experiment)")


def scaling_law(points, out_dir, *, y: str = "feve", n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
                floor: float | None = 0.0, name: str = "scaling_law"):
    """One panel per ``dataset``: points, fitted sigmoid and its pointwise bootstrap band.

    The sigmoid's lower asymptote is 0, so values below ``floor`` (a FEVE under 0:
    worse than predicting the mean, common with a handful of training images) enter
    the fit as ``floor``; they are drawn and saved as measured (``y_fit`` holds what
    was fitted). ``floor=None`` fits the raw values.
    Writes ``name.csv`` (the points plus ``y_fit`` and ``fitted``), ``name_fit.csv`` (per dataset and
    parameter: ``estimate, ci_low, ci_high``) and ``name_curve.csv`` (the drawn curve:
    ``dataset, recording_time_s, fitted, band_low, band_high``).
    """
    df = load_points(points)
    if y not in df.columns:
        raise DataError(f"scaling_law: no column {y!r} in the scaling table (columns: {list(df.columns)}).")
    datasets = list(pd.unique(df["dataset"]))
    fig, axes = new_figure(len(datasets), width=4.4, height=3.8)
    tables, fits, curves = [], [], []
    alpha = (1 - ci) / 2
    for ax, ds in zip(axes, datasets):
        sub = df[df["dataset"] == ds].copy()
        sub["y_fit"] = sub[y] if floor is None else sub[y].clip(lower=floor)
        fit = fit_sigmoid(sub["recording_time_s"], sub["y_fit"], n_boot=n_boot, seed=seed, ci=ci)
        sub["fitted"] = fit.predict(sub["recording_time_s"])
        tables.append(sub)
        fits.append(fit.table().assign(dataset=ds))
        t = np.logspace(np.log10(sub["recording_time_s"].min()) - 0.3, np.log10(sub["recording_time_s"].max()) + 0.3, 120)
        if len(fit.boot):
            bc = np.stack([sigmoid_log10(t, *b) for b in fit.boot])
            band_lo, band_hi = np.quantile(bc, alpha, axis=0), np.quantile(bc, 1 - alpha, axis=0)
            ax.fill_between(t, band_lo, band_hi, color="C0", alpha=0.2, lw=0, label=f"{ci:.0%} bootstrap band")
        else:
            band_lo = band_hi = np.full_like(t, np.nan)
        curves.append(pd.DataFrame({"dataset": ds, "recording_time_s": t, "fitted": fit.predict(t),
                                    "band_low": band_lo, "band_high": band_hi}))
        if "n_repeats" in sub.columns:
            sc = ax.scatter(sub["recording_time_s"], sub[y], c=np.log2(sub["n_repeats"]), cmap="viridis", s=18, zorder=3)
            cb = fig.colorbar(sc, ax=ax, pad=0.01)
            cb.set_label("log2 repeats per image", fontsize=8)
        else:
            ax.scatter(sub["recording_time_s"], sub[y], color="k", s=18, zorder=3)
        ax.plot(t, fit.predict(t), color="C0", lw=2, label="sigmoid fit")
        ax.set_xscale("log")
        ax.set_xlabel("recording time (s) = images × repeats × trial length")
        ax.set_ylabel("fraction of explainable variance")
        txt = (f"ymax = {fit.ymax:.2f} [{fit.ci_low['ymax']:.2f}, {fit.ci_high['ymax']:.2f}]\n"
               f"k = {fit.k:.2f} [{fit.ci_low['k']:.2f}, {fit.ci_high['k']:.2f}]\n"
               f"t50 = {fit.t50:.3g} s [{fit.ci_low['t50']:.3g}, {fit.ci_high['t50']:.3g}]")
        ax.text(0.98, 0.04, txt, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
        ax.set_title(str(ds), fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    fit_table = pd.concat(fits, ignore_index=True)[["dataset", "parameter", "estimate", "ci_low", "ci_high",
                                                    "ci_level", "n_points", "n_boot_ok"]]
    assert list(fit_table["parameter"].unique()) == list(PARAMS)
    return save_figure(fig, pd.concat(tables, ignore_index=True), out_dir, name,
                       extra={"fit": fit_table, "curve": pd.concat(curves, ignore_index=True)})
