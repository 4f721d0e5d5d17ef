"""Out-of-distribution split generators: which stimuli train the mapping, which test it.

Every generator returns an :class:`OODSplit` with a JSON-able ``record`` of how it was
made, and guarantees that one image (by content hash, ``StimulusSet.image_hashes``)
never sits on both sides: identical images under different ids would otherwise leak
the test set into training. Conflicting copies are dropped (default) or moved to one
side, and the record says which ids were affected.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..data.stimuli import StimulusSet
from ..errors import DataError, unknown
from .image_stats import HSF_CUTOFF, STATISTICS, image_statistics, load_pixels

DUPLICATE_POLICIES = ("drop", "train", "test")
DIRECTIONS = ("low_to_high", "high_to_low")


@dataclass
class OODSplit:
    """Training (in-distribution) and test (out-of-distribution) stimulus ids.

    ``groups`` maps every id to its content hash (identical images share one), so the
    in-distribution cross-validation can keep copies in one fold; ``values`` is the
    per-stimulus label, statistic or cluster the split was made on (for plots).
    """

    train_ids: list[str]
    test_ids: list[str]
    name: str
    record: dict
    groups: pd.Series | None = field(default=None, repr=False)
    values: pd.Series | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.train_ids = [str(s) for s in self.train_ids]
        self.test_ids = [str(s) for s in self.test_ids]
        both = set(self.train_ids) & set(self.test_ids)
        if both:
            raise DataError(f"split {self.name!r}: ids on both sides, e.g. {sorted(both)[:10]}.")
        for side, ids in (("training", self.train_ids), ("test", self.test_ids)):
            if not ids:
                raise DataError(
                    f"split {self.name!r}: the {side} side is empty; change the values, "
                    "quantile, gap or clusters so both sides hold stimuli."
                )

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_test(self) -> int:
        return len(self.test_ids)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, **self.record}, sort_keys=True)


# ---- shared helpers -----------------------------------------------------------------
def _jsonable(x):
    """Plain Python types for the record (numpy scalars and arrays are not JSON)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, np.ndarray, pd.Index)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _resolve_hashes(hashes, metadata: pd.DataFrame | None = None) -> pd.Series | None:
    if isinstance(hashes, StimulusSet):
        return hashes.image_hashes()
    if hashes is not None:
        s = pd.Series(hashes)
        s.index = s.index.astype(str)
        return s
    if metadata is not None and "sha256" in metadata.columns:
        return metadata["sha256"].rename("sha256")
    return None


def _separate_identical(train: list[str], test: list[str], hashes: pd.Series | None,
                        policy: str, name: str) -> tuple[list[str], list[str], dict, pd.Series | None]:
    """Ensure no content hash is on both sides; return the new sides and what was done."""
    if policy not in DUPLICATE_POLICIES:
        raise DataError(f"duplicates policy must be one of {DUPLICATE_POLICIES}, got {policy!r}.")
    if hashes is None:
        warnings.warn(
            f"split {name!r}: no image hashes given, so identical images under different ids "
            "cannot be kept on one side; pass hashes=StimulusSet (or its image_hashes()).",
            stacklevel=3,
        )
        return train, test, {"content_hash_checked": False}, None
    missing = [s for s in train + test if s not in hashes.index]
    if missing:
        raise DataError(
            f"split {name!r}: {len(missing)} stimulus_id(s) have no image hash, e.g. {missing[:10]}; "
            "hash the stimulus set that holds them."
        )
    h_train = hashes.loc[train]
    h_test = hashes.loc[test]
    conflict = set(h_train.values) & set(h_test.values)
    info = {"content_hash_checked": True, "duplicates_policy": policy,
            "n_conflicting_images": len(conflict), "affected_ids": []}
    if conflict:
        in_train = h_train.isin(conflict).to_numpy()
        in_test = h_test.isin(conflict).to_numpy()
        t_bad = [s for s, b in zip(train, in_train) if b]
        s_bad = [s for s, b in zip(test, in_test) if b]
        if policy == "drop":
            info["affected_ids"] = sorted(t_bad + s_bad)
            train = [s for s, b in zip(train, in_train) if not b]
            test = [s for s, b in zip(test, in_test) if not b]
        elif policy == "train":
            info["affected_ids"] = sorted(s_bad)
            train = train + s_bad
            test = [s for s, b in zip(test, in_test) if not b]
        else:
            info["affected_ids"] = sorted(t_bad)
            test = test + t_bad
            train = [s for s, b in zip(train, in_train) if not b]
    groups = hashes.loc[train + test]
    return train, test, info, groups


def _finish(kind: str, name: str, train: list[str], test: list[str], *, hashes, duplicates: str,
            parameters: dict, thresholds=None, seed=None, direction=None, extra: dict | None = None,
            values: pd.Series | None = None) -> OODSplit:
    train, test, info, groups = _separate_identical(train, test, hashes, duplicates, name)
    record = {
        "kind": kind, "parameters": parameters, "thresholds": thresholds, "seed": seed,
        "direction": direction, "n_train": len(train), "n_test": len(test), **info, **(extra or {}),
    }
    return OODSplit(train, test, name, _jsonable(record), groups=groups, values=values)


