"""One copy of a machine-wide service per test run, however many pytest-xdist workers ask for it.

The SLURM cluster (system daemons, an `apt-get` install) must not be started twice at once,
and must not be stopped while another worker may still start Snakemake (whose SLURM plugin
asks the controller on import and waits 9 s when none answers). So the first worker that
needs it starts it, under a file lock; it stays up until the last worker of the run is
out (every worker is a *member* of the run from its first test to its last), and is then
stopped once. The lock and the books live in the folder that every worker of this run
shares (the parent of the workers' base temp folders under xdist, the session's own base
temp folder otherwise), so another run never sees them.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

from neuroalign.atomic import _pid_alive as _alive  # the one pid check

def run_folder(tmp_path_factory) -> Path:
    """The folder shared by every worker of this test run (and by no other run)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

def _book(tmp_path_factory, name: str) -> tuple[FileLock, Path]:
    folder = run_folder(tmp_path_factory)
    return FileLock(str(folder / f"{name}.lock")), folder / f"{name}.json"

def _update(tmp_path_factory, name: str, change: Callable[[dict], None]) -> dict:
    """Apply ``change`` to the JSON book ``name`` under its lock; return the book after it."""
    lock, path = _book(tmp_path_factory, name)
    with lock:
        book = json.loads(path.read_text()) if path.exists() else {}
        change(book)
        path.write_text(json.dumps(book))
    return book

def _leave(tmp_path_factory) -> dict:
    return _update(tmp_path_factory, "members", lambda b: b.pop(str(os.getpid()), None))

@contextmanager
def run_member(tmp_path_factory) -> Iterator[None]:
    """This process is a member of the run while the block runs (conftest: the whole session)."""
    _update(tmp_path_factory, "members", lambda b: b.update({str(os.getpid()): True}))
    try:
        yield
    finally:
        _leave(tmp_path_factory)

@contextmanager
def shared_service(tmp_path_factory, name: str, start: Callable[[], dict],
                   stop: Callable[[dict], None], poll_s: float = 1.0) -> Iterator[dict]:
    """Yield the state ``start()`` returned; ``start`` runs for the first user of this run only.
    Use it from a session-scoped fixture: on teardown this worker leaves the run, waits until
    every other member has left (or died), and ``stop(state)`` runs once, for the whole run."""
    lock, path = _book(tmp_path_factory, name)
    with lock:
        book = json.loads(path.read_text()) if path.exists() else {}
        if "state" not in book:  # a start that raised leaves no state: the next user tries again
            book = {"state": start(), "stopped": False}
            path.write_text(json.dumps(book))
    try:
        yield book["state"]
    finally:
        while any(_alive(int(pid)) for pid in _leave(tmp_path_factory)):
            time.sleep(poll_s)
        with lock:
            book = json.loads(path.read_text())
            if not book["stopped"]:
                book["stopped"] = True
                path.write_text(json.dumps(book))
                stop(book["state"])
