"""The leaderboard's numbers: one score per model × benchmark, per region, overall.

Ranking follows Brain-Score's shape: each brain benchmark's ceiling-normalised score
(the results table's ``normalized``, the one convention per kind, docs/methods.md), the
mean over a region's benchmarks, then the mean over regions. Benchmarks of the check
regions (:data:`neuroalign.scoring.CHECK_REGIONS`, known answers) are kept apart and
never ranked. Every number keeps the 1-based row of ``results.csv`` it comes from.

The results table is read tolerantly: CSVs written before a column existed still load
(missing columns are empty), and tables without ``scope=reported`` rows fall back to the
selected layer of each model × benchmark.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError, DataError
from ..yamlsafe import describe, safe_load
from ..figures._common import load_results
from ..scoring import CHECK_REGIONS

#: Regions in the order a reader expects them (early visual to behaviour); others follow alphabetically.
REGION_ORDER = ("V1", "V2", "V4", "IT", "behaviour", "behavior")
#: Columns newer than some results CSVs: added empty when absent.
TEXT_EXTRA = ("scope", "region", "normalization", "excluded_reason", "protocol", "model_identity", "spec",
              "benchmark_hash")
NUMERIC_EXTRA = ("brainscore_normalized", "n_excluded", "id_normalized", "ood_normalized", "normalized_ci_low",
                 "normalized_ci_high", "benchmark_version")
#: Per-benchmark fields carried into the JSON export and the model pages.
FIELDS = ("kind", "region", "layer", "raw", "ceiling", "normalized", "brainscore_normalized", "ci_low", "ci_high",
          "ceiling_low", "ceiling_high", "id_score", "ood_score", "gap", "ratio", "id_normalized", "ood_normalized",
          "normalization", "n_neuroids", "n_excluded", "excluded_reason", "n_stimuli", "protocol",
          "normalized_ci_low", "normalized_ci_high")
NOT_SCORED = "not scored"


def read_results(results) -> pd.DataFrame:
    """Every row of the results table with ``results_row`` (its 1-based data row) and the newer columns."""
    df = load_results(results, scope=None).reset_index(drop=True)
    df["results_row"] = np.arange(1, len(df) + 1)
    for c in TEXT_EXTRA:
        if c not in df.columns:
            df[c] = np.nan
    for c in NUMERIC_EXTRA:
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df.columns else np.nan
    df["region"] = df["region"].where(df["region"].notna(), "unknown").astype(str)
    return df


def _pick(g: pd.DataFrame) -> pd.Series:
    """The row that scores a model on a benchmark: the ``reported`` one, else the selected layer,
    else the only row, else the best layer (marked, since it was chosen on the test data)."""
    scope = g["scope"].astype(str)
    if (scope == "reported").any():
        return g[scope == "reported"].iloc[0].copy()
    sel = g[g["selected"]]
    if len(sel):
        return sel.iloc[0].copy()
    if len(g) == 1:
        return g.iloc[0].copy()
    key = g["normalized"] if g["normalized"].notna().any() else g["raw"]
    row = g.loc[key.idxmax()].copy()
    row["layer"] = f"{row['layer']} (best on test)"
    return row


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _text(v) -> str:
    return "" if v is None or (np.ndim(v) == 0 and pd.isna(v)) else str(v).strip()


def missing_reason(row) -> str:
    """Why a scored benchmark has no normalised value, in words a reader can act on."""
    norm, excluded = _text(row.get("normalization")), _text(row.get("excluded_reason"))
    if excluded.startswith("refused:"):  # a sandboxed model's output failed the host's checks
        return excluded
    no_ceiling = not _finite(row.get("ceiling"))
    if not _finite(row.get("raw")) and not _finite(row.get("normalized")):
        return "no score: the row has neither raw nor normalised value"
    if norm.lower().startswith("none"):
        detail = norm[4:].strip(" :()")
        head = "no ceiling" if no_ceiling else "not normalised"
        return f"{head}: {detail}" if detail else head
    if no_ceiling:
        return f"no ceiling: {excluded}" if excluded else "no ceiling"
    if excluded:
        return f"not normalised: {excluded}"
    return "not normalised"


def _json_value(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is None or (np.ndim(v) == 0 and pd.isna(v)):
        return None
    return v if isinstance(v, (int, str)) else str(v)


def _region_order(regions) -> list[str]:
    regions = list(dict.fromkeys(regions))
    known = [r for r in REGION_ORDER if r in regions]
    return known + sorted(r for r in regions if r not in known)


def load_model_info(paths) -> dict[str, dict]:
    """Model details from YAML files shaped like the submissions file (``models: {name: {...}}``,
    as ``neuroalign submit`` writes it, or a workflow config's ``models``); later files add to earlier."""
    info: dict[str, dict] = {}
    for p in paths or ():
        p = Path(p)
        if not p.is_file():
            raise ConfigError(f"model details file {p} does not exist (give a submissions YAML or drop the option).")
        try:
            data = safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"model details file {p} is not valid YAML{describe(exc)}.") from None
        models = data.get("models", data) if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise ConfigError(f"{p}: expected a mapping `models: {{name: {{spec, authors, ...}}}}`.")
        for name, entry in models.items():
            if isinstance(entry, dict):
                info.setdefault(str(name), {}).update({k: v for k, v in entry.items() if v is not None})
    return info


