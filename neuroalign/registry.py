"""The plain tables every extension lives in, and the one lazy loader that fills them.

Benchmarks, stimulus sets, datasets, metric kinds and model sources are dicts keyed by
name (Brain-Score's plain registries). Whoever defines an entry adds it with the owning
module's ``register*`` call: the built-in kinds and model sources when their module is
imported, the built-in dataset folders (``neuroalign/datasets/<name>/register.py``) and
every entry point of :data:`GROUPS` on first use, through :func:`ensure_loaded`.

This module imports nothing of the package at import time, so every registry can use it
without an import cycle; the loader imports the built-ins only when called.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

BENCHMARKS: dict = {}
STIMULUS_SETS: dict = {}
DATASETS: dict = {}
METRIC_KINDS: dict = {}
MODEL_SOURCES: dict = {}
NAMED_MODELS: dict = {}

#: Entry-point groups, run in this order (kinds before the benchmarks that name them); each entry
#: point is a callable run once that calls ``register*``. ``neuroalign.plugins`` is the original
#: group (any registration), kept working.
GROUPS = ("neuroalign.metrics", "neuroalign.models", "neuroalign.plugins", "neuroalign.benchmarks")

_LOADED: list[bool] = []


def dataset_folders() -> list[str]:
    """The built-in dataset folders, ``neuroalign/datasets/<name>/``."""
    from . import datasets

    return sorted(m.name for m in pkgutil.iter_modules(datasets.__path__) if m.ispkg)


def _register_builtin_datasets() -> None:
    for name in dataset_folders():
        try:
            module = importlib.import_module(f"neuroalign.datasets.{name}.register")
        except ModuleNotFoundError as exc:
            if exc.name != f"neuroalign.datasets.{name}.register":
                raise
            continue
        module.register()


def _run_entry_points() -> None:
    from importlib.metadata import entry_points

    for group in GROUPS:
        for ep in entry_points(group=group):
            try:
                ep.load()()
            except Exception as exc:  # a broken plugin must not hide the others; say which one
                from .errors import NeuroalignWarning

                warnings.warn(f"neuroalign plugin {ep.name!r} ({ep.value}, group {group}) failed to register: "
                              f"{exc}", NeuroalignWarning, stacklevel=3)


def ensure_loaded() -> None:
    """Register the built-in kinds, model sources and dataset folders, then every entry point
    of :data:`GROUPS`, once per process."""
    if _LOADED:
        return
    _LOADED.append(True)
    importlib.import_module("neuroalign.scorers")  # built-in metric kinds (benchmarks name them)
    _register_builtin_datasets()
    _run_entry_points()
