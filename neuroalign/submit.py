"""Model submission: validate someone's model code in a limited subprocess, then add it to the grid.

A submission is a folder holding ``metadata.yaml`` (``name``, ``authors``, ``callable``
as ``file.py:function``, optional ``layers``) and the code, or a ``.py`` file with a
sibling ``<stem>.yaml`` of the same keys. The callable returns the model, its layer
names and its preprocessing (see :func:`neuroalign.models.plugin.load_plugin`).

Validation runs in a child process under a wall-clock limit and an address-space limit:
it loads the model, checks the layers exist and the preprocessing is declared, runs it
on a handful of images and records the weights hash and the SHA-256 of the code file.
The submissions file then pins that code hash: a later edit of the file needs a new
``neuroalign submit`` before the workflow will run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .atomic import atomic_path
from .data.registry import sha256_file
from .errors import ConfigError, ModelError

REQUIRED = ("name", "authors", "callable")


def read_package(path: str | os.PathLike) -> dict:
    """Read and check a submission's metadata; return it with the absolute code path."""
    path = Path(path).resolve()
    if path.is_dir():
        meta_path = path / "metadata.yaml"
        base = path
    elif path.suffix == ".py":
        meta_path = path.with_suffix(".yaml")
        base = path.parent
    else:
        raise ConfigError(f"submission {path}: give a folder with metadata.yaml or a .py file with a sibling .yaml.")
    if not meta_path.is_file():
        raise ConfigError(f"submission {path}: metadata file {meta_path} is missing (keys: {', '.join(REQUIRED)}, layers).")
    meta = yaml.safe_load(meta_path.read_text()) or {}
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ConfigError(f"submission metadata {meta_path}: missing key(s) {missing}.")
    extra = sorted(set(meta) - {*REQUIRED, "layers", "description", "bibtex"})
    if extra:
        raise ConfigError(f"submission metadata {meta_path}: unknown key(s) {extra}; allowed: {', '.join(REQUIRED)}, layers, description, bibtex.")
    file_part, sep, func = str(meta["callable"]).rpartition(":")
    if not sep:
        raise ConfigError(f"submission metadata {meta_path}: callable must look like 'model.py:build', got {meta['callable']!r}.")
    code = (base / file_part).resolve()
    if not code.is_file():
        raise ConfigError(f"submission {path}: callable file {code} does not exist.")
    if base not in code.parents:
        raise ConfigError(f"submission {path}: callable file {code} lies outside the submission folder.")
    if not str(meta["name"]).replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"submission metadata {meta_path}: name {meta['name']!r} may hold letters, digits, '-', '_', '.'.")
    return {**meta, "code": str(code), "function": func, "spec": f"plugin:{code}:{func}"}


def _limits(memory_bytes: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        os.setsid()

    return apply


def validate_submission(path: str | os.PathLike, *, timeout: float = 300, memory_gb: float = 8,
                        n_images: int = 4) -> dict:
    """Validate a submission in a child process with time and memory limits; return its record."""
    meta = read_package(path)
    code_sha = sha256_file(Path(meta["code"]))  # before it runs: an edit made during validation is not pinned
    cmd = [sys.executable, "-m", "neuroalign.submit", meta["spec"], json.dumps(meta.get("layers") or []), str(n_images)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              preexec_fn=_limits(int(memory_gb * 2**30)))
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"submission {meta['name']!r}: validation exceeded {timeout:.0f} s and was stopped.") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        why = "out of memory (limit {:.1f} GB)".format(memory_gb) if "MemoryError" in proc.stderr else "\n  ".join(tail)
        raise ModelError(f"submission {meta['name']!r} failed validation: {why}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**meta, **report, "code_sha256": code_sha}


def submit(path: str | os.PathLike, submissions_file: str | os.PathLike, **kw) -> dict:
    """Validate and add (or replace) the model in the submissions YAML the workflow reads."""
    record = validate_submission(path, **kw)
    sub = Path(submissions_file)
    data = (yaml.safe_load(sub.read_text()) if sub.is_file() else None) or {}
    models = data.setdefault("models", {})
    models[record["name"]] = {k: record[k] for k in ("spec", "layers", "authors", "identity", "code_sha256",
                                                     "preprocessing") if k in record}
    with atomic_path(sub) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    return record


def check_pinned(spec: str, code_sha: str) -> None:
    """Refuse to run submitted code that changed since it was validated."""
    from .models.plugin import parse_plugin_target
    from .models.registry import parse_spec

    code, _ = parse_plugin_target(parse_spec(spec)[1])
    if sha256_file(Path(code)) != code_sha:
        raise ModelError(f"{code} changed since it was submitted (SHA-256 differs); run `neuroalign submit` again.")


def _child(spec: str, layers_json: str, n_images: str) -> None:
    """Runs inside the limited subprocess: load, check, run on a few images, report JSON."""
    import numpy as np

    from .activations import extract
    from .data.synthetic import synthetic_stimuli
    from .models import list_layers, load_model

    model = load_model(spec)
    layers = json.loads(layers_json) or list(model.layers)
    valid = set(list_layers(model))
    bad = [layer for layer in layers if layer not in valid]
    if bad:
        raise SystemExit(f"layers {bad} do not exist in the model; valid layers include {sorted(valid)[:20]}")
    if model.preprocessing is None:
        raise SystemExit("the model declares no preprocessing")
    stim = synthetic_stimuli(n_images=max(2, int(n_images)))
    feats = extract(model, stim, layers, reduction="avgpool", cache_dir=None, progress=False)
    shapes = {k: list(v.shape) for k, v in feats.items()}
    for k, v in feats.items():
        if not np.isfinite(np.asarray(v.values)).all():
            raise SystemExit(f"layer {k} gives non-finite activations")
    print(json.dumps({"identity": model.identity, "layers": layers, "shapes": shapes,
                      "preprocessing": model.preprocessing.to_dict()}))


if __name__ == "__main__":
    _child(*sys.argv[1:4])
