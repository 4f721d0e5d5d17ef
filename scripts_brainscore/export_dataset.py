"""Export one Brain-Score dataset (or benchmark) for neuroalign's ``brainscore:<identifier>`` benchmarks.

Runs in the brainscore-vision environment (``.venv-brainscore``); it never imports
neuroalign. ``neuroalign.interop.brainscore_benchmarks`` runs it once per identifier and
converts what it writes into the data contract.

1. Imports every data plugin named in ``$NEUROALIGN_BRAINSCORE_PLUGINS`` (entries
   separated by ``os.pathsep``; each the path of a ``.py`` file or a dotted module name
   importable here). A plugin fills ``brainscore_vision.data_registry`` /
   ``stimulus_set_registry`` exactly as brainscore-vision's own ``data/<name>/__init__.py``
   plugins do (e.g. ``load_assembly_from_s3`` / ``load_stimulus_set_from_s3`` with SHA-1s).
   brainscore-vision's ``import_plugin`` only searches its own plugin folders, so an
   identifier already in a registry is served from it without that search.
2. Loads the identifier with brainscore-vision's own API (``load_dataset``, else
   ``load_benchmark``), through ``scripts_brainscore/brainscore_loader.py``: brainio reads
   its local cache (``$BRAINIO_HOME``, default ``~/.brainio``) first and downloads from S3
   only when a file is not there. With ``NEUROALIGN_OFFLINE`` set, downloads are refused.
3. Writes ``assy_<id>.nc``, ``stimulus_<id>.csv`` + ``.zip`` and ``brainscore_export.json``
   into OUT_DIR and prints the manifest as one JSON line.

    python scripts_brainscore/export_dataset.py IDENTIFIER OUT_DIR

Exit codes: 0 done; 3 no dataset or benchmark of that identifier is registered; 4 its
files are not in brainio's local cache and downloading is off or failed; 5 it holds no
neural assembly (a stimulus set only, or a behavioural assembly). The reason is the last
line on stderr.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")  # never pip-install plugin requirements from here
os.environ.setdefault("RESULTCACHING_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[1]
LOADER = ROOT / "scripts_brainscore" / "brainscore_loader.py"
PLUGINS_ENV = "NEUROALIGN_BRAINSCORE_PLUGINS"
EXIT_UNREGISTERED, EXIT_UNAVAILABLE, EXIT_NOT_NEURAL = 3, 4, 5


class Unavailable(Exception):
    """A file brainio would have to download."""


def fail(code: int, message: str) -> int:
    print(message, file=sys.stderr)
    return code


def import_plugins() -> list[str]:
    names = [e for e in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if e.strip()]
    for entry in names:
        if entry.endswith(".py"):
            path = Path(entry)
            if not path.is_file():
                raise SystemExit(fail(2, f"{PLUGINS_ENV}: plugin file {path} does not exist."))
            spec = importlib.util.spec_from_file_location(f"neuroalign_bs_plugin_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(entry)
    return names


def serve_registered() -> None:
    """``load_dataset`` & co. call ``import_plugin``, which asserts the identifier is registered
    in a file under ``brainscore_vision/<type>/``; skip that for identifiers a plugin of ours
    already put in the registry."""
    import brainscore_vision

    search = brainscore_vision.import_plugin

    def import_plugin(library_root, plugin_type, identifier, registry_prefix=None):
        registry = getattr(brainscore_vision, f"{registry_prefix or plugin_type.strip('s')}_registry", {})
        if identifier in registry:
            return None
        return search(library_root, plugin_type, identifier, registry_prefix=registry_prefix)

    brainscore_vision.import_plugin = import_plugin


def refuse_downloads() -> None:
    """Make brainio's S3 fetcher raise instead of downloading (its local cache is still read)."""
    from brainscore_core.supported_data_standards.brainio import fetch

    def refuse(self, *args, **kwargs):
        try:  # the fetcher made an empty <sha1> folder for the download; leave brainio's cache as it was
            os.rmdir(self.local_dir_path)
        except OSError:
            pass
        raise Unavailable(f"{getattr(self, 'output_filename', None) or getattr(self, 'location', '')} is not in "
                          f"brainio's local cache ({fetch.get_local_data_path()}) and NEUROALIGN_OFFLINE is set")

    fetch.BotoFetcher.download_boto = refuse


_LOADER_MODULE = []


def _loader():
    if not _LOADER_MODULE:
        spec = importlib.util.spec_from_file_location("brainscore_loader", LOADER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADER_MODULE.append(module)
    return _LOADER_MODULE[0]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        return fail(2, "usage: export_dataset.py IDENTIFIER OUT_DIR")
    identifier, out = argv
    import_plugins()
    serve_registered()
    if os.environ.get("NEUROALIGN_OFFLINE"):
        refuse_downloads()
    from brainscore_vision import data_registry

    kind = "dataset" if identifier in data_registry or _loader()._registered(identifier, "data") else \
        "benchmark" if _loader()._registered(identifier, "benchmarks") else None
    if kind is None:
        return fail(EXIT_UNREGISTERED, f"no Brain-Score dataset or benchmark {identifier!r} is registered in "
                                       "this brainscore-vision installation or the plugins given.")
    try:
        manifest = _loader().export(identifier, out, kind)
    except Exception as exc:
        traceback.print_exc()
        chain, todo = [], [exc]
        while todo:  # causes, contexts, and the exceptions brainio's fetcher packs into one Exception's args
            e = todo.pop()
            if e is None or any(e is c for c in chain):
                continue
            chain.append(e)
            todo += [e.__cause__, e.__context__]
            for arg in e.args:
                todo += [a for a in (arg if isinstance(arg, (list, tuple)) else [arg]) if isinstance(a, BaseException)]
        if any(isinstance(e, Unavailable) for e in chain):
            return fail(EXIT_UNAVAILABLE, next(str(e) for e in chain if isinstance(e, Unavailable)) + ".")
        names = {type(e).__name__ for e in chain}
        if names & {"EndpointConnectionError", "NoCredentialsError", "ConnectTimeoutError", "ClientError",
                    "ConnectionError", "ReadTimeoutError"}:
            return fail(EXIT_UNAVAILABLE, f"downloading failed: {exc}")
        raise
    if "assembly" not in manifest:
        return fail(EXIT_NOT_NEURAL, f"{identifier!r} has no neural assembly (it is a {manifest['kind']}).")
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
