"""An OS sandbox for untrusted model code, built on bubblewrap (``bwrap``, Debian ``bubblewrap``).

Inside: no network (own network namespace, loopback only), a read-only view of the whole
system, a fresh private ``/tmp`` (and ``$HOME`` hidden behind an empty one), its own PID
namespace (every child, detached or not, dies with it), no capabilities, and writes only to
the folders named as ``writable`` (the declared outputs). Time and memory limits are the
caller's (``subprocess`` timeout, ``RLIMIT_AS``), inherited by everything inside.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import SandboxError

ENV_INSIDE = "NEUROALIGN_SANDBOXED"  # set inside the sandbox (a nested --sandbox is a no-op)
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install "
                "bubblewrap`, Arch: `pacman -S bubblewrap`)")


def inside() -> bool:
    """True when this process runs inside a neuroalign sandbox."""
    return os.environ.get(ENV_INSIDE) == "1"


def _base_args(exe: str) -> list[str]:
    return [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


@functools.cache
def why_unavailable() -> str | None:
    """None when bubblewrap is installed and can start a sandbox here; else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    try:
        proc = subprocess.run([*_base_args(exe), "--", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({exe}) could not start: {exc}"
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"bubblewrap ({exe}) cannot create a sandbox on this machine ({detail}); user namespaces "
                "may be disabled (sysctl kernel.unprivileged_userns_clone=1) or a container forbids them")
    return None


def _hidden_roots() -> list[str]:
    """Folders replaced by an empty tmpfs inside: temporary space and the user's home."""
    out = ["/tmp", "/var/tmp"]
    home = os.path.expanduser("~")
    if home not in ("/", "") and Path(home).is_dir():
        out.append(home)
    return out


def _needed_readable() -> list[Path]:
    """What Python and neuroalign need to run, re-exposed read-only if a hidden folder holds them."""
    pkg_root = Path(__file__).resolve().parents[1]
    return [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), pkg_root, Path(sys.executable).resolve().parent]


def wrap(cmd: Sequence[str], *, writable: Iterable[str | os.PathLike] = (),
         readable: Iterable[str | os.PathLike] = (), chdir: str | os.PathLike | None = None,
         env: dict[str, str] | None = None) -> list[str]:
    """The command line that runs ``cmd`` inside the sandbox.

    ``writable`` folders are created if missing and bound read-write (the declared outputs);
    ``readable`` paths are re-exposed read-only when they lie in a hidden folder (``/tmp``, ``$HOME``);
    ``env`` variables are set inside (``HOME`` and ``TMPDIR`` point at the private ``/tmp``).
    Raises :class:`SandboxError` when bubblewrap is missing or cannot run here.
    """
    why = why_unavailable()
    if why:
        raise SandboxError(why)
    args = _base_args(shutil.which("bwrap"))
    hidden = _hidden_roots()
    for h in hidden:
        args += ["--tmpfs", h]
    for dev in sorted(glob.glob("/dev/nvidia*")) + ["/dev/dri"]:  # GPUs stay usable
        args += ["--dev-bind-try", dev, dev]

    def under_hidden(p: Path) -> bool:
        return any(p == Path(h) or Path(h) in p.parents for h in hidden)

    cwd = Path(chdir or os.getcwd()).resolve()
    ro = {p for p in (Path(x).resolve() for x in [*_needed_readable(), *readable, cwd]) if p.exists() and under_hidden(p)}
    rw = {Path(w).resolve() for w in writable}
    for w in rw:
        w.mkdir(parents=True, exist_ok=True)
    # outer folders first, and every writable bind after the read-only ones: a later mount covers an earlier one
    for p in sorted(ro, key=lambda p: len(p.parts)):
        args += ["--ro-bind", str(p), str(p)]
    for w in sorted(rw, key=lambda p: len(p.parts)):
        args += ["--bind", str(w), str(w)]
    args += ["--chdir", str(cwd)]
    for k, v in {ENV_INSIDE: "1", "TMPDIR": "/tmp", "HOME": "/tmp", **(env or {})}.items():
        args += ["--setenv", k, str(v)]
    args.append("--")
    return [*args, *map(str, cmd)]


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
