"""The scaling law of sensory digital twins: predictivity against recording time.

NeuroAI for AI Safety (arXiv 2411.18526, Fig. 6) fits the fraction of explainable
variance (FEVE) a model explains against the recording time spent to train it with a
sigmoid in log time, ``y = ymax / (1 + exp(-k (log10 t - log10 t50)))``.

* :func:`run_scaling` produces the points: it subsamples the images and repeats of a
  recording (``n_draws`` independent subsamples per point), fits the package's ridge
  (:func:`neuroalign.mapping.default_ridge`) on each and keeps its predictions for a fixed
  set of held-out test images, scored against every test trial.
* :func:`bootstrap_sigmoid` fits the curve to the mean FEVE per point and puts
  intervals on ``(ymax, k, t50)`` by resampling the two things the points share —
  the neurons and the test images — recomputing every point's FEVE from the single
  test trials in each resample (the points are not independent, so resampling points
  gives intervals that are too narrow).
* Recording time = trials used × (stimulus duration + inter-stimulus interval): the
  wall-clock time of the presentations, read from the assembly's metadata
  (:func:`presentation_period`), not only the spike-counting window.

Formulas and references: docs/methods.md, section "Scaling law".
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
             "bootstrap": self.method}
        )


def _jac_x(x, ymax, k, x50):
    e = np.exp(-k * (x - x50))
    s = 1.0 / (1.0 + e)
    d = ymax * s * s * e
    return np.stack([s, d * (x - x50), -d * k], axis=1)


def _fit_once(x, y, p0, bounds):
    """Levenberg-Marquardt from ``p0`` (fast); the bounded trust-region fit if LM leaves the bounds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow on wild trial steps
        try:
            popt, _ = curve_fit(_model_x, x, y, p0=p0, jac=_jac_x, method="lm", maxfev=5000)
            if np.all(np.isfinite(popt)) and np.all(popt >= bounds[0]) and np.all(popt <= bounds[1]):
                return popt
        except RuntimeError:
            pass
        popt, _ = curve_fit(_model_x, x, y, p0=np.clip(p0, bounds[0], bounds[1]), jac=_jac_x, bounds=bounds,
                            maxfev=20000)
    return popt


def _setup(t, y):
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise DataError(f"fit_sigmoid: t has {t.size} points, y has {y.size}.")
    ok = np.isfinite(t) & np.isfinite(y) & (t > 0)
    t, y = t[ok], y[ok]
    if np.unique(t).size < 3:
        raise DataError(f"fit_sigmoid: need at least 3 distinct positive recording times, got {np.unique(t).size}.")
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


def _summarise(best, boot, *, ci, n_points, n_boot, method, bias_corrected=False) -> SigmoidFit:
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
        ci=ci, n_points=int(n_points), n_boot=n_boot, boot=boot, method=method,
    )


def fit_sigmoid(t, y, *, n_boot: int = 0, seed: int = 0, ci: float = 0.95) -> SigmoidFit:
    """Least-squares sigmoid in ``log10 t`` (``0 ≤ ymax ≤ 1``, ``k > 0``), values as measured.

    Negative FEVE (worse than predicting the test mean, common with a handful of
    training images) enters the fit unchanged. ``n_boot > 0`` adds a bootstrap over the
    (t, y) points — kept for comparison only: points that share one test set are not
    independent, and its intervals undercover (``bench/bench_scaling_coverage.py``);
    use :func:`bootstrap_sigmoid` on a :class:`ScalingRun` for intervals.
    """
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
    return _summarise(best, boot, ci=ci, n_points=t.size, n_boot=n_boot, method="points" if n_boot else "none")


def fit_with_boot(t, y, boot, *, ci: float = 0.95) -> SigmoidFit:
    """The fit of ``y`` against ``t`` with BC intervals from saved bootstrap refits
    ``boot`` (rows of ``ymax, k, t50``, e.g. the ``_boot.csv`` of ``neuroalign scaling``)."""
    t, x, y, bounds, p0 = _setup(t, y)
    best = _fit_best(x, y, p0, bounds)
    b = np.array(boot, dtype=np.float64).reshape(-1, 3).copy()
    b[:, 2] = np.log10(b[:, 2])
    return _summarise(best, b, ci=ci, n_points=t.size, n_boot=len(b), method="neurons x test images, BC percentile",
                      bias_corrected=True)


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


