"""Robustness: top-1 accuracy/agreement under Gaussian pixel noise and an L∞ PGD attack.

Perturbations live in pixel space ([0, 1] per channel), not in the normalised tensor the
model sees, so σ and ε mean the same for every model whatever its preprocessing
(ε = 1/255 is one grey level). Images are clamped to the valid pixel range.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .evaluate import agreement


class PixelSpace:
    """Converts between a model's normalised input and [0, 1] pixels."""

    def __init__(self, mean, std, device):
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def to_input(self, p: torch.Tensor) -> torch.Tensor:
        return (p - self.mean) / self.std


def model_logits(module, x, device, batch_size=64) -> torch.Tensor:
    """The module's outputs for ``x`` (on CPU), in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([module(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def noise_robustness(module, images, labels, sigmas, *, mean, std, device, seed=0, batch_size=64) -> list[float]:
    """Agreement of top-1 with ``labels`` after adding N(0, σ²) pixel noise, per σ.

    The noise draw is seeded (one generator per σ), so two models see identical noisy images.
    """
    px = PixelSpace(mean, std, "cpu")
    pixels = px.to_pixels(images.float())
    out = []
    for k, sigma in enumerate(sigmas):
        g = torch.Generator().manual_seed(int(seed) * 1000 + k)
        noisy = (pixels + float(sigma) * torch.randn(pixels.shape, generator=g)).clamp(0, 1) if sigma > 0 else pixels
        out.append(agreement(model_logits(module, px.to_input(noisy), device, batch_size), labels))
    return out


def pgd_attack(module, images, labels, *, eps, steps, mean, std, device, step_size=None) -> torch.Tensor:
    """L∞ projected gradient ascent on the cross-entropy of ``labels`` (Madry et al. 2018).

    Starts from the clean image (no random start: the result is deterministic); step size
    ``2.5 ε / steps`` by default; each step is a signed gradient step, then projection to
    the ε-ball around the clean pixels and to [0, 1]. Returns adversarial model inputs.
    """
    px = PixelSpace(mean, std, device)
    clean = px.to_pixels(images.to(device).float()).detach()
    labels = labels.to(device)
    alpha = step_size if step_size is not None else 2.5 * eps / max(steps, 1)
    adv = clean.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(module(px.to_input(adv)), labels)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + alpha * grad.sign()
            adv = torch.minimum(torch.maximum(adv, clean - eps), clean + eps).clamp(0, 1)
    return px.to_input(adv.detach())


def pgd_robustness(module, images, labels, *, eps, steps, mean, std, device, batch_size=64) -> float:
    """Agreement of top-1 with ``labels`` on PGD adversarial images (batched)."""
    if eps <= 0 or steps <= 0:
        return agreement(model_logits(module, images, device, batch_size), labels)
    correct = 0
    for i in range(0, len(images), batch_size):
        adv = pgd_attack(module, images[i:i + batch_size], labels[i:i + batch_size], eps=eps, steps=steps,
                         mean=mean, std=std, device=device)
        with torch.no_grad():
            correct += int((module(adv).argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum())
    return correct / len(images)
