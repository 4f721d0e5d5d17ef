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


class Normalise:
    """``ToTensor`` then ``Normalize(mean, std)`` on a list of same-size RGB PIL images, as one
    float tensor ``(n, 3, H, W)`` in a few passes over the batch (``float(u8) / 255``, ``- mean``,
    ``/ std``: torchvision's arithmetic, so its numbers bit for bit). ``None`` where that
    arithmetic is not torchvision's: not three channels, a zero std (Normalize raises its own
    error), a non-RGB image or mixed sizes; the caller then applies the transform image by image."""

    def __init__(self, mean, std) -> None:
        self.dtype = torch.get_default_dtype()  # ToTensor's float type
        self.mean = torch.as_tensor(mean, dtype=self.dtype).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=self.dtype).view(1, -1, 1, 1)
        self.applies = self.mean.shape[1] == 3 and not bool((self.std == 0).any())

    def __call__(self, images: list, empty=None) -> torch.Tensor | None:
        """``empty(shape, dtype)`` allocates the output (a DataLoader worker's: shared memory)."""
        if not self.applies or any(im.mode != "RGB" for im in images) or len({im.size for im in images}) != 1:
            return None
        u8 = torch.from_numpy(np.stack([np.asarray(im) for im in images]))  # (n, H, W, 3)
        shape = (u8.shape[0], 3, u8.shape[1], u8.shape[2])
        out = torch.empty(shape, dtype=self.dtype) if empty is None else empty(shape, self.dtype)
        out.copy_(u8.permute(0, 3, 1, 2))
        return out.div_(255).sub_(self.mean).div_(self.std)


class PilTransform:
    """PIL image -> normalised float tensor ``(3, H, W)``: ``steps`` (Resize, CenterCrop), then
    ``ToTensor`` and ``Normalize(mean, std)``. ``BatchTransform`` runs the steps per image and the
    rest once per batch."""

    def __init__(self, steps: list, mean, std) -> None:
        self.steps, self.mean, self.std = list(steps), tuple(mean), tuple(std)
        self.normalise = Normalise(self.mean, self.std)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        for step in self.steps:
            img = step(img)
        x = self.normalise([img])
        if x is None:  # torchvision's own ToTensor and Normalize (their other modes, their errors)
            from torchvision.transforms import functional as F

            return F.normalize(F.to_tensor(img), list(self.mean), list(self.std))
        return x[0]

    def __repr__(self) -> str:
        return f"PilTransform(steps={self.steps!r}, mean={self.mean}, std={self.std})"
