"""Which differences on the leaderboard are real: tiers, pairwise tables and the aggregate.

Read from the score NetCDFs the workflow writes (``results/scores/<model>/<bench>.nc``):
every Score of one benchmark version holds the same shared draws (:mod:`neuroalign.resampling`),
so each benchmark gets the pairwise comparisons, compact-letter tiers and ranking reliability of
:func:`neuroalign.tiers.benchmark_tiers`. The aggregate (the ranked overall score, a weighted
mean of normalised scores over one benchmark set) is resampled the same way: each model's
per-benchmark draws, weighted and summed draw by draw, then compared like a benchmark. Kinds
whose Scores carry no draws are named ("no paired draws"), never guessed. Definitions:
docs/methods.md ("Tiers and ranking reliability", "The leaderboard's aggregate").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError
from ..resampling import FACTORS, draws_of
from ..tiers import benchmark_tiers

NO_DRAWS = "no paired draws"
#: The attributes a Score keeps that the decisions read (the rest of the file is not loaded).
ATTRS = ("model", "benchmark", "kind", "benchmark_version", "benchmark_hash", "resample_key", "aggregate_raw",
         "aggregate_normalized", "n_stimuli")


def read_scores(folder) -> dict[tuple[str, str], xr.Dataset]:
    """``{(model, benchmark): Score}`` from every ``*.nc`` under ``folder`` (the workflow's
    ``scores/<model>/<bench>.nc``), each with only its attributes and shared draws loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"scores folder {folder} does not exist; give the workflow's results/scores folder.")
    out = {}
    for path in sorted(folder.rglob("*.nc")):
        try:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                keep = [v for v in ("resample_raw", "resample_normalized") if v in ds]
                light = ds[keep].load() if keep else xr.Dataset()
                light.attrs = {k: ds.attrs[k] for k in ATTRS if k in ds.attrs}
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable score file ({exc}); rerun the score rule that writes it.") from None
        if "model" in light.attrs and "benchmark" in light.attrs:
            out[(str(light.attrs["model"]), str(light.attrs["benchmark"]))] = light
    return out


def _row(model: str, why: str = "") -> dict:
    return {"model": model, "score": None, "ci_low": None, "ci_high": None, "tier": None, "why": why}


def _clean(v):
    v = float(v)
    return v if np.isfinite(v) else None


def decide(scores: list[xr.Dataset], without: dict[str, str] | None = None) -> dict:
    """One benchmark (or the aggregate): ``{scale, reliability, models: [{model, score, ci_low,
    ci_high, tier, why}] best first, pairs: [{model_a, model_b, diff, ci_low, ci_high, q_value}]}``.
    ``without``: models shown without a tier, with the reason."""
    out = {"scale": None, "reliability": None, "models": [], "pairs": []}
    if len(scores) >= 2:
        models, pairs, reliability = benchmark_tiers(scores)
        out.update(scale=str(models["scale"].iloc[0]), reliability=_clean(reliability))
        out["models"] = [{"model": r.model, "score": _clean(r.score), "ci_low": _clean(r.ci_low),
                          "ci_high": _clean(r.ci_high), "tier": r.tier, "why": ""} for r in models.itertuples()]
        out["pairs"] = [{k: (_clean(getattr(r, k)) if k not in ("model_a", "model_b") else getattr(r, k))
                         for k in ("model_a", "model_b", "diff", "ci_low", "ci_high", "p_value", "q_value")}
                        for r in pairs.itertuples()]
    elif scores:
        without = {**(without or {}), str(scores[0].attrs["model"]): "the only model with paired draws: no tier"}
    out["models"] += [_row(m, why) for m, why in sorted((without or {}).items())]
    return out


def matching(scores: dict, picked: dict) -> tuple[dict, dict]:
    """``(usable, why)``: the Scores of the results rows ``picked`` ({(model, benchmark): row}) of
    the same version (content hash), and for the others why they cannot be compared."""
    usable, why = {}, {}
    for key, row in picked.items():
        s = scores.get(key)
        if s is None:
            why[key] = "no score file"
        elif _stale(s, row):
            why[key] = f"score file of another version ({s.attrs.get('benchmark_hash')})"
        else:
            usable[key] = s
    return usable, why


