"""Per-image statistics computed from pixels, to split stimuli by a held-out statistic range.

All statistics are vectorised over a stack of images (``(n, H, W, 3)`` uint8) so a
thousand small images take well under a second after decoding. Images are decoded
with the stimulus set's own decoder (:func:`neuroalign.data.stimuli.decode_image`,
what ``StimulusSet.load_image`` uses), reading a zip once rather than once per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from ..data.stimuli import StimulusSet, decode_image
from ..errors import DataError, unknown

#: Rec.601 luma weights (what PIL's ``convert("L")`` uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
#: Radial frequency (cycles/pixel) above which spectral power counts as high spatial frequency.
HSF_CUTOFF = 0.25
_CHUNK = 256  # images per vectorised block: bounds float memory to ~100 MB for 112x112


def luma(images: np.ndarray) -> np.ndarray:
    """Rec.601 luma ``(n, H, W)`` in 0..255 from RGB ``(n, H, W, 3)`` (float32: enough for 8-bit input)."""
    return np.asarray(images).astype(np.float32) @ LUMA_WEIGHTS.astype(np.float32)


def luminance(images: np.ndarray, *, _luma: np.ndarray | None = None) -> np.ndarray:
    """Mean Rec.601 luma per image (0..255)."""
    y = luma(images) if _luma is None else _luma
    return y.mean(axis=(1, 2), dtype=np.float64)


def contrast(images: np.ndarray, *, _luma: np.ndarray | None = None) -> np.ndarray:
    """RMS contrast: standard deviation of luma divided by 255 (0..0.5)."""
    y = luma(images) if _luma is None else _luma
    return y.std(axis=(1, 2), dtype=np.float64) / 255.0


def hsv(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HSV hue in [0, 1) (red = 0) and saturation (0..1) per pixel, as ``colorsys`` defines them.

    Works on the uint8 channels (integer max/min/differences) and divides once, which
    is several times faster than the textbook float branches.
    """
    rgb = np.asarray(images)
    if rgb.dtype != np.uint8:
        raise DataError(f"hsv expects uint8 RGB images, got {rgb.dtype}.")
    ch = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = np.maximum(np.maximum(ch[0], ch[1]), ch[2])  # not .max(-1): a length-3 axis reduces slowly
    mn = np.minimum(np.minimum(ch[0], ch[1]), ch[2])
    delta = mx.astype(np.float32) - mn
    sat = delta / np.maximum(mx, 1).astype(np.float32)  # mx == 0 -> delta == 0 -> 0
    r, g, b = (c.astype(np.int16) for c in ch)
    is_r = mx == ch[0]
    is_g = ~is_r & (mx == ch[1])
    num = np.where(is_r, g - b, np.where(is_g, b - r, r - g)).astype(np.float32)
    off = np.where(is_r, 0.0, np.where(is_g, 2.0, 4.0)).astype(np.float32)
    h = (off + num / np.maximum(delta, 1.0)) / 6.0
    h %= 1.0
    h[delta == 0] = 0.0
    return h, sat


def saturation(images: np.ndarray, *, _hsv=None) -> np.ndarray:
    """Mean HSV saturation per image (0..1)."""
    s = (hsv(images) if _hsv is None else _hsv)[1]
    return s.mean(axis=(1, 2), dtype=np.float64)


def hue(images: np.ndarray, *, _hsv=None) -> np.ndarray:
    """Circular mean HSV hue per image in [0, 1) (red = 0, green = 1/3, blue = 2/3).

    Each pixel's hue is a unit vector weighted by its saturation, because grey pixels
    have no hue (HSV calls it 0 = red, which would bias every grey image to red). An
    image without any saturated pixel has no hue: NaN.
    """
    h, s = hsv(images) if _hsv is None else _hsv
    ang = (2 * np.pi) * h
    c = (s * np.cos(ang)).sum(axis=(1, 2), dtype=np.float64)
    si = (s * np.sin(ang)).sum(axis=(1, 2), dtype=np.float64)
    out = (np.arctan2(si, c) / (2 * np.pi)) % 1.0
    out[np.hypot(c, si) <= 1e-6 * h[0].size] = np.nan
    return out


