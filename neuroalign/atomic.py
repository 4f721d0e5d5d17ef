"""Write-then-rename, so a crash never leaves a half-written file or store behind; and the
NetCDF reader that pairs with :func:`write_netcdf`."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it to ``path``.

    Works for files and directories (Zarr stores). On error the temporary is
    removed and ``path`` is untouched. If another process completed ``path``
    first and ``overwrite`` is False, our copy is discarded: one complete entry wins.
    """
    path = Path(path)
    with _named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_HOST}")
    try:
        with _named(path):
            yield tmp
            if tmp.is_file() and path.is_dir():
                from .errors import DataError

                raise DataError(f"output {path} is a folder; give a file path (a name inside it, or another name); nothing was written.")
            _rename_into_place(tmp, path, overwrite)
    except BaseException:
        remove(tmp)
        raise


def _rename_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        remove(tmp)
        return
    if not overwrite:
        try:
            os.replace(tmp, path)
        except OSError:
            # another process renamed its complete copy into place between our check and
            # our rename (a directory cannot replace a non-empty one): keep theirs
            remove(tmp)
            if not path.exists():
                raise
        return
    if path.is_dir() and tmp.is_dir():
        # os.replace cannot replace a non-empty directory: move the old one aside first.
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(path, old)
        os.replace(tmp, path)
        remove(old)
    else:
        os.replace(tmp, path)


#: What to do when writing fails with this errno (the message names the user's path, never a temporary).
_WRITE_FIXES = {errno.ENOSPC: "no space left on the device: free space or write elsewhere",
                errno.EDQUOT: "disk quota exceeded: free space or write elsewhere",
                errno.EROFS: "the folder is not writable (read-only filesystem): choose another place",
                errno.EACCES: "the folder is not writable (permission denied): choose another place",
                errno.EPERM: "the folder is not writable (operation not permitted): choose another place"}


def _write_error(path: Path, exc: OSError):
    from .errors import DataError

    fix = _WRITE_FIXES.get(exc.errno) or f"{exc.strerror or exc}: check the folder"
    return DataError(f"cannot write {path}: {fix}; nothing was written.")


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """An OSError of writing (a full disk, a read-only folder) as a one-line DataError naming ``path``.
    A disk-full error raised inside HDF5 or Zarr is often not an OSError with an errno; the text says."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _WRITE_FIXES and _beside(exc.filename, path):
            raise _write_error(path, exc) from None
        raise
    except RuntimeError as exc:  # h5py wraps some OS errors in RuntimeError
        if "No space left" in str(exc):
            raise _write_error(path, OSError(errno.ENOSPC, "No space left on device")) from None
        raise


def _beside(filename, path: Path) -> bool:
    """Whether an OSError's file is ``path``, its temporary or inside its folder (not some input)."""
    if filename is None:
        return True
    folder = path.absolute().parent
    file = Path(os.fsdecode(filename)).absolute()
    return file.is_relative_to(folder) or folder.is_relative_to(file)  # or a folder being created


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: ``path`` is a file (its folder
    must take a new file) or, with ``folder``, a folder; missing folders are created. A
    probe file is created and removed (``os.access`` says yes to root on a read-only mount)."""
    import tempfile

    path = Path(path)
    where = path if folder else path.parent
    with _named(path):
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".neuroalign-write-check-", dir=where)
        os.close(fd)
        os.unlink(probe)


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


_HOST = _host_tag()  # in temporary names: a writer's pid means something only on its own host


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path, *, other_host_age_s: float = 86400.0) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>-<id>-<host>`` siblings of ``path`` left by a killed writer:
    written on this host by a process that is gone, or, from another host of a shared
    filesystem (or an older neuroalign without the host tag), untouched for ``other_host_age_s``."""
    import re
    import time

    pattern = re.compile(rf"^\.{re.escape(path.name)}\.tmp-(\d+)-[0-9a-f]{{8}}(?:-([0-9a-f]{{6}}))?$")
    gone = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return gone
    for p in siblings:
        m = pattern.match(p.name)
        if not m:
            continue
        if m.group(2) == _HOST:
            if int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
                continue
        else:
            try:
                if time.time() - p.lstat().st_mtime < other_host_age_s:
                    continue
            except OSError:
                continue
        remove(p)
        gone.append(p)
    return gone