def _as_list(values) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    return list(values)


# ---- by metadata label ----------------------------------------------------------------
def split_by_label(metadata: pd.DataFrame | StimulusSet, column: str, train_values, test_values, *,
                   hashes: pd.Series | StimulusSet | None = None, duplicates: str = "drop",
                   name: str | None = None) -> OODSplit:
    """Train on stimuli whose ``column`` is in ``train_values``, test on ``test_values``.

    ``metadata`` is indexed by ``stimulus_id`` (or is a StimulusSet, whose metadata and
    image hashes are used). Hashes come from ``hashes``, else a ``sha256`` column.
    """
    if isinstance(metadata, StimulusSet):
        hashes = metadata if hashes is None else hashes
        metadata = metadata.metadata
    if column not in metadata.columns:
        raise DataError(f"metadata has no column {column!r}; columns: {list(metadata.columns)}.")
    train_values, test_values = _as_list(train_values), _as_list(test_values)
    both = set(train_values) & set(test_values)
    if both:
        raise DataError(f"label split on {column!r}: values {sorted(map(str, both))} are on both sides.")
    col = metadata[column]
    ids = metadata.index.astype(str)
    train = list(ids[col.isin(train_values).to_numpy()])
    test = list(ids[col.isin(test_values).to_numpy()])
    for side, vals, got in (("training", train_values, train), ("test", test_values, test)):
        if not got:
            raise DataError(
                f"label split: no stimulus has {column!r} in {vals}; values present: "
                f"{sorted(map(str, col.dropna().unique()))[:20]}."
            )
    tv = "+".join(map(str, train_values))
    sv = "+".join(map(str, test_values))
    return _finish(
        "label", name or f"{column}:{tv}->{sv}", train, test, hashes=_resolve_hashes(hashes, metadata),
        duplicates=duplicates, direction=f"{tv}->{sv}",
        parameters={"column": column, "train_values": train_values, "test_values": test_values},
        values=pd.Series(col.to_numpy(), index=ids, name=column),
    )


def split_by_label_both_directions(metadata: pd.DataFrame | StimulusSet, column: str, values_a, values_b,
                                   **kwargs) -> tuple[OODSplit, OODSplit]:
    """``a -> b`` and ``b -> a`` label splits (e.g. natural→synthetic and synthetic→natural)."""
    return (split_by_label(metadata, column, values_a, values_b, **kwargs),
            split_by_label(metadata, column, values_b, values_a, **kwargs))


# ---- by a held-out range of an image statistic ----------------------------------------
def split_by_statistic(stimuli: StimulusSet, statistic: str, quantile: float = 0.5,
                       direction: str = "low_to_high", gap: float = 0.0, *,
                       values: pd.Series | None = None, hsf_cutoff: float = HSF_CUTOFF,
                       hashes: pd.Series | None = None, duplicates: str = "drop",
                       name: str | None = None) -> OODSplit:
    """Split at a quantile of a pixel statistic; train on one side, test on the other.

    The low part is ``value <= quantile(q - gap/2)``, the high part ``value >
    quantile(q + gap/2)``; stimuli in between (the gap) and with an undefined statistic
    (NaN: hue of a grey image) are left out and counted in the record. ``values`` skips
    recomputing the statistic (a column of :func:`image_statistics`); ``hashes``
    overrides the set's own image hashes.
    """
    if statistic not in STATISTICS:
        raise unknown("image statistic", statistic, STATISTICS)
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    q_lo, q_hi = quantile - gap / 2, quantile + gap / 2
    if not (0.0 < q_lo <= q_hi < 1.0) or gap < 0:
        raise DataError(
            f"statistic split: quantile {quantile} with gap {gap} gives [{q_lo}, {q_hi}], "
            "which must lie strictly inside (0, 1)."
        )
    if values is None:
        values = image_statistics(stimuli, [statistic], hsf_cutoff=hsf_cutoff)[statistic]
    values = values.copy()
    values.index = values.index.astype(str)
    missing = [s for s in stimuli.stimulus_ids if s not in values.index]
    if missing:
        raise DataError(f"statistic split: values lack stimulus ids {missing[:10]}.")
    values = values.loc[stimuli.stimulus_ids]
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    t_lo = float(np.quantile(finite.to_numpy(), q_lo))
    t_hi = float(np.quantile(finite.to_numpy(), q_hi))
    low = list(finite.index[finite.to_numpy() <= t_lo])
    high = list(finite.index[finite.to_numpy() > t_hi])
    train, test = (low, high) if direction == "low_to_high" else (high, low)
    params = {"statistic": statistic, "quantile": quantile, "gap": gap}
    if statistic == "hsf_energy":
        params["hsf_cutoff_cycles_per_pixel"] = hsf_cutoff
    return _finish(
        "statistic", name or f"{statistic}:{direction}:q{quantile:g}" + (f":gap{gap:g}" if gap else ""),
        train, test, hashes=_resolve_hashes(stimuli if hashes is None else hashes), duplicates=duplicates,
        direction=direction,
        parameters=params, thresholds={"low_max": t_lo, "high_min_exclusive": t_hi},
        extra={"n_in_gap": int(len(finite) - len(low) - len(high)),
               "n_undefined": int(len(values) - len(finite)), "stimulus_set": stimuli.identifier},
        values=values.rename(statistic),
    )


