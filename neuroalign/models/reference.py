"""The seeded reference network that generates the synthetic benchmark's neurons.

Small on purpose: it runs in milliseconds on a CPU, so the synthetic benchmark (whose
true answer is known) can be rebuilt anywhere bit for bit from its seed.
"""

from __future__ import annotations

import torch
from torch import nn

REFERENCE_LAYERS = ("block1", "block2", "block3")
REFERENCE_INPUT_SIZE = 64
REFERENCE_MEAN = (0.5, 0.5, 0.5)
REFERENCE_STD = (0.25, 0.25, 0.25)


class ReferenceNet(nn.Module):
    """Three conv blocks and a linear head; the blocks are the layers to score."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.block3 = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        return self.head(torch.flatten(self.pool(x), 1))


def build_reference_net(seed: int = 0) -> ReferenceNet:
    """A ReferenceNet whose weights depend only on ``seed`` (global RNG left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ReferenceNet()
    return net.eval()


def reference_features(net: ReferenceNet, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Spatially averaged activations of ``layer`` for preprocessed ``images`` (N, 3, H, W)."""
    if layer not in REFERENCE_LAYERS:
        raise ValueError(f"reference layer must be one of {REFERENCE_LAYERS}, got {layer!r}")
    x = images
    with torch.inference_mode():
        for name in REFERENCE_LAYERS:
            x = getattr(net, name)(x)
            if name == layer:
                return x.mean(dim=(2, 3))
    raise AssertionError("unreachable")


def preprocess_uint8(images, mean=REFERENCE_MEAN, std=REFERENCE_STD) -> torch.Tensor:
    """uint8 (N, H, W, 3) numpy images -> normalised float tensor (N, 3, H, W)."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def load_reference(seed: int | str = 0, **_):
    """The reference network as a registry model (spec ``reference`` or ``reference?seed=N``)."""
    from .base import LoadedModel, Preprocessing

    seed = int(seed)
    return LoadedModel(
        name="reference" if seed == 0 else f"reference-seed{seed}",
        module=build_reference_net(seed),
        layers=list(REFERENCE_LAYERS),
        preprocessing=Preprocessing(input_size=REFERENCE_INPUT_SIZE, resize=None, crop=False,
                                    mean=REFERENCE_MEAN, std=REFERENCE_STD),
        spec="reference" if seed == 0 else f"reference?seed={seed}",
        metadata={"description": "seeded generator network of the synthetic benchmark"},
    )
