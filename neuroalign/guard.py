"""Never overwrite a user's input: outputs are checked against what the run reads and what
``import-data`` was given.

Why: following an example with a reused file name (``--table rows.csv`` right after
importing ``rows.csv``) silently destroyed the recording's row table. Every command's
output paths are compared (resolved) with every path it reads in the same run, and with
every input ``import-data`` has recorded (``imported-inputs.txt`` in the neuroalign cache
folder, plus ``inputs.txt`` beside each imported ``benchmark.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

#: The argparse destinations that name files or folders a command writes.
OUTPUT_KEYS = ("out", "table", "manifest", "out_dir", "output")
#: Destinations that are read and rewritten on purpose (the submissions file grows by one model).
UPDATED_IN_PLACE = ("submissions", "cache_dir")
REGISTRY = "imported-inputs.txt"
MARKER = "inputs.txt"


def _paths(value) -> list[Path]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [Path(v) for v in values if isinstance(v, (str, os.PathLike)) and str(v)]


def _registry() -> Path:
    from .activations.cache import default_cache_dir

    return default_cache_dir() / REGISTRY


def record_inputs(paths, benchmark_dir: Path | None = None) -> None:
    """Remember ``paths`` as a user's originals (``import-data``): later commands refuse to write over them."""
    lines = "".join(f"{Path(p).resolve()}\n" for p in paths)
    if benchmark_dir is not None:
        (benchmark_dir / MARKER).write_text(lines)
    try:
        reg = _registry()
        reg.parent.mkdir(parents=True, exist_ok=True)
        with reg.open("a") as fh:
            fh.write(lines)
    except OSError:  # a read-only cache: the marker beside the benchmark file still protects it
        pass


def _recorded(inputs: list[Path]) -> set[Path]:
    """The registry plus the marker beside every benchmark file the run reads."""
    files = [_registry()] + [p.parent / MARKER for p in inputs if p.suffix in (".yaml", ".yml")]
    out = set()
    for f in files:
        try:
            out |= {Path(line) for line in f.read_text().splitlines() if line.strip()}
        except OSError:
            continue
    return out


def run_paths(args) -> tuple[list[Path], list[Path]]:
    """(inputs, outputs) named by a parsed command line: outputs by their destination
    (``OUTPUT_KEYS``), inputs every other argument that is an existing path."""
    outputs, inputs = [], []
    for key, value in vars(args).items():
        if key in OUTPUT_KEYS:
            outputs += _paths(value)
        elif key not in UPDATED_IN_PLACE and key != "func":
            inputs += [p for p in _paths(value) if p.exists()]
    return inputs, outputs


def check_outputs(args) -> None:
    """Refuse (one line, naming the file) an output that is an input of this run or an imported original."""
    inputs, outputs = run_paths(args)
    read = {p.resolve(): "it is read by this command" for p in inputs}
    for p in _recorded(inputs):
        read.setdefault(p, "import-data was given it as an input")
    for out in outputs:
        why = read.get(out.resolve())
        if why:
            raise ConfigError(f"refusing to write {out}: {why}; choose another output name "
                              "(nothing was written).")
