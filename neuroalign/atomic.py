"""Write-then-rename, so a crash never leaves a half-written file or store behind; and the
NetCDF reader that pairs with :func:`write_netcdf`."""

from __future__ import annotations

import contextlib
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
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_HOST}")
    try:
        yield tmp
        if tmp.is_file() and path.is_dir():
            from .errors import DataError

            raise DataError(f"output {path} is a folder; give a file path (a name inside it, or another name); nothing was written.")
    except BaseException:
        remove(tmp)
        raise
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


def write_netcdf(obj, path: str | os.PathLike) -> Path:
    """Write an xarray object to NetCDF (h5netcdf) atomically; attrs NetCDF cannot hold
    (dicts, lists, None, bools) are stored as JSON text."""
    import json

    import numpy as np

    path = Path(path)
    out = obj.copy(deep=False)  # new attrs on a view: the data is not duplicated
    out.attrs = {k: (v if isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool)
                     else json.dumps(v, default=str)) for k, v in obj.attrs.items()}
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="h5netcdf")
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
            return obj.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable NetCDF {what} ({exc}).") from exc