def split_by_statistic_both_directions(stimuli: StimulusSet, statistic: str, quantile: float = 0.5,
                                       gap: float = 0.0, **kwargs) -> tuple[OODSplit, OODSplit]:
    """Low→high and high→low splits, computing the statistic once (the set caches its hashes)."""
    if kwargs.get("values") is None:
        kwargs["values"] = image_statistics(
            stimuli, [statistic], hsf_cutoff=kwargs.get("hsf_cutoff", HSF_CUTOFF))[statistic]
    return tuple(split_by_statistic(stimuli, statistic, quantile, d, gap, **kwargs) for d in DIRECTIONS)


# ---- by clusters in a feature space -----------------------------------------------------
def _feature_matrix(features: xr.DataArray) -> tuple[np.ndarray, list[str], str]:
    if "stimulus_id" not in features.coords:
        raise DataError("cluster split: features need a 'stimulus_id' coord on their first dim.")
    ids = [str(s) for s in features["stimulus_id"].values]
    idx = pd.Index(ids)
    if idx.has_duplicates:
        raise DataError(
            f"cluster split: features repeat stimulus_id {idx[idx.duplicated()].unique()[:5].tolist()}; "
            "give one row per stimulus."
        )
    x = np.asarray(features.values, dtype=np.float64).reshape(features.shape[0], -1)
    space = str(features.attrs.get("layer") or features.name or "features")
    return x, ids, space


def split_by_clusters(features: xr.DataArray | StimulusSet, n_clusters: int = 8, *,
                      held_out_clusters: Sequence[int] | None = None, n_held_out: int = 1,
                      seed: int = 0, hashes: pd.Series | StimulusSet | None = None,
                      pixel_size: int = 16, standardize: bool = True, duplicates: str = "drop",
                      space: str | None = None, n_threads: int | None = None,
                      name: str | None = None) -> OODSplit:
    """K-means on a feature space; whole clusters are held out as the test set.

    ``features`` is ``presentation × feature`` with a ``stimulus_id`` coord (a model
    layer), or a StimulusSet, clustered on its pixels box-downsampled to
    ``pixel_size`` squared (scaled to 0..1). Columns are z-scored first when
    ``standardize``. Without ``held_out_clusters``, ``n_held_out`` clusters are drawn
    with ``seed``. ``n_threads`` caps BLAS/OpenMP threads (k-means oversubscribes busy
    machines badly; the result does not depend on it).
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    if isinstance(features, StimulusSet):
        stimuli = features
        x = load_pixels(stimuli, size=pixel_size).reshape(len(stimuli), -1) / 255.0
        ids = list(stimuli.stimulus_ids)
        default_space = f"pixels:{pixel_size}x{pixel_size}"
        hashes = stimuli if hashes is None else hashes
        from_pixels = True
    else:
        from_pixels = False
        x, ids, default_space = _feature_matrix(features)
    space = space or default_space
    if not np.isfinite(x).all():
        raise DataError(f"cluster split: features in {space!r} hold NaN or inf values.")
    if not 2 <= n_clusters <= len(ids):
        raise DataError(f"cluster split: n_clusters must be in 2..{len(ids)}, got {n_clusters}.")
    if standardize:
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    with threadpool_limits(limits=n_threads):
        labels = km.fit_predict(x)
    sizes = np.bincount(labels, minlength=n_clusters)
    if held_out_clusters is None:
        if not 1 <= n_held_out < n_clusters:
            raise DataError(f"cluster split: n_held_out must be in 1..{n_clusters - 1}, got {n_held_out}.")
        nonempty = np.flatnonzero(sizes > 0)
        held = sorted(np.random.default_rng(seed).choice(nonempty, n_held_out, replace=False).tolist())
    else:
        held = sorted(int(c) for c in held_out_clusters)
        bad = [c for c in held if not 0 <= c < n_clusters]
        if bad or not held or len(held) >= n_clusters:
            raise DataError(
                f"cluster split: held_out_clusters {held} must be 1..{n_clusters - 1} distinct "
                f"clusters in 0..{n_clusters - 1}."
            )
    is_test = np.isin(labels, held)
    train = [s for s, t in zip(ids, is_test) if not t]
    test = [s for s, t in zip(ids, is_test) if t]
    return _finish(
        "clusters", name or f"clusters:{space}:k{n_clusters}:held{'+'.join(map(str, held))}",
        train, test, hashes=_resolve_hashes(hashes), duplicates=duplicates, seed=seed,
        direction="in_clusters->held_out_clusters",
        parameters={"space": space, "n_clusters": n_clusters, "held_out_clusters": held,
                    "standardize": standardize,
                    **({"pixel_size": pixel_size} if from_pixels else {})},
        extra={"cluster_sizes": sizes, "inertia": float(km.inertia_)},
        values=pd.Series(labels, index=pd.Index(ids, name="stimulus_id"), name="cluster"),
    )
