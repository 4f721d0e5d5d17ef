"""The scaling law of sensory digital twins: predictivity against recording time.

NeuroAI for AI Safety (arXiv 2411.18526, Fig. 6) fits the fraction of explainable
variance (FEVE) a model explains against the recording time spent to train it with a
sigmoid in log time, ``y = ymax / (1 + exp(-k (log10 t - log10 t50)))``.

FEVE is not a function of recording time alone: at one time, few images × many repeats
and many images × one repeat differ. So a run gives two results (issue 27):

* **the curve** at one declared allocation — more images at a fixed repeat count (the
  dataset's, by default) — fitted by :func:`bootstrap_sigmoid`;
* **the allocation at equal recording time** — FEVE over (images, repeats) with
  ``images × repeats`` fixed — with intervals and the best allocation named
  (:func:`allocation_table`): "how to spend a recording hour".

:func:`run_scaling` measures both on one fixed held-out test set scored with all its
repeats (``n_draws`` training draws per point). Intervals resample the neurons, the test
images and the training draws (:func:`bootstrap_sigmoid`). Recording time = trials used
× (stimulus duration + inter-stimulus interval) (:func:`presentation_period`).
:func:`write_scaling` writes a run's tables. Formulas: docs/methods.md, "Scaling law".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import OptimizeWarning, curve_fit
from sklearn.base import clone

from .ceiling import explainable_variance
from .data.assembly import feature_rows, select_stimuli, trials_array, validate_assembly
from .errors import DataError

PARAMS = ("ymax", "k", "t50")
#: The sigmoid's range is (0, ymax]: it is fitted to the points whose mean FEVE is at least
#: this, and the others (negative FEVE at small budgets: a ridge from a handful of images
#: predicts worse than the test mean) are drawn and counted (``n_below``), not fitted.
FIT_FLOOR = 0.0
TIMING_ATTRS = ("stimulus_duration_s", "interstimulus_interval_s")


def sigmoid_log10(t, ymax: float, k: float, t50: float) -> np.ndarray:
    """``ymax / (1 + exp(-k (log10 t - log10 t50)))``."""
    x = np.log10(np.asarray(t, dtype=np.float64))
    return ymax / (1.0 + np.exp(-k * (x - np.log10(t50))))


def _model_x(x, ymax, k, x50):
    return ymax / (1.0 + np.exp(-k * (x - x50)))


@dataclass
class SigmoidFit:
    """Fitted ``(ymax, k, t50)`` with percentile-bootstrap intervals (``ci``: level).

    ``method`` says what the bootstrap resampled (``"neurons x test images"`` or
    ``"points"``, or ``"none"``); ``boot`` holds the converged resample fits.
    """

    ymax: float
    k: float
    t50: float
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    ci: float
    n_points: int
    n_boot: int
    boot: np.ndarray = field(repr=False)  # (n_ok, 3) rows of (ymax, k, t50)
    method: str = "none"
    n_below: int = 0  # points below FIT_FLOOR, left out of the fit

    def predict(self, t) -> np.ndarray:
        return sigmoid_log10(t, self.ymax, self.k, self.t50)

    def covers(self, truth) -> np.ndarray:
        """Per parameter, whether the interval contains ``truth`` ``(ymax, k, t50)``."""
        return np.array([self.ci_low[p] <= v <= self.ci_high[p] for p, v in zip(PARAMS, truth)])

    def table(self) -> pd.DataFrame:
        """One row per parameter: estimate, ci_low, ci_high (what figures save)."""
        return pd.DataFrame(
            {"parameter": list(PARAMS),
             "estimate": [self.ymax, self.k, self.t50],
             "ci_low": [self.ci_low[p] for p in PARAMS],
             "ci_high": [self.ci_high[p] for p in PARAMS],
             "ci_level": self.ci, "n_points": self.n_points, "n_boot_ok": len(self.boot),
             "bootstrap": self.method, "n_below_floor": self.n_below}
        )


def _jac_x(x, ymax, k, x50):
    e = np.exp(-k * (x - x50))
    s = 1.0 / (1.0 + e)
    d = ymax * s * s * e
    return np.stack([s, d * (x - x50), -d * k], axis=1)


def _fit_once(x, y, p0, bounds):
    """Levenberg-Marquardt from ``p0`` (fast); if LM leaves the bounds, LM again with the
    parameters it pushed out held at their bounds (:func:`_fit_at_bounds`); the bounded
    trust-region fit only when that is not a constrained optimum (it is ~100× slower)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow on wild trial steps
        try:
            popt, _ = curve_fit(_model_x, x, y, p0=p0, jac=_jac_x, method="lm", maxfev=5000)
            if _inside(popt, bounds):
                return popt
            held = _fit_at_bounds(x, y, popt, bounds)
            if held is not None:
                return held
        except RuntimeError:
            pass
        popt, _ = curve_fit(_model_x, x, y, p0=np.clip(p0, bounds[0], bounds[1]), jac=_jac_x, bounds=bounds,
                            maxfev=20000)
    return popt


