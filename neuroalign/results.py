"""The results table (``neuroalign results``): score CSVs read, checked and concatenated.

Every input must be a results-table CSV (the columns :func:`neuroalign.scoring.result_rows`
writes); a model × benchmark scored in two files is kept once when the rows agree and
refused, naming both files, when they differ.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import DataError

REQUIRED = ("model", "benchmark", "kind", "scope", "layer", "raw", "ceiling", "normalized")
KEY = ("model", "benchmark", "scope", "layer")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """One results-table CSV; anything else is a DataError naming the file and what it lacks."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"results table {path} {what}; give the score CSVs (`neuroalign score --table`).")
    try:
        df = pd.read_csv(path, dtype={"model": str, "benchmark": str, "layer": str, "kind": str, "scope": str,
                                       "benchmark_hash": str})
    except pd.errors.EmptyDataError:
        raise DataError(f"results table {path} is empty; rerun the `neuroalign score --table` that writes it.") from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"results table {path} is not a CSV file ({str(exc).splitlines()[0]}); give the score "
                        "CSVs, not the NetCDF scores.") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"results table {path} is not a neuroalign results table: it lacks column(s) {missing} "
                        f"(has {list(df.columns)[:8]}); give the CSVs written by `neuroalign score --table`.")
    return df


def _check_versions(df: pd.DataFrame, path, versions: dict) -> None:
    """Refuse rows of one benchmark with different content hashes (two benchmark versions), naming the files."""
    if "benchmark_hash" not in df.columns:
        return
    from .versions import version_label

    for bench, rows in df.groupby("benchmark", sort=False):
        for h, v in rows[["benchmark_hash", "benchmark_version"]].drop_duplicates().itertuples(index=False):
            if not isinstance(h, str) or not h:
                continue
            first = versions.setdefault(bench, (h, v, path))
            if first[0] != h:
                raise DataError(f"benchmark {bench!r} has two versions: {version_label(first[1], first[0])} in "
                                f"{first[2]} and {version_label(v, h)} in {path}; rescore one side on the same "
                                "benchmark version before merging.")


def combine_tables(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate results tables, refusing a model × benchmark scored differently in two files
    and a benchmark whose rows come from different versions (content hashes)."""
    frames, seen, versions = [], {}, {}
    for path in paths:
        df = read_table(path)
        _check_versions(df, path, versions)
        key = [c for c in (*KEY, "protocol") if c in df.columns]
        keep = pd.Series(True, index=df.index)
        for (model, bench), rows in df.groupby(["model", "benchmark"], sort=False, dropna=False):
            if (model, bench) not in seen:
                seen[(model, bench)] = (path, rows)
                continue
            first_path, first = seen[(model, bench)]
            cols = [c for c in rows.columns if c in first.columns]
            a = first[cols].sort_values(key).reset_index(drop=True)
            b = rows[cols].sort_values(key).reset_index(drop=True)
            if a.shape == b.shape and a.equals(b):
                keep[rows.index] = False  # the same result twice: kept once
                continue
            raise DataError(f"model {model!r} on benchmark {bench!r} has different results in {first_path} and "
                            f"{path}; keep only one of them (rescore, or drop the stale file).")
        frames.append(df[keep])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(REQUIRED))