def _population_curve(stats: _TrialStats, preds: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mean FEVE per point (B, P): over draws, then over neuroids weighted by ``v`` (B, N)."""
    p, d, s, n = preds.shape
    f = stats.feve(w, preds.reshape(p * d, s, n)).reshape(len(w), p, d, n)
    f = np.nanmean(f, axis=2)  # over draws
    ok = np.isfinite(f)
    vv = v[:, None, :] * ok
    return (np.where(ok, f, 0.0) * vv).sum(-1) / vv.sum(-1)


def bootstrap_sigmoid(times, test_trials, predictions, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
                      chunk: int = 250) -> tuple[SigmoidFit, np.ndarray]:
    """Sigmoid fit with intervals from a bootstrap over neurons and test images.

    ``times`` (P,): recording time of each point; ``test_trials`` (S, R, N): the single
    test trials (NaN for missing repeats); ``predictions`` (P, D, S, N): each point's
    ``D`` subsample draws' predictions of the test images. The estimate fits the mean
    FEVE per point (over draws, then neuroids). Each of ``n_boot`` resamples draws S test
    images and N neuroids with replacement — the same ones for every point, since all
    points share them — recomputes every point's FEVE and refits; the intervals are
    percentiles of the refits. Returns ``(fit, y)``, ``y`` the fitted mean FEVE per point.
    """
    times = np.asarray(times, dtype=np.float64)
    preds = np.asarray(predictions, dtype=np.float64)
    if preds.ndim == 3:
        preds = preds[:, None]
    p, d, s, n = preds.shape
    test_trials = np.asarray(test_trials, dtype=np.float64)
    if times.shape != (p,) or test_trials.shape[0] != s or test_trials.shape[2] != n:
        raise DataError(f"bootstrap_sigmoid: times {times.shape}, test_trials {test_trials.shape} and predictions "
                        f"{preds.shape} disagree (want (P,), (S, R, N), (P, D, S, N)).")
    stats = _TrialStats(test_trials)
    y = _population_curve(stats, preds, np.ones((1, s)), np.ones((1, n)))[0]
    t, x, yy, bounds, p0 = _setup(times, y)
    best = _fit_best(x, yy, p0, bounds)
    keep = np.isfinite(y) & (times > 0)
    rng = np.random.default_rng(seed)
    boot = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = rng.multinomial(s, np.full(s, 1.0 / s), size=b).astype(np.float64)
        v = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)
        curves = _population_curve(stats, preds, w, v)[:, keep]
        for yb in curves:
            if not np.isfinite(yb).all():
                continue
            try:
                boot.append(_fit_once(x, yb, best, bounds))
            except (RuntimeError, ValueError):
                continue
    return _summarise(best, boot, ci=ci, n_points=p, n_boot=n_boot, method="neurons x test images, BC percentile",
                      bias_corrected=True), y


# ---------------------------------------------------------------------------------------
# recording time


def presentation_period(assembly: xr.DataArray, *, stimulus_duration_s: float | None = None,
                        interstimulus_s: float | None = None) -> float:
    """Seconds of recording one trial costs: stimulus duration + inter-stimulus interval.

    Read from the assembly attrs ``stimulus_duration_s`` and ``interstimulus_interval_s``
    (dataset metadata, e.g. :mod:`neuroalign.data.cowley` with its source); an argument
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


def default_grid(assembly: xr.DataArray, n_points: int = 6, n_test: float = 0.2,
                 min_images: int = 10) -> tuple[list[int], list[int]]:
    """Image counts on a log grid from ``min_images`` to 80 % of the training pool (the
    stimuli left after ``n_test``), and repeat counts 1, 2, half and all of the recorded repetitions."""
    n_img = len(np.unique(assembly["stimulus_id"].values))
    pool = n_img * (1 - n_test)
    if not 3 <= min_images < 0.8 * pool:
        raise DataError(f"scaling grid: min_images={min_images} must be in 3..{int(0.8 * pool) - 1} "
                        f"(80 % of the {int(pool)} training images).")
    images = [int(x) for x in np.unique(np.geomspace(min_images, 0.8 * pool, n_points).astype(int))]
    reps = int(assembly["repetition"].max()) + 1
    return images, sorted({1, 2, max(1, reps // 2), reps})


@dataclass
class ScalingRun:
    """What :func:`run_scaling` measured: the table and what the bootstrap needs."""

    points: pd.DataFrame  # one row per (n_images, n_repeats, draw)
    times: np.ndarray  # (P,) recording time per point: mean over its draws
    test_trials: np.ndarray = field(repr=False)  # (S, R, N) kept neuroids
    predictions: np.ndarray = field(repr=False)  # (P, D, S, N)
    grid: list = field(default_factory=list)  # (n_images, n_repeats) per point

    def fit(self, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> SigmoidFit:
        return bootstrap_sigmoid(self.times, self.test_trials, self.predictions, n_boot=n_boot, seed=seed, ci=ci)[0]

    def boot_table(self, fit: SigmoidFit, dataset: str) -> pd.DataFrame:
        """The bootstrap refits, one row each: ``dataset, boot, ymax, k, t50`` (the figure's band)."""
        return pd.DataFrame({"dataset": dataset, "boot": np.arange(len(fit.boot)),
                             **{p: fit.boot[:, i] for i, p in enumerate(PARAMS)}})


def run_scaling(
    assembly: xr.DataArray,
    features: xr.DataArray,
    image_counts,
    repeat_counts,
    *,
    stimulus_duration_s: float | None = None,
    interstimulus_s: float | None = None,
    seed: int = 0,
    n_test: int | float = 0.2,
    n_draws: int = 3,
    estimator=None,
    device: str = "auto",
    min_explainable: float = 0.05,
    dataset: str | None = None,
) -> ScalingRun:
    """Predictivity of ridge encoding models trained on subsampled recordings.

    A fixed set of ``n_test`` held-out stimuli (a count, or a fraction of the stimuli)
    is scored with all its repeats for every point. For each ``n_images`` in
    ``image_counts``, ``n_repeats`` in ``repeat_counts`` and each of ``n_draws`` draws,
    ``n_images`` training stimuli are drawn from the rest, and ``n_repeats`` of each
    stimulus's recorded trials (all of them if it has fewer) are averaged as the
    training target. ``estimator`` (default :func:`neuroalign.mapping.default_ridge`
    on ``device``, float64) maps features (joined on ``stimulus_id``) to responses.

    ``points`` has one row per point and draw: ``dataset, n_images, n_repeats, draw,
    n_trials, trial_period_s, recording_time_s`` (trials used × :func:`presentation_period`),
    ``feve`` (mean over neuroids whose single-trial explainable variance on the test
    stimuli is ≥ ``min_explainable``), ``feve_median``, ``n_neuroids``, ``n_test``.
    """
    from .mapping import default_ridge

    validate_assembly(assembly)
    period = presentation_period(assembly, stimulus_duration_s=stimulus_duration_s, interstimulus_s=interstimulus_s)
    if int(n_draws) < 1:
        raise DataError(f"scaling: n_draws={n_draws} must be ≥ 1.")
    trials, sids = trials_array(assembly)  # (stimulus, repetition, neuroid)
    X_all = np.asarray(features.values, dtype=np.float64)[feature_rows(features, sids)]
    n_stim = len(sids)
    n_test = int(round(n_test * n_stim)) if isinstance(n_test, float) else int(n_test)
    if not 2 <= n_test < n_stim - 2:
        raise DataError(f"scaling_experiment: n_test={n_test} must leave training stimuli out of {n_stim}.")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_stim)
    test, pool = perm[:n_test], perm[n_test:]
    too_many = [n for n in image_counts if n > len(pool) or n < 3]
    if too_many:
        raise DataError(f"scaling_experiment: image counts {too_many} outside 3..{len(pool)} (training pool size).")
    test_ids = sids[test]
    ev = explainable_variance(select_stimuli(assembly, test_ids), stimulus_ids=test_ids, min_ceiling=min_explainable)
    keep = ~ev["low_ceiling"].values
    if not keep.any():
        raise DataError(
            f"scaling_experiment: no neuroid has an explainable variance ≥ {min_explainable} on the "
            f"{n_test} test stimuli (max {float(ev.max()):.3f}); lower min_explainable or add test stimuli."
        )
    test_trials = trials[test][:, :, keep]
    stats = _TrialStats(test_trials)
    finite = np.isfinite(trials).all(axis=2)  # (stimulus, repetition): a complete trial
    est = estimator if estimator is not None else default_ridge(device=device, dtype="float64")
    name = dataset or str(assembly.attrs.get("identifier", assembly.name or "assembly"))
    grid = [(int(a), int(b)) for a in image_counts for b in repeat_counts]
    preds = np.empty((len(grid), int(n_draws), n_test, int(keep.sum())))
    rows, times = [], []
    for gi, (n_img, n_rep) in enumerate(grid):
        used_all = []
        for draw in range(int(n_draws)):
            train = rng.choice(pool, size=n_img, replace=False)
            Y = np.empty((len(train), trials.shape[2]))
            used = 0
            for j, s in enumerate(train):
                reps = np.flatnonzero(finite[s])
                pick = rng.choice(reps, size=min(n_rep, len(reps)), replace=False)
                Y[j] = trials[s, pick].mean(0)
                used += len(pick)
            model = clone(est).fit(X_all[train], Y)
            pred = np.asarray(model.predict(X_all[test]), dtype=np.float64)[:, keep]
            preds[gi, draw] = pred
            f = stats.feve(np.ones((1, n_test)), pred[None])[0, 0]
            used_all.append(used)
            rows.append({
                "dataset": name, "n_images": n_img, "n_repeats": n_rep, "draw": draw,
                "n_trials": used, "trial_period_s": period, "recording_time_s": used * period,
                "feve": float(np.nanmean(f)), "feve_median": float(np.nanmedian(f)),
                "n_neuroids": int(keep.sum()), "n_test": n_test,
            })
        times.append(float(np.mean(used_all)) * period)
    return ScalingRun(pd.DataFrame(rows), np.array(times), test_trials, preds, grid)


def scaling_experiment(assembly, features, image_counts, repeat_counts, **kwargs) -> pd.DataFrame:
    """:func:`run_scaling`'s table alone (``n_draws`` defaults to 1 here)."""
    kwargs.setdefault("n_draws", 1)
    return run_scaling(assembly, features, image_counts, repeat_counts, **kwargs).points


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


# ---------------------------------------------------------------------------------------
# the two datasets the paper figure is run on


def synthetic_features(stimuli, layer: str, network_seed: int = 0) -> xr.DataArray:
    """The reference net's spatially averaged ``layer`` for a synthetic stimulus set."""
    from .models.reference import build_reference_net, preprocess_uint8, reference_features
    from .ood.image_stats import load_pixels

    pix = load_pixels(stimuli)
    feats = reference_features(build_reference_net(network_seed), preprocess_uint8(pix), layer).double().numpy()
    return xr.DataArray(feats, dims=("presentation", "feature"),
                        coords={"stimulus_id": ("presentation", list(stimuli.stimulus_ids))})


def pixel_features(stimuli, *, size: int = 16, n_components: int = 256, seed: int = 0) -> xr.DataArray:
    """A fixed, fast feature set: box-downsampled RGB pixels through a seeded random projection.

    A baseline that needs no trained network (the figure's curve shape, not its height,
    is what it shows); swap in a trained network's layer for the paper's numbers.
    """
    from .ood.image_stats import load_pixels

    pix = load_pixels(stimuli, size=size).reshape(len(stimuli), -1).astype(np.float64) / 255.0
    pix = pix - pix.mean(0)
    rng = np.random.default_rng(seed)
    proj = rng.normal(size=(pix.shape[1], n_components)) / np.sqrt(pix.shape[1])
    feats = np.concatenate([pix @ proj, np.abs(pix @ proj)], axis=1)  # a rectified half: some nonlinearity
    return xr.DataArray(feats, dims=("presentation", "feature"),
                        coords={"stimulus_id": ("presentation", list(stimuli.stimulus_ids))})
