"""A model's preprocessing on PIL images, with torchvision's numbers and without its import.

``import torchvision`` costs about 2 s per process (its ``ops`` import ``torch._dynamo``), paid by
every extraction process and workflow job that needs nothing of it but ``Resize``,
``CenterCrop``, ``ToTensor`` and ``Normalize`` on PIL images. On PIL images those are thin calls
into Pillow, reproduced here step for step (torchvision 0.29's ``functional.resize``,
``_compute_resized_output_size``, ``center_crop``, ``to_tensor``, ``normalize``); where they do
more (padding a crop larger than the image, a non-RGB image), the step is torchvision's own,
imported then. ``tests/test_models.py`` checks the tensors are torchvision's, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

# torchvision's InterpolationMode values -> Pillow's filters (torchvision's pil_modes_mapping)
PIL_FILTERS = {"nearest": Image.NEAREST, "nearest-exact": Image.NEAREST, "bilinear": Image.BILINEAR,
               "bicubic": Image.BICUBIC, "box": Image.BOX, "hamming": Image.HAMMING, "lanczos": Image.LANCZOS}


def pil_filter(interpolation: str) -> int:
    """Pillow's filter for a torchvision interpolation name; an unknown name is an error listing them."""
    try:
        return PIL_FILTERS[interpolation]
    except KeyError:
        from ..errors import ModelError

        raise ModelError(f"unknown interpolation {interpolation!r}: use one of {', '.join(PIL_FILTERS)}.") from None


class Resize:
    """``torchvision.transforms.Resize(size, interpolation)`` on PIL images: an int resizes the
    shorter side to ``size`` (the longer one truncated), a pair ``(h, w)`` resizes to it."""

    def __init__(self, size, interpolation: str = "bilinear") -> None:
        self.size, self.filter = size, pil_filter(interpolation)

    def output_size(self, w: int, h: int) -> tuple[int, int]:
        if isinstance(self.size, int):
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = self.size, int(self.size * long / short)
            return (new_short, new_long) if w <= h else (new_long, new_short)
        return int(self.size[1]), int(self.size[0])

    def __call__(self, img: Image.Image) -> Image.Image:
        size = self.output_size(*img.size)
        return img if size == img.size else img.resize(size, self.filter)


class CenterCrop:
    """``torchvision.transforms.CenterCrop(size)`` on PIL images."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if self.size > w or self.size > h:  # padded first: torchvision's own step
            from torchvision.transforms import functional as F

            return F.center_crop(img, [self.size, self.size])
        top, left = int(round((h - self.size) / 2.0)), int(round((w - self.size) / 2.0))
        return img.crop((left, top, left + self.size, top + self.size))


def normalise_u8(u8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``(n, H, W, 3)`` uint8 -> ``out`` ``(n, 3, H, W)``: ``ToTensor`` then ``Normalize``'s arithmetic
    (``float(u8) / 255``, ``- mean``, ``/ std``; ``mean``/``std`` shaped ``(1, 3, 1, 1)``)."""
    out.copy_(u8.permute(0, 3, 1, 2))
    return out.div_(255).sub_(mean).div_(std)


class PilTransform:
    """PIL image -> normalised float tensor ``(3, H, W)``: ``steps`` (Resize, CenterCrop), then
    ``ToTensor`` and ``Normalize(mean, std)``. ``BatchTransform`` runs the steps per image and the
    rest once per batch."""

    def __init__(self, steps: list, mean, std) -> None:
        self.steps, self.mean, self.std = list(steps), tuple(mean), tuple(std)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        for step in self.steps:
            img = step(img)
        dtype = torch.get_default_dtype()
        if img.mode != "RGB" or len(self.mean) != 3 or 0 in self.std:  # torchvision's own (its errors too)
            from torchvision.transforms import functional as F

            return F.normalize(F.to_tensor(img), list(self.mean), list(self.std))
        u8 = torch.from_numpy(np.array(img)[None])
        out = torch.empty((1, 3, img.size[1], img.size[0]), dtype=dtype)
        mean = torch.as_tensor(self.mean, dtype=dtype).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std, dtype=dtype).view(1, -1, 1, 1)
        return normalise_u8(u8, mean, std, out)[0]

    def __repr__(self) -> str:
        return f"PilTransform(steps={self.steps!r}, mean={self.mean}, std={self.std})"
