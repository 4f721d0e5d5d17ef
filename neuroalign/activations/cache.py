"""Where activation stores live and what they are keyed by.

The key is a SHA-256 over everything that changes the numbers: the model (its spec + weights
hash; not the display name, so `score --name` reads what `extract` wrote), the layer, the stimulus set's content hash, the preprocessing, the
reduction (with its seed), the precision and the store format version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

STORE_FORMAT = 1
CACHE_ENV = "NEUROALIGN_CACHE"


def default_cache_dir() -> Path:
    """``$NEUROALIGN_CACHE``, else ``<user cache>/neuroalign``; stores go in ``activations/``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("neuroalign"))


def key_fields(model, layer: str, stimuli, reduction, amp: bool, labels: dict | None = None) -> dict:
    """``labels``: coords written with the store that are not derived from the numbers (a
    twin's neuroid ids), so relabelling is a new entry too."""
    from .. import __version__

    fields = {
        "format": STORE_FORMAT,
        "model": f"{model.spec}@sha256:{model.weights_sha256}",
        "layer": layer,
        "stimuli": stimuli.content_hash,
        "preprocessing": model.preprocessing.to_dict(),
        "reduction": reduction.to_dict(),
        "precision": "autocast-float16" if amp else "float32",
        "neuroalign_store": f"neuroalign-{__version__.split('.')[0]}-store{STORE_FORMAT}",
    }
    if labels:
        blob = json.dumps({k: [str(v) for v in vals] for k, vals in labels.items()}, sort_keys=True)
        fields["labels"] = hashlib.sha256(blob.encode()).hexdigest()
    return fields


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "root"


def store_path(cache_dir: str | os.PathLike | None, model_spec: str, layer: str, key: str) -> Path:
    """Folder by model *spec*, never by the display name (``--name``): `extract` and `score` of
    one model under two names must find the same stores, not extract twice."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "activations" / _safe(model_spec) / f"{_safe(layer or 'output')}-{key[:32]}.zarr"
