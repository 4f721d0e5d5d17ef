"""The processes on this machine, read from /proc: what tests check for leftovers with."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def processes() -> Iterator[tuple[int, str, str | None]]:
    """``(pid, command line, working directory or None)`` of every process still there (this one
    included); one that ends while it is read is skipped."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:  # ended meanwhile, or a kernel thread
            cwd = None
        yield int(entry.name), cmd, cwd
