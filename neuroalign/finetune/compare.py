"""Neural against a control: paired bootstrap over held-out images, at matched λ and at matched fidelity.

Why here: "neural data helps" is a difference between two conditions evaluated on the
*same* held-out images, so the interval must resample images jointly for both (a paired
bootstrap). This is a small local engine over the per-image arrays each ``score.nc``
keeps (held-out responses and ridge predictions; per-image task correctness, noise and
PGD outcomes); a project-wide comparison engine may replace it. Runs of the same
condition and λ with other training seeds are averaged inside each bootstrap draw, so
the interval is over images for the seed-averaged model (seed spread is reported beside).

Matched fidelity: each condition's points (λ = 0, i.e. the original model, then each λ)
form a curve of held-out predictivity against task fidelity; at each λ of condition ``a``
the control's predictivity is interpolated (linearly in fidelity) at ``a``'s fidelity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import read_netcdf
from ..errors import DataError

Z_POWER = 1.959964 + 0.841621  # two-sided 5 % test with 80 % power: MDE = Z_POWER × SE


def load_runs(paths) -> list[dict]:
    """Per run: condition, λ, seed and the per-image arrays of its ``score.nc``."""
    runs = []
    for p in paths:
        ds = read_netcdf(Path(p), what="fine-tuning score", hint="run `neuroalign finetune` for it first")
        if "task_correct" not in ds:
            raise DataError(f"{p} has no per-image arrays (written before paired comparisons); rerun it.")
        a = ds.attrs
        run = {"condition": a["condition"], "lam": 0.0 if a["condition"] == "lambda0" else float(a["lam"]),
               "seed": int(a["seed"]), "ids": tuple(ds["heldout_stimulus_id"].values.astype(str)),
               "y": ds["heldout_response"].values,
               "gen": float(a.get("generalization_predictivity", np.nan)),
               "gen_initial": float(a.get("generalization_predictivity_initial", np.nan))}
        for suffix in ("", "_initial"):
            run["pred" + suffix] = ds["heldout_prediction" + suffix].values
            run["correct" + suffix] = ds["task_correct" + suffix].values.astype(bool)
            run["noise" + suffix] = ds["noise_correct" + suffix].values[-1].astype(bool)  # the strongest σ
            run["pgd" + suffix] = ds["pgd_survived" + suffix].values[0].astype(bool)  # the first ε
        run["sigma"], run["eps"] = float(ds["noise_level"].values[-1]), float(ds["pgd_eps"].values[0])
        runs.append(run)
    if not runs:
        raise DataError("no fine-tuning scores given.")
    if len({r["ids"] for r in runs}) > 1:
        raise DataError("the runs were evaluated on different held-out images (other split seeds); give them one "
                        "split_seed to compare them.")
    return runs


def median_r(y: np.ndarray, pred: np.ndarray) -> float:
    """Median over neurons of the Pearson r between columns (NaN columns ignored)."""
    yc, pc = y - y.mean(0), pred - pred.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yc * pc).sum(0) / np.sqrt((yc ** 2).sum(0) * (pc ** 2).sum(0))
    return float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")


def _metrics(run: dict, i: np.ndarray, j: np.ndarray, suffix: str = "") -> np.ndarray:
    """(predictivity, fidelity, noise accuracy, PGD robust accuracy) on held-out rows ``i``, task images ``j``."""
    correct = run["correct" + suffix][j]
    n_correct = correct.sum()
    return np.array([median_r(run["y"][i], run["pred" + suffix][i]), correct.mean(), run["noise" + suffix][j].mean(),
                     run["pgd" + suffix][j].sum() / n_correct if n_correct else np.nan])


def _curves(runs: list[dict], i, j) -> dict:
    """{condition: (λs, seed-mean metrics (λ × 4))}, the original model at λ = 0 first."""
    origin = _metrics(runs[0], i, j, "_initial")
    out = {}
    for cond in dict.fromkeys(r["condition"] for r in runs):
        lams = sorted({r["lam"] for r in runs if r["condition"] == cond and r["lam"] > 0})
        rows = [np.mean([_metrics(r, i, j) for r in runs if r["condition"] == cond and r["lam"] == lam], axis=0)
                for lam in lams]
        out[cond] = (np.array([0.0, *lams]), np.vstack([origin, *rows]))
    return out


def _matched(curve_a, curve_b) -> np.ndarray:
    """At each λ > 0 of ``a``: a's predictivity − b's, interpolated at a's fidelity (NaN outside b's range)."""
    fa, pa = curve_a[1][1:, 1], curve_a[1][1:, 0]
    order = np.argsort(curve_b[1][:, 1])
    fb, pb = curve_b[1][order, 1], curve_b[1][order, 0]
    inside = (fa >= fb[0]) & (fa <= fb[-1])
    return np.where(inside, pa - np.interp(fa, fb, pb), np.nan)


def compare(runs: list[dict], a: str = "neural", controls=("shuffled", "pixel"), *, n_boot: int = 1000,
            seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap over held-out images of ``a`` − each control.

    Rows: ``control, lam, quantity`` (``predictivity at matched lambda``, ``predictivity at
    matched fidelity``, ``fidelity``, ``noise accuracy``, ``pgd robust accuracy``), then
    ``a_value, control_value, estimate, ci_low, ci_high`` (95 % percentile), ``se``
    (bootstrap sd) and ``mde`` (the smallest true difference this run detects with 80 %
    power in a two-sided 5 % test: 2.80 × se).
    """
    n_i, n_j = len(runs[0]["ids"]), len(runs[0]["correct"])
    controls = [c for c in controls if any(r["condition"] == c for r in runs)]
    full = _curves(runs, np.arange(n_i), np.arange(n_j))
    if a not in full:
        raise DataError(f"no runs of condition {a!r} to compare.")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        i, j = rng.integers(0, n_i, n_i), rng.integers(0, n_j, n_j)
        c = _curves(runs, i, j)
        draws.append({b: _differences(c[a], c[b]) for b in controls})
    rows = []
    for b in controls:
        est = _differences(full[a], full[b])
        boot = np.stack([d[b] for d in draws])
        lams = full[a][0][1:]
        for k, (quantity, col) in enumerate(_QUANTITIES):
            for m, lam in enumerate(lams):
                e, s = est[k, m], boot[:, k, m]
                ok = s[np.isfinite(s)]
                lo, hi = np.percentile(ok, [2.5, 97.5]) if len(ok) > 0.9 * n_boot else (np.nan, np.nan)
                a_val = full[a][1][m + 1, col]
                rows.append(dict(control=b, lam=lam, quantity=quantity, a_value=a_val,
                                 control_value=a_val - e, estimate=e, ci_low=lo, ci_high=hi,
                                 se=float(np.std(ok)) if len(ok) > 1 else np.nan))
    df = pd.DataFrame(rows)
    df["mde"] = Z_POWER * df["se"]
    return df


