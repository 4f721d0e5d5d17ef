"""Robustness: top-1 agreement under Gaussian pixel noise, and robust accuracy under an L∞ PGD attack.

Perturbations live in pixel space ([0, 1] per channel), not in the normalised tensor the
model sees, so σ and ε mean the same for every model whatever its preprocessing
(ε = 1/255 is one grey level). Images are clamped to the valid pixel range.

PGD (Madry et al. 2018): a uniform random start in the ε-ball, ``steps`` (≥ 20 where a
number is reported) signed-gradient ascent steps on the cross-entropy of the reference
labels, each followed by projection onto the ε-ball and [0, 1]. Robust accuracy is taken
over the images the model classifies correctly when clean (so it is not a second copy of
clean accuracy): the fraction of them that no iterate of the attack, random start
included, moves off the reference label. Clean accuracy is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import torch
from torch.nn import functional as F

from ..errors import ConfigError

PGD_EPS = (1 / 255, 2 / 255, 4 / 255)  # the reported attack strengths, in [0, 1] pixel units
PGD_STEPS = 20  # the fewest steps a reported robust accuracy may use


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


def noise_correct(module, images, labels, sigmas, *, mean, std, device, seed=0, batch_size=64) -> np.ndarray:
    """(σ, image) booleans: top-1 equals ``labels`` after adding N(0, σ²) pixel noise.

    The noise draw is seeded by the σ's position and value (one generator per σ), so two
    models see identical noisy images.
    """
    px = PixelSpace(mean, std, "cpu")
    pixels = px.to_pixels(images.float())
    out = []
    for k, sigma in enumerate(sigmas):
        g = torch.Generator().manual_seed(int(seed) * 1000 + k)
        noisy = (pixels + float(sigma) * torch.randn(pixels.shape, generator=g)).clamp(0, 1) if sigma > 0 else pixels
        out.append((model_logits(module, px.to_input(noisy), device, batch_size).argmax(1) == labels.cpu()).numpy())
    return np.asarray(out, dtype=bool).reshape(len(out), len(images))


def noise_robustness(module, images, labels, sigmas, **kw) -> list[float]:
    """Agreement of top-1 with ``labels`` under N(0, σ²) pixel noise, per σ (:func:`noise_correct`)."""
    return [float(v) for v in noise_correct(module, images, labels, sigmas, **kw).mean(1)]


def calibrate_noise(module, images, labels, *, mean, std, device, seed=0, target=0.5,
                    grid=tuple(np.geomspace(0.02, 1.0, 13))) -> tuple[float, float]:
    """The σ of ``grid`` at which the model's agreement is nearest ``target`` -> (σ, agreement).

    One noise draw per σ, taken as :func:`noise_correct` takes it at that σ's position
    (position 1, after the clean σ = 0): the level is then evaluated on the very draw
    used to choose it."""
    acc = [float(noise_correct(module, images, labels, (0.0, s), mean=mean, std=std, device=device,
                               seed=seed)[1].mean()) for s in grid]
    k = int(np.argmin(np.abs(np.asarray(acc) - target)))
    return float(grid[k]), acc[k]


def calibrate_pgd(module, images, labels, *, mean, std, device, steps=PGD_STEPS, seed=0, target=0.5,
                  lo=0.02 / 255, hi=8 / 255, iterations=6, attacks: dict | None = None) -> tuple[float, float]:
    """Bisection in log ε for the PGD strength at which the model's robust accuracy is nearest
    ``target`` -> (ε, robust accuracy at ε). At most ``iterations`` attacks on ``images``: it
    stops early once an attack hits ``target`` exactly (no later one could replace it, so the
    answer is the one all the iterations would give). ``attacks``, when given, receives each
    attack's :class:`PGDResult` by ε (for a caller that would otherwise repeat the chosen one)."""
    best = (float("nan"), float("inf"))
    for _ in range(iterations):
        eps = float(np.sqrt(lo * hi))
        res = pgd_robustness(module, images, labels, eps=eps, steps=steps, mean=mean, std=std, device=device,
                             seed=seed)
        if attacks is not None:
            attacks[eps] = res
        acc = res.robust_accuracy
        if abs(acc - target) < abs(best[1] - target):
            best = (eps, acc)
        if best[1] == target:
            break
        lo, hi = (eps, hi) if acc > target else (lo, eps)
    return best


