"""What a loaded model is: an eval-mode module, its layers, its preprocessing, its identity.

The identity (name + SHA-256 of the weights) is what activation caches key on, so two
checkpoints of one architecture never share cached activations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Image -> tensor recipe: resize the shorter side to ``resize`` (None: to ``input_size``),
    centre-crop to ``input_size`` when ``crop`` (else squash-resize to a square), scale to
    [0, 1], then normalise with ``mean`` / ``std``."""

    input_size: int = 224
    resize: int | None = 256
    crop: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        object.__setattr__(self, "input_size", int(self.input_size))
        if self.resize is not None:
            object.__setattr__(self, "resize", int(self.resize))

    def transform(self):
        """PIL image -> float tensor (3, input_size, input_size): torchvision's ``Resize``
        (+ ``CenterCrop``), ``ToTensor``, ``Normalize``, bit for bit, without importing
        torchvision (:mod:`.pil_transform`)."""
        from .pil_transform import CenterCrop, PilTransform, Resize

        if self.crop:
            steps = [Resize(self.resize or self.input_size, self.interpolation), CenterCrop(self.input_size)]
        else:
            steps = [Resize((self.input_size, self.input_size), self.interpolation)]
        return PilTransform(steps, self.mean, self.std)

    def to_dict(self) -> dict:
        """Plain, key-sorted dict: part of every activation cache key."""
        return {
            "crop": bool(self.crop),
            "input_size": self.input_size,
            "interpolation": self.interpolation,
            "mean": [round(m, 8) for m in self.mean],
            "resize": self.resize,
            "std": [round(s, 8) for s in self.std],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        """From a mapping of the field names; an unknown key (a typo such as ``size``) is an error naming it."""
        from ..errors import ModelError, unknown

        fields = ("input_size", "resize", "crop", "mean", "std", "interpolation")
        extra = [k for k in d if k not in fields]
        if extra:
            err = unknown("preprocessing field", str(extra[0]), fields)
            raise ModelError(str(err)) from None
        return cls(**{k: d[k] for k in fields if k in d})


def weights_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over the state dict: each key, dtype, shape and tensor bytes, in key order."""
    h = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{key}|{t.dtype}|{tuple(tensor.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass(eq=False)
class LoadedModel:
    """A model ready for extraction.

    ``spec`` is the registry string it came from; ``layers`` the default layers to
    consider. A digital twin (``is_twin=True``) is a model whose output units are
    neurons: ``neuroid_ids`` name them, so its output can be scored against recordings
    without a fitted mapping (see ``neuroalign.activations.extract_outputs``).
    """

    name: str
    module: torch.nn.Module
    layers: list[str]
    preprocessing: Preprocessing
    spec: str = ""
    is_twin: bool = False
    neuroid_ids: list[str] | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..errors import ModelError

        self.module.eval()
        self.spec = self.spec or self.name
        self.layers = [str(layer) for layer in self.layers]
        if self.is_twin:
            if not self.neuroid_ids:
                raise ModelError(f"model {self.name!r} is a digital twin but has no neuroid_ids; "
                                 "give one id per output unit.")
            self.neuroid_ids = [str(n) for n in self.neuroid_ids]
            if len(set(self.neuroid_ids)) != len(self.neuroid_ids):
                raise ModelError(f"digital twin {self.name!r}: neuroid_ids are not unique.")

    @cached_property
    def weights_sha256(self) -> str:
        return weights_sha256(self.module)

    @cached_property
    def identity(self) -> str:
        """``<name>@sha256:<hash of the weights>``, computed once per LoadedModel.

        Edit weights in place after the first call and you must build a new LoadedModel
        (or ``del model.identity``) so caches see the change.
        """
        return f"{self.name}@sha256:{self.weights_sha256}"


def list_layers(model: LoadedModel | torch.nn.Module) -> list[str]:
    """Names of every submodule that can be hooked, in definition order."""
    module = model.module if isinstance(model, LoadedModel) else model
    return [name for name, _ in module.named_modules() if name]


_TRIVIAL = (torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.ReLU6, torch.nn.Dropout, torch.nn.Flatten,
            torch.nn.Identity, torch.nn.GELU, torch.nn.SiLU, torch.nn.Hardswish)
_KEEP_IN_FLAT = (torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d, torch.nn.Linear)


def default_layers(module: torch.nn.Module, max_layers: int = 8) -> list[str]:
    """A spread of at most ``max_layers`` stage outputs, for loaders without a hand-picked list.

    Top-level children, minus normalisation/activation/dropout leaves; a Sequential of
    blocks is opened into its blocks when there are few stages, and a flat Sequential of leaves (VGG's ``features``)
    contributes its pooling and linear layers. Every
    other module stays reachable by name (``list_layers``).
    """
    names = _stages(module, "", open_blocks=False)
    if len(names) < 5:  # e.g. torchvision's features/avgpool/classifier: open the blocks
        names = _stages(module, "", open_blocks=True)
    if not names:
        names = [n for n, m in module.named_modules() if n and not list(m.children())]
    if len(names) > max_layers:
        idx = sorted({round(i * (len(names) - 1) / (max_layers - 1)) for i in range(max_layers)})
        names = [names[i] for i in idx]
    return names


def _stages(module: torch.nn.Module, prefix: str, open_blocks: bool) -> list[str]:
    names: list[str] = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        kids = list(child.children())
        if isinstance(child, (torch.nn.Sequential, torch.nn.ModuleList)) and kids:
            if all(not list(k.children()) for k in kids):
                names += [f"{full}.{k}" for k, m in child.named_children() if isinstance(m, _KEEP_IN_FLAT)] or [full]
            elif open_blocks:
                names += _stages(child, full + ".", open_blocks=False)
            else:
                names.append(full)
        elif not isinstance(child, _TRIVIAL):
            names.append(full)
    return names
