"""Wait for an install that .ci/install-chromium.sh started in the background (.ci/background.sh).

``wait(name)`` returns at once when no such job was started (the caller then installs what it
needs itself, as it would on a machine where the setup script never ran); otherwise it blocks
until the job has ended (its flock on ``.ci/background/NAME.lock`` is released) and raises
:class:`BackgroundFailed`, with the job's log, when it did not exit 0 or died without saying.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BG_DIR = Path(os.environ.get("NEUROALIGN_CI_BACKGROUND", ROOT / ".ci" / "background"))


class BackgroundFailed(RuntimeError):
    pass


def wait(name: str, timeout: float = 1800, poll_s: float = 1.0) -> bool:
    """Block until the background job ``name`` has ended; True when there was one (it succeeded),
    False when none was started. Raises BackgroundFailed (with its log) when it failed."""
    if not (BG_DIR / f"{name}.started").is_file():
        return False
    t0 = time.monotonic()
    with open(BG_DIR / f"{name}.lock", "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - t0 > timeout:
                    raise BackgroundFailed(f"background job {name} still running after {timeout:.0f} s; "
                                           f"its log so far:\n{_log(name)}") from None
                time.sleep(poll_s)
        fcntl.flock(fh, fcntl.LOCK_UN)
    waited = time.monotonic() - t0
    if waited > 1:
        print(f"[background] waited {waited:.0f} s for {name}", file=sys.stderr)
    rc_file = BG_DIR / f"{name}.rc"
    rc = rc_file.read_text().strip() if rc_file.is_file() else None
    if rc != "0":
        why = f"exited {rc}" if rc is not None else "ended without an exit status (killed?)"
        raise BackgroundFailed(f"the background install {name} (started by .ci/install-chromium.sh) {why}; "
                               f"rerun that script to retry. Its log ({BG_DIR / (name + '.log')}):\n{_log(name)}")
    return True


def _log(name: str, tail: int = 6000) -> str:
    try:
        return (BG_DIR / f"{name}.log").read_text(errors="replace")[-tail:]
    except OSError:
        return "(no log)"