def hsf_energy(images: np.ndarray, cutoff: float = HSF_CUTOFF, *, _luma: np.ndarray | None = None) -> np.ndarray:
    """Fraction of the luma image's spectral power above radial frequency ``cutoff``.

    Frequencies are in cycles/pixel (Nyquist = 0.5); the mean (DC) is removed first, so
    the fraction is of the varying part. A constant image has no spectrum: NaN.
    """
    y = luma(images) if _luma is None else _luma
    y = y - y.mean(axis=(1, 2), keepdims=True)
    # real input: the half spectrum (rfft2) with the mirrored columns counted twice
    spec = np.fft.rfft2(y, axes=(1, 2))
    power = spec.real ** 2 + spec.imag ** 2
    width = y.shape[2]
    weight = np.full(power.shape[2], 2.0)
    weight[0] = 1.0
    if width % 2 == 0:
        weight[-1] = 1.0
    fy = np.fft.fftfreq(y.shape[1])[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    wmap = np.broadcast_to(weight, power.shape[1:])
    high = np.hypot(fy, fx) > cutoff
    total = (power * wmap).sum(axis=(1, 2), dtype=np.float64)
    hi = (power[:, high] * wmap[high]).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-6 * y[0].size, hi / total, np.nan)


STATISTICS = {
    "luminance": luminance,
    "contrast": contrast,
    "saturation": saturation,
    "hue": hue,
    "hsf_energy": hsf_energy,
}


def load_pixels(stimuli: StimulusSet, stimulus_ids: Sequence[str] | None = None,
                size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Decoded RGB images as ``(n, H, W, 3)`` uint8, optionally box-resized to ``size``.

    Without ``size`` all images must share one shape (the error names a mismatching one).
    """
    ids = stimuli.stimulus_ids if stimulus_ids is None else [str(s) for s in stimulus_ids]
    if isinstance(size, int):
        size = (size, size)
    arrays = []
    for sid, data in stimuli.iter_bytes(ids):
        img = decode_image(data, stimuli.location(sid), stimuli.color)
        if size is not None and img.size != size:
            img = img.resize(size, Image.Resampling.BOX)
        arr = np.asarray(img, dtype=np.uint8)
        if arrays and arr.shape != arrays[0].shape:
            raise DataError(
                f"image {stimuli.location(sid)} is {arr.shape[1]}x{arr.shape[0]}, the first is "
                f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; pass size=... to resize to one shape."
            )
        arrays.append(arr)
    if not arrays:
        raise DataError(f"stimulus set {stimuli.identifier!r}: no images selected.")
    return np.stack(arrays)


def image_statistics(stimuli: StimulusSet, statistics: Sequence[str] | str | None = None, *,
                     hsf_cutoff: float = HSF_CUTOFF) -> pd.DataFrame:
    """Table ``stimulus_id × statistic`` of pixel statistics (default: all five).

    Images of different sizes are handled by grouping equal shapes; values do not depend
    on the image size (means, fractions), so they compare across groups.
    """
    if statistics is None:
        statistics = list(STATISTICS)
    elif isinstance(statistics, str):
        statistics = [statistics]
    for name in statistics:
        if name not in STATISTICS:
            raise unknown("image statistic", name, STATISTICS)
    ids = list(stimuli.stimulus_ids)
    out = {name: np.full(len(ids), np.nan) for name in statistics}
    batch: dict[tuple, list[tuple[int, np.ndarray]]] = {}

    def flush(shape):
        rows = batch.pop(shape)
        idx = np.array([i for i, _ in rows])
        stack = np.stack([a for _, a in rows])
        y = luma(stack) if {"luminance", "contrast", "hsf_energy"} & set(statistics) else None
        hs = hsv(stack) if {"saturation", "hue"} & set(statistics) else None
        for name in statistics:
            if name == "hsf_energy":
                out[name][idx] = hsf_energy(stack, hsf_cutoff, _luma=y)
            elif name in ("saturation", "hue"):
                out[name][idx] = STATISTICS[name](stack, _hsv=hs)
            else:
                out[name][idx] = STATISTICS[name](stack, _luma=y)

    for i, (sid, data) in enumerate(stimuli.iter_bytes(ids)):
        arr = np.asarray(decode_image(data, stimuli.location(sid), stimuli.color), dtype=np.uint8)
        batch.setdefault(arr.shape, []).append((i, arr))
        if len(batch[arr.shape]) >= _CHUNK:
            flush(arr.shape)
    for shape in list(batch):
        flush(shape)
    return pd.DataFrame(out, index=pd.Index(ids, name="stimulus_id"))
