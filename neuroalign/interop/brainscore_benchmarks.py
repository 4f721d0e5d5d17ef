"""Brain-Score's data as neuroalign benchmarks: ``brainscore:<identifier>[:<region>][:<kind>]``.

``<identifier>`` is a Brain-Score dataset (``MajajHong2015.public``) or benchmark
identifier; ``<kind>`` is ``pls`` (default: Brain-Score's neural metric, scored with
``protocol: brainscore`` so the number is Brain-Score's own), ``encoding``, ``rsa`` or
``cka``; ``<region>`` picks one value of the assembly's ``region`` coord and may be left
out when there is only one. The order of the two optional parts does not matter.

The first use exports the identifier once through brainscore-vision's own loader, run in
its environment (``.venv-brainscore``, or ``$NEUROALIGN_BRAINSCORE_VENV``) by
``scripts_brainscore/export_dataset.py`` — brainio reads its local cache
(``$BRAINIO_HOME``, default ``~/.brainio``), then S3 when online — and converts it into
the data contract in ``<cache>/brainscore/<identifier>/`` (``<cache>`` is
``$NEUROALIGN_CACHE`` or the user cache dir): one assembly per region
(``assembly.nc``, or ``assembly_<region>.nc`` when there are several), ``images.zip``
(RGB, as Brain-Score's models see them), one benchmark file per region × kind
(:mod:`neuroalign.benchmarks.files`) and ``brainscore.json``. The folder is renamed into
place only when complete; a failed export leaves nothing. Later uses read the cache only.

Data plugins of your own (a Brain-Score ``data`` plugin that fills
``brainscore_vision.data_registry`` / ``stimulus_set_registry``) are imported by the
export script from ``$NEUROALIGN_BRAINSCORE_PLUGINS``: entries separated by ``os.pathsep``,
each the path of a ``.py`` file or a dotted module name importable in that environment.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import yaml

from ..atomic import atomic_path
from ..errors import DataError, DatasetUnavailableError

DEFAULT_KIND = "pls"  # the kinds: every standalone MetricKind (neuroalign.scorers), options its export_options
PREFIX = "brainscore:"
PLUGINS_ENV = "NEUROALIGN_BRAINSCORE_PLUGINS"
VENV_ENV = "NEUROALIGN_BRAINSCORE_VENV"
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts_brainscore" / "export_dataset.py"
MANIFEST = "brainscore.json"
FORMAT = 1
# exit codes of scripts_brainscore/export_dataset.py
EXIT_UNREGISTERED, EXIT_UNAVAILABLE, EXIT_NOT_NEURAL = 3, 4, 5
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def cache_root() -> Path:
    """``<NEUROALIGN_CACHE or user cache>/brainscore`` (the activation cache's root, reused)."""
    from ..activations.cache import default_cache_dir

    return default_cache_dir() / "brainscore"


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """``[brainscore:]<identifier>[:<region>][:<kind>]`` as ``(identifier, region or None, kind)``."""
    body = spec.removeprefix(PREFIX)
    identifier, *rest = body.split(":")
    if not _IDENTIFIER.match(identifier) or ".." in identifier:
        raise DataError(f"brainscore:{body}: {identifier!r} is not a Brain-Score identifier (letters, digits, "
                        "'.', '_', '-'), e.g. brainscore:MajajHong2015.public or brainscore:MajajHong2015.public:IT:pls.")
    from ..scorers import standalone_kinds

    kinds = [p for p in rest if p in standalone_kinds()]
    regions = [p for p in rest if p not in standalone_kinds()]
    if len(kinds) > 1 or len(regions) > 1 or any(not p for p in rest):
        raise DataError(f"brainscore:{body}: after the identifier give at most one region and one kind "
                        f"({', '.join(standalone_kinds())}), separated by ':', e.g. brainscore:{identifier}:IT:pls.")
    return identifier, (regions[0] if regions else None), (kinds[0] if kinds else DEFAULT_KIND)


def brainscore_benchmark(spec: str) -> Benchmark:  # noqa: F821 (neuroalign.benchmarks.Benchmark)
    """The :class:`~neuroalign.benchmarks.Benchmark` for ``<identifier>[:<region>][:<kind>]``, converting once.

    Its identifier is the canonical ``brainscore:<identifier>:<region>:<kind>``.
    """
    from ..benchmarks.files import load_benchmark_file

    identifier, region, kind = parse_spec(spec)
    folder = ensure_converted(identifier)
    manifest = json.loads((folder / MANIFEST).read_text())
    regions = list(manifest["benchmarks"])
    if region is None:
        if len(regions) > 1:
            raise DataError(f"brainscore:{identifier} holds {len(regions)} regions ({', '.join(regions)}); name one, "
                            f"e.g. brainscore:{identifier}:{regions[-1]}:{kind}.")
        region = regions[0]
    match = [r for r in regions if r.lower() == region.lower()]
    if not match:
        raise DataError(f"brainscore:{identifier}: no region {region!r} in its assembly; it has "
                        f"{', '.join(regions)} (converted in {folder}).")
    region = match[0]
    bench = load_benchmark_file(folder / manifest["benchmarks"][region][kind])
    return dataclasses.replace(bench, identifier=f"{PREFIX}{identifier}:{region}:{kind}",
                               source=f"{PREFIX}{identifier}")


def cached() -> list[str]:
    """The Brain-Score identifiers already converted in the cache (no export runs)."""
    root = cache_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith("."))


