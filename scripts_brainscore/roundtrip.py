"""Round trip through brainscore-vision's own loader: files neuroalign wrote -> Brain-Score -> files.

Runs in the brainscore-vision environment (never imports neuroalign). It puts the given
stimulus set (CSV + zip) and assembly (.nc) into a brainio cache folder exactly where
brainscore's S3 fetcher keeps downloads (``$BRAINIO_HOME/<sha1>/<file name>``), registers
them in a temporary data plugin written like brainscore-vision's own data plugins
(``load_stimulus_set_from_s3`` / ``load_assembly_from_s3`` with those SHA-1s), then
exports the identifiers with ``scripts_brainscore/brainscore_loader.py`` — so brainscore's
own loader reads our files from its local cache (no network) and writes them back.

    python scripts_brainscore/roundtrip.py --csv S.csv --zip S.zip --stimulus-identifier SID \
        [--assembly A.nc --identifier AID] --cache DIR --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOADER = ROOT / "scripts_brainscore" / "brainscore_loader.py"
BUCKET = "brainscore-storage/neuroalign-roundtrip"  # never contacted: the cache already holds the files


def sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache(path: Path, name: str, home: Path) -> str:
    """Copy ``path`` to ``home/<sha1>/<name>``, where brainio's fetcher looks before downloading."""
    digest = sha1(path)
    target = home / digest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return digest


def plugin_source(stimulus_identifier: str, csv_sha1: str, zip_sha1: str,
                  identifier: str | None, nc_sha1: str | None) -> str:
    lines = [
        "from brainscore_vision import data_registry, stimulus_set_registry, load_stimulus_set",
        "from brainscore_core.supported_data_standards.brainio.s3 import load_stimulus_set_from_s3, load_assembly_from_s3",
        "from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly",
        "",
        f"stimulus_set_registry[{stimulus_identifier!r}] = lambda: load_stimulus_set_from_s3(",
        f"    identifier={stimulus_identifier!r}, bucket={BUCKET!r}, csv_sha1={csv_sha1!r}, zip_sha1={zip_sha1!r},",
        "    csv_version_id=None, zip_version_id=None)",
    ]
    if identifier:
        lines += [
            f"data_registry[{identifier!r}] = lambda: load_assembly_from_s3(",
            f"    identifier={identifier!r}, version_id=None, sha1={nc_sha1!r}, bucket={BUCKET!r}, cls=NeuroidAssembly,",
            f"    stimulus_set_loader=lambda: load_stimulus_set({stimulus_identifier!r}))",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--zip", required=True)
    parser.add_argument("--stimulus-identifier", required=True)
    parser.add_argument("--assembly")
    parser.add_argument("--identifier")
    parser.add_argument("--cache", required=True, help="brainio cache folder (BRAINIO_HOME) to fill")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    home = Path(args.cache)
    os.environ["BRAINIO_HOME"] = str(home)
    stem = "stimulus_" + args.stimulus_identifier.replace(".", "_")
    csv_sha1 = cache(Path(args.csv), stem + ".csv", home)
    zip_sha1 = cache(Path(args.zip), stem + ".zip", home)
    nc_sha1 = None
    if args.assembly:
        nc_sha1 = cache(Path(args.assembly), "assy_" + args.identifier.replace(".", "_") + ".nc", home)

    import brainscore_vision

    plugin_dir = Path(brainscore_vision.__file__).parent / "data" / f"neuroalign_roundtrip_{uuid.uuid4().hex[:8]}"
    plugin_dir.mkdir()
    try:
        (plugin_dir / "__init__.py").write_text(
            plugin_source(args.stimulus_identifier, csv_sha1, zip_sha1, args.identifier, nc_sha1))
        spec = importlib.util.spec_from_file_location("brainscore_loader", LOADER)
        loader = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loader)
        out = Path(args.out)
        manifests = {"stimulus_set": loader.export(args.stimulus_identifier, out / "stimulus_set")}
        if args.identifier:
            manifests["dataset"] = loader.export(args.identifier, out / "dataset")
    finally:
        shutil.rmtree(plugin_dir, ignore_errors=True)
    print(json.dumps(manifests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
