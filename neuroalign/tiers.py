"""Tiers on one benchmark: which models' differences are real, at a glance.

From the Scores of several models on one benchmark version (shared draws): every pair is
compared (:func:`neuroalign.comparison.compare_scores`), q-values are Benjamini–Hochberg
over the pairs, and a compact letter display gives each model letters such that two models
share a letter exactly when no significant difference (q < alpha) separates them (Piepho
2004's insert-absorb algorithm). Ranking reliability
(Brain-Score's 2026 bootstrap proposal): ``1 − mean(se²) / Var(scores)`` with each model's
combined bootstrap variance ``se²``. Definitions: docs/methods.md ("Tiers").
"""

from __future__ import annotations

import string
from itertools import combinations

import numpy as np
import pandas as pd

from .comparison import SCALES, bh_fdr, compare_scores
from .resampling import combined_variance, draws_of, interval, sizes_of

ALPHA = 0.05


def pairwise(scores: list) -> pd.DataFrame:
    """Every pair of Scores on one benchmark (rows of :data:`neuroalign.comparison.COLUMNS`),
    q-values by Benjamini–Hochberg over the pairs."""
    rows = [compare_scores(a, b, (a.attrs["model"], b.attrs["model"])) for a, b in combinations(scores, 2)]
    df = pd.DataFrame(rows)
    if len(df):
        df["q_value"] = bh_fdr(df["p_value"].values)
    return df


def letters(order: list[str], different) -> dict[str, str]:
    """Compact letter display for models listed best first; ``different(a, b)``: a significant pair.

    Piepho's (2004) insert-absorb: start with one letter for all; for each significant pair,
    split every letter holding both into two (one without each), then drop letters whose models
    another letter covers. Two models share a letter exactly when no significant difference
    separates them, also when a third model between them differs from one of them (where
    runs of adjacent models would give them no common letter). Letters are named best first."""
    columns = [frozenset(order)]
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if not different(a, b):
                continue
            split = [part for c in columns for part in ((c - {a}, c - {b}) if a in c and b in c else (c,))]
            columns = [c for k, c in enumerate(split)
                       if c and not any(c < d or (c == d and m < k) for m, d in enumerate(split))]
    pos = {m: i for i, m in enumerate(order)}
    columns.sort(key=lambda c: sorted(pos[m] for m in c))
    out = {m: "" for m in order}
    for n, c in enumerate(columns):
        letter = string.ascii_lowercase[n % 26] * (1 + n // 26)
        for m in sorted(c, key=pos.get):
            out[m] += letter
    return out


def ranking_reliability(points, variances) -> float:
    """``1 − mean(se²) / Var(points)`` (Var with ddof 1): 1 when the errors are negligible
    beside the spread of the models, ≤ 0 when the ranking is noise."""
    points, variances = np.asarray(points, float), np.asarray(variances, float)
    ok = np.isfinite(points) & np.isfinite(variances)
    if ok.sum() < 2 or np.var(points[ok], ddof=1) == 0:
        return float("nan")
    return float(1 - np.mean(variances[ok]) / np.var(points[ok], ddof=1))


def benchmark_tiers(scores: list, alpha: float = ALPHA) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """``(models, pairs, reliability)``: per model its score, interval and tier letters (best
    first), the pairwise table, and the benchmark's ranking reliability."""
    pairs = pairwise(scores)
    scale = "normalized" if len(pairs) and (pairs["scale"] == "normalized").all() else "raw"
    if not len(pairs):
        scale = "normalized" if np.isfinite(scores[0].attrs.get("aggregate_normalized", np.nan)) else "raw"
    rows = []
    for s in scores:
        point, draws = float(s.attrs[SCALES[scale]]), draws_of(s, scale)
        lo, hi = interval(point, draws, n=sizes_of(s))
        rows.append({"model": s.attrs["model"], "score": point, "ci_low": lo, "ci_high": hi,
                     "variance": combined_variance(draws, sizes_of(s)), "scale": scale})
    models = pd.DataFrame(rows)
    models = models.sort_values("score", ascending=False, ignore_index=True)
    sig = {frozenset((r.model_a, r.model_b)) for r in pairs.itertuples() if r.q_value < alpha}
    models["tier"] = models["model"].map(letters(list(models["model"]), lambda a, b: frozenset((a, b)) in sig))
    return models, pairs, ranking_reliability(models["score"], models["variance"])
