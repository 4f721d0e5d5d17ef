"""The trusted side of the trust boundary: untrusted model code only ever produces arrays.

The host copies the submission folder to a private snapshot and hashes it (the model's
identity), runs :mod:`neuroalign.boundary_child` in the sandbox on that snapshot with a fresh
private output folder as its only writable path, then checks every array (the requested
layers only, one row per requested stimulus in the host's order, float, finite, width equal
to what the declared layer shape and the reduction give, size bounded) and writes the
accepted ones into the activation cache itself, under a key it computes. Nothing the child
prints or claims is a verdict: a failed check is a :class:`Refused` naming the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, ModelError, SandboxError

MAX_FILES = 20_000  # a submission folder: files and bytes the host copies and hashes
MAX_FOLDER_BYTES = 8 * 2**30
MAX_LAYERS = 256
MAX_ARRAY_BYTES = 16 * 2**30  # one layer's float32 activations (and --budget-gb when smaller)
MAX_JSON_BYTES = 64 * 2**20
REFUSED = "refused: "


class Refused(ModelError):
    """A sandboxed model's output failed the host's checks (or it failed to produce any)."""


@dataclass
class Job:
    """What the host asks of untrusted code: one model spec, one stimulus set, these layers."""

    spec: str
    stimuli: str | None  # a --stimuli source; None: synthetic images (submit)
    layers: list[str] | None
    reduction: str = "avgpool"
    batch_size: int = 32
    device: str = "cpu"
    n_images: int = 4
    timeout: float = 3600
    memory_gb: float = 8
    color: str = "error"
    readable: list[Path] = field(default_factory=list)


def code_folder(spec: str) -> Path | None:
    """The folder of a ``plugin:<file.py>:fn`` spec (a submission's code and weights), else None."""
    if not spec.startswith("plugin:"):
        return None
    where = spec[len("plugin:"):].split("?")[0].rpartition(":")[0]
    return Path(where).expanduser().resolve().parent if where.endswith(".py") else None


def folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` in sorted relative-path order; links and special files refused."""
    out, total = [], 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted([*files, *(d for d in dirs if os.path.islink(os.path.join(root, d)))]):
            p = Path(root) / name
            if p.is_symlink() or not p.is_file():
                raise ModelError(f"submission folder {folder}: {p} is a link or special file; submissions hold "
                                 "plain files only (copy the target in).")
            out.append(p)
            total += p.stat().st_size
            if len(out) > MAX_FILES or total > MAX_FOLDER_BYTES:
                raise ModelError(f"submission folder {folder} holds over {MAX_FILES} files or "
                                 f"{MAX_FOLDER_BYTES / 2**30:.0f} GiB; keep only the model's code and weights there.")
    return out


def folder_sha256(folder: str | os.PathLike, copy_to: Path | None = None) -> str:
    """SHA-256 over every file (relative path, size, contents, in sorted order): the pinned identity.
    With ``copy_to`` the files are copied there and the hash is of the copied bytes (no race)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for p in folder_files(folder):
        rel = p.relative_to(folder).as_posix()
        data = p.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
        if copy_to is not None:
            dest = copy_to / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    return h.hexdigest()


def _files_pin(spec: str) -> str | None:
    """For specs without a code folder (``checkpoint:<file>?arch=...``): a hash over the files the spec
    names, so a replaced checkpoint is a new cache entry; None when it names no file."""
    from .data.registry import sha256_file

    files = sorted({str(Path(p).resolve()) for p in spec.split("?")[0].split(":") if p and os.path.isfile(p)})
    if not files:
        return None
    return hashlib.sha256("\0".join(f"{f}={sha256_file(Path(f))}" for f in files).encode()).hexdigest()


def check_pin(spec: str, pinned: str | None) -> str | None:
    """The code folder's hash now; a ModelError saying to resubmit when it differs from ``pinned``."""
    folder = code_folder(spec)
    if folder is None:
        return _files_pin(spec)
    if not folder.is_dir():
        raise ModelError(f"submission folder {folder} of {spec} is gone; restore it and run `neuroalign submit` again.")
    now = folder_sha256(folder)
    if pinned and now != pinned:
        raise ModelError(f"submission folder {folder} changed since it was submitted (SHA-256 over its files "
                         "differs, or a file vanished); run `neuroalign submit` again.")
    return now


def _readable(job: Job) -> list[Path]:
    from .data.registry import data_dir

    out = [data_dir(), *job.readable]
    torch_home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "torch")
    out.append(torch_home.expanduser())
    for piece in [job.stimuli or "", *job.spec.split("?")[0].split(":")]:  # checkpoint files, image folders
        if piece and os.path.exists(piece) and code_folder(job.spec) not in Path(piece).resolve().parents:
            out.append(Path(piece))
    return out


def _why_failed(outcome, job: Job) -> str:
    from .boundary_child import ERROR_MARK

    if outcome.timed_out:
        return f"it exceeded {job.timeout:.0f} s and was stopped (with every process it started)"
    if outcome.out_of_memory:
        return f"out of memory ({outcome.limits})"
    marked = [ln[len(ERROR_MARK):] for ln in outcome.tail.splitlines() if ln.startswith(ERROR_MARK)]
    if marked:
        return marked[-1][:2000]
    if "MemoryError" in outcome.tail or "bad_alloc" in outcome.tail:
        return f"out of memory ({outcome.limits})"
    if outcome.returncode < 0:
        return f"killed by signal {-outcome.returncode}"
    last = (outcome.tail.strip().splitlines() or [f"exit status {outcome.returncode}"])[-1][:2000]
    return f"exit status {outcome.returncode}: {last}"


def run_child(job: Job, work: Path, *, trusted: bool = False) -> tuple[Path, str | None, str]:
    """Run the job in the sandbox (``trusted``: unsandboxed, for ``--trust-code``, same limits and checks);
    return (its private output folder, the code folder's hash, the limits applied)."""
    from . import sandbox
    from .data.registry import ENV_VAR, data_dir

    folder = code_folder(job.spec)
    binds, pin = [], _files_pin(job.spec) if folder is None else None
    if folder is not None and trusted:
        pin = folder_sha256(folder)
    elif folder is not None:
        snap = work / "code"
        snap.mkdir()
        pin = folder_sha256(folder, copy_to=snap)
        binds.append((snap, folder))
    out = work / "out"
    payload = {"spec": job.spec, "stimuli": job.stimuli and str(Path(job.stimuli).absolute()
                                                                 if os.path.exists(job.stimuli) else job.stimuli),
               "layers": job.layers, "reduction": job.reduction, "batch_size": job.batch_size,
               "device": job.device, "n_images": job.n_images, "color": job.color, "out": str(out)}
    cmd = [sys.executable, "-m", "neuroalign.boundary_child", json.dumps(payload)]
    if trusted:
        out.mkdir()
        cmd = ["env", "PYTHONDONTWRITEBYTECODE=1", f"PYTHONPATH={sandbox.package_root()}", *cmd]
    else:
        cmd = sandbox.wrap(cmd, writable=[out], readable=_readable(job), binds=binds, env={ENV_VAR: str(data_dir())})
    outcome = sandbox.run(cmd, timeout=job.timeout, memory_bytes=int(job.memory_gb * 2**30))
    if outcome.returncode != 0:
        raise Refused(f"{REFUSED}the model failed in the sandbox: {_why_failed(outcome, job)}")
    return out, pin, outcome.limits


def _declared(out: Path) -> dict:
    path = out / "model.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_JSON_BYTES:
        raise Refused(f"{REFUSED}the sandbox wrote no valid model.json (missing, a link, or over "
                      f"{MAX_JSON_BYTES >> 20} MiB)")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise Refused(f"{REFUSED}model.json from the sandbox is not JSON") from None
    if not isinstance(meta, dict):
        raise Refused(f"{REFUSED}model.json from the sandbox is not a mapping")
    return meta


def _array(path: Path, n: int, width: int, limit: float) -> np.ndarray:
    """One layer's array from the sandbox: a plain .npy (no pickle), float, n × width, finite."""
    if not path.is_file() or path.is_symlink():
        raise Refused(f"{REFUSED}{path.name} is missing or not a plain file")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise Refused(f"{REFUSED}{path.name} is not a valid .npy array ({exc})") from None
    if arr.dtype.kind != "f" or arr.dtype.itemsize > 8:
        raise Refused(f"{REFUSED}{path.name} has dtype {arr.dtype}, not float")
    if arr.shape != (n, width):
        raise Refused(f"{REFUSED}{path.name} has shape {arr.shape}, expected ({n}, {width}) "
                      "(one row per requested stimulus, the declared layer's width)")
    if n * width * 4 > limit:
        raise Refused(f"{REFUSED}{path.name} would take {n * width * 4 / 2**30:.1f} GiB, over the limit "
                      f"{limit / 2**30:.1f} GiB")
    out = np.array(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise Refused(f"{REFUSED}{path.name} holds non-finite values (NaN or inf)")
    return out


def check_output(out: Path, job: Job, stimulus_ids: list[str], budget: float | None = None) -> dict:
    """The checked arrays ``{layer: (array, per-image shape)}`` and the declared preprocessing."""
    from .activations.reduction import parse_reductions
    from .models.base import Preprocessing
    from .submission_template import check_layer_name

    meta = _declared(out)
    layers = meta.get("layers")
    if job.layers is not None:
        if layers != job.layers:
            raise Refused(f"{REFUSED}the sandbox answered for layers {str(layers)[:200]}, not the requested {job.layers}")
    elif not (isinstance(layers, list) and 0 < len(layers) <= MAX_LAYERS and all(isinstance(x, str) for x in layers)):
        raise Refused(f"{REFUSED}the model's default layers must be a list of 1 to {MAX_LAYERS} names")
    for layer in layers:
        check_layer_name(layer, Refused)
    if meta.get("stimulus_ids") != stimulus_ids:
        raise Refused(f"{REFUSED}the arrays' stimulus ids are not the requested {len(stimulus_ids)} ids in order")
    try:
        pre = Preprocessing.from_dict(meta.get("preprocessing") or {}).to_dict()
    except (TypeError, ValueError) as exc:
        raise Refused(f"{REFUSED}the declared preprocessing is invalid ({exc})") from None
    reds = parse_reductions(job.reduction, list(layers))
    limit = min(MAX_ARRAY_BYTES, budget or MAX_ARRAY_BYTES)
    arrays = {}
    for i, layer in enumerate(layers):
        shape = (meta.get("shapes") or {}).get(layer)
        if not (isinstance(shape, list) and 1 <= len(shape) <= 8 and all(type(s) is int and 0 < s < 2**31 for s in shape)):
            raise Refused(f"{REFUSED}layer {layer}: declared output shape {str(shape)[:100]} is not a list of positive sizes")
        width = reds[layer].n_features(tuple(shape))
        arrays[layer] = (_array(out / f"{i}.npy", len(stimulus_ids), width, limit), tuple(shape))
    return {"arrays": arrays, "preprocessing": pre}


@contextlib.contextmanager
def private_folder(cache_root: Path):
    """A fresh folder for one sandboxed run beside the cache (removed afterwards, whatever happens)."""
    from .atomic import remove

    incoming = Path(cache_root).absolute() / "incoming"  # absolute: the child runs in another working directory
    try:
        incoming.mkdir(parents=True, exist_ok=True)
        work = incoming / f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        work.mkdir()
    except OSError as exc:
        raise DataError(f"cache folder {cache_root} is not writable ({exc.strerror}); give a writable "
                        "--cache-dir.") from None
    try:
        yield work
    finally:
        remove(work)


def host_key_fields(spec: str, pin: str | None, layer: str, stimuli, reduction) -> dict:
    """The cache key's fields, computed by the host: the code folder's hash stands in for the
    weights hash (the host never loads the model)."""
    from .activations.cache import STORE_FORMAT, key_fields

    class _Ident:  # what key_fields reads off a model, from the host's own knowledge
        weights_sha256 = f"folder:{pin}" if pin else "unpinned"
        preprocessing = type("P", (), {"to_dict": staticmethod(lambda: "declared-by-sandboxed-model")})

    _Ident.spec = spec
    fields = key_fields(_Ident, layer, stimuli, reduction, False)
    return {**fields, "sandboxed": True, "format": STORE_FORMAT}


def model_identity(spec: str, pin: str | None) -> str:
    if not pin:
        return f"{spec}@sandboxed"
    return f"{spec}@{'folder' if code_folder(spec) else 'files'}-sha256:{pin}"


def _store_paths(root: Path, job: Job, pin: str | None, stimuli, layers: list[str]) -> dict[str, tuple[Path, dict]]:
    from .activations.cache import cache_key, store_path
    from .activations.reduction import parse_reductions

    reds = parse_reductions(job.reduction, layers)
    out = {}
    for layer in layers:
        fields = host_key_fields(job.spec, pin, layer, stimuli, reds[layer])
        key = cache_key(fields)
        out[layer] = (store_path(root, job.spec, layer, key), {**fields, "cache_key": key, "reduction_spec": str(reds[layer])})
    return out


def _write_store(path: Path, attrs: dict, stimuli, arr: np.ndarray, shape: tuple, reduction) -> None:
    """The host writes the cache entry itself, from the checked array."""
    from .activations.store import StoreWriter
    from .atomic import atomic_path

    with atomic_path(path, overwrite=False) as tmp:
        writer = StoreWriter(tmp, list(map(str, stimuli.stimulus_ids)), reduction.feature_coords(shape), arr.shape[1],
                             batch_size=max(1, len(arr)), attrs={**attrs, "stimulus_set": stimuli.identifier})
        writer.write(0, arr)
        writer.check_complete()


def sandboxed_features(job: Job, stimuli, *, cache_dir=None, pinned: str | None = None,
                       budget: float | None = None) -> tuple[dict, dict]:
    """``({layer: activations}, info)`` for untrusted code: read from the cache under the host's key,
    else computed in the sandbox, checked, and written to the cache by the host. ``info`` holds the
    identity, the declared preprocessing and the limits that applied. Raises :class:`Refused`."""
    from .activations.cache import default_cache_dir
    from .activations.reduction import parse_reductions
    from .activations.store import open_activations
    from .submission_template import check_layer_name

    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    pin = check_pin(job.spec, pinned)
    info = {"identity": model_identity(job.spec, pin), "limits": "none (read from the cache)", "preprocessing": None}
    if job.layers:
        for layer in job.layers:
            check_layer_name(layer, ModelError)
        known = _store_paths(root, job, pin, stimuli, job.layers)
        if all(p.exists() for p, _ in known.values()):
            return {layer: open_activations(p) for layer, (p, _) in known.items()}, info
    with private_folder(root) as work:
        out, snap_pin, limits = run_child(job, work)
        if snap_pin != pin:
            raise Refused(f"{REFUSED}the submission folder changed while the model ran; run it again")
        checked = check_output(out, job, list(map(str, stimuli.stimulus_ids)), budget)
        info.update(limits=limits, preprocessing=checked["preprocessing"])
        targets = _store_paths(root, job, pin, stimuli, list(checked["arrays"]))
        reds = parse_reductions(job.reduction, list(targets))
        for layer, (arr, shape) in checked["arrays"].items():
            path, attrs = targets[layer]
            _write_store(path, {**attrs, "model_name": job.spec, "model_spec": job.spec, "layer": layer},
                         stimuli, arr, shape, reds[layer])
    return {layer: open_activations(p) for layer, (p, _) in targets.items()}, info


def require_sandbox(what: str) -> None:
    """A SandboxError saying how to proceed when bubblewrap cannot run here."""
    from . import sandbox

    why = sandbox.why_unavailable()
    if why:
        raise SandboxError(f"{what}: refusing to run submitted code without a sandbox: {why}. Only if you trust "
                           "this code, pass --trust-code (submit) or drop --sandbox (extract, score, rdms).")