def remove(path: Path) -> None:
    """Remove a file or directory if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


#: Chunk edge of :func:`chunked_encoding` (512 × 512 float32 = 1 MiB).
CHUNK_EDGE = 512


def chunked_encoding(ds) -> dict:
    """NetCDF encoding for a Dataset's arrays of ≥ 2 dims (out-of-fold predictions, Grams, RDMs,
    draws): chunks of at most :data:`CHUNK_EDGE` along each dim, byte shuffle and zlib level 4,
    so a reader can take a block of stimuli × neuroids without the whole array."""
    return {name: {"zlib": True, "complevel": 4, "shuffle": True,
                   "chunksizes": tuple(min(n, CHUNK_EDGE) for n in var.shape)}
            for name, var in ds.data_vars.items() if var.ndim >= 2 and var.size > 0}


def write_netcdf(obj, path: str | os.PathLike, encoding: dict | None = None) -> Path:
    """Write an xarray object to NetCDF (h5netcdf) atomically; attrs NetCDF cannot hold
    (dicts, lists, None, bools) are stored as JSON text. ``encoding``: per-variable NetCDF
    encoding (e.g. :func:`chunked_encoding`)."""
    import json

    import numpy as np

    path = Path(path)
    out = obj.copy(deep=False)  # new attrs on a view: the data is not duplicated
    out.attrs = {k: (v if isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool)
                     else json.dumps(v, default=str)) for k, v in obj.attrs.items()}
    # Encoded in memory first, then written by Python: a full disk is an OSError here (named and
    # cleaned up by atomic_path) instead of a crash inside the HDF5 library (score, RDM and assembly
    # files are small next to the activations they come from).
    data = out.to_netcdf(engine="h5netcdf", encoding=encoding)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def read_netcdf(path: str | os.PathLike, *, what: str, hint: str = "", array: bool = False,
                engine: str = "h5netcdf"):
    """Read a whole NetCDF file into memory (the file is closed afterwards).

    ``array``: a DataArray (``open_dataarray``) rather than a Dataset. A missing or
    unreadable file raises :class:`~neuroalign.errors.DataError` naming ``what``, the
    path and ``hint`` (what to do).
    """
    import xarray as xr

    from .errors import DataError

    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path} does not exist{'; ' + hint if hint else ''}.")
    try:
        with (xr.open_dataarray if array else xr.open_dataset)(path, engine=engine) as obj:
            _check_declared(obj, path, what)
            return obj.load()
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable NetCDF {what} ({exc}).") from exc


def max_array_bytes() -> float:
    """The most one NetCDF file may declare (its arrays' in-memory size): ``NEUROALIGN_MAX_ARRAY_GB``,
    default half of this machine's memory."""
    from .errors import DataError

    value = os.environ.get("NEUROALIGN_MAX_ARRAY_GB")
    if value is None:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    try:
        gb = float(value)
    except ValueError:
        gb = float("nan")
    if not gb > 0 or gb == float("inf"):
        raise DataError(f"environment variable NEUROALIGN_MAX_ARRAY_GB={value!r} must be a positive number of GB.")
    return gb * 1e9


def _check_declared(obj, path: Path, what: str) -> None:
    """Refuse a file whose arrays declare more than :func:`max_array_bytes` before any is read: the
    header alone can declare 60000 x 60000 in a few KB."""
    from .errors import DataError

    variables = dict(obj.variables) if hasattr(obj, "data_vars") else \
        {obj.name or "values": obj.variable, **{k: c.variable for k, c in obj.coords.items()}}
    declared = sum(v.size * v.dtype.itemsize for v in variables.values())
    limit = max_array_bytes()
    if declared > limit:
        big = max(variables.items(), key=lambda kv: kv[1].size * kv[1].dtype.itemsize)
        shape = " x ".join(str(n) for n in big[1].shape)
        raise DataError(f"{what} {path} declares {declared / 1e9:.1f} GB of arrays ({big[0]!r}: {shape}), over the "
                        f"limit of {limit / 1e9:.1f} GB (NEUROALIGN_MAX_ARRAY_GB); refusing to read it (raise "
                        "the limit if the file is real).")
