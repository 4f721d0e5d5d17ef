"""Dataset registry: where each file comes from (URL + SHA-256) and where it is read from.

The data directory is ``NEUROALIGN_DATA`` (env), then ``data_dir`` from the config,
then the user cache dir; files sit there as ``<dataset>/<relative path>``, the layout
of ``shared/datasets``. Missing files are fetched with pooch when online; a checksum
mismatch is an error and the file is never read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pooch

from ..errors import ChecksumError, DatasetUnavailableError, unknown
from ..registry import DATASETS, ensure_loaded

ENV_VAR = "NEUROALIGN_DATA"
OFFLINE_VAR = "NEUROALIGN_OFFLINE"


@dataclass(frozen=True)
class DataFile:
    relpath: str
    sha256: str | None  # None: upstream file registered without a hash (warns when read)
    size: int | None = None


@dataclass
class Dataset:
    name: str
    base_url: str
    files: dict[str, DataFile]
    citation: str = ""
    licence: str = ""
    description: str = ""
    _verified: dict = field(default_factory=dict, repr=False)

    def url(self, relpath: str) -> str:
        return f"{self.base_url.rstrip('/')}/{relpath}"


def read_manifest(text: str) -> dict[str, DataFile]:
    """Files of a manifest: ``<sha256 or -> <relative path> [size]`` per line, ``#`` comments."""
    files = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        sha, rel = parts[0], parts[1]
        size = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        files[rel] = DataFile(rel, None if sha == "-" else sha.lower(), size)
    return files


_REGISTRY: dict[str, Dataset] = DATASETS


def register_dataset(name: str, base_url: str, manifest, **info) -> Dataset:
    """Register a dataset from its manifest (a path or ``importlib.resources`` file of the
    dataset's own folder); ``info``: citation, licence, description."""
    ds = Dataset(name, base_url, read_manifest(manifest.read_text()), **info)
    _REGISTRY[name] = ds
    return ds


def registry() -> dict[str, Dataset]:
    """All registered datasets by name: each built-in dataset's folder registers its own
    (``neuroalign/datasets/<name>/``), plugins theirs (entry points), on first use."""
    ensure_loaded()
    return _REGISTRY


def get_dataset(name: str) -> Dataset:
    reg = registry()
    if name not in reg:
        raise unknown("dataset", name, reg)
    return reg[name]


def data_dir(config_dir: str | os.PathLike | None = None) -> Path:
    """Resolve the data directory: env var, then config, then the user cache dir."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    if config_dir:
        return Path(config_dir).expanduser().resolve()
    return Path(pooch.os_cache("neuroalign"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _verify(ds: Dataset, entry: DataFile, path: Path) -> None:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if ds._verified.get(entry.relpath) == key:
        return
    if entry.sha256 is None:
        warnings.warn(
            f"{ds.name}/{entry.relpath} has no registered SHA-256; read without verification.",
            stacklevel=3,
        )
    else:
        got = sha256_file(path)
        if got != entry.sha256:
            raise ChecksumError(
                f"checksum mismatch for {path}: expected SHA-256 {entry.sha256}, got {got}. "
                f"The file is corrupt or a different version; delete it and fetch it again from {ds.url(entry.relpath)}."
            )
    ds._verified[entry.relpath] = key


def fetch(dataset: str, relpath: str, *, directory: str | os.PathLike | None = None,
          download: bool | None = None) -> Path:
    """Return the verified local path of one dataset file, downloading it if allowed."""
    ds = get_dataset(dataset)
    if relpath not in ds.files:
        raise unknown(f"file of dataset {dataset!r}", relpath, ds.files)
    entry = ds.files[relpath]
    root = data_dir(directory)
    path = root / dataset / relpath
    if path.is_file():
        _verify(ds, entry, path)
        return path
    if download is None:
        download = os.environ.get(OFFLINE_VAR, "").lower() not in ("1", "true", "yes")
    hint = (
        f"dataset file {dataset}/{relpath} is not in the data directory {root} (looked for {path}). "
        f"Set {ENV_VAR} to a directory holding '{dataset}/{relpath}'"
    )
    if not download:
        raise DatasetUnavailableError(hint + f", or unset {OFFLINE_VAR} to download it from {ds.url(relpath)}.")
    logger = pooch.get_logger()
    level = logger.level
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # pooch logs "Downloading data from ..." before it connects: offline that line came
        # before our one-line error. A progress bar (on a terminal) shows a download instead,
        # once bytes arrive.
        logger.setLevel(logging.WARNING)
        pooch.retrieve(
            ds.url(relpath),
            known_hash=None if entry.sha256 is None else f"sha256:{entry.sha256}",
            fname=path.name,
            path=path.parent,
            downloader=pooch.HTTPDownloader(timeout=30, progressbar=sys.stderr.isatty()),
        )
    except ValueError as exc:  # pooch's hash mismatch
        raise ChecksumError(f"download of {ds.url(relpath)} failed its checksum: {exc}") from exc
    except Exception as exc:  # network errors, read-only directory, ...
        raise DatasetUnavailableError(
            hint + f", or connect to the internet: downloading {ds.url(relpath)} failed ({type(exc).__name__}: {exc})."
        ) from exc
    finally:
        logger.setLevel(level)
    _verify(ds, entry, path)
    return path


def status(directory: str | os.PathLike | None = None, present_only: bool = False) -> list[dict]:
    """One row per registered file: where it is, whether present and whether its checksum holds."""
    root = data_dir(directory)
    rows = []
    for ds in registry().values():
        for rel, entry in ds.files.items():
            path = root / ds.name / rel
            row = {"dataset": ds.name, "file": rel, "path": str(path), "present": path.is_file(),
                   "checksum": "-"}
            if row["present"]:
                if entry.sha256 is None:
                    row["checksum"] = "unregistered"
                else:
                    row["checksum"] = "ok" if sha256_file(path) == entry.sha256 else "MISMATCH"
            if row["present"] or not present_only:
                rows.append(row)
    return rows
