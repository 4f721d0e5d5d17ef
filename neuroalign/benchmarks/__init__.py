"""The benchmark registry: data + metric + ceiling + split protocol + region, by identifier.

Three ways in, none of which touches this package:

* built-in datasets register their stimulus sets and benchmarks from their folders
  (``neuroalign/datasets/<name>/register.py``; every Cowley session with images upstream);
* third-party packages register through the entry-point groups ``neuroalign.benchmarks``
  or ``neuroalign.plugins`` (each entry point is a callable run once, which calls
  :func:`register` and :func:`register_stimulus_set`);
* a benchmark file (``bench.yaml``, :mod:`neuroalign.benchmarks.files`) is named by its
  path wherever an identifier is accepted, and ``brainscore:<identifier>`` converts a
  Brain-Score dataset (:mod:`neuroalign.interop.brainscore_benchmarks`).

The tables and their one loader are :mod:`neuroalign.registry`. A benchmark's kind is one
of the registered metric kinds (:func:`neuroalign.scorers.kinds`). A benchmark names its stimulus set so that activations are extracted once per model and
stimulus set and shared by every benchmark using them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import unknown
from ..registry import BENCHMARKS as _REGISTRY, STIMULUS_SETS as _STIMULUS_SETS, ensure_loaded

BRAINSCORE_PREFIX = "brainscore:"


@dataclass(frozen=True)
class Benchmark:
    identifier: str
    kind: str
    region: str
    stimulus_set: str  # a registered stimulus-set name, or the path of an image folder / zip
    description: str
    options: dict = field(default_factory=dict, hash=False, compare=False)
    source: str = "builtin"  # builtin | plugin:<name> | file:<path> | brainscore:<id>
    loader: Callable | None = field(default=None, hash=False, compare=False, repr=False)
    files: tuple = field(default=(), hash=False, compare=False)  # (dataset, relpath) it reads from the registry
    version: int = 1  # raised by hand when the benchmark changes on purpose; the content hash catches the rest

    def load(self):
        """The benchmark's neural data: an assembly, or an RDM set for RSA."""
        if self.loader is not None:
            return self.loader()
        return load_neural(self.stimulus_set, self.options.get("rdms"))

    def stimuli(self):
        return load_stimulus_set(self.stimulus_set)


# ---- stimulus sets --------------------------------------------------------------------

def register_stimulus_set(name: str, loader: Callable) -> None:
    """``loader()`` returns ``(neural data, StimulusSet)``; the data may be a dict of RDM sets."""
    _STIMULUS_SETS[name] = loader
    _load.cache_clear()


def load_stimulus_set(name: str):
    """A stimulus set by the name benchmarks use, or an image folder / zip path of your own."""
    path = Path(name)
    if name not in _STIMULUS_SETS and (path.suffix.lower() == ".zip" or path.is_dir()):
        from ..data.stimuli import StimulusSet

        return StimulusSet.from_zip(path) if path.suffix.lower() == ".zip" else StimulusSet.from_folder(path)
    return _load(name)[1]


def load_neural(name: str, rdms: str | None = None):
    data = _load(name)[0]
    if isinstance(data, dict):
        if rdms is None:
            raise ValueError(f"stimulus set {name!r} holds RDMs; name which one")
        return data[rdms]
    return data


@lru_cache(maxsize=8)
def _load(name: str):
    ensure_loaded()
    if name not in _STIMULUS_SETS:
        raise unknown("stimulus set", name, sorted(_STIMULUS_SETS),
                      hint="Or give the path of an image folder or a zip of images.")
    return _STIMULUS_SETS[name]()


# ---- benchmarks -----------------------------------------------------------------------

def __getattr__(name: str):
    if name == "KINDS":  # derived from the metric-kind records, never a copy
        from ..scorers import kinds

        return kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(benchmark: Benchmark) -> None:
    """Add a benchmark (built-in, from a plugin, or your own at run time) of a registered kind."""
    from ..scorers import kinds

    if benchmark.kind not in kinds():
        from ..errors import DataError

        raise DataError(f"benchmark {benchmark.identifier}: kind {benchmark.kind!r} is not one of {kinds()}.")
    _REGISTRY[benchmark.identifier] = benchmark


def benchmarks() -> dict[str, Benchmark]:
    ensure_loaded()
    return dict(_REGISTRY)


def is_benchmark_file(spec: str) -> bool:
    return str(spec).lower().endswith((".yaml", ".yml"))


def get_benchmark(spec: str) -> Benchmark:
    """A registered identifier, the path of a benchmark file, or ``brainscore:<identifier>``."""
    ensure_loaded()
    spec = str(spec)
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    if is_benchmark_file(spec):
        from .files import load_benchmark_file

        return load_benchmark_file(spec)
    if spec.startswith(BRAINSCORE_PREFIX):
        from ..interop.brainscore_benchmarks import brainscore_benchmark

        return brainscore_benchmark(spec[len(BRAINSCORE_PREFIX):])
    raise unknown("benchmark", spec, _REGISTRY,
                  hint="List them with `neuroalign benchmarks`, or give the path of a benchmark file (.yaml).")


def stimulus_key(bench: Benchmark) -> str:
    """A file-name-safe name for the benchmark's stimulus set (the workflow's extraction key)."""
    if bench.stimulus_set in _STIMULUS_SETS or "/" not in bench.stimulus_set and "\\" not in bench.stimulus_set:
        return bench.stimulus_set
    import hashlib

    return "file-" + hashlib.sha1(str(Path(bench.stimulus_set).resolve()).encode()).hexdigest()[:12]


def availability(bench: Benchmark) -> str:
    """``local`` when every file the benchmark reads is in the data directory, else
    ``downloads when online`` (or ``missing (offline)`` under ``NEUROALIGN_OFFLINE``);
    file benchmarks and generated data are always ``local``."""
    import os

    if not bench.files:
        return "local"
    from ..data.registry import OFFLINE_VAR, data_dir

    root = data_dir()
    if all((root / ds / rel).is_file() for ds, rel in bench.files):
        return "local"
    return "missing (offline)" if os.environ.get(OFFLINE_VAR) else "downloads when online"