def _inside(p, bounds) -> bool:
    return bool(np.all(np.isfinite(p)) and np.all(p >= bounds[0]) and np.all(p <= bounds[1]))


def _fit_at_bounds(x, y, popt, bounds, max_steps: int = 6):
    """Active set: the parameters outside ``bounds`` held at the bound they crossed, the others
    fitted by LM; a free one that leaves its bounds is held too, and a held one whose bound
    does not bind (the sum of squares falls moving it back inside) is freed again. Returns a
    constrained optimum (Karush-Kuhn-Tucker conditions met), or None after ``max_steps``."""
    from scipy.optimize import least_squares

    lo, hi = np.asarray(bounds[0], dtype=np.float64), np.asarray(bounds[1], dtype=np.float64)
    if not np.all(np.isfinite(popt)):
        return None
    free = (popt >= lo) & (popt <= hi)
    p = np.clip(popt, lo, hi)
    for _ in range(max_steps):
        if free.any() and x.size >= free.sum():
            idx = np.flatnonzero(free)

            def at(q, idx=idx):
                full = p.copy()
                full[idx] = q
                return full

            q = least_squares(lambda q: _model_x(x, *at(q)) - y, p[idx], jac=lambda q: _jac_x(x, *at(q))[:, idx],
                              method="lm", max_nfev=5000).x
            if not np.all(np.isfinite(q)):
                return None
            p = np.clip(at(q), lo, hi)
            crossed = free & ((at(q) < lo) | (at(q) > hi))
            if crossed.any():  # hold what left its bounds, refit the rest
                free &= ~crossed
                continue
        grad = _jac_x(x, *p).T @ (_model_x(x, *p) - y)  # half the gradient of the sum of squares
        tol = 1e-9 * (1.0 + float(np.abs(grad).max()))
        inward = ~free & np.where(p >= hi, grad > tol, grad < -tol)  # moving back inside lowers the SSE
        if not inward.any():
            return p
        free |= inward
    return None


def _setup(t, y, floor: float | None = FIT_FLOOR):
    """The points the sigmoid is fitted to (finite, ``t > 0``, ``y ≥ floor``), bounds and a start."""
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise DataError(f"fit_sigmoid: t has {t.size} points, y has {y.size}.")
    ok = np.isfinite(t) & np.isfinite(y) & (t > 0) & (y >= (-np.inf if floor is None else floor))
    t, y = t[ok], y[ok]
    if np.unique(t).size < 3:
        raise DataError(f"fit_sigmoid: need at least 3 distinct positive recording times with FEVE ≥ {floor}, got "
                        f"{np.unique(t).size}; add larger budgets (more training images).")
    x = np.log10(t)
    # ymax is a fraction of explainable variance: at most 1. k > 0 (predictivity grows
    # with data); log10 t50 within three decades of the data.
    bounds = ([0.0, 1e-3, x.min() - 3.0], [1.0, 100.0, x.max() + 3.0])
    p0 = [float(np.clip(y.max() * 1.05, 0.05, 1.0)), 4.0 / max(np.ptp(x), 1e-3), float(np.median(x))]
    return t, x, y, bounds, p0


def _fit_best(x, y, p0, bounds):
    try:
        return _fit_once(x, y, p0, bounds)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"fit_sigmoid: the sigmoid fit did not converge on {x.size} points ({exc}).") from exc


def _summarise(best, boot, *, ci, n_points, n_boot, method, bias_corrected=False, n_below=0) -> SigmoidFit:
    """Percentile intervals of the refits; ``bias_corrected``: Efron's bias-corrected (BC)
    percentiles, ``Φ(2 z0 ± z_{1-α/2})`` with ``z0 = Φ⁻¹(share of refits below the estimate)``."""
    from scipy.stats import norm

    boot = np.array(boot, dtype=np.float64).reshape(-1, 3)
    alpha = (1.0 - ci) / 2.0
    if len(boot):
        q_lo, q_hi = np.full(3, alpha), np.full(3, 1.0 - alpha)
        if bias_corrected:
            share = ((boot < best).sum(0) + 0.5 * (boot == best).sum(0)) / len(boot)
            z0 = norm.ppf(np.clip(share, 0.5 / len(boot), 1 - 0.5 / len(boot)))
            q_lo, q_hi = norm.cdf(2 * z0 + norm.ppf(alpha)), norm.cdf(2 * z0 + norm.ppf(1.0 - alpha))
        lo = np.array([np.quantile(boot[:, j], q_lo[j]) for j in range(3)])
        hi = np.array([np.quantile(boot[:, j], q_hi[j]) for j in range(3)])
        lo[2], hi[2] = 10.0 ** lo[2], 10.0 ** hi[2]
    else:
        lo = hi = np.full(3, np.nan)
    boot[:, 2] = 10.0 ** boot[:, 2]
    return SigmoidFit(
        ymax=float(best[0]), k=float(best[1]), t50=float(10.0 ** best[2]),
        ci_low=dict(zip(PARAMS, map(float, lo))), ci_high=dict(zip(PARAMS, map(float, hi))),
        ci=ci, n_points=int(n_points), n_boot=n_boot, boot=boot, method=method, n_below=int(n_below),
    )


