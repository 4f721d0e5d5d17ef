"""Layer selection that never sees the stimuli a score is reported on.

Two schemes, one per kind of metric:

* **Nested** (encoding, OOD, PLS): per outer fold, each layer's mapping is fitted on the fold's
  training stimuli and the layer with the best inner score *on those training stimuli*
  (GCV for ridge; Brain-Score's protocol on the fold's images for PLS) is the fold's
  choice; the fold's test stimuli score that choice only.
* **Repeated random halves** (RSA, CKA, whose metrics fit no per-image map):
  ``n_repeats`` random halves of the stimuli; on each, the layer is chosen on one half
  and scored on the other. The reported score is the mean over repeats, and its interval
  is mean ± t·sd over repeats (t with n_repeats − 1 degrees of freedom): the spread of a statistic over random half-samples
  estimates the sampling spread of the full-sample statistic (delete-d jackknife with
  d = n/2, Shao & Wu 1989), and it includes the split-to-split variability. See
  docs/methods.md.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def random_halves(ids, n_repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_repeats`` (selection, report) halves of ``ids`` (sorted within each half)."""
    ids = np.asarray(ids)
    rng = np.random.default_rng([int(seed), 7])
    half = len(ids) // 2
    out = []
    for _ in range(int(n_repeats)):
        perm = rng.permutation(len(ids))
        out.append((np.sort(ids[perm[:half]]), np.sort(ids[perm[half:]])))
    return out


def half_sample_interval(values, level: float = 0.95) -> tuple[float, float]:
    """``mean ± t·sd`` of per-repeat scores (NaN when fewer than two finite repeats)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    z = stats.t.ppf(0.5 + level / 2, v.size - 1)  # few halves (PLS: 5): a t quantile, not 1.96
    m, sd = float(v.mean()), float(v.std(ddof=1))
    return m - z * sd, m + z * sd


def corrected_fold_interval(values, n_train: int, n_test: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for the mean of K cross-validation fold scores with Nadeau & Bengio's (2003)
    corrected variance ``(1/K + n_test/n_train)·s²`` (folds share training stimuli, so the
    naive ``s²/K`` is too small), and a t quantile with K−1 degrees of freedom."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    k = v.size
    if k < 2:
        return float("nan"), float("nan")
    se = np.sqrt((1.0 / k + n_test / n_train) * v.var(ddof=1))
    t = stats.t.ppf(0.5 + level / 2, k - 1)
    return float(v.mean() - t * se), float(v.mean() + t * se)


def nested_choice(inner_scores: np.ndarray) -> np.ndarray:
    """Per fold, the index of the layer with the best inner score: ``(layer, fold)`` → ``(fold,)``."""
    s = np.where(np.isfinite(inner_scores), inner_scores, -np.inf)
    return np.argmax(s, axis=0)
