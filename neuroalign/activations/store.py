"""Zarr stores of ``presentation × feature`` activations, written batch by batch.

The layout is what ``xarray.open_zarr`` reads lazily (dask): a float32 variable
``activations`` chunked by presentation, ``stimulus_id`` on ``presentation`` and the
layer's feature coords. Stores are only ever created under a temporary name and renamed
when complete (``neuroalign.atomic``), so a store that exists is whole.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path
from typing import Self

import numpy as np
import xarray as xr

from ..errors import DataError

VARIABLE = "activations"
CHUNK_BYTES = 32 << 20  # target size of one chunk (rows × features × 4 bytes)


def chunk_rows(n_features: int, batch_size: int) -> int:
    """Rows per chunk: a divisor of ``batch_size`` (so batch writes align with chunks) whose
    chunk stays under ``CHUNK_BYTES``; at least one row."""
    cap = max(1, CHUNK_BYTES // max(1, 4 * n_features))
    for rows in range(min(batch_size, cap), 0, -1):
        if batch_size % rows == 0:
            return rows
    return 1


class StoreWriter:
    """Create an empty store at ``path`` and fill it with ``write(start, rows)`` calls."""

    def __init__(self, path: str | os.PathLike, stimulus_ids: list[str], feature_coords: dict[str, np.ndarray],
                 n_features: int, *, batch_size: int, attrs: dict, feature_dim: str = "feature") -> None:
        import dask.array as da
        import zarr

        self.path = Path(path)
        n = len(stimulus_ids)
        rows = chunk_rows(n_features, batch_size)
        fchunk = min(n_features, max(1, CHUNK_BYTES // 4))
        data = da.zeros((n, n_features), dtype="float32", chunks=(rows, fchunk))
        coords = {"stimulus_id": ("presentation", np.asarray(stimulus_ids, dtype=object))}
        if feature_dim == "feature":  # twins' neuroid dim has no positional index: join on neuroid_id
            coords["feature"] = ("feature", np.arange(n_features))
        for name, values in feature_coords.items():
            values = np.asarray(values)
            coords[name] = (feature_dim, values.astype(object) if values.dtype.kind in "US" else values)
        ds = xr.Dataset({VARIABLE: (("presentation", feature_dim), data)}, coords=coords,
                        attrs={k: _attr(v) for k, v in attrs.items()})
        # Uncompressed: float activations barely compress, and compression would cost
        # extraction time on every batch.
        ds.to_zarr(self.path, mode="w-", compute=False, consolidated=False, zarr_format=3,
                   encoding={VARIABLE: {"compressors": None}})
        self._array = zarr.open_array(store=str(self.path), path=VARIABLE, mode="r+")
        self.n = n
        self.written = 0

    def write(self, start: int, rows: np.ndarray) -> None:
        stop = start + rows.shape[0]
        self._array[start:stop] = rows
        self.written = max(self.written, stop)

    def check_complete(self) -> None:
        if self.written != self.n:
            raise DataError(f"store {self.path} received {self.written} of {self.n} rows; not keeping it.")


class BackgroundWrites:
    """``StoreWriter.write`` calls run in order on one background thread, so that writing batch
    ``k`` overlaps the forward pass of batch ``k + 1``. At most ``depth`` batches wait (memory
    stays flat in the number of stimuli). ``close()`` waits for every write and re-raises the
    first error; leaving the ``with`` block any other way (an exception, Ctrl-C) drops the
    pending writes and waits for the thread, so nothing writes into a store after it is removed.
    """

    def __init__(self, writers: dict[str, StoreWriter], depth: int = 2) -> None:
        self.writers = writers
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abort = False
        self._thread = threading.Thread(target=self._work, name="neuroalign-store-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._abort or self._error is not None:
                continue
            start, rows = item
            try:
                for key, array in rows.items():
                    self.writers[key].write(start, array)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, start: int, rows: dict[str, np.ndarray]) -> None:
        """Queue ``rows[key]`` for ``writers[key]`` at ``start`` (blocks while ``depth`` wait)."""
        self._raise()
        self._queue.put((start, rows))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort = True
            if self._thread.is_alive():
                self._queue.put(None)
                self._thread.join()
        else:
            self.close()


def _attr(v):
    return v if isinstance(v, (str, int, float, bool)) else json.dumps(v, sort_keys=True)


def open_activations(path: str | os.PathLike) -> xr.DataArray:
    """Open a finished store lazily (dask-backed) as a ``presentation × feature`` DataArray."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"activation store {path} does not exist.")
    try:
        ds = xr.open_zarr(path, consolidated=False, zarr_format=3)
    except Exception as exc:
        raise DataError(f"activation store {path} cannot be opened ({exc}); delete it to recompute.") from exc
    arr = ds[VARIABLE]
    # zarr 3 reads strings back as numpy StringDType; give every string coord plain '<U' so
    # ids compare and cast like everywhere else in neuroalign
    for name, coord in arr.coords.items():
        if coord.dtype.kind not in "biufcmM" and coord.ndim == 1:
            arr = arr.assign_coords({name: (coord.dims, np.asarray(coord.values.tolist(), dtype=str))})
    arr.attrs = {**ds.attrs, "store": str(path)}
    return arr