def ensure_converted(identifier: str) -> Path:
    """The cache folder of ``identifier``, exported and converted first when missing."""
    folder = cache_root() / identifier
    if (folder / MANIFEST).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".export-{identifier}-", dir=folder.parent) as export:
        info = run_export(identifier, Path(export) / "export")
        with atomic_path(folder, overwrite=False) as tmp:  # a concurrent converter's complete copy wins
            tmp.mkdir()
            convert_export(Path(export) / "export", tmp, identifier, info)
    return folder


# ---- the export, in brainscore-vision's environment -------------------------------------
def brainscore_python(identifier: str) -> Path:
    venv = Path(os.environ.get(VENV_ENV) or ROOT / ".venv-brainscore")
    python = venv / "bin" / "python"
    if not python.is_file():
        raise DataError(
            f"brainscore:{identifier}: converting a Brain-Score dataset runs brainscore-vision in its own "
            f"environment, and {venv} has none. Build it once: `python3.11 -m venv {venv} && {venv}/bin/pip "
            f"install -r {ROOT / 'requirements-brainscore.txt'}` (or point {VENV_ENV} at one)."
        )
    if not SCRIPT.is_file():
        raise DataError(f"brainscore:{identifier}: the export script {SCRIPT} is missing; it ships with the "
                        "neuroalign repository (install neuroalign from a checkout).")
    return python