def _versions(df: pd.DataFrame) -> dict[str, tuple]:
    """``benchmark -> (version, hash)`` of the rows; one benchmark with two hashes is refused
    (the leaderboard never averages across versions)."""
    from ..versions import version_label

    out: dict[str, tuple] = {}
    if "benchmark_hash" not in df.columns:
        return out
    for bench, rows in df.groupby("benchmark", sort=False):
        pairs = {(h, v) for h, v in rows[["benchmark_hash", "benchmark_version"]].itertuples(index=False)
                 if isinstance(h, str) and h}
        if len({h for h, _ in pairs}) > 1:
            labels = sorted(version_label(int(v) if _finite(v) else "?", h) for h, v in pairs)
            raise DataError(f"benchmark {bench!r} has rows of two versions ({' and '.join(labels)}) in the results "
                            "table; rescore every model on one version (`neuroalign results` refuses such merges).")
        if pairs:
            h, v = pairs.pop()
            out[bench] = (int(v) if _finite(v) else None, h)
    return out


def _aggregate(entry: dict, brain: list[str], ranked_set: list[str], bench_region: dict, regions: list[str]) -> None:
    """Region means and the overall over the ranked set, only where the model has every one of its
    benchmarks normalised (never ranked by omission); ``n_in_set`` of ``n_set`` says how many."""
    have = {b for b in ranked_set if b in entry["benchmarks"] and entry["benchmarks"][b]["normalized"] is not None}
    entry["region_missing"] = {}
    for r in regions:
        mine = [b for b in ranked_set if bench_region[b] == r]
        entry["regions"][r] = (float(np.mean([entry["benchmarks"][b]["normalized"] for b in mine]))
                               if mine and set(mine) <= have else None)
        if mine and not set(mine) <= have:
            entry["region_missing"][r] = f"{len(have & set(mine))}/{len(mine)} normalised"
    entry["n_set"], entry["n_in_set"] = len(ranked_set), len(have)
    means = [entry["regions"][r] for r in regions if any(bench_region[b] == r for b in ranked_set)]
    entry["overall"] = float(np.mean(means)) if ranked_set and len(have) == len(ranked_set) else None


def set_weights(ranked_set: list[str], bench_region: dict) -> dict[str, float]:
    """Each ranked benchmark's weight in the overall (mean over regions of region means)."""
    regions = {bench_region[b] for b in ranked_set}
    return {b: 1.0 / (len(regions) * sum(bench_region[x] == bench_region[b] for x in ranked_set))
            for b in ranked_set}