def pgd_attack(module, images, labels, *, eps, steps, mean, std, device, step_size=None, random_start=True,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """L∞ projected gradient ascent on the cross-entropy of ``labels`` (Madry et al. 2018).

    Starts from a uniform draw in the ε-ball around the clean pixels (``random_start``;
    drawn on the CPU from ``generator``, so the start does not depend on the device), step
    size ``2.5 ε / steps`` by default; each step is a signed gradient step, then projection
    to the ε-ball and to [0, 1]. Returns adversarial model inputs: per image, the first
    iterate that changes its top-1 away from ``labels`` (the last iterate when none does).
    """
    if eps < 0 or steps < 0:
        raise ConfigError(f"PGD needs eps >= 0 and steps >= 0, got eps={eps}, steps={steps}.")
    px = PixelSpace(mean, std, device)
    clean = px.to_pixels(images.to(device).float()).detach()
    labels = labels.to(device)
    alpha = step_size if step_size is not None else 2.5 * eps / max(steps, 1)
    adv = clean.clone()
    if random_start and eps > 0:
        noise = torch.rand(clean.shape, generator=generator, dtype=torch.float32) * (2 * eps) - eps
        adv = (clean + noise.to(device)).clamp(0, 1)
    best = adv.clone()
    active = torch.arange(len(clean), device=device)  # images no iterate has broken yet
    for _ in range(steps):
        if len(active) == 0:
            break
        x = adv[active].requires_grad_(True)
        logits = module(px.to_input(x))
        # summed, not averaged: each image's gradient is its own, whatever else is in the batch
        loss = F.cross_entropy(logits, labels[active], reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            broken = logits.argmax(1) != labels[active]  # this iterate already breaks these images:
            best[active[broken]] = x.detach()[broken]  # keep it and stop attacking them
            keep = ~broken
            active, c = active[keep], clean[active[keep]]
            step = x.detach()[keep] + alpha * grad[keep].sign()
            adv[active] = torch.minimum(torch.maximum(step, c - eps), c + eps).clamp(0, 1)
    best[active] = adv[active]
    return px.to_input(best)


@dataclass(frozen=True)
class PGDResult:
    """One attack strength: clean accuracy over all images and robust accuracy over the clean-correct ones."""

    eps: float
    steps: int
    n_images: int
    n_clean_correct: int
    n_robust: int
    survived: np.ndarray | None = field(default=None, compare=False, repr=False)  # per image: clean-correct and robust

    @property
    def clean_accuracy(self) -> float:
        return self.n_clean_correct / self.n_images if self.n_images else float("nan")

    @property
    def robust_accuracy(self) -> float:
        """Fraction of the clean-correct images still correct under attack (NaN if none is clean-correct)."""
        return self.n_robust / self.n_clean_correct if self.n_clean_correct else float("nan")

    @property
    def robust_accuracy_all(self) -> float:
        """Fraction of all images correct under attack (= clean accuracy × robust accuracy)."""
        return self.n_robust / self.n_images if self.n_images else float("nan")


def pgd_robustness(module, images, labels, *, eps, steps=PGD_STEPS, mean, std, device, batch_size=64, seed=0,
                   step_size=None, random_start=True) -> PGDResult:
    """Attack the clean-correct images with :func:`pgd_attack` (batched; random starts seeded
    by ``seed``, so two models see the same starts) -> :class:`PGDResult`."""
    labels = labels.cpu()
    correct = model_logits(module, images, device, batch_size).argmax(1) == labels
    idx = torch.nonzero(correct).flatten()
    g = torch.Generator().manual_seed(int(seed))
    survived = np.zeros(len(images), dtype=bool)
    for i in range(0, len(idx), batch_size):
        b = idx[i:i + batch_size]
        adv = pgd_attack(module, images[b], labels[b], eps=eps, steps=steps, mean=mean, std=std, device=device,
                         step_size=step_size, random_start=random_start, generator=g)
        with torch.no_grad():
            survived[b.numpy()] = (module(adv).argmax(1).cpu() == labels[b]).numpy()
    return PGDResult(eps=float(eps), steps=int(steps), n_images=len(images), n_clean_correct=len(idx),
                     n_robust=int(survived.sum()), survived=survived)
