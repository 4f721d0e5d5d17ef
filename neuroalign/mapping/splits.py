"""Outer cross-validation over stimuli, as lists of stimulus ids plus a JSON record.

Splits are made on stimulus ids, never positions, and returned with a record (kind,
seed, n_splits, column and the test ids of every split) that is saved with the
result so a score can be re-derived exactly. ``kind="group"`` keeps every stimulus of
one group (e.g. the same image content hash) on one side, so repeated images never
straddle train and test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from ..errors import DataError

KINDS = ("kfold", "stratified", "group")


def _metadata(stimuli) -> pd.DataFrame:
    """A one-row-per-stimulus table with a ``stimulus_id`` column, from several inputs."""
    if isinstance(stimuli, pd.DataFrame):
        df = stimuli.copy()
        if "stimulus_id" not in df.columns:
            df = df.reset_index().rename(columns={df.index.name or "index": "stimulus_id"})
    elif isinstance(stimuli, xr.DataArray):
        dim = stimuli["stimulus_id"].dims[0]
        df = pd.DataFrame({k: c.values for k, c in stimuli.coords.items() if c.dims == (dim,)})
    else:
        df = pd.DataFrame({"stimulus_id": list(stimuli)})
    df["stimulus_id"] = df["stimulus_id"].astype(str)
    return df.drop_duplicates("stimulus_id").reset_index(drop=True)


def make_splits(stimuli, *, kind: str = "kfold", n_splits: int = 5, seed: int = 0,
                column: str | None = None, groups: Sequence | None = None,
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict]:
    """Split stimuli into ``n_splits`` folds of (train_stimulus_ids, test_stimulus_ids).

    ``stimuli``: stimulus ids, a DataFrame with a ``stimulus_id`` column, or a DataArray
    whose ``stimulus_id`` dim carries metadata coords. ``kind``: ``"kfold"`` (shuffled
    KFold), ``"stratified"`` (StratifiedKFold on ``column``) or ``"group"`` (GroupKFold
    on ``column`` or on ``groups``, one label per unique stimulus id).
    """
    if kind not in KINDS:
        raise DataError(f"splits: unknown kind {kind!r}; use one of {KINDS}.")
    df = _metadata(stimuli)
    n = len(df)
    if n < n_splits:
        raise DataError(
            f"splits: {n} stimuli for {n_splits} folds; need at least one stimulus per fold. "
            "Lower n_splits or add stimuli."
        )
    ids = df["stimulus_id"].to_numpy()
    labels = None
    if kind in ("stratified", "group"):
        if groups is not None:
            labels = np.asarray(groups)
            if len(labels) != n:
                raise DataError(f"splits: {len(labels)} group labels for {n} unique stimuli.")
        elif column is None or column not in df.columns:
            raise DataError(
                f"splits: kind={kind!r} needs a metadata column; {column!r} is not among "
                f"{sorted(c for c in df.columns if c != 'stimulus_id')}."
            )
        else:
            labels = df[column].to_numpy()
    if kind == "kfold":
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
        raw = splitter.split(ids)
    elif kind == "stratified":
        counts = pd.Series(labels).value_counts()
        if counts.min() < n_splits:
            raise DataError(
                f"splits: stratifying on {column!r} needs ≥{n_splits} stimuli per class; "
                f"{counts.idxmin()!r} has {counts.min()}."
            )
        raw = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(ids, labels)
    else:
        n_groups = len(pd.unique(labels))
        if n_groups < n_splits:
            raise DataError(f"splits: {n_groups} groups in {column!r} for {n_splits} folds.")
        # shuffle group order with the seed so "group" splits are seed-dependent too
        perm = np.random.default_rng(seed).permutation(n)
        raw = ((perm[tr], perm[te]) for tr, te in GroupKFold(n_splits=n_splits).split(ids[perm], groups=labels[perm]))
    splits = [(ids[np.sort(tr)], ids[np.sort(te)]) for tr, te in raw]
    record = {
        "kind": kind, "seed": int(seed), "n_splits": int(n_splits), "column": column,
        "n_stimuli": int(n), "test_stimulus_ids": [te.tolist() for _, te in splits],
    }
    return splits, record


def splits_from_record(record: dict, stimulus_ids: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rebuild the (train, test) id lists saved in a record (train = the rest)."""
    ids = np.asarray([str(s) for s in stimulus_ids])
    out = []
    for test in record["test_stimulus_ids"]:
        test = np.asarray(test, dtype=str)
        missing = sorted(set(test) - set(ids))
        if missing:
            raise DataError(f"splits: saved test ids not among the stimuli, e.g. {missing[:10]}.")
        out.append((ids[~np.isin(ids, test)], test))
    return out
