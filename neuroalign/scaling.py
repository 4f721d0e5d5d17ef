"""The scaling law of sensory digital twins: predictivity against recording time.

NeuroAI for AI Safety (arXiv 2411.18526, Fig. 6) fits the fraction of explainable
variance a model explains against the recording time spent to train it
(images × repeats × trial length) with a sigmoid in log time,
``y = ymax / (1 + exp(-k (log10 t - log10 t50)))``. :func:`fit_sigmoid` fits that curve
and bootstraps intervals on ``(ymax, k, t50)`` by resampling points;
:func:`scaling_experiment` produces the points by subsampling the images and repeats
of a recording, fitting a ridge encoding model on the subsample and scoring it on
held-out images with every repeat (so the evaluation is the same for every point).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import OptimizeWarning, curve_fit
from sklearn.base import clone

from .ceiling import explainable_variance, feve_from_trials, variance_parts
from .data.assembly import feature_rows, select_stimuli, trials_array, validate_assembly
from .errors import DataError

PARAMS = ("ymax", "k", "t50")


def sigmoid_log10(t, ymax: float, k: float, t50: float) -> np.ndarray:
    """``ymax / (1 + exp(-k (log10 t - log10 t50)))``."""
    x = np.log10(np.asarray(t, dtype=np.float64))
    return ymax / (1.0 + np.exp(-k * (x - np.log10(t50))))


def _model_x(x, ymax, k, x50):
    return ymax / (1.0 + np.exp(-k * (x - x50)))


@dataclass
class SigmoidFit:
    """Fitted ``(ymax, k, t50)`` with percentile-bootstrap intervals (``ci``: level)."""

    ymax: float
    k: float
    t50: float
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    ci: float
    n_points: int
    n_boot: int
    boot: np.ndarray = field(repr=False)  # (n_ok, 3) rows of (ymax, k, t50)

    def predict(self, t) -> np.ndarray:
        return sigmoid_log10(t, self.ymax, self.k, self.t50)

    def table(self) -> pd.DataFrame:
        """One row per parameter: estimate, ci_low, ci_high (what figures save)."""
        return pd.DataFrame(
            {"parameter": list(PARAMS),
             "estimate": [self.ymax, self.k, self.t50],
             "ci_low": [self.ci_low[p] for p in PARAMS],
             "ci_high": [self.ci_high[p] for p in PARAMS],
             "ci_level": self.ci, "n_points": self.n_points, "n_boot_ok": len(self.boot)}
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


def fit_sigmoid(t, y, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> SigmoidFit:
    """Least-squares sigmoid in ``log10 t``, with a bootstrap over (t, y) points.

    ``k`` is constrained positive (predictivity grows with data), ``ymax`` to
    ``[0, 10·max|y|]`` and ``log10 t50`` to three decades either side of the data.
    Bootstrap resamples with fewer than three distinct times are skipped (the curve
    is not identifiable from them); ``boot`` keeps the fits that converged.
    """
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise DataError(f"fit_sigmoid: t has {t.size} points, y has {y.size}.")
    ok = np.isfinite(t) & np.isfinite(y) & (t > 0)
    t, y = t[ok], y[ok]
    if np.unique(t).size < 3:
        raise DataError(f"fit_sigmoid: need at least 3 distinct positive recording times, got {np.unique(t).size}.")
    x = np.log10(t)
    ytop = max(float(np.abs(y).max()), 1e-6)
    bounds = ([0.0, 1e-3, x.min() - 3.0], [10.0 * ytop, 100.0, x.max() + 3.0])
    p0 = [min(ytop * 1.05, bounds[1][0]), 2.0 / max(np.ptp(x), 1e-3) * 2.0, float(np.median(x))]
    try:
        best = _fit_once(x, y, p0, bounds)
    except RuntimeError as exc:
        raise DataError(f"fit_sigmoid: the sigmoid fit did not converge on {t.size} points ({exc}).") from exc

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
    boot = np.array(boot).reshape(-1, 3)
    boot[:, 2] = 10.0 ** boot[:, 2]
    alpha = (1.0 - ci) / 2.0
    if len(boot):
        lo = np.quantile(boot, alpha, axis=0)
        hi = np.quantile(boot, 1.0 - alpha, axis=0)
    else:
        lo = hi = np.full(3, np.nan)
    return SigmoidFit(
        ymax=float(best[0]), k=float(best[1]), t50=float(10.0 ** best[2]),
        ci_low=dict(zip(PARAMS, map(float, lo))), ci_high=dict(zip(PARAMS, map(float, hi))),
        ci=ci, n_points=int(t.size), n_boot=n_boot, boot=boot,
    )


# ---------------------------------------------------------------------------------------
# the experiment


def _default_estimator():
    from .mapping import RidgeCV

    return RidgeCV(alphas=np.logspace(-3, 6, 19), cv="gcv", alpha_per_target=True, dtype="float64", device="cpu")


def default_grid(assembly: xr.DataArray, n_points: int = 6, n_test: float = 0.2) -> tuple[list[int], list[int]]:
    """Image counts on a log grid from 10 to 80 % of the training pool (the stimuli left
    after ``n_test``), and repeat counts 1, 2, half and all of the recorded repetitions."""
    n_img = len(np.unique(assembly["stimulus_id"].values))
    pool = n_img * (1 - n_test)
    images = [int(x) for x in np.unique(np.geomspace(10, 0.8 * pool, n_points).astype(int))]
    reps = int(assembly["repetition"].max()) + 1
    return images, sorted({1, 2, max(1, reps // 2), reps})


def scaling_experiment(
    assembly: xr.DataArray,
    features: xr.DataArray,
    image_counts,
    repeat_counts,
    *,
    trial_length_s: float = 0.1,
    seed: int = 0,
    n_test: int | float = 0.2,
    n_draws: int = 1,
    estimator=None,
    min_explainable: float = 0.05,
    dataset: str | None = None,
) -> pd.DataFrame:
    """Predictivity of ridge encoding models trained on subsampled recordings.

    A fixed set of ``n_test`` held-out stimuli (a count, or a fraction of the stimuli)
    is scored with all its repeats for every point. For each ``n_images`` in
    ``image_counts``, ``n_repeats`` in ``repeat_counts`` and draw, ``n_images``
    training stimuli are drawn from the rest, and ``n_repeats`` of each stimulus's
    recorded trials (all of them if it has fewer) are averaged as the training target.
    ``estimator`` (default: ``neuroalign.mapping.RidgeCV``, per-neuroid alpha by GCV)
    maps features (joined on ``stimulus_id``) to responses.

    Returns one row per point: ``dataset, n_images, n_repeats, draw, n_trials,
    recording_time_s`` (trials actually used × ``trial_length_s``), ``feve`` (mean of
    :func:`neuroalign.ceiling.feve` over neuroids whose single-trial explainable variance
    on the test stimuli is ≥ ``min_explainable``), ``feve_median``, ``n_neuroids``,
    ``n_test``.
    """
    validate_assembly(assembly)
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
    test_assembly = select_stimuli(assembly, test_ids)
    ev = explainable_variance(test_assembly, stimulus_ids=test_ids, min_ceiling=min_explainable)
    keep = ~ev["low_ceiling"].values
    if not keep.any():
        raise DataError(
            f"scaling_experiment: no neuroid has an explainable variance ≥ {min_explainable} on the "
            f"{n_test} test stimuli (max {float(ev.max()):.3f}); lower min_explainable or add test stimuli."
        )
    test_trials = trials[test]
    test_parts = variance_parts(test_trials)  # the test set never changes: its variances, once
    finite = np.isfinite(trials).all(axis=2)  # (stimulus, repetition): a complete trial
    est = estimator if estimator is not None else _default_estimator()
    rows = []
    for n_img in image_counts:
        for n_rep in repeat_counts:
            for draw in range(n_draws):
                train = rng.choice(pool, size=int(n_img), replace=False)
                Y = np.empty((len(train), trials.shape[2]))
                used = 0
                for j, s in enumerate(train):
                    reps = np.flatnonzero(finite[s])
                    pick = rng.choice(reps, size=min(int(n_rep), len(reps)), replace=False)
                    Y[j] = trials[s, pick].mean(0)
                    used += len(pick)
                model = clone(est).fit(X_all[train], Y)
                pred = np.asarray(model.predict(X_all[test]), dtype=np.float64)
                f = feve_from_trials(test_trials, pred, test_parts)[0][keep]
                rows.append({
                    "dataset": dataset or str(assembly.attrs.get("identifier", assembly.name or "assembly")),
                    "n_images": int(n_img), "n_repeats": int(n_rep), "draw": draw,
                    "n_trials": used, "recording_time_s": used * trial_length_s,
                    "feve": float(np.mean(f)), "feve_median": float(np.median(f)),
                    "n_neuroids": int(keep.sum()), "n_test": n_test,
                })
    return pd.DataFrame(rows)


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
