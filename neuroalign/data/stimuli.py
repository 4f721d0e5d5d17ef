"""Stimulus sets: ids, image bytes (folder, zip read in place, or memory), metadata, content hash."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ..errors import DataError, NeuroalignWarning

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _limit(env: str, default: float) -> float:
    value = os.environ.get(env)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise DataError(f"environment variable {env}={value!r} must be a number (default {default:g}).") from None


def limits() -> dict[str, float]:
    """Bounds on every image read, each overridable by its environment variable:
    ``NEUROALIGN_MAX_IMAGE_MB`` (declared size of one zip member, default 256),
    ``NEUROALIGN_MAX_ZIP_RATIO`` (a member's uncompressed / compressed size, default 1000),
    ``NEUROALIGN_MAX_IMAGE_PIXELS`` (width × height, default 100 million; the image is never decoded
    beyond its header when over), ``NEUROALIGN_MIN_IMAGE_SIDE`` (below it a warning, default 16)."""
    return {"max_member_bytes": _limit("NEUROALIGN_MAX_IMAGE_MB", 256) * 2**20,
            "max_zip_ratio": _limit("NEUROALIGN_MAX_ZIP_RATIO", 1000),
            "max_pixels": _limit("NEUROALIGN_MAX_IMAGE_PIXELS", 100e6),
            "min_side": _limit("NEUROALIGN_MIN_IMAGE_SIDE", 16)}


@dataclass(eq=False)
class StimulusSet:
    """Images keyed by ``stimulus_id``.

    ``source`` is a folder, a zip file (members are read without extraction) or
    ``None`` for in-memory images given as encoded bytes in ``blobs``. ``metadata`` is a
    DataFrame indexed by ``stimulus_id``. ``color`` is the policy for non-RGB images:
    ``"error"`` refuses them with the file named, ``"convert"`` converts to RGB.
    """

    identifier: str
    stimulus_ids: list[str]
    files: list[str]
    source: Path | None = None
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)
    blobs: dict[str, bytes] | None = None
    color: str = "error"

    def __post_init__(self) -> None:
        self.stimulus_ids = [str(s) for s in self.stimulus_ids]
        if len(self.stimulus_ids) != len(self.files):
            raise DataError(
                f"stimulus set {self.identifier!r}: {len(self.stimulus_ids)} ids for {len(self.files)} files."
            )
        ids = pd.Index(self.stimulus_ids)
        if ids.has_duplicates:
            raise DataError(
                f"stimulus set {self.identifier!r}: duplicate stimulus_id "
                f"{ids[ids.duplicated()].unique()[:5].tolist()}; ids must be unique "
                "(list each image once, under one id)."
            )
        if self.metadata is None or self.metadata.empty:
            self.metadata = pd.DataFrame(index=pd.Index(self.stimulus_ids, name="stimulus_id"))
        else:
            md = self.metadata.copy()
            md.index = md.index.astype(str)
            missing = [s for s in self.stimulus_ids if s not in md.index]
            if missing:
                raise DataError(f"stimulus set {self.identifier!r}: metadata lacks ids {missing[:10]}.")
            self.metadata = md.loc[self.stimulus_ids]
            self.metadata.index.name = "stimulus_id"
        if self.color not in ("error", "convert"):
            raise DataError(f"color policy must be 'error' or 'convert', got {self.color!r}.")
        self._pos = {s: i for i, s in enumerate(self.stimulus_ids)}

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | os.PathLike, identifier: str | None = None, *,
                    ids: Sequence[str] | None = None, metadata: pd.DataFrame | None = None,
                    color: str = "error") -> StimulusSet:
        """Every image file in ``folder`` (sorted); ids default to file stems."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"stimulus folder {folder} does not exist or is not a folder.")
        entries = sorted(folder.iterdir())
        files = [p.name for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        skipped = [p.name + ("/" if p.is_dir() else "") for p in entries
                   if p.name not in files and not p.name.startswith(".")]
        if not files:
            raise DataError(f"stimulus folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        if skipped:
            warnings.warn(f"stimulus folder {folder}: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} "
                          f"that are not images ({', '.join(IMAGE_SUFFIXES)}) or are folders (not read): "
                          f"{skipped[:10]}", NeuroalignWarning, stacklevel=2)
        _warn_case_clash(files, f"stimulus folder {folder}")
        if ids is None:
            ids = [Path(f).stem for f in files]
            stems = pd.Series(files, index=ids)
            if stems.index.has_duplicates:
                clash = stems[stems.index.duplicated(keep=False)].tolist()
                raise DataError(f"stimulus folder {folder}: files {clash[:6]} share a name stem, which is the "
                                "stimulus_id; rename them or pass ids=.")
        return cls(identifier or folder.name, list(ids), files, folder, metadata, color=color)

    @classmethod
    def from_zip(cls, path: str | os.PathLike, identifier: str | None = None, *,
                 ids: Sequence[str] | None = None, metadata: pd.DataFrame | None = None,
                 color: str = "error") -> StimulusSet:
        """Every image member of a zip (sorted by name), read in place without extraction."""
        path = Path(path)
        members = list_zip_images(path)
        _warn_case_clash(members, f"stimulus zip {path}")
        ids = list(ids) if ids is not None else [PurePosixPath(m).stem for m in members]
        return cls(identifier or path.stem, ids, members, path, metadata, color=color)

    @classmethod
    def from_arrays(cls, images: np.ndarray, stimulus_ids: Sequence[str], identifier: str,
                    metadata: pd.DataFrame | None = None) -> StimulusSet:
        """In-memory uint8 images ``(n, H, W, 3)``, stored as lossless PNG bytes."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(f"from_arrays expects uint8 (n, H, W, 3) images, got {images.dtype} {images.shape}.")
        blobs = {}
        for sid, img in zip(stimulus_ids, images, strict=True):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG", compress_level=1)
            blobs[str(sid)] = buf.getvalue()
        files = [f"{s}.png" for s in stimulus_ids]
        return cls(identifier, list(stimulus_ids), files, None, metadata, blobs=blobs)

    # ---- access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.stimulus_ids)

    def __contains__(self, sid: str) -> bool:
        return sid in self._pos

    def location(self, stimulus_id: str) -> str:
        """Human-readable place of an image, for error messages."""
        f = self.files[self._index(stimulus_id)]
        if self.source is None:
            return f"<memory>/{f}"
        return f"{self.source}:{f}" if self.source.suffix == ".zip" else str(self.source / f)

    def _index(self, stimulus_id: str) -> int:
        try:
            return self._pos[str(stimulus_id)]
        except KeyError:
            raise DataError(f"stimulus set {self.identifier!r} has no stimulus_id {stimulus_id!r}.") from None

    def _zipfile(self) -> zipfile.ZipFile:
        """This process's open handle on the zip source, opened on first use: a fresh
        ZipFile per image would re-read the archive's directory for every image."""
        if self.__dict__.get("_zip_pid") != os.getpid():  # not opened yet, or inherited by a fork
            self.__dict__["_zip"], self.__dict__["_zip_pid"] = zipfile.ZipFile(self.source), os.getpid()
        return self.__dict__["_zip"]

    def __getstate__(self) -> dict:
        """Pickle without the open zip handle (DataLoader workers open their own)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_zip", "_zip_pid")}

    def read_bytes(self, stimulus_id: str) -> bytes:
        f = self.files[self._index(stimulus_id)]
        if self.blobs is not None:
            return self.blobs[str(stimulus_id)]
        if self.source.suffix == ".zip":
            try:
                return self._zipfile().read(f)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                    UnicodeDecodeError, ValueError) as exc:
                raise DataError(f"image {self.location(stimulus_id)} cannot be read from the zip ({exc}); "
                                "the archive is damaged: re-download or rebuild it.") from None
        return read_image_file(self.source / f)

    def iter_bytes(self, stimulus_ids: Sequence[str] | None = None):
        """Yield ``(stimulus_id, bytes)`` in id order (all ids by default)."""
        for s in self.stimulus_ids if stimulus_ids is None else [str(s) for s in stimulus_ids]:
            yield s, self.read_bytes(s)

    def load_image(self, stimulus_id: str) -> Image.Image:
        return decode_image(self.read_bytes(stimulus_id), self.location(stimulus_id), self.color)

    def subset(self, stimulus_ids: Sequence[str], identifier: str | None = None) -> StimulusSet:
        idx = [self._index(s) for s in stimulus_ids]
        return StimulusSet(
            identifier or f"{self.identifier}-subset",
            [self.stimulus_ids[i] for i in idx], [self.files[i] for i in idx], self.source,
            self.metadata.iloc[idx], None if self.blobs is None else {self.stimulus_ids[i]: self.blobs[self.stimulus_ids[i]] for i in idx},
            self.color,
        )

    @cached_property
    def _digests(self) -> dict[str, bytes]:
        """SHA-256 of each image's bytes in id order; the images are read once per set."""
        return {s: hashlib.sha256(b).digest() for s, b in self.iter_bytes()}

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 over the image bytes in id order (ids included): part of every cache key."""
        h = hashlib.sha256()
        for sid, digest in self._digests.items():
            h.update(sid.encode())
            h.update(b"\0")
            h.update(digest)
        return h.hexdigest()

    def image_hashes(self) -> pd.Series:
        """SHA-256 of each image's bytes, indexed by stimulus_id (finds identical images)."""
        return pd.Series({s: d.hex() for s, d in self._digests.items()}, name="sha256")


def _warn_case_clash(names: Sequence[str], where: str) -> None:
    """Warn when names differ only in letter case: one file on a case-insensitive filesystem."""
    by_lower: dict[str, list[str]] = {}
    for n in dict.fromkeys(names):  # exact repeats are refused elsewhere (duplicate ids)
        by_lower.setdefault(n.lower(), []).append(n)
    clashes = [v for v in by_lower.values() if len(v) > 1]
    if clashes:
        warnings.warn(f"{where}: {len(clashes)} name(s) differ only in letter case, e.g. {clashes[0]}; on a "
                      "case-insensitive filesystem (macOS, Windows) they are one file. Rename them.",
                      NeuroalignWarning, stacklevel=3)


def zip_members(path: Path) -> list[str]:
    """Every member of a zip, refusing the zip if any member's path escapes the archive or a
    member's declared size or compression ratio is over :func:`limits` (checked before reading)."""
    if not path.is_file():
        raise DataError(f"stimulus zip {path} does not exist.")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, UnicodeDecodeError, EOFError, ValueError, NotImplementedError) as exc:
        raise DataError(f"{path} is not a readable zip file ({exc}); re-download it.") from exc
    names = [i.filename for i in infos]
    lim = limits()
    for info in infos:
        if info.is_dir():
            continue
        if info.file_size > lim["max_member_bytes"]:
            raise DataError(f"{path}: member {info.filename!r} declares {info.file_size / 2**20:.0f} MB uncompressed, "
                            f"over the limit of {lim['max_member_bytes'] / 2**20:.0f} MB per image; refusing to read "
                            "this zip (raise NEUROALIGN_MAX_IMAGE_MB if the image is real).")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 2**20 and ratio > lim["max_zip_ratio"]:
            raise DataError(f"{path}: member {info.filename!r} expands {ratio:.0f}x ({info.compress_size} -> "
                            f"{info.file_size} bytes), over the limit of {lim['max_zip_ratio']:g}x (a zip bomb?); "
                            "refusing to read this zip (raise NEUROALIGN_MAX_ZIP_RATIO if it is real).")
    for name in names:
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts:
            raise DataError(
                f"{path}: member {name!r} escapes the archive folder; refusing to read this zip. "
                "Rebuild the zip with relative member paths."
            )
    return names


def read_image_file(path: Path) -> bytes:
    """An image file's bytes, refused before reading when its size is over the per-image limit
    (``NEUROALIGN_MAX_IMAGE_MB``, as for zip members): a sparse file can declare gigabytes."""
    limit = limits()["max_member_bytes"]
    size = path.stat().st_size
    if size > limit:
        raise DataError(f"image {path} is {size / 2**20:.0f} MB, over the limit of {limit / 2**20:.0f} MB per image; "
                        "refusing to read it (raise NEUROALIGN_MAX_IMAGE_MB if the image is real).")
    return path.read_bytes()


def list_zip_images(path: Path) -> list[str]:
    """Image members of a zip (see :func:`zip_members` for the safety check)."""
    names = zip_members(path)
    images = sorted(n for n in names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES
                    and not PurePosixPath(n).name.startswith("."))
    if not images:
        raise DataError(f"stimulus zip {path} holds no images.")
    return images


def decode_image(data: bytes, where: str, color: str = "error") -> Image.Image:
    """Decode image bytes fully (so truncation is caught here) and enforce RGB."""
    lim = limits()
    too_big = (f"over the limit of {lim['max_pixels'] / 1e6:g} million pixels (NEUROALIGN_MAX_IMAGE_PIXELS); "
               "downscale it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below applies
            img = Image.open(io.BytesIO(data))  # reads the header only
            w, h = img.size
            if w * h > lim["max_pixels"]:
                raise DataError(f"image {where} is {w} x {h} = {w * h / 1e6:.0f} million pixels, {too_big}.")
            img.load()
    except Image.DecompressionBombError as exc:  # PIL's own check fired first, in the header read
        import re

        n = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(n.group(1)) / 1e6:.0f} million pixels" if n else "too many pixels"
        raise DataError(f"image {where} has {size}, {too_big}.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"image {where} is corrupt or not an image ({exc}); replace or remove it.") from exc
    if min(w, h) < lim["min_side"]:
        warnings.warn(f"image {where} is only {w} x {h} pixels (under {lim['min_side']:g} on a side); it is used, "
                      "upscaled by the preprocessing: check it is the image you meant.", NeuroalignWarning, stacklevel=2)
    if img.mode != "RGB":
        if color == "convert":
            return img.convert("RGB")
        raise DataError(
            f"image {where} has mode {img.mode!r}, not RGB. Convert it, or build the stimulus set "
            "with color='convert' to convert non-RGB images on load."
        )
    return img
