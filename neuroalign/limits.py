"""Memory and process limits for a whole sandbox, and the check of limit values.

A cgroup holds every process of the sandbox, so ``memory`` and ``processes`` bound their sum:
cgroup v2 where the host delegates ``memory`` and ``pids`` to us, else the v1 ``memory`` and
``pids`` hierarchies when they are writable (root in many containers). Where neither can be
created, each process gets ``RLIMIT_AS`` (address space) and ``RLIMIT_NPROC``: per process,
not for the whole sandbox, which :meth:`Limits.describe` says. ``NEUROALIGN_NO_CGROUP=1``
forces that fallback.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
import uuid
from pathlib import Path

from .errors import ConfigError

CGROUP_ROOT = Path("/sys/fs/cgroup")


def positive_finite(value, what: str) -> float:
    """``value`` as a float > 0 and finite, else a ConfigError naming ``what`` (e.g. ``--memory-gb``)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a positive number, got {value!r}.") from None
    if not math.isfinite(out) or out <= 0:
        raise ConfigError(f"{what} must be a positive, finite number, got {value!r} (0, negatives, nan and inf "
                          "would mean no limit).")
    return out


def _own_path(controller: str) -> str:
    """This process's cgroup path in the hierarchy of ``controller`` (``""``: the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if names.split(",") == [controller] or (controller == "" and names == ""):
            return path.lstrip("/")
    raise OSError(f"no cgroup line for {controller or 'v2'}")


def _mkgroup(base: Path, own: str) -> Path:
    parent = base / own if (base / own).is_dir() else base
    group = parent / f"neuroalign-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    return group


def _v2(memory: int, procs: int) -> list[Path]:
    base = CGROUP_ROOT
    if not (base / "cgroup.controllers").is_file():
        raise OSError("no cgroup v2 at /sys/fs/cgroup")
    own = _own_path("")
    parent = base / own
    if not {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
        raise OSError("memory and pids are not delegated")
    group = _mkgroup(base, own)
    (group / "memory.max").write_text(str(memory))
    with contextlib.suppress(OSError):
        (group / "memory.swap.max").write_text("0")
    (group / "pids.max").write_text(str(procs))
    return [group]


def _v1(memory: int, procs: int) -> list[Path]:
    groups = []
    try:
        mem = _mkgroup(CGROUP_ROOT / "memory", _own_path("memory"))
        groups.append(mem)
        (mem / "memory.limit_in_bytes").write_text(str(memory))
        with contextlib.suppress(OSError):
            (mem / "memory.memsw.limit_in_bytes").write_text(str(memory))
        pids = _mkgroup(CGROUP_ROOT / "pids", _own_path("pids"))
        groups.append(pids)
        (pids / "pids.max").write_text(str(procs))
    except OSError:
        _remove(groups)
        raise
    return groups


def _remove(groups: list[Path]) -> None:
    for g in groups:
        for _ in range(50):
            with contextlib.suppress(OSError):
                for pid in (g / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                g.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


class Limits:
    """``with Limits(bytes, n) as lim:`` start the child with ``preexec_fn=lim.preexec``."""

    def __init__(self, memory_bytes: int, max_procs: int) -> None:
        self.memory = int(positive_finite(memory_bytes, "the memory limit"))
        self.procs = int(positive_finite(max_procs, "the process limit"))
        self.groups: list[Path] = []
        self.kind = "rlimit"

    def __enter__(self) -> Limits:
        if os.environ.get("NEUROALIGN_NO_CGROUP") != "1":
            for kind, make in (("cgroup v2", _v2), ("cgroup v1", _v1)):
                try:
                    self.groups, self.kind = make(self.memory, self.procs), kind
                    break
                except (OSError, ValueError):
                    continue
        return self

    def __exit__(self, *exc) -> None:
        _remove(self.groups)

    def preexec(self) -> None:
        """In the child before exec: join the cgroups, or set the per-process rlimits."""
        import resource

        for g in self.groups:
            (g / "cgroup.procs").write_text(str(os.getpid()))
        if not self.groups:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))
            resource.setrlimit(resource.RLIMIT_NPROC, (self.procs, self.procs))

    def out_of_memory(self) -> bool:
        """True when the cgroup's memory limit was hit (always False for rlimits: MemoryError says it)."""
        for g in self.groups:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                with contextlib.suppress(OSError):
                    fields = dict(line.split() for line in (g / name).read_text().splitlines() if " " in line)
                    if int(fields.get(key, 0)) > 0:
                        return True
            with contextlib.suppress(OSError, ValueError):
                if int((g / "memory.failcnt").read_text()) > 0:
                    return True
        return False

    def describe(self) -> str:
        gb = self.memory / 2**30
        if self.groups:
            return f"{self.kind}: {gb:.1f} GiB and {self.procs} processes for the whole sandbox"
        return (f"rlimit: {gb:.1f} GiB of address space per process and {self.procs} processes per user "
                "(no cgroup could be created here, so the memory limit is per process)")