_QUANTITIES = (("predictivity at matched fidelity", 0), ("predictivity at matched lambda", 0), ("fidelity", 1),
               ("noise accuracy", 2), ("pgd robust accuracy", 3))


def _differences(curve_a, curve_b) -> np.ndarray:
    """(quantity × λ of a): matched-fidelity Δ, then same-λ Δ of each metric (NaN where b lacks that λ)."""
    same = np.full((4, len(curve_a[0]) - 1), np.nan)
    for m, lam in enumerate(curve_a[0][1:]):
        hit = np.flatnonzero(np.isclose(curve_b[0], lam))
        if len(hit):
            same[:, m] = curve_a[1][m + 1] - curve_b[1][hit[0]]
    return np.vstack([_matched(curve_a, curve_b)[None], same[[0]], same[1:]])


def sweep_summary(runs: list[dict]) -> pd.DataFrame:
    """One row per condition × λ (the original model as λ = 0): seed mean and sd of each metric."""
    i, j = np.arange(len(runs[0]["ids"])), np.arange(len(runs[0]["correct"]))
    names = ["heldout_predictivity", "task_fidelity", "noise_accuracy", "pgd_robust_accuracy"]
    origin = _metrics(runs[0], i, j, "_initial")
    rows = [dict(condition="original", lam=0.0, n_seeds=1, **dict(zip(names, origin)),
                 **{n + "_sd": np.nan for n in names}, generalization_predictivity=runs[0]["gen_initial"])]
    for (cond, lam), group in pd.DataFrame(runs).groupby(["condition", "lam"], sort=False):
        m = np.array([_metrics(r, i, j) for r in runs if r["condition"] == cond and r["lam"] == lam])
        rows.append(dict(condition=cond, lam=lam, n_seeds=len(m), **dict(zip(names, m.mean(0))),
                         **{n + "_sd": (m[:, k].std(ddof=1) if len(m) > 1 else np.nan) for k, n in enumerate(names)},
                         generalization_predictivity=float(np.mean([r["gen"] for _, r in group.iterrows()]))))
    out = pd.DataFrame(rows)
    out["noise_sigma"], out["pgd_eps"] = runs[0]["sigma"], runs[0]["eps"]
    return out