def fit_sigmoid(t, y, *, n_boot: int = 0, seed: int = 0, ci: float = 0.95) -> SigmoidFit:
    """Least-squares sigmoid in ``log10 t`` (``0 ≤ ymax ≤ 1``, ``k > 0``) on the points with
    ``y ≥ FIT_FLOOR`` (the others are counted in ``n_below``).

    ``n_boot > 0`` adds a bootstrap over the (t, y) points — kept for comparison only:
    points that share one test set are not independent, and its intervals undercover
    (``bench/bench_scaling_coverage.py``); use :func:`bootstrap_sigmoid` for intervals.
    """
    n_below = int(np.sum(np.asarray(y, dtype=np.float64) < FIT_FLOOR))
    t, x, y, bounds, p0 = _setup(t, y)
    best = _fit_best(x, y, p0, bounds)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, t.size, t.size)
        if np.unique(x[idx]).size < 3:
            continue
        try:
            boot.append(_fit_once(x[idx], y[idx], best, bounds))
        except (RuntimeError, ValueError):
            continue
    return _summarise(best, boot, ci=ci, n_points=t.size, n_boot=n_boot, method="points" if n_boot else "none",
                      n_below=n_below)


def fit_with_boot(t, y, boot, *, ci: float = 0.95) -> SigmoidFit:
    """The fit of ``y`` against ``t`` with BC intervals from saved bootstrap refits
    ``boot`` (rows of ``ymax, k, t50``, e.g. the ``_boot.csv`` of ``neuroalign scaling``)."""
    n_below = int(np.sum(np.asarray(y, dtype=np.float64) < FIT_FLOOR))
    t, x, y, bounds, p0 = _setup(t, y)
    best = _fit_best(x, y, p0, bounds)
    b = np.array(boot, dtype=np.float64).reshape(-1, 3).copy()
    b[:, 2] = np.log10(b[:, 2])
    return _summarise(best, b, ci=ci, n_points=t.size, n_boot=len(b), method=BOOT_METHOD, bias_corrected=True,
                      n_below=n_below)


BOOT_METHOD = "neurons x test images x training draws, BC percentile"


# ---------------------------------------------------------------------------------------
# FEVE from sufficient statistics, under image and neuron weights


class _TrialStats:
    """Per test image and neuroid, the averages single-trial FEVE is made of, so that
    FEVE under any image weights (a bootstrap resample: weights = counts) is a matrix
    product. With all weights 1 it is :func:`neuroalign.ceiling.feve_from_trials` exactly
    (each image weighs the same whatever its repeat count; images with < 2 finite trials
    of a neuroid are left out for it). With ``ȳ_s``, ``q_s``, ``v_s`` an image's trial
    mean, mean square and variance (ddof 1) and ``W = Σ w``:
    ``g = Σ w ȳ / W``; ``Var = Σ w (q − 2 g ȳ + g²) / W``; ``σ²_noise = Σ w v / W``;
    ``MSE = Σ w (q − 2 p ȳ + p²) / W``; ``FEVE = 1 − (MSE − σ²) / (Var − σ²)``.
    """

    def __init__(self, trials: np.ndarray):
        trials = np.asarray(trials, dtype=np.float64)
        fin = np.isfinite(trials)
        n = fin.sum(1).astype(np.float64)  # (S, N)
        self.m = (n >= 2).astype(np.float64)
        z = np.where(fin, trials, 0.0)
        safe = np.where(n > 0, n, 1.0)
        self.mean = z.sum(1) / safe * self.m
        self.sq = (z * z).sum(1) / safe * self.m
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            v = np.nanvar(trials, axis=1, ddof=1)
        self.v = np.where(self.m > 0, v, 0.0)

    def feve(self, w: np.ndarray, preds: np.ndarray) -> np.ndarray:
        """FEVE for image weights ``w`` (B, S) and predictions (M, S, N): (B, M, N)."""
        wm = w @ self.m  # (B, N)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = (w @ self.mean) / wm
            total = (w @ self.sq) / wm - g * g  # Σw(q − 2gȳ + g²)/W = Σwq/W − g²
            noise = (w @ self.v) / wm
            m, s, n = preds.shape
            a = (self.sq[None] - 2.0 * preds * self.mean[None] + preds * preds) * self.m[None]  # (M, S, N)
            mse = (w @ a.transpose(1, 0, 2).reshape(s, m * n)).reshape(len(w), m, n) / wm[:, None, :]
            den = (total - noise)[:, None, :]
            return np.where(den > 0, 1.0 - (mse - noise[:, None, :]) / den, np.nan)


