"""Progress over the long loops of scoring (layers, folds), on a terminal only.

Why a context variable: the scorers sit several calls below ``score`` and most callers
(tests, the workflow's logs) want silence; ``score(progress=True)`` switches it on for the
loops underneath without threading a flag through every metric.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_ON = contextvars.ContextVar("neuroalign_progress", default=False)


@contextmanager
def showing(on: bool):
    """Show :func:`steps` bars inside this block when ``on``."""
    token = _ON.set(bool(on))
    try:
        yield
    finally:
        _ON.reset(token)


def steps(iterable, desc: str, total: int | None = None):
    """``iterable`` with a tqdm bar (removed when done) when progress is on, else unchanged."""
    if not _ON.get():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
