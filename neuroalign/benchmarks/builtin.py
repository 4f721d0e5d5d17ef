"""The built-in datasets: every folder ``neuroalign/data/<name>/`` with a ``register`` module
registers its dataset, stimulus sets and benchmarks, through the calls a plugin uses. Adding
a dataset is adding such a folder (docs/architecture.md, "Recipes")."""

from __future__ import annotations

import importlib
import pkgutil


def dataset_folders() -> list[str]:
    from .. import data

    return sorted(m.name for m in pkgutil.iter_modules(data.__path__) if m.ispkg)


def register_all() -> None:
    for name in dataset_folders():
        try:
            module = importlib.import_module(f"neuroalign.data.{name}.register")
        except ModuleNotFoundError as exc:
            if exc.name != f"neuroalign.data.{name}.register":
                raise
            continue
        module.register()