def _population_curve(stats: _TrialStats, preds: np.ndarray, w: np.ndarray, v: np.ndarray,
                      dw: np.ndarray | None = None) -> np.ndarray:
    """Mean FEVE per point (B, P): over draws (weights ``dw`` (B, P, D), default equal),
    then over neuroids weighted by ``v`` (B, N)."""
    p, d, s, n = preds.shape
    f = stats.feve(w, preds.reshape(p * d, s, n)).reshape(len(w), p, d, n)
    dw = np.ones((len(w), p, d)) if dw is None else dw
    fin = np.isfinite(f)
    ww = dw[..., None] * fin
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (np.where(fin, f, 0.0) * ww).sum(2) / ww.sum(2)  # over draws
    ok = np.isfinite(f)
    vv = v[:, None, :] * ok
    return (np.where(ok, f, 0.0) * vv).sum(-1) / vv.sum(-1)


def _resampled_curves(stats: _TrialStats, preds: np.ndarray, n_boot: int, seed: int, chunk: int = 250):
    """``n_boot`` curves (B, P), each from one resample of the test images, the neuroids and
    (per point) the training draws, all with replacement: the three things a point's FEVE
    depends on. Test images and neuroids are the same for every point (all points share
    them); the draws are each point's own."""
    p, d, s, n = preds.shape
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = rng.multinomial(s, np.full(s, 1.0 / s), size=b).astype(np.float64)
        v = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)
        dw = rng.multinomial(d, np.full(d, 1.0 / d), size=(b, p)).astype(np.float64)
        yield _population_curve(stats, preds, w, v, dw)


def _as_points(times, test_trials, predictions):
    times = np.asarray(times, dtype=np.float64)
    preds = np.asarray(predictions, dtype=np.float64)
    if preds.ndim == 3:
        preds = preds[:, None]
    test_trials = np.asarray(test_trials, dtype=np.float64)
    p, d, s, n = preds.shape
    if times.shape != (p,) or test_trials.shape[0] != s or test_trials.shape[2] != n:
        raise DataError(f"bootstrap_sigmoid: times {times.shape}, test_trials {test_trials.shape} and predictions "
                        f"{preds.shape} disagree (want (P,), (S, R, N), (P, D, S, N)).")
    return times, test_trials, preds


def bootstrap_sigmoid(times, test_trials, predictions, *, n_boot: int = 1000, seed: int = 0,
                      ci: float = 0.95) -> tuple[SigmoidFit, np.ndarray]:
    """Sigmoid fit with intervals from a bootstrap over neurons, test images and training draws.

    ``times`` (P,): recording time of each point; ``test_trials`` (S, R, N): the single
    test trials (NaN for missing repeats); ``predictions`` (P, D, S, N): each point's
    ``D`` training draws' predictions of the test images. The estimate fits the mean
    FEVE per point (over draws, then neuroids) where it is ≥ ``FIT_FLOOR``. Each resample
    (:func:`_resampled_curves`) recomputes every point's FEVE and refits on the same
    points; the intervals are bias-corrected percentiles of the refits. Returns
    ``(fit, y)``, ``y`` the mean FEVE per point (all points).
    """
    times, test_trials, preds = _as_points(times, test_trials, predictions)
    stats = _TrialStats(test_trials)
    y = _population_curve(stats, preds, np.ones((1, preds.shape[2])), np.ones((1, preds.shape[3])))[0]
    n_below = int(np.sum(y < FIT_FLOOR))
    t, x, yy, bounds, p0 = _setup(times, y)
    best = _fit_best(x, yy, p0, bounds)
    keep = np.isfinite(y) & (times > 0) & (y >= FIT_FLOOR)
    boot = []
    for curves in _resampled_curves(stats, preds, n_boot, seed):
        for yb in curves[:, keep]:
            if not np.isfinite(yb).all():
                continue
            try:
                boot.append(_fit_once(x, yb, best, bounds))
            except (RuntimeError, ValueError):
                continue
    return _summarise(best, boot, ci=ci, n_points=int(keep.sum()), n_boot=n_boot, method=BOOT_METHOD,
                      bias_corrected=True, n_below=n_below), y


