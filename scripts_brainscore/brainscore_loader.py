"""Export a Brain-Score dataset, stimulus set or benchmark to files neuroalign reads.

Runs INSIDE brainscore-vision's own environment (it pins numpy<2, so it cannot share
neuroalign's); it never imports neuroalign. It loads the identifier through
brainscore-vision's own API (``load_dataset`` / ``load_stimulus_set`` /
``load_benchmark``), which reads brainio's local cache (``BRAINIO_HOME``, default
``~/.brainio``) when the files are there and only then tries S3, and writes

- ``assy_<id>.nc`` with brainscore's own ``write_netcdf``,
- ``stimulus_<id>.csv`` + ``stimulus_<id>.zip`` (flat, one member per stimulus),
- ``brainscore_export.json`` naming those files, which
  ``neuroalign.interop.brainscore_format.read_brainscore_export`` reads.

Usage (in the brainscore environment)::

    python scripts_brainscore/brainscore_loader.py IDENTIFIER OUT_DIR [--kind auto|dataset|stimulus_set|benchmark]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

MANIFEST = "brainscore_export.json"
KINDS = ("dataset", "stimulus_set", "benchmark")


def _registered(identifier: str, plugin_type: str, registry_prefix: str | None = None) -> bool:
    from brainscore_core.plugin_management.import_plugin import ImportPlugin

    try:
        ImportPlugin("brainscore_vision", plugin_type, identifier, registry_prefix=registry_prefix)
        return True
    except AssertionError:
        return False


def resolve_kind(identifier: str) -> str:
    """Which registry holds ``identifier``: dataset, stimulus set or benchmark."""
    if _registered(identifier, "data"):
        return "dataset"
    if _registered(identifier, "data", "stimulus_set"):
        return "stimulus_set"
    if _registered(identifier, "benchmarks"):
        return "benchmark"
    raise SystemExit(f"brainscore_loader: {identifier!r} is registered as no Brain-Score dataset, stimulus set "
                     "or benchmark in this brainscore-vision installation.")


def _filename_stem(identifier: str) -> str:
    return identifier.replace(".", "_")


def write_stimulus_set(stimulus_set, out_dir: Path, identifier: str | None = None) -> dict:
    """CSV + flat zip of a brainscore StimulusSet (members ``<stimulus_id><ext>``, bytes unchanged)."""
    identifier = identifier or getattr(stimulus_set, "identifier", None) or "stimuli"
    stem = f"stimulus_{_filename_stem(identifier)}"
    csv_path, zip_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.zip"
    frame = stimulus_set.copy()
    members = []
    with zipfile.ZipFile(zip_path, "w") as zf:
        for sid in frame["stimulus_id"]:
            src = Path(stimulus_set.get_stimulus(sid))
            member = f"{sid}{src.suffix}"
            zf.write(src, arcname=member)
            members.append(member)
    frame["filename"] = members
    drop = [c for c in ("stimulus_current_local_file_path", "stimulus_path_within_store") if c in frame.columns]
    import pandas as pd

    pd.DataFrame(frame.drop(columns=drop)).to_csv(csv_path, index=False)
    return {"identifier": identifier, "csv": csv_path.name, "zip": zip_path.name}


def write_assembly(assembly, out_dir: Path, identifier: str, stimulus_set_identifier: str | None) -> dict:
    """Write with brainscore's own ``write_netcdf`` after setting the two identifying attrs."""
    from brainscore_core.supported_data_standards.brainio.packaging import write_netcdf

    assembly = assembly.copy()
    assembly.attrs["identifier"] = identifier
    if stimulus_set_identifier:
        assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    path = out_dir / f"assy_{_filename_stem(identifier)}.nc"
    write_netcdf(assembly, path)
    return {"identifier": identifier, "file": path.name, "class": type(assembly).__name__}


def export(identifier: str, out_dir, kind: str = "auto") -> dict:
    """Load ``identifier`` through brainscore-vision and write it to ``out_dir``; returns the manifest."""
    import brainscore_vision

    os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")  # never pip-install plugin requirements here
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = resolve_kind(identifier) if kind == "auto" else kind
    if kind not in KINDS:
        raise SystemExit(f"brainscore_loader: kind must be one of {KINDS} or 'auto', got {kind!r}.")
    manifest = {"source": identifier, "kind": kind, "brainscore_vision": _version("brainscore-vision"),
                "brainscore_core": _version("brainscore-core")}
    stimulus_set = None
    assembly = None
    if kind == "stimulus_set":
        stimulus_set = brainscore_vision.load_stimulus_set(identifier)
    elif kind == "dataset":
        assembly = brainscore_vision.load_dataset(identifier)
    else:
        benchmark = brainscore_vision.load_benchmark(identifier)
        assembly = getattr(benchmark, "_assembly", None)
        if assembly is None:
            raise SystemExit(f"brainscore_loader: benchmark {identifier!r} exposes no neural assembly (_assembly).")
        manifest["benchmark"] = {k: str(getattr(benchmark, k, "")) for k in ("identifier", "version", "region")}
    if assembly is not None:
        stimulus_set = assembly.attrs.get("stimulus_set")
        stim_identifier = assembly.attrs.get("stimulus_set_identifier") or getattr(stimulus_set, "identifier", None)
        assembly_identifier = identifier if kind == "dataset" else assembly.attrs.get("identifier") or identifier
        manifest["assembly"] = write_assembly(assembly, out_dir, assembly_identifier, stim_identifier)
    if stimulus_set is not None:
        stim_identifier = getattr(stimulus_set, "identifier", None) or (identifier if kind == "stimulus_set" else None)
        manifest["stimulus_set"] = write_stimulus_set(stimulus_set, out_dir, stim_identifier)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("identifier")
    parser.add_argument("out_dir")
    parser.add_argument("--kind", default="auto", choices=("auto",) + KINDS)
    args = parser.parse_args(argv)
    manifest = export(args.identifier, args.out_dir, args.kind)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
