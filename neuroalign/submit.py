"""Model submission: run someone's model code in the sandbox on a few images, then add it to the grid.

A submission is a folder holding ``metadata.yaml`` (``name``, ``authors``, ``callable``
as ``file.py:function``, optional ``layers``) and the code beside it, or a ``.py`` file with a
sibling ``<stem>.yaml`` of the same keys. The callable returns the model, its layer names and
its preprocessing (see :func:`neuroalign.models.plugin.load_plugin`).

The code runs only in :mod:`neuroalign.boundary_child` inside the bubblewrap sandbox, which
writes activation arrays; the record stored here is the host's own: name and authors from its
reading of ``metadata.yaml``, layers and shapes from the arrays it checked, and the SHA-256 over
every file of the folder (the pin: any later change, or a vanished file, needs a new
``neuroalign submit`` before the workflow runs the model). Without a usable sandbox it refuses
unless ``trust_code=True`` (``--trust-code``); such an entry is marked ``trusted``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .atomic import atomic_path
from .errors import ConfigError, ModelError
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
    if code.parent != base:
        raise ConfigError(f"submission {path}: callable file {code} must lie directly in the submission folder "
                          f"{base} (the folder is what is hashed and run).")
    return {**meta, "code": str(code), "function": func, "spec": f"plugin:{code}:{func}"}


def _check_writable(sub: Path) -> None:
    """Before any model runs: the submissions file's folder takes a new file (a read-only folder is one line)."""
    import tempfile

    try:
        sub.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=sub.parent, prefix=".neuroalign-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"submissions file {sub}: its folder {sub.parent} is not writable ({exc.strerror}); give a "
                          "writable --submissions path (the model was not run).") from None


def validate_submission(path: str | os.PathLike, *, timeout: float = 300, memory_gb: float = 8,
                        n_images: int = 4, trust_code: bool = False) -> dict:
    """Run a submission on a few synthetic images in the sandbox and return the host's record of it.

    Every field comes from the host: the name and authors from its reading of ``metadata.yaml``,
    layers and shapes from the arrays it checked (:func:`neuroalign.boundary.check_output`), the
    identity from the SHA-256 over the folder's files. The model's declared preprocessing is
    kept after a schema check, for display. Without a usable sandbox this refuses unless
    ``trust_code=True`` (then the same child runs unsandboxed, under the same limits)."""
    import tempfile

    from .boundary import REFUSED, Job, Refused, check_output, model_identity, require_sandbox, run_child
    from .datasets.synthetic import synthetic_stimuli
    from .limits import positive_finite

    meta = read_package(path)
    memory_gb = positive_finite(memory_gb, "--memory-gb")
    timeout = positive_finite(timeout, "--timeout")
    if not trust_code:
        require_sandbox(f"submission {meta['name']!r}")
    job = Job(meta["spec"], None, meta.get("layers"), device="cpu", n_images=n_images, timeout=timeout,
              memory_gb=memory_gb)
    ids = list(map(str, synthetic_stimuli(n_images=max(2, int(n_images))).stimulus_ids))
    with tempfile.TemporaryDirectory(prefix="neuroalign-submit-") as work:
        try:
            out, pin, limits = run_child(job, Path(work), trusted=trust_code)
            checked = check_output(out, job, ids)
        except Refused as exc:
            raise ModelError(f"submission {meta['name']!r} ({meta['code']}) failed validation: "
                             f"{str(exc).removeprefix(REFUSED)}") from None
    arrays = checked["arrays"]
    return {**meta, "layers": list(arrays), "shapes": {k: list(a.shape) for k, (a, _) in arrays.items()},
            "preprocessing": checked["preprocessing"], "identity": model_identity(meta["spec"], pin),
            "folder": str(Path(meta["code"]).parent), "folder_sha256": pin, "limits": limits,
            "sandboxed": not trust_code}


ENTRY_KEYS = ("spec", "layers", "authors", "identity", "folder", "folder_sha256", "preprocessing")


def submit(path: str | os.PathLike, submissions_file: str | os.PathLike, *, replace: bool = False, **kw) -> dict:
    """Validate and add the model to the submissions YAML the workflow reads. A name already
    held by another folder's submission is refused unless ``replace``."""
    from .limits import positive_finite

    sub = Path(submissions_file)
    for key, flag in (("memory_gb", "--memory-gb"), ("timeout", "--timeout")):
        if key in kw:
            positive_finite(kw[key], flag)  # before anything runs
    _check_writable(sub)
    meta = read_package(path)
    held = ((read_submissions(sub) if sub.exists() else {}).get("models") or {}).get(meta["name"])
    folder = str(Path(meta["code"]).parent)
    if held and held.get("folder") != folder and not replace:
        raise ConfigError(f"model name {meta['name']!r} is already submitted from {held.get('folder') or held.get('spec')}; "
                          "pick another `name` in metadata.yaml, or pass --replace to replace that entry.")
    record = validate_submission(path, **kw)
    data = read_submissions(sub) if sub.exists() else {}
    models = data.setdefault("models", None) or {}
    data["models"] = models
    models[record["name"]] = {k: record[k] for k in ENTRY_KEYS if k in record}
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


def check_pinned(name: str, entry: dict) -> None:
    """Refuse to run a submitted model whose folder changed (or lost files) since it was validated."""
    from .boundary import check_pin

    if not entry.get("folder_sha256"):
        raise ModelError(f"submitted model {name!r} was pinned by an older neuroalign (one file's hash, not its "
                         "folder's); run `neuroalign submit` again.")
    check_pin(str(entry.get("spec", "")), entry["folder_sha256"])