def allocation_table(times, test_trials, predictions, grid, *, n_boot: int = 1000, seed: int = 0,
                     ci: float = 0.95) -> pd.DataFrame:
    """At equal recording time, FEVE per allocation ``grid`` (n_images, n_repeats) with
    percentile intervals from the same resampling as the curve (neurons, test images,
    training draws); ``best`` marks the allocation with the highest FEVE and ``p_best`` is
    the share of resamples in which each allocation is the best."""
    times, test_trials, preds = _as_points(times, test_trials, predictions)
    stats = _TrialStats(test_trials)
    y = _population_curve(stats, preds, np.ones((1, preds.shape[2])), np.ones((1, preds.shape[3])))[0]
    curves = np.concatenate(list(_resampled_curves(stats, preds, n_boot, seed)))
    alpha = (1.0 - ci) / 2.0
    ok = np.isfinite(curves).all(1)
    wins = np.bincount(np.argmax(curves[ok], axis=1), minlength=len(y)) / max(int(ok.sum()), 1)
    return pd.DataFrame({
        "n_images": [g[0] for g in grid], "n_repeats": [g[1] for g in grid], "recording_time_s": times,
        "feve": y, "ci_low": np.nanquantile(curves, alpha, axis=0), "ci_high": np.nanquantile(curves, 1 - alpha, axis=0),
        "ci_level": ci, "p_best": wins, "best": np.arange(len(y)) == int(np.nanargmax(y)),
        "bootstrap": "neurons x test images x training draws, percentile"})


# ---------------------------------------------------------------------------------------
# recording time


def presentation_period(assembly: xr.DataArray, *, stimulus_duration_s: float | None = None,
                        interstimulus_s: float | None = None) -> float:
    """Seconds of recording one trial costs: stimulus duration + inter-stimulus interval.

    Read from the assembly attrs ``stimulus_duration_s`` and ``interstimulus_interval_s``
    (dataset metadata, e.g. :mod:`neuroalign.datasets.cowley` with its source); an argument
    overrides its attr. A value missing from both is an error naming both ways to give it.
    """
    given = {"stimulus_duration_s": stimulus_duration_s, "interstimulus_interval_s": interstimulus_s}
    vals = {}
    for key, val in given.items():
        val = assembly.attrs.get(key) if val is None else val
        if val is None:
            name = assembly.attrs.get("identifier", assembly.name or "the assembly")
            raise DataError(
                f"recording time: {name} has no {key!r} in its metadata; pass it (neuroalign scaling "
                f"--stimulus-duration-s / --interstimulus-s, workflow config scaling.runs.<run>."
                f"{'stimulus_duration_s' if key == 'stimulus_duration_s' else 'interstimulus_s'}).")
        val = float(val)
        if not np.isfinite(val) or val < 0:
            raise DataError(f"recording time: {key} = {val} must be a finite number of seconds ≥ 0.")
        vals[key] = val
    period = vals["stimulus_duration_s"] + vals["interstimulus_interval_s"]
    if period <= 0:
        raise DataError("recording time: stimulus duration + inter-stimulus interval must be > 0 s.")
    return period


# ---------------------------------------------------------------------------------------
# the experiment