def leaderboard_data(results, model_info: dict | None = None, scores=None) -> dict:
    """Everything the site shows, as plain JSON-able data (also written as ``leaderboard.json``).

    ``{"benchmarks": [{id, region, kind, check, version, hash}], "regions": [...], "ranked_set": [...],
    "models": [{model, rank, overall, regions: {R: score}, n_scored, n_normalized, n_brain, n_set,
    n_in_set, benchmarks: {id: {raw, ceiling, normalized, ..., layer, results_row, missing, tier}}, info}],
    "decisions": {"benchmarks": {id: ...}, "aggregate": ...}}``, models best first. The ranked set:
    the brain benchmarks some model has a normalised score on; only models normalised on all of
    them get an overall score and a rank. ``scores``: the score NetCDFs' folder (or
    :func:`read_scores`'s dict) for tiers, pairwise tables and aggregate intervals.
    """
    df = read_results(results)
    versions = _versions(df)
    model_info = model_info or {}
    picked = {(m, b): _pick(g) for (m, b), g in df.groupby(["model", "benchmark"], sort=False)}
    bench_region = {}
    bench_kind = {}
    for (_, b), row in picked.items():
        bench_region.setdefault(b, row["region"])
        bench_kind.setdefault(b, str(row["kind"]))
    checks = {b for b, r in bench_region.items() if r in CHECK_REGIONS}
    regions = _region_order(r for b, r in bench_region.items() if b not in checks)
    brain = [b for r in regions for b in bench_region if bench_region[b] == r and b not in checks]
    check_list = [b for b in bench_region if b in checks]
    ranked_set = [b for b in brain if any(_finite(row.get("normalized")) for (_, x), row in picked.items() if x == b)]
    models = []
    for model in sorted(df["model"].unique()):
        entry = {"model": model, "benchmarks": {}, "regions": {}, "info": {}}
        for b in brain + check_list:
            row = picked.get((model, b))
            if row is None:
                continue
            rec = {k: _json_value(row.get(k)) for k in FIELDS}
            rec["results_row"] = int(row["results_row"])
            rec["missing"] = None if _finite(row.get("normalized")) else missing_reason(row)
            entry["benchmarks"][b] = rec
        _aggregate(entry, brain, ranked_set, bench_region, regions)
        scored = [b for b in brain if b in entry["benchmarks"]]
        entry["n_brain"] = len(brain)
        entry["n_scored"] = len(scored)
        entry["n_normalized"] = sum(entry["benchmarks"][b]["normalized"] is not None for b in scored)
        rows = df[df["model"] == model]
        info = {k: _text(rows[k].dropna().iloc[0]) for k in ("spec", "model_identity") if rows[k].notna().any()}
        if "model_parameters" in rows and rows["model_parameters"].notna().any():  # counted when scored
            info["parameters"] = f"{int(float(rows['model_parameters'].dropna().iloc[0])):,}"
        if "model_identity" in info:
            info["identity"] = info.pop("model_identity")
        info.update({k: v for k, v in model_info.get(model, {}).items()})
        entry["info"] = {k: _json_value(v) if not isinstance(v, (list, dict)) else v for k, v in info.items()}
        models.append(entry)
    models.sort(key=lambda e: (e["overall"] is None, -(e["overall"] or 0.0), e["model"]))
    rank = 0
    for e in models:
        if e["overall"] is not None:
            rank += 1
            e["rank"] = rank
        else:
            e["rank"] = None
    data = {
        "regions": regions,
        "benchmarks": [{"id": b, "region": bench_region[b], "kind": bench_kind[b], "check": b in checks,
                        "version": versions.get(b, (None, None))[0], "hash": versions.get(b, (None, None))[1]}
                       for b in brain + check_list],
        "ranked_set": ranked_set,
        "models": models,
        "ranking": "overall = mean over regions of (mean over the region's brain benchmarks of the "
                   "ceiling-normalised score), over the brain benchmarks some model has a normalised score on; "
                   "a model missing any of them shows n/N and is not ranked; check benchmarks ("
                   + ", ".join(CHECK_REGIONS) + ") are not ranked",
    }
    if scores is not None:
        _add_decisions(data, scores, picked, set_weights(ranked_set, bench_region))
    return data


