"""Exceptions a user can act on: each message names the file, id or key and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NeuroalignError(Exception):
    """Base class for every error neuroalign raises on purpose."""


class DataError(NeuroalignError, ValueError):
    """Input data is malformed, inconsistent or missing (names the file, id or coord)."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the registry's: the file is never read."""


class DatasetUnavailableError(NeuroalignError, FileNotFoundError):
    """A dataset file is neither in the data directory nor downloadable."""


class ConfigError(NeuroalignError, ValueError):
    """A configuration key or value is wrong."""


class ModelError(NeuroalignError, ValueError):
    """A model spec, checkpoint or layer is wrong."""


class SandboxError(NeuroalignError, RuntimeError):
    """Untrusted code cannot be sandboxed here (bubblewrap missing or unusable); says how to fix."""


class BudgetError(NeuroalignError, MemoryError):
    """A computation would exceed the configured memory budget."""


class NeuroalignWarning(UserWarning):
    """Input that is used but looks wrong (tiny images, skipped files, names that clash on some systems)."""


class UnknownKeyError(NeuroalignError, KeyError):
    """A name not in a registry; the message suggests the closest known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


def unknown(kind: str, name: str, known: Iterable[str], hint: str = "") -> UnknownKeyError:
    """Build an UnknownKeyError that lists the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    msg = f"unknown {kind} {name!r}."
    if close:
        msg += f" Did you mean {', '.join(repr(c) for c in close)}?"
    msg += f" Known: {', '.join(known) if len(known) <= 30 else ', '.join(known[:30]) + ', ...'}."
    if hint:
        msg += " " + hint
    return UnknownKeyError(msg)
