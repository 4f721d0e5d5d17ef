"""Noise ceilings from single trials: how much of a neuron's response is repeatable at all.

All functions take a single-trial assembly (presentation × neuroid with repeats of each
``stimulus_id``), reshape it with :func:`neuroalign.data.assembly.trials_array`
(stimulus × repetition × neuroid, NaN-padded) and return a per-neuroid DataArray whose
boolean coord ``low_ceiling`` flags neurons whose ceiling is below ``min_ceiling`` —
these should be reported and excluded, not silently averaged into a normalised score.
Pass ``stimulus_ids`` to compute a ceiling on exactly the test stimuli of a score.

The default ceiling of every score, :func:`averaged_reliability`, is the reliability of
exactly the averaged responses a model is scored against — each image's own finite
trials per neuroid, however many. :func:`split_half_reliability` is Brain-Score's
internal consistency (one split of repetition indices shared by all images), kept under
its own name for parity; it is biased when images have unequal repeat counts.
Formulas and references: docs/methods.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .data.assembly import stimulus_ids, trials_array
from .errors import DataError


def _wrap(values: np.ndarray, assembly: xr.DataArray, name: str, min_ceiling: float, attrs: dict) -> xr.DataArray:
    coords = {k: ("neuroid", c.values) for k, c in assembly.coords.items() if c.dims == ("neuroid",)}
    low = ~(values >= min_ceiling)  # NaN counts as low
    coords["low_ceiling"] = ("neuroid", low)
    return xr.DataArray(values, dims=("neuroid",), coords=coords, name=name,
                        attrs={**attrs, "min_ceiling": min_ceiling, "n_low_ceiling": int(low.sum())})


def _trials(assembly, stimulus_ids, min_repeats=2) -> np.ndarray:
    trials, _ = trials_array(assembly, stimulus_ids)
    n_rep = np.isfinite(trials).sum(1)
    if np.nanmax(n_rep) < min_repeats:
        raise DataError(f"ceiling: needs ≥{min_repeats} repetitions per stimulus; the assembly has at most {int(np.nanmax(n_rep))}.")
    return trials


def _pairwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per column over rows where both are finite (NaN if < 3 rows or constant)."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(0)
    a0, b0 = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a0.sum(0) / n, b0.sum(0) / n
        ac, bc = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
        r = (ac * bc).sum(0) / np.sqrt((ac**2).sum(0) * (bc**2).sum(0))
    r[n < 3] = np.nan
    return r


def spearman_brown(r, factor: float = 2.0):
    """Reliability of a ``factor``-times longer measurement: k·r / (1 + (k-1)·r)."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_reliability(assembly: xr.DataArray, *, n_splits: int = 10, seed: int = 0,
                           stimulus_ids=None, min_ceiling: float = 0.1) -> xr.DataArray:
    """Brain-Score's internal consistency, Spearman-Brown corrected to the full trial count.

    Each split draws a random half of the repetition indices (the same for all stimuli,
    as Brain-Score splits the ``repetition`` coord), averages each half per stimulus
    (NaN-aware), correlates the two half means across stimuli per neuroid, and corrects
    with Spearman-Brown (factor 2: halves → all trials). Returned: the mean over splits
    of the corrected values (Brain-Score's order).
    """
    trials = _trials(assembly, stimulus_ids)
    R = trials.shape[1]
    rng = np.random.default_rng(seed)
    out = np.zeros((n_splits, trials.shape[2]))
    for k in range(n_splits):
        perm = rng.permutation(R)
        h1, h2 = perm[: R // 2], perm[R // 2:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m1, m2 = np.nanmean(trials[:, h1], axis=1), np.nanmean(trials[:, h2], axis=1)
        out[k] = spearman_brown(_pairwise_pearson(m1, m2), 2.0)
    vals = out.mean(0)
    return _wrap(vals, assembly, "split_half_reliability", min_ceiling,
                 {"method": "split-half Pearson r, Spearman-Brown corrected (factor 2)", "n_splits": n_splits,
                  "aggregate_brainscore": float(np.mean(np.nanmedian(out, axis=1))),  # its order: median, then mean
                  "seed": seed, "n_repetitions": R, "n_stimuli": trials.shape[0]})


internal_consistency = split_half_reliability  # Brain-Score's name for it


def averaged_reliability(assembly: xr.DataArray, *, stimulus_ids=None, min_ceiling: float = 0.1) -> xr.DataArray:
    """Reliability of the trial-averaged responses, from variance components, per neuroid.

    With ``ȳ_i`` the mean of image *i*'s ``n_i`` finite trials (per neuroid) and ``s²_i``
    their variance (ddof 1), the noise variance of ``ȳ_i`` is estimated without bias by
    ``s²_i / n_i`` (images with one trial use the pooled within-image variance), and

        reliability = 1 − mean_i(s²_i / n_i) / Var_i(ȳ_i)        (Var over images, ddof 1)

    — an estimate of ``var_s / (var_s + mean_i σ²_i / n_i)``, the squared correlation of
    the averages with the noise-free responses: the largest r² any model can reach
    against exactly these averages. Unequal and missing repeats are handled per image and
    neuroid; on a balanced design it estimates what split-half + Spearman–Brown does.
    """
    trials = _trials(assembly, stimulus_ids)
    n = np.isfinite(trials).sum(1).astype(np.float64)  # (stimulus, neuroid)
    means, noise_of_mean = reliability_parts(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        noise = np.nanmean(noise_of_mean, axis=0)
        total = np.nanvar(means, axis=0, ddof=1)
        rel = 1.0 - noise / total
    harmonic = _harmonic_repeats(trials)
    return _wrap(rel, assembly, "reliability", min_ceiling,
                 {"method": "variance components: 1 - mean_i(s_i^2/n_i) / Var_i(mean_i), per neuroid",
                  "n_stimuli": trials.shape[0], "n_repetitions_min": int(n.min()), "n_repetitions_max": int(n.max()),
                  "n_repetitions_harmonic_mean": float(np.nanmean(harmonic))})


def reliability_parts(trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image and neuroid, the mean ``ȳ_i`` of its finite trials and the unbiased noise
    variance of that mean (``s²_i / n_i``; the pooled within-image variance for one-trial
    images): what :func:`averaged_reliability` averages, kept apart so that resamples of
    images (:mod:`neuroalign.resampling`) recompute the ceiling as weighted sums."""
    n = np.isfinite(trials).sum(1).astype(np.float64)  # (stimulus, neuroid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(trials, axis=1)
        var_i = np.nanvar(trials, axis=1, ddof=1)  # NaN where n < 2
        df = np.clip(n - 1, 0, None)
        pooled = np.nansum(np.where(df > 0, var_i * df, 0.0), 0) / df.sum(0)
        noise_of_mean = np.where(n >= 2, var_i / np.where(n > 0, n, np.nan), pooled[None, :])
    return means, np.where(n > 0, noise_of_mean, np.nan)


def _noise_var(trials: np.ndarray) -> np.ndarray:
    """Mean over stimuli of the across-repeat variance (ddof=1), per neuroid: each image
    weighs the same whatever its repeat count (images with < 2 finite trials are left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.nanvar(trials, axis=1, ddof=1)  # (stimulus, neuroid); NaN with < 2 repeats
        return np.nanmean(v, axis=0)


def _harmonic_repeats(trials: np.ndarray) -> np.ndarray:
    """Per neuroid, the harmonic mean over images of the finite trial count: the ``n`` with
    ``σ²/n`` = the mean noise variance of the image averages."""
    n = np.isfinite(trials).sum(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n > 0).sum(0) / np.where(n > 0, 1.0 / np.where(n > 0, n, 1), 0.0).sum(0)


def ncsnr(assembly: xr.DataArray, *, n_trials: float | None = None, stimulus_ids=None,
          min_ceiling: float = 1.0) -> tuple[xr.DataArray, xr.DataArray]:
    """Noise-ceiling SNR and noise ceiling as in the Natural Scenes Dataset (Allen et al. 2022).

    Each neuroid's trials are z-scored over all trials; noise sd = sqrt(mean over
    stimuli of the across-repeat variance); signal sd = sqrt(max(1 - noise var, 0));
    ``ncsnr = signal sd / noise sd``; ``NC = 100·ncsnr² / (ncsnr² + 1/n)`` — the percent of
    variance of ``n``-trial averages a perfect model explains (``n`` defaults to the mean
    repeat count). Returns ``(ncsnr, nc)``; ``low_ceiling`` flags NC < ``min_ceiling`` %.
    ``n`` defaults, per neuroid, to the harmonic mean over images of its finite trial
    count: with unequal repeats that is the ``n`` for which ``σ²/n`` is the mean noise
    variance of the image averages.
    """
    trials = _trials(assembly, stimulus_ids)
    flat = trials.reshape(-1, trials.shape[2])
    mu, sd = np.nanmean(flat, 0), np.nanstd(flat, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (trials - mu) / sd
        noise = _noise_var(z)
        snr = np.sqrt(np.maximum(1.0 - noise, 0.0)) / np.sqrt(noise)
    n = _harmonic_repeats(trials) if n_trials is None else np.full(trials.shape[2], float(n_trials))
    nc = 100.0 * snr**2 / (snr**2 + 1.0 / n)
    attrs = {"method": "NSD ncsnr", "n_trials": float(np.nanmean(n)) if n_trials is None else float(n_trials),
             "n_trials_rule": "harmonic mean of finite trials per image, per neuroid" if n_trials is None
             else "given", "n_stimuli": trials.shape[0]}
    nc_da = _wrap(nc, assembly, "noise_ceiling", min_ceiling, {**attrs, "units": "percent"})
    snr_da = _wrap(snr, assembly, "ncsnr", -np.inf, attrs).assign_coords(low_ceiling=nc_da["low_ceiling"])
    snr_da.attrs.update(min_ceiling_percent=min_ceiling, n_low_ceiling=nc_da.attrs["n_low_ceiling"])
    return snr_da, nc_da


def _repeated(trials: np.ndarray) -> np.ndarray:
    """``trials`` with images that have fewer than two finite trials (per neuroid) masked:
    they carry no noise estimate, so FEVE leaves them out on every side of its ratio."""
    n = np.isfinite(trials).sum(1)
    return np.where((n >= 2)[:, None, :], trials, np.nan)


def variance_parts(trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per neuroid, the single-trial variance and the noise variance of ``trials``
    ``(stimulus, repetition, neuroid)``: the parts of explainable variance and FEVE.

    Both weigh every image equally whatever its repeat count (as the squared error in
    :func:`feve_from_trials` does): total = mean over images of the mean squared deviation
    of its trials from the grand mean of image means; noise = mean over images of the
    across-repeat variance (ddof 1). Images with < 2 finite trials are left out.
    """
    t = _repeated(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grand = np.nanmean(np.nanmean(t, axis=1), axis=0)
        total = np.nanmean(np.nanmean((t - grand) ** 2, axis=1), axis=0)
    return total, _noise_var(t)


def feve_from_trials(trials: np.ndarray, pred: np.ndarray, parts=None) -> tuple[np.ndarray, np.ndarray]:
    """FEVE and explainable variance per neuroid from ``trials`` and ``pred`` (stimulus ×
    neuroid, same order); ``parts`` (:func:`variance_parts` of ``trials``) when already known.
    The squared error is averaged over each image's trials, then over images (equal weight)."""
    total, noise = variance_parts(trials) if parts is None else parts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mse = np.nanmean(np.nanmean((_repeated(trials) - pred[:, None, :]) ** 2, axis=1), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - (mse - noise) / (total - noise), (total - noise) / total


def explainable_variance(assembly: xr.DataArray, *, stimulus_ids=None, min_ceiling: float = 0.05) -> xr.DataArray:
    """Sensorium's fraction of explainable variance of single trials: (Var[y] - σ²_noise) / Var[y]."""
    trials = _trials(assembly, stimulus_ids)
    total, noise = variance_parts(trials)
    with np.errstate(invalid="ignore", divide="ignore"):
        ev = (total - noise) / total
    return _wrap(ev, assembly, "explainable_variance", min_ceiling,
                 {"method": "Sensorium fraction of explainable variance", "n_stimuli": trials.shape[0]})


def feve(assembly: xr.DataArray, predictions: xr.DataArray, *, min_ceiling: float = 0.05) -> xr.DataArray:
    """Fraction of explainable variance explained (Sensorium; Cadena et al. 2019).

    ``FEVE = 1 - (MSE - σ²_noise) / (Var[y] - σ²_noise)`` over single trials ``y`` of the
    stimuli in ``predictions`` (stimulus × neuroid, coord ``stimulus_id``, joined by id):
    a noise-corrected R² that is 1 for a model predicting the true mean response.
    Neurons with explainable variance below ``min_ceiling`` are flagged.
    """
    sids = stimulus_ids(predictions)
    trials = _trials(assembly, sids)
    pred = np.asarray(predictions.transpose(predictions["stimulus_id"].dims[0], "neuroid").values, dtype=np.float64)
    if pred.shape[1] != trials.shape[2]:
        raise DataError(f"feve: predictions have {pred.shape[1]} neuroids, the assembly {trials.shape[2]}.")
    pid = predictions["neuroid_id"].values.astype(str) if "neuroid_id" in predictions.coords else None
    if pid is not None and not np.array_equal(pid, assembly["neuroid_id"].values.astype(str)):
        raise DataError("feve: predictions and assembly list different neuroid_ids (or in another order).")
    val, ev = feve_from_trials(trials, pred)
    out = _wrap(val, assembly, "feve", -np.inf, {"method": "Sensorium FEVE", "n_stimuli": trials.shape[0]})
    low = ~(ev >= min_ceiling)
    out = out.assign_coords(low_ceiling=("neuroid", low), explainable_variance=("neuroid", ev))
    out.attrs.update(min_ceiling=min_ceiling, n_low_ceiling=int(low.sum()))
    return out