def _region_weights(data: dict, region: str) -> dict[str, float]:
    """Equal weights over a region's benchmarks of the ranked set (its mean)."""
    mine = [b["id"] for b in data["benchmarks"] if b["region"] == region and b["id"] in data["ranked_set"]]
    return {b: 1.0 / len(mine) for b in mine}


def _add_decisions(data: dict, scores, picked: dict, weights: dict) -> None:
    """Tiers, pairwise tables and reliability per benchmark and for the aggregate (``data["decisions"]``);
    each model's benchmark record and overall get their tier letters."""
    from .decisions import aggregate_decision, benchmark_decisions, matching, read_scores, set_interval

    scores = scores if isinstance(scores, dict) else read_scores(scores)
    per = benchmark_decisions(scores, picked, [b["id"] for b in data["benchmarks"]])
    usable = matching(scores, picked)[0]
    agg = aggregate_decision(usable, data, weights)
    data["decisions"] = {"benchmarks": per, "aggregate": agg}
    for m in data["models"]:
        m["region_ci"] = {r: set_interval(usable, m["model"], _region_weights(data, r))
                          if m["regions"].get(r) is not None else None for r in data["regions"]}
        for b, rec in m["benchmarks"].items():
            row = next((r for r in per[b]["models"] if r["model"] == m["model"] and r["tier"]), None)
            rec["tier"] = row["tier"] if row else None
            if row and per[b]["scale"] == "normalized" and rec.get("normalized_ci_low") is None:  # a row from
                rec["normalized_ci_low"], rec["normalized_ci_high"] = row["ci_low"], row["ci_high"]  # older tables
        row = next((r for r in agg["models"] if r["model"] == m["model"]), None)
        m["tier"] = row["tier"] if row else None
        m["overall_ci"] = [row["ci_low"], row["ci_high"]] if row and row["ci_low"] is not None else None


def leaderboard_table(results, model_info: dict | None = None, *, data: dict | None = None) -> pd.DataFrame:
    """The wide table (``leaderboard.csv``): ``rank, model, overall, n_scored, n_normalized, n_brain,
    n_in_set, n_set, tier``, one column per region, then per benchmark ``B.normalized``, ``B.raw``,
    ``B.ceiling``, ``B.layer``, ``B.normalized_ci_low/high``, ``B.tier``, ``B.missing`` (check
    benchmarks included, never in ``overall``); best model first."""
    data = data if data is not None else leaderboard_data(results, model_info)
    recs = []
    for e in data["models"]:
        r = {"rank": e["rank"], "model": e["model"], "overall": e["overall"], "n_scored": e["n_scored"],
             "n_normalized": e["n_normalized"], "n_brain": e["n_brain"], "n_in_set": e["n_in_set"],
             "n_set": e["n_set"], "tier": e.get("tier")}
        r.update({reg: e["regions"].get(reg) for reg in data["regions"]})
        for b in data["benchmarks"]:
            rec = e["benchmarks"].get(b["id"], {})
            for k in ("normalized", "raw", "ceiling", "layer", "normalized_ci_low", "normalized_ci_high", "tier"):
                r[f"{b['id']}.{k}"] = rec.get(k)
            r[f"{b['id']}.missing"] = rec.get("missing") if rec else NOT_SCORED
        recs.append(r)
    out = pd.DataFrame(recs)
    if len(out):
        out["rank"] = out["rank"].astype("Int64")
    return out


def relpath(target: Path, start: Path) -> str:
    return os.path.relpath(target, start).replace(os.sep, "/")
