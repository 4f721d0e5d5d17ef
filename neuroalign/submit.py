"""Model submission: validate someone's model code in a limited subprocess, then add it to the grid.

A submission is a folder holding ``metadata.yaml`` (``name``, ``authors``, ``callable``
as ``file.py:function``, optional ``layers``) and the code, or a ``.py`` file with a
sibling ``<stem>.yaml`` of the same keys. The callable returns the model, its layer
names and its preprocessing (see :func:`neuroalign.models.plugin.load_plugin`).

Validation runs in a child process inside the bubblewrap sandbox (:mod:`neuroalign.sandbox`:
no network, read-only system and submission, private ``/tmp``, own PID namespace) under a
wall-clock limit and an address-space limit: it loads the model, checks the layers exist and
the preprocessing is declared, runs it on a handful of images, refuses a model that leaves
processes running, and records the weights hash and the SHA-256 of the code file. Without a
usable sandbox it refuses unless ``trust_code=True`` (``--trust-code``); such an entry is
marked ``trusted`` and the workflow runs it unsandboxed. Any failure is one line naming the
submission and the cause.
The submissions file then pins that code hash: a later edit of the file needs a new
``neuroalign submit`` before the workflow will run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .atomic import atomic_path
from .data.registry import sha256_file
from .errors import ConfigError, ModelError, NeuroalignError, SandboxError
from .yamlsafe import safe_load

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
        raise ConfigError(f"submission {path}: metadata file {meta_path} is missing (keys: {', '.join(REQUIRED)}, layers); "
                          "`neuroalign new-submission DIR` writes a working example.")
    from .submission_template import read_metadata

    meta = read_metadata(meta_path, base)  # every rejected field at once, each with what it should hold
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


def _limits(memory_bytes: int | None):
    def apply() -> None:
        import resource

        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return apply


ERROR_MARK = "neuroalign-submit-error: "  # the child's one-line verdict on stderr


def _run_limited(cmd: list[str], *, timeout: float, memory_bytes: int | None, env: dict) -> tuple[int, str, str]:
    """Run ``cmd`` in its own session under the limits; on timeout kill the whole session."""
    import signal

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=_limits(memory_bytes))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out, err


def validate_submission(path: str | os.PathLike, *, timeout: float = 300, memory_gb: float = 8,
                        n_images: int = 4, trust_code: bool = False) -> dict:
    """Validate a submission in a child process with time and memory limits; return its record.

    The child runs inside the bubblewrap sandbox (:mod:`neuroalign.sandbox`): no network, a
    read-only system and submission, a private ``/tmp``, its own PID namespace. Without a usable
    sandbox this refuses unless ``trust_code=True`` says the code is trusted."""
    from . import sandbox

    meta = read_package(path)
    code_sha = sha256_file(Path(meta["code"]))  # before it runs: an edit made during validation is not pinned
    cmd = [sys.executable, "-m", "neuroalign.submit", meta["spec"], json.dumps(meta.get("layers") or []), str(n_images)]
    if not trust_code:
        try:
            cmd = sandbox.wrap(cmd, readable=[Path(meta["code"]).parent], chdir=Path(meta["code"]).parent)
        except SandboxError as exc:
            raise SandboxError(f"submission {meta['name']!r}: refusing to run submitted code without a sandbox: "
                               f"{exc}. Only if you trust this code, pass --trust-code (trust_code=True).") from None
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        rc, out, err = _run_limited(cmd, timeout=timeout, memory_bytes=int(memory_gb * 2**30), env=env)
    except subprocess.TimeoutExpired:
        raise ModelError(f"submission {meta['name']!r}: validation exceeded {timeout:.0f} s and was stopped "
                         "(with every process it started).") from None
    if rc != 0:
        marked = [ln[len(ERROR_MARK):] for ln in err.splitlines() if ln.startswith(ERROR_MARK)]
        if marked:
            why = marked[-1]
        elif "MemoryError" in err or "std::bad_alloc" in err:
            why = f"out of memory (limit {memory_gb:.1f} GB)"
        elif rc < 0:
            why = f"killed by signal {-rc}"
        else:
            why = ((err or out).strip().splitlines() or [f"exit status {rc}"])[-1]
        raise ModelError(f"submission {meta['name']!r} ({meta['code']}) failed validation: {why}")
    try:
        report = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise ModelError(f"submission {meta['name']!r} ({meta['code']}) failed validation: it printed no "
                         "report (does the code write to stdout or exit early?).") from None
    return {**meta, **report, "code_sha256": code_sha, "sandboxed": not trust_code}


def submit(path: str | os.PathLike, submissions_file: str | os.PathLike, **kw) -> dict:
    """Validate and add (or replace) the model in the submissions YAML the workflow reads."""
    record = validate_submission(path, **kw)
    sub = Path(submissions_file)
    data = read_submissions(sub) if sub.exists() else {}
    models = data.setdefault("models", {})
    models[record["name"]] = {k: record[k] for k in ("spec", "layers", "authors", "identity", "code_sha256",
                                                     "preprocessing") if k in record}
    if not record["sandboxed"]:
        models[record["name"]]["trusted"] = True  # submitted with --trust-code: the workflow runs it unsandboxed
    with atomic_path(sub) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    return record


def read_submissions(path: str | os.PathLike) -> dict:
    """The submissions YAML as a dict; a file that is not a YAML mapping is a ConfigError naming it."""
    path = Path(path)
    try:
        data = safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"submissions file {path} cannot be read ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"submissions file {path} is not valid YAML{at} ({problem}); fix it, or delete it and "
                          "run `neuroalign submit` again for each model.") from None
    data = data or {}
    if not isinstance(data, dict) or not isinstance(data.get("models", {}) or {}, dict):
        raise ConfigError(f"submissions file {path} must be a mapping with a `models:` mapping of name -> entry.")
    return data


def check_pinned(spec: str, code_sha: str) -> None:
    """Refuse to run submitted code that changed since it was validated."""
    from .models.plugin import parse_plugin_target
    from .models.registry import parse_spec

    code, _ = parse_plugin_target(parse_spec(spec)[1])
    if sha256_file(Path(code)) != code_sha:
        raise ModelError(f"{code} changed since it was submitted (SHA-256 differs); run `neuroalign submit` again.")


def _child(spec: str, layers_json: str, n_images: str) -> dict:
    """Runs inside the limited subprocess: load, check, run on a few images, return the report."""
    import numpy as np

    from . import sandbox
    from .activations import extract
    from .data.synthetic import synthetic_stimuli
    from .models import list_layers, load_model

    model = load_model(spec)
    layers = json.loads(layers_json) or list(model.layers)
    valid = set(list_layers(model))
    bad = [layer for layer in layers if layer not in valid]
    if bad:
        raise ModelError(f"layers {bad} do not exist in the model; valid layers include {sorted(valid)[:20]}")
    if model.preprocessing is None:
        raise ModelError("the model declares no preprocessing: return `preprocessing` from build(), a dict of "
                         "input_size, resize, crop, mean, std, interpolation (`neuroalign new-submission DIR` "
                         "writes an example)")
    stim = synthetic_stimuli(n_images=max(2, int(n_images)))
    try:
        feats = extract(model, stim, layers, reduction="avgpool", cache_dir=None, progress=False, device="cpu")
    except NeuroalignError:
        raise
    except Exception as exc:
        raise ModelError(f"running the model on {len(stim)} images raised {_describe(exc, spec)}") from None
    shapes = {k: list(v.shape) for k, v in feats.items()}
    for k, v in feats.items():
        if not np.isfinite(np.asarray(v.values)).all():
            raise ModelError(f"layer {k} gives non-finite activations")
    left = sandbox.other_processes()
    if left:
        raise ModelError(f"the model started {len(left)} process(es) that outlive it ({'; '.join(left[:3])}); "
                         "a submission may not start background processes")
    return {"identity": model.identity, "layers": layers, "shapes": shapes,
            "preprocessing": model.preprocessing.to_dict()}


def _describe(exc: BaseException, spec: str) -> str:
    """``"ZeroDivisionError: division by zero (model.py, line 7)"``: the last frame in the submission."""
    import traceback

    code = spec.split(":")[1] if spec.startswith("plugin:") else ""
    where = [f for f in traceback.extract_tb(exc.__traceback__) if code and f.filename == code]
    at = f" ({Path(where[-1].filename).name}, line {where[-1].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def _main(argv: list[str]) -> int:
    """The child's entry point: the report as the last stdout line, or one marked error line."""
    try:
        print(json.dumps(_child(*argv[:3])))
        return 0
    except NeuroalignError as exc:
        msg = str(exc)
    except MemoryError:
        msg = "out of memory (raise --memory-gb if the model really needs more)"
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the submission's own code: report it in one line
        msg = f"the model raised {_describe(exc, argv[0])}"
    print(ERROR_MARK + " ".join(msg.split()), file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
