"""An OS sandbox for untrusted model code, built on bubblewrap (``bwrap``, Debian ``bubblewrap``).

Inside: no network (own network namespace), its own PID namespace (every child dies with it),
no capabilities, an empty environment apart from a short allow-list, and a minimal view of
the host: read-only binds of the system's program and library folders, a few ``/etc`` files
the loader needs, the Python install, the neuroalign package and the paths the caller names.
``/tmp``, ``/run`` and ``$HOME`` are private (``/tmp`` size-capped); ``/root``, the working
tree and host sockets are not there. Writes go only to the folders named as ``writable``.
Time, memory and process limits are applied by :func:`run` (see :mod:`neuroalign.limits`).
"""

from __future__ import annotations

import collections
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxError

ENV_INSIDE = "NEUROALIGN_SANDBOXED"  # set inside the sandbox (a nested --sandbox is a no-op)
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install "
                "bubblewrap`, Arch: `pacman -S bubblewrap`)")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/ssl/certs",
             "/etc/ca-certificates", "/etc/localtime", "/etc/nsswitch.conf")
TMP_BYTES = 256 * 2**20  # private /tmp (tmpfs, in RAM): capped
# what crosses into the sandbox from the host's environment (nothing else: no tokens, no sockets)
ENV_PASSED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES",
              "NEUROALIGN_OFFLINE", "NEUROALIGN_EXTRACT_WORKERS", "NEUROALIGN_MAX_IMAGE_MB",
              "NEUROALIGN_MAX_IMAGE_PIXELS", "NEUROALIGN_MAX_ZIP_RATIO", "NEUROALIGN_MIN_IMAGE_SIDE")
TAIL_BYTES = 64 * 1024  # what is kept of a child's stdout + stderr (the end)


def inside() -> bool:
    """True when this process runs inside a neuroalign sandbox."""
    return os.environ.get(ENV_INSIDE) == "1"


def _system_args() -> list[str]:
    """Read-only system folders (symlinks such as merged-/usr ``/lib -> usr/lib`` kept as links)."""
    args: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for f in ETC_FILES:
        args += ["--ro-bind-try", f, f]
    return args


def _base_args(exe: str) -> list[str]:
    return [exe, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            *_system_args(), "--dev", "/dev", "--proc", "/proc",
            "--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--size", str(16 * 2**20), "--tmpfs", "/run"]


@functools.cache
def why_unavailable() -> str | None:
    """None when bubblewrap is installed and can start a sandbox here; else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    try:
        proc = subprocess.run([*_base_args(exe), "--", "/bin/sh", "-c", "true"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({exe}) could not start: {exc}"
    if proc.returncode != 0:
        detail = (clean(proc.stderr).strip().splitlines() or ["no message"])[-1]
        return (f"bubblewrap ({exe}) cannot create a sandbox on this machine ({detail}); user namespaces "
                "may be disabled (sysctl kernel.unprivileged_userns_clone=1) or a container forbids them")
    return None


def package_root() -> Path:
    """The folder holding the ``neuroalign`` package (``PYTHONPATH`` inside points at it)."""
    return Path(__file__).resolve().parents[1]


def _interpreter_paths() -> list[Path]:
    """What Python and neuroalign need: the prefixes, the executable's folder, the package only."""
    exe = Path(sys.executable)
    return [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), exe.parent.resolve(),
            exe.resolve().parent, Path(__file__).resolve().parent]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    return {**env, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "USER": "sandbox",
            "LOGNAME": "sandbox", "PYTHONPATH": str(package_root()), "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1", ENV_INSIDE: "1", **(extra or {})}


def wrap(cmd: Sequence[str], *, writable: Iterable[str | os.PathLike] = (),
         readable: Iterable[str | os.PathLike] = (), binds: Iterable[tuple[str | os.PathLike, str | os.PathLike]] = (),
         chdir: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The command line that runs ``cmd`` inside the sandbox.

    ``readable`` paths (files or folders) are bound read-only at the same place, ``binds`` as
    ``(host path, path inside)`` read-only pairs, ``writable`` folders read-write (created if
    missing); nothing else of the host's file system is there beyond the interpreter. ``env``
    is added to the allow-listed environment. Raises :class:`SandboxError` when bubblewrap is
    missing or cannot run here.
    """
    why = why_unavailable()
    if why:
        raise SandboxError(why)
    args = _base_args(shutil.which("bwrap"))
    for dev in sorted(glob.glob("/dev/nvidia*")) + ["/dev/dri"]:  # GPUs stay usable
        args += ["--dev-bind-try", dev, dev]
    ro = {p for p in (Path(x).resolve() for x in [*_interpreter_paths(), *readable]) if p.exists()}
    rw = {Path(w).resolve() for w in writable}
    for w in rw:
        w.mkdir(parents=True, exist_ok=True)
    # outer paths first, the remapped and writable binds after: a later mount covers an earlier one
    for p in sorted(ro, key=lambda p: len(p.parts)):
        args += ["--ro-bind", str(p), str(p)]
    for src, dst in binds:
        args += ["--ro-bind", str(Path(src).resolve()), str(dst)]
    for w in sorted(rw, key=lambda p: len(p.parts)):
        args += ["--bind", str(w), str(w)]
    args += ["--remount-ro", "/", "--chdir", str(chdir or "/tmp")]  # the sandbox's root: no writes outside /tmp, /run
    for k, v in _env(env).items():
        args += ["--setenv", k, str(v)]
    args.append("--")
    return [*args, *map(str, cmd)]


_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` without ANSI escape sequences, control characters (newlines and tabs kept) or
    bidirectional overrides: what a child prints can only be read, never steer a terminal."""
    return _CTRL.sub("", _ANSI.sub("", text))


@dataclass
class Outcome:
    """How a sandboxed child ended: exit status, the cleaned tail of its output, the limits."""

    returncode: int
    tail: str
    limits: str
    out_of_memory: bool = False
    timed_out: bool = False


def run(cmd: Sequence[str], *, timeout: float, memory_bytes: int, max_procs: int = 256) -> Outcome:
    """Run a wrapped command under the whole-sandbox limits; keep only the last ``TAIL_BYTES`` of
    its stdout + stderr (a child printing gigabytes costs the host nothing); kill it at ``timeout``."""
    import signal

    from .limits import Limits

    tail: collections.deque[bytes] = collections.deque()
    with Limits(memory_bytes, max_procs) as lim:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lim.preexec)

        def pump() -> None:
            size = 0
            while chunk := proc.stdout.read1(65536):
                tail.append(chunk)
                size += len(chunk)
                while size - len(tail[0]) >= TAIL_BYTES:
                    size -= len(tail.popleft())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
        oom = lim.out_of_memory()
        described = lim.describe()
    text = clean(b"".join(tail)[-TAIL_BYTES:].decode("utf-8", errors="replace"))
    return Outcome(proc.returncode, text, described, oom, timed_out)


def other_processes() -> list[str]:
    """Inside the sandbox: every process besides the sandbox's init (PID 1), this process and
    its ancestors, as ``"pid: command line"``. Outside a sandbox: empty (the host has many)."""
    if not inside():
        return []
    mine = {1, os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in mine:
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue  # exited meanwhile
            out.append(f"{entry.name}: {cmdline or '<zombie>'}")
    return out