def default_grid(assembly: xr.DataArray, n_points: int = 6, n_test: float = 0.2, min_images: int = 10,
                 repeats: int | None = None) -> tuple[list[int], int, list[tuple[int, int]]]:
    """The curve and the allocations of one run.

    Curve: image counts on a log grid from ``min_images`` to 80 % of the training pool (the
    stimuli left after ``n_test``) at ``repeats`` per image (default: the dataset's repeat
    count, its most common number of trials per stimulus). Allocations: one budget of
    ``T`` trials — the curve's largest image count, so that one repeat per image fits in the
    pool — spent as ``T / r`` images × ``r`` repeats for r in 1, 2, half and all of the
    repeats (those leaving ≥ ``min_images`` images)."""
    sids = assembly["stimulus_id"].values
    n_img = len(np.unique(sids))
    pool = int(n_img - int(round(n_test * n_img)))
    if not 3 <= min_images < 0.8 * pool:
        raise DataError(f"scaling grid: min_images={min_images} must be in 3..{int(0.8 * pool) - 1} "
                        f"(80 % of the {int(pool)} training images).")
    images = [int(x) for x in np.unique(np.geomspace(min_images, 0.8 * pool, n_points).astype(int))]
    reps = int(pd.Series(sids).value_counts().mode().iloc[0]) if repeats is None else int(repeats)
    if reps < 1:
        raise DataError(f"scaling grid: repeats={reps} must be ≥ 1.")
    budget = images[-1]
    alloc = [(budget // r, r) for r in sorted({1, 2, max(1, reps // 2), reps}) if budget // r >= min_images]
    return images, reps, alloc


@dataclass
class ScalingRun:
    """What :func:`run_scaling` measured: the table and what the bootstrap needs."""

    points: pd.DataFrame  # one row per (result, n_images, n_repeats, draw)
    times: np.ndarray  # (P,) recording time per point: mean over its draws
    test_trials: np.ndarray = field(repr=False)  # (S, R, N) kept neuroids
    predictions: np.ndarray = field(repr=False)  # (P, D, S, N)
    grid: list = field(default_factory=list)  # (n_images, n_repeats) per point
    results: list = field(default_factory=list)  # "curve" | "allocation" per point

    def _part(self, which: str):
        idx = [i for i, r in enumerate(self.results) if r == which]
        return idx, self.times[idx], self.predictions[idx]

    def fit(self, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> SigmoidFit:
        """The curve's sigmoid (declared allocation only)."""
        _, t, p = self._part("curve")
        return bootstrap_sigmoid(t, self.test_trials, p, n_boot=n_boot, seed=seed, ci=ci)[0]

    def allocations(self, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
        idx, t, p = self._part("allocation")
        return allocation_table(t, self.test_trials, p, [self.grid[i] for i in idx], n_boot=n_boot, seed=seed, ci=ci)

    def boot_table(self, fit: SigmoidFit, dataset: str) -> pd.DataFrame:
        """The bootstrap refits, one row each: ``dataset, boot, ymax, k, t50`` (the figure's band)."""
        return pd.DataFrame({"dataset": dataset, "boot": np.arange(len(fit.boot)),
                             **{p: fit.boot[:, i] for i, p in enumerate(PARAMS)}})


@dataclass
class _Recording:
    """The fixed parts of a run: trials, features, the held-out test set and its statistics."""

    trials: np.ndarray  # (stimulus, repetition, neuroid)
    X: np.ndarray  # features in the trials' stimulus order
    test: np.ndarray
    pool: np.ndarray
    keep: np.ndarray  # neuroids with explainable variance on the test set
    stats: _TrialStats
    finite: np.ndarray  # (stimulus, repetition): a complete trial


def _prepare(assembly, features, n_test, seed, min_explainable) -> _Recording:
    """Trials, joined features and one held-out test set (every repeat kept) for all points."""
    validate_assembly(assembly)
    trials, sids = trials_array(assembly)
    X = np.asarray(features.values, dtype=np.float64)[feature_rows(features, sids)]
    n_stim = len(sids)
    n_test = int(round(n_test * n_stim)) if isinstance(n_test, float) else int(n_test)
    if not 2 <= n_test < n_stim - 2:
        raise DataError(f"scaling: n_test={n_test} must leave training stimuli out of {n_stim}.")
    perm = np.random.default_rng(seed).permutation(n_stim)
    test, pool = perm[:n_test], perm[n_test:]
    test_ids = sids[test]
    ev = explainable_variance(select_stimuli(assembly, test_ids), stimulus_ids=test_ids, min_ceiling=min_explainable)
    keep = ~ev["low_ceiling"].values
    if not keep.any():
        raise DataError(
            f"scaling: no neuroid has an explainable variance ≥ {min_explainable} on the "
            f"{n_test} test stimuli (max {float(ev.max()):.3f}); lower min_explainable or add test stimuli.")
    return _Recording(trials, X, test, pool, keep, _TrialStats(trials[test][:, :, keep]),
                      np.isfinite(trials).all(axis=2))


def _train_draw(rec: _Recording, est, n_img: int, n_rep: int, rng) -> tuple[np.ndarray, int]:
    """One training draw: ``n_img`` pool images, ``n_rep`` of each one's trials averaged;
    the fitted map's predictions of the test images (kept neuroids) and the trials used."""
    train = rng.choice(rec.pool, size=n_img, replace=False)
    Y = np.empty((len(train), rec.trials.shape[2]))
    used = 0
    for j, s in enumerate(train):
        reps = np.flatnonzero(rec.finite[s])
        pick = rng.choice(reps, size=min(n_rep, len(reps)), replace=False)
        Y[j] = rec.trials[s, pick].mean(0)
        used += len(pick)
    model = clone(est).fit(rec.X[train], Y)
    return np.asarray(model.predict(rec.X[rec.test]), dtype=np.float64)[:, rec.keep], used


def run_scaling(assembly: xr.DataArray, features: xr.DataArray, image_counts, repeats: int,
                allocations=(), *, stimulus_duration_s: float | None = None, interstimulus_s: float | None = None,
                seed: int = 0, n_test: int | float = 0.2, n_draws: int = 3, estimator=None, device: str = "auto",
                min_explainable: float = 0.05, dataset: str | None = None) -> ScalingRun:
    """Predictivity of ridge encoding models trained on subsampled recordings.

    One fixed set of ``n_test`` held-out stimuli (a count, or a fraction) is scored with
    all its repeats for every point. The curve: each ``n_images`` in ``image_counts`` at
    ``repeats`` trials per image; the allocations: each ``(n_images, n_repeats)`` of
    ``allocations`` (equal recording time, :func:`default_grid`). Each point has
    ``n_draws`` independent training draws (:func:`_train_draw`). ``estimator`` (default
    :func:`neuroalign.mapping.default_ridge`, float64) maps features (joined on
    ``stimulus_id``) to the averaged training trials.

    ``points``: one row per point and draw: ``dataset, result, n_images, n_repeats, draw,
    n_trials, trial_period_s, recording_time_s``, ``feve`` (mean over the neuroids whose
    single-trial explainable variance on the test stimuli is ≥ ``min_explainable``),
    ``feve_median``, ``n_neuroids``, ``n_test``.
    """
    from .mapping import default_ridge

    period = presentation_period(assembly, stimulus_duration_s=stimulus_duration_s, interstimulus_s=interstimulus_s)
    if int(n_draws) < 1:
        raise DataError(f"scaling: n_draws={n_draws} must be ≥ 1.")
    rec = _prepare(assembly, features, n_test, seed, min_explainable)
    grid = [(int(a), int(repeats)) for a in image_counts] + [(int(a), int(b)) for a, b in allocations]
    results = ["curve"] * len(image_counts) + ["allocation"] * len(allocations)
    bad = [n for n, _ in grid if n > len(rec.pool) or n < 3]
    if bad:
        raise DataError(f"scaling: image counts {bad} outside 3..{len(rec.pool)} (training pool size).")
    est = estimator if estimator is not None else default_ridge(device=device, dtype="float64")
    name = dataset or str(assembly.attrs.get("identifier", assembly.name or "assembly"))
    rng = np.random.default_rng([seed, 1])
    preds = np.empty((len(grid), int(n_draws), len(rec.test), int(rec.keep.sum())))
    rows, times = [], []
    for gi, (n_img, n_rep) in enumerate(grid):
        used_all = []
        for draw in range(int(n_draws)):
            preds[gi, draw], used = _train_draw(rec, est, n_img, n_rep, rng)
            f = rec.stats.feve(np.ones((1, len(rec.test))), preds[gi, draw][None])[0, 0]
            used_all.append(used)
            rows.append({"dataset": name, "result": results[gi], "n_images": n_img, "n_repeats": n_rep, "draw": draw,
                         "n_trials": used, "trial_period_s": period, "recording_time_s": used * period,
                         "feve": float(np.nanmean(f)), "feve_median": float(np.nanmedian(f)),
                         "n_neuroids": int(rec.keep.sum()), "n_test": len(rec.test)})
        times.append(float(np.mean(used_all)) * period)
    return ScalingRun(pd.DataFrame(rows), np.array(times), rec.trials[rec.test][:, :, rec.keep], preds, grid, results)


def write_scaling(run: ScalingRun, out, name: str, *, n_boot: int = 1000, seed: int = 0, benchmark: str | None = None,
                  model: str | None = None, layer: str | None = None) -> dict:
    """Fit the curve, tabulate the allocations and write a run's four tables, each atomically:
    ``<out>`` (points), ``<stem>_boot.csv`` (refits), ``<stem>_fit.csv`` (parameters) and
    ``<stem>_allocation.csv``. The points table goes last: it marks the step done. Every table
    records ``benchmark`` (the data's id), ``model`` and ``layer`` where given: the figures' titles
    name them."""
    from pathlib import Path

    from .atomic import atomic_path

    out = Path(out)
    labels = {k: v for k, v in (("benchmark", benchmark), ("model", model), ("layer", layer)) if v is not None}
    fit = run.fit(n_boot=n_boot, seed=seed)
    alloc = run.allocations(n_boot=n_boot, seed=seed).assign(dataset=name, **labels)
    side = lambda suffix: out.with_name(out.stem + suffix)  # noqa: E731
    tables = {side("_boot.csv"): run.boot_table(fit, name).assign(**labels),
              side("_fit.csv"): fit.table().assign(dataset=name, **labels),
              side("_allocation.csv"): alloc, out: run.points.assign(**labels)}
    for path, table in tables.items():
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
    return {"fit": fit, "allocation": alloc, "tables": tables}


def data_id(spec: str) -> str:
    """The id a scaling run's data goes by: a benchmark file's identifier, else ``spec`` itself
    (a benchmark id or a stimulus set)."""
    from .benchmarks import get_benchmark, is_benchmark_file

    return get_benchmark(spec).identifier if is_benchmark_file(spec) else str(spec)


def load_scaling_data(spec: str):
    """``(assembly, stimuli)`` of a stimulus set name, a benchmark id or a benchmark file
    (a researcher's own recording): any data with single trials."""
    from .benchmarks import benchmarks, get_benchmark, is_benchmark_file, load_neural, load_stimulus_set
    from .data.assembly import is_averaged

    if is_benchmark_file(spec) or spec in benchmarks():
        bench = get_benchmark(spec)
        assembly, stimuli = bench.load(), bench.stimuli()
    else:
        assembly, stimuli = load_neural(spec), load_stimulus_set(spec)
    if not isinstance(assembly, xr.DataArray) or "stimulus_id" not in assembly.coords or is_averaged(assembly):
        raise DataError(f"scaling: {spec} has no single trials (repeat-averaged responses or RDMs); the scaling "
                        "law needs each image's trials. Give a benchmark or stimulus set with repetitions.")
    return assembly, stimuli


# ---------------------------------------------------------------------------------------
# a simulation with a known curve (tests, bench)


def simulate_scaling(truth, times, *, n_neurons: int = 40, n_test: int = 150, n_repeats: int = 4,
                     n_draws: int = 3, shared: float = 0.6, seed=0):
    """Test trials and per-point predictions whose population mean FEVE is ``sigmoid_log10(times, *truth)``.

    Neuron *i* has signal variance ``σ²_i ~ U(0.5, 1.5)``, trial-noise variance 1 and its
    own ceiling ``ymax_i = ymax · U(0.75, 1.25)`` (population mean: ``ymax``; needs
    ``ymax ≤ 0.8``). A prediction is the true mean response plus an error of variance
    ``σ²_i (1 − y_i(t))`` — so its expected FEVE is ``y_i(t)`` — of which a fraction
    ``shared`` is the same at every point and draw (a model's persistent error on a test
    image, what makes points that share a test set dependent). Returns
    ``(test_trials (S, R, N), predictions (P, D, S, N))``.
    """
    ymax, k, t50 = truth
    if not 0 < ymax <= 0.8:
        raise ValueError("simulate_scaling: ymax must be in (0, 0.8] (neurons' ceilings reach 1.25·ymax).")
    rng = np.random.default_rng(seed)
    times = np.asarray(times, dtype=np.float64)
    sig = np.sqrt(rng.uniform(0.5, 1.5, n_neurons))
    ymax_i = ymax * rng.uniform(0.75, 1.25, n_neurons)
    mu = rng.normal(size=(n_test, n_neurons)) * sig
    trials = mu[:, None, :] + rng.normal(size=(n_test, n_repeats, n_neurons))
    y_i = sigmoid_log10(times[:, None], ymax_i[None, :], k, t50)  # (P, N)
    err_sd = sig[None, :] * np.sqrt(1.0 - y_i)  # (P, N)
    z0 = rng.normal(size=(n_test, n_neurons))
    z = np.sqrt(shared) * z0 + np.sqrt(1 - shared) * rng.normal(size=(len(times), n_draws, n_test, n_neurons))
    preds = mu + err_sd[:, None, None, :] * z
    return trials, preds


def simulate_recording(*, n_images: int = 600, n_neurons: int = 30, n_repeats: int = 4, n_features: int = 60,
                       noise_sd: float = 1.5, period_s: float = 0.2, seed=0):
    """A recording from a stimulus-driven model with trial noise: FEVE follows from the
    images and repeats a map is trained on, not from recording time.

    Image *s* has features ``x_s ~ N(0, I_p)``; neuron *i*'s mean response is
    ``μ_si = x_s·w_i`` (``w_i ~ N(0, I/p)``, signal variance ≈ 1) and each trial adds
    ``N(0, noise_sd²)``. Returns ``(assembly, features, truth)``: single trials (timing in
    attrs), the features joined on ``stimulus_id``, and ``truth(n_images, n_repeats,
    n_draws, seed)`` — the expected population FEVE of the package ridge trained on that
    allocation, measured against the true means on fresh images and fresh neurons.
    """
    from .data.assembly import make_assembly
    from .mapping import default_ridge

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_images, n_features))
    W = rng.standard_normal((n_features, n_neurons)) / np.sqrt(n_features)
    trials = (X @ W)[:, None, :] + noise_sd * rng.standard_normal((n_images, n_repeats, n_neurons))
    ids = np.array([f"sim{i:05d}" for i in range(n_images)])
    asm = make_assembly(trials.reshape(-1, n_neurons), stimulus_id=np.repeat(ids, n_repeats),
                        attrs={"identifier": "simulated", "stimulus_duration_s": period_s / 2,
                               "interstimulus_interval_s": period_s / 2})
    feats = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})

    def truth(n_img: int, n_rep: int, n_draws: int = 20, truth_seed=1, n_fresh: int = 2000,
              n_pop: int = 200) -> float:
        r = np.random.default_rng([truth_seed, n_img, n_rep])
        Wp = r.standard_normal((n_features, n_pop)) / np.sqrt(n_features)
        Xf = r.standard_normal((n_fresh, n_features))
        mu_f = Xf @ Wp
        out = []
        for _ in range(n_draws):
            Xt = r.standard_normal((n_img, n_features))
            Yt = Xt @ Wp + noise_sd * r.standard_normal((n_img, n_pop)) / np.sqrt(n_rep)
            pred = np.asarray(default_ridge(device="cpu", dtype="float64").fit(Xt, Yt).predict(Xf), dtype=np.float64)
            out.append(np.mean(1.0 - ((pred - mu_f) ** 2).mean(0) / mu_f.var(0)))
        return float(np.mean(out))

    return asm, feats, truth
