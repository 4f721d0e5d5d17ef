"""Named crash points for the reliability tests: ``NEUROALIGN_FAILPOINT=name:N`` makes the
process SIGKILL itself the N-th time it passes ``name`` (no cleanup, no flush: a real crash);
``name:N:INT`` sends SIGINT instead (a user's Ctrl-C).

Unset (always, outside tests) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter = Counter()


def failpoint(name: str) -> None:
    spec = os.environ.get("NEUROALIGN_FAILPOINT")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, sig = rest.partition(":")
    _hits[name] += 1
    if _hits[name] >= int(count or 1):
        if sig == "INT":  # as from a terminal: a shell's background job inherits SIGINT ignored
            signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), getattr(signal, f"SIG{sig}") if sig else signal.SIGKILL)
