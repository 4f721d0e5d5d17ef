"""Every command's outputs, in one table (:data:`OUTPUTS`), checked before any work: each can
be written, and none is an input of the run or an original ``import-data`` was given.

Why: a read-only or missing place should be said in one line at the start, not in a
traceback after the whole computation; and following an example with a reused file name
(``--table rows.csv`` right after importing ``rows.csv``) silently destroyed the recording's
row table. Every output path is compared (resolved) with every path the command reads in
the same run, and with every input ``import-data`` has recorded (``imported-inputs.txt`` in
the neuroalign cache folder, plus ``inputs.txt`` beside each imported ``benchmark.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError, DataError


class Output(NamedTuple):
    """An argparse destination a command writes: a file (its folder must take a new file) or a
    ``folder`` (created when missing); ``new``: it must not exist yet (refused if it does, and
    only its parent is probed, so the check does not create it)."""

    dest: str
    folder: bool = False
    new: bool = False


#: Per command, the arguments that name what it writes (the one table: writability and the guard).
OUTPUTS = {"datasets": (Output("output"),), "extract": (Output("manifest"), Output("out")),
           "score": (Output("out"), Output("table")), "compare": (Output("table"),), "rdms": (Output("out"),),
           "import-data": (Output("out_dir", folder=True, new=True),), "results": (Output("out"),),
           "export-brainscore": (Output("out_dir"),),  # renamed into place whole, like a file
           "finetune": (Output("out_dir"),), "finetune-summary": (Output("out"),), "scaling": (Output("out"),),
           "figures": (Output("out_dir", folder=True),), "leaderboard": (Output("out_dir", folder=True),)}
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
    """(inputs, outputs) named by a parsed command line: outputs by the command's :data:`OUTPUTS`,
    inputs every other argument that is an existing path."""
    keys = {o.dest for o in OUTPUTS.get(getattr(args, "command", None), ())}
    outputs, inputs = [], []
    for key, value in vars(args).items():
        if key in keys:
            outputs += _paths(value)
        elif key not in UPDATED_IN_PLACE and key != "func":
            inputs += [p for p in _paths(value) if p.exists()]
    return inputs, outputs


def check_writable_outputs(args) -> None:
    """Each output of the command can be written (missing folders created), and a ``new`` one
    does not exist yet: refused in one line before any work."""
    from .atomic import check_writable

    for out in OUTPUTS.get(args.command, ()):
        for path in _paths(getattr(args, out.dest, None)):
            if out.new and path.exists():
                raise DataError(f"{args.command}: {path} already exists; choose a new "
                                f"{'folder' if out.folder else 'name'} (nothing was written).")
            check_writable(path, folder=out.folder and not out.new)


def check_outputs(args) -> None:
    """Refuse (one line, naming the file) an output that cannot be written (:func:`check_writable_outputs`),
    or that is an input of this run or an imported original."""
    check_writable_outputs(args)
    inputs, outputs = run_paths(args)
    read = {p.resolve(): "it is read by this command" for p in inputs}
    for p in _recorded(inputs):
        read.setdefault(p, "import-data was given it as an input")
    for out in outputs:
        why = read.get(out.resolve())
        if why:
            raise ConfigError(f"refusing to write {out}: {why}; choose another output name "
                              "(nothing was written).")