def benchmark_decisions(scores: dict, picked: dict, benchmarks: list[str]) -> dict[str, dict]:
    """Per benchmark, :func:`decide` over the models whose Score matches the results row
    (same content hash) and carries draws; the others named with why they have no tier."""
    ok, why = matching(scores, picked)
    out = {}
    for b in benchmarks:
        usable, without = [], {}
        for (m, bench) in picked:
            if bench != b:
                continue
            s = ok.get((m, b))
            if s is None:
                without[m] = why[(m, b)]
            elif "resample_raw" not in s:
                without[m] = f"{NO_DRAWS} ({s.attrs.get('kind', 'this kind')} scores carry none yet)"
            else:
                usable.append(s)
        out[b] = decide(usable, without)
    return out


def _stale(s: xr.Dataset, row) -> bool:
    h = row.get("benchmark_hash")
    return isinstance(h, str) and bool(h) and str(s.attrs.get("benchmark_hash", h)) != h


def _all_factors(draws: dict, point: float) -> dict:
    """A one-factor Score's draws as three factors: units drawn alone leave it at its point."""
    if set(draws) == set(FACTORS):
        return draws
    d = draws["stimuli"]
    return {"both": d, "stimuli": d, "units": np.full_like(d, point)}


def aggregate_draws(scores: list[xr.Dataset], weights: list[float]) -> dict:
    """``factor -> Σ_b w_b · normalised draws_b``: the aggregate resampled with the shared draws."""
    parts = [draws_of(s, "normalized") for s in scores]
    if any(set(p) != {"stimuli"} for p in parts):
        parts = [_all_factors(p, float(s.attrs["aggregate_normalized"])) for p, s in zip(parts, scores)]
    return {f: sum(w * p[f] for w, p in zip(weights, parts)) for f in parts[0]}


def aggregate_decision(scores: dict, data: dict, weights: dict[str, float]) -> dict:
    """The ranked aggregate (``weights``: benchmark -> weight, summing to 1) compared with the
    shared draws over the models ranked on it; a benchmark of the set without draws for a
    model stops the comparison and is named."""
    ranked = [m for m in data["models"] if m["rank"] is not None]
    if not ranked or not weights:
        return {**decide([]), "benchmarks": sorted(weights)}
    lacking = sorted({b for m in ranked for b in weights if not _has_normalized_draws(scores.get((m["model"], b)))})
    out = decide([])
    out["benchmarks"] = sorted(weights)
    if lacking:
        out["missing_draws"] = lacking
        out["models"] = [_row(m["model"], f"{NO_DRAWS} for {', '.join(lacking)}") for m in ranked]
        return out
    key = "aggregate:" + hashlib.sha256("|".join(str(scores[(ranked[0]["model"], b)].attrs.get("resample_key"))
                                                 for b in sorted(weights)).encode()).hexdigest()[:16]
    agg = []
    for m in ranked:
        members = [scores[(m["model"], b)] for b in sorted(weights)]
        d = aggregate_draws(members, [weights[b] for b in sorted(weights)])
        ds = xr.Dataset({"resample_normalized": (("factor", "resample"), np.stack(list(d.values())))},
                        coords={"factor": list(d)})
        ds["resample_raw"] = ds["resample_normalized"] * np.nan
        ds.attrs = {"model": m["model"], "benchmark": "aggregate", "benchmark_version": 0, "benchmark_hash": key,
                    "resample_key": key, "aggregate_normalized": m["overall"], "aggregate_raw": np.nan}
        agg.append(ds)
    return {**decide(agg), "benchmarks": sorted(weights)}


def _has_normalized_draws(s) -> bool:
    return s is not None and "resample_normalized" in s and bool(np.isfinite(s["resample_normalized"].values).any())


def set_interval(scores: dict, model: str, weights: dict[str, float]) -> list[float] | None:
    """The 95 % interval of ``model``'s weighted mean of normalised scores over ``weights``'
    benchmarks from the shared draws (None when one of them has no draws)."""
    from ..resampling import interval

    members = [scores.get((model, b)) for b in weights]
    if not members or not all(_has_normalized_draws(s) for s in members):
        return None
    point = sum(w * float(s.attrs["aggregate_normalized"]) for w, s in zip(weights.values(), members))
    lo, hi = interval(point, aggregate_draws(members, list(weights.values())))
    return [_clean(lo), _clean(hi)] if np.isfinite(lo) else None