def run_export(identifier: str, out: Path, *, timeout: float = 6 * 3600) -> dict:
    """Run ``scripts_brainscore/export_dataset.py`` for ``identifier`` into ``out``; its manifest."""
    python = brainscore_python(identifier)
    env = {**os.environ, "BS_INSTALL_DEPENDENCIES": "no", "RESULTCACHING_DISABLE": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)  # neuroalign's packages (numpy 2) must stay out of that interpreter
    try:
        proc = subprocess.run([str(python), str(SCRIPT), identifier, str(out)], check=False, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DataError(f"brainscore:{identifier}: the export did not finish in {timeout:.0f} s; nothing was "
                        "cached.") from None
    said = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    if proc.returncode == EXIT_UNREGISTERED:
        raise DataError(f"brainscore:{identifier}: {said} Check the spelling (e.g. MajajHong2015.public), or "
                        f"register your own data plugin through {PLUGINS_ENV}.")
    if proc.returncode == EXIT_UNAVAILABLE:
        raise DatasetUnavailableError(
            f"brainscore:{identifier} is not cached ({cache_root() / identifier}) and its files are not in "
            f"brainio's local cache; it downloads when online (unset NEUROALIGN_OFFLINE). Brain-Score said: {said}")
    if proc.returncode == EXIT_NOT_NEURAL:
        raise DataError(f"brainscore:{identifier}: {said}")
    if proc.returncode != 0:
        raise DataError(f"brainscore:{identifier}: the export in {python} failed (exit {proc.returncode}); nothing "
                        f"was cached:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- conversion into the data contract ---------------------------------------------------
def _rgb_member(sid: str, member: str, data: bytes) -> tuple[str, bytes]:
    """The image as the zip member neuroalign reads: bytes unchanged when RGB, else an RGB PNG
    (what Brain-Score's model wrappers feed a network: ``Image.open(path).convert('RGB')``)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        if img.mode == "RGB":
            return f"{sid}{Path(member).suffix.lower()}", data
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="PNG")
        return f"{sid}.png", buf.getvalue()


def _squeeze_time(assembly, identifier: str):
    if "time_bin" not in assembly.dims:
        return assembly
    if assembly.sizes["time_bin"] != 1:
        raise DataError(f"brainscore:{identifier}: the assembly has {assembly.sizes['time_bin']} time bins; "
                        "neuroalign's benchmarks score one (Brain-Score's own benchmarks select one too).")
    return assembly.isel(time_bin=0, drop=True)  # its time_bin coords go with it


def _file_safe(region: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", region)


def convert_export(export: Path, folder: Path, identifier: str, info: dict | None = None) -> dict:
    """Convert an export folder (``brainscore_export.json`` + files) into a cache folder of benchmark files."""
    from ..data.assembly import save_assembly
    from ..scorers import METRIC_KINDS, standalone_kinds
    from .brainscore_format import read_brainscore_export

    assembly, stimuli = read_brainscore_export(export)
    if assembly is None or stimuli is None:
        raise DataError(f"brainscore:{identifier} has no neural assembly with its stimulus set (it is a "
                        f"{(info or {}).get('kind', 'stimulus set')}); give a dataset or benchmark identifier.")
    assembly = _squeeze_time(assembly, identifier)
    ids = np.unique(assembly["stimulus_id"].values.astype(str))
    missing = [s for s in ids if s not in stimuli]
    if missing:
        raise DataError(f"brainscore:{identifier}: {len(missing)} stimulus ids of the assembly are not in its "
                        f"stimulus set {stimuli.identifier}, e.g. {missing[:5]}.")
    files = dict(zip(stimuli.stimulus_ids, stimuli.files))
    with zipfile.ZipFile(folder / "images.zip", "w", zipfile.ZIP_STORED) as zf:
        for sid in ids:
            name, data = _rgb_member(sid, files[sid], stimuli.read_bytes(sid))
            if Path(name).stem != sid:
                raise DataError(f"brainscore:{identifier}: stimulus_id {sid!r} cannot be an image file name "
                                "(neuroalign reads ids from file names).")
            zf.writestr(name, data)
    regions = list(dict.fromkeys(assembly["region"].values.astype(str).tolist()))
    benchmarks, counts = {}, {}
    for region in regions:
        part = assembly if len(regions) == 1 else assembly.isel(neuroid=assembly["region"].values.astype(str) == region)
        name = "assembly.nc" if len(regions) == 1 else f"assembly_{_file_safe(region)}.nc"
        part.attrs.update(brainscore_identifier=identifier)
        save_assembly(part, folder / name)
        counts[region] = int(part.sizes["neuroid"])
        benchmarks[region] = {}
        for kind in standalone_kinds():
            file = f"{_file_safe(region)}.{kind}.yaml"
            spec = {"identifier": re.sub(r"[^A-Za-z0-9_.]", "_", f"brainscore.{identifier}.{region}.{kind}"),
                    "kind": kind, "region": region,
                    "description": f"Brain-Score {identifier}, {region}, {kind} (exported by brainscore-vision "
                                   f"{(info or {}).get('brainscore_vision', '')})",
                    "assembly": name, "stimuli": "images.zip"}
            if METRIC_KINDS[kind].export_options:
                spec["options"] = dict(METRIC_KINDS[kind].export_options)
            (folder / file).write_text(yaml.safe_dump(spec, sort_keys=False))
            benchmarks[region][kind] = file
    manifest = {"format": FORMAT, "identifier": identifier, "stimulus_set": stimuli.identifier,
                "n_stimuli": len(ids), "n_presentations": int(assembly.sizes["presentation"]),
                "neuroids": counts, "benchmarks": benchmarks,
                "export": {k: v for k, v in (info or {}).items() if k in ("source", "kind", "brainscore_vision",
                                                                          "brainscore_core", "benchmark")}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


__all__ = [
    "PLUGINS_ENV",
    "VENV_ENV",
    "brainscore_benchmark",
    "cache_root",
    "cached",
    "convert_export",
    "ensure_converted",
    "parse_spec",
    "run_export",
]
