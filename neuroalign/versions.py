"""Benchmark versions: an integer ``version`` set by hand plus a content hash of what defines it.

Two scores are comparable (``neuroalign compare``, ``neuroalign results``, the leaderboard)
only when they come from the same benchmark content: the neural data's bytes, the
stimulus set's hash, the metric kind and options, the protocol and the ceiling method.
The hash also seeds the shared resamples (:mod:`neuroalign.resampling`), so every model
scored on one benchmark version sees the same draws. Definition: docs/methods.md.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import xarray as xr

#: The ceiling each kind is normalised by when its options do not name one.
DEFAULT_CEILING = {"encoding": "reliability", "pls": "reliability", "ood": "reliability",
                   "rsa": "rsa noise ceiling (upper bound)", "cka": "none"}


def _update_array(h, name: str, values) -> None:
    a = np.asarray(values)
    h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
    if a.dtype.kind in "OUS":
        h.update("\x1f".join(map(str, a.ravel().tolist())).encode())
    else:
        h.update(np.ascontiguousarray(a).tobytes())


def data_hash(data) -> str:
    """SHA-256 over the values, dims and coordinates of an assembly or RDM set (or a Dataset of them)."""
    h = hashlib.sha256()
    arrays = data.data_vars.items() if isinstance(data, xr.Dataset) else [(str(data.name), data)]
    for name, da in arrays:
        h.update(f"{name}{da.dims}".encode())
        _update_array(h, "values", da.values)
        for cname in sorted(map(str, da.coords)):
            _update_array(h, f"coord {cname}{da[cname].dims}", da[cname].values)
    return h.hexdigest()


def content_hash(bench, data=None, stimuli_hash: str | None = None, protocol: str | None = None) -> str:
    """The benchmark's content hash (16 hex digits); ``data``/``stimuli_hash`` when already loaded."""
    data = bench.load() if data is None else data
    stimuli_hash = bench.stimuli().content_hash if stimuli_hash is None else stimuli_hash
    options = {k: v for k, v in bench.options.items() if k != "protocol"}
    parts = {
        "data": data_hash(data),
        "stimuli": stimuli_hash,
        "kind": bench.kind,
        "options": json.dumps(options, sort_keys=True, default=str),
        "protocol": protocol or bench.options.get("protocol", "neuroalign"),
        "ceiling": bench.options.get("ceiling", DEFAULT_CEILING.get(bench.kind, "")),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def version_label(version, hash_: str) -> str:
    """How a benchmark version is named in messages and on the leaderboard: ``v1 (3fa2…)``."""
    return f"v{version} ({str(hash_)[:8]})"
