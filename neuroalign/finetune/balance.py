"""What λ means: the neural term's share of the update, calibrated on gradient norms at the start.

Why: a raw weight on ``task + λ·neural`` means nothing across losses, layers and models
(the two terms' gradients differ by orders of magnitude), and Adam divides the summed
gradient by its own size, so only the *ratio* of the terms' gradients steers the update.
With ``balance="gradnorm"`` the loss is ``(1 − λ)·task + λ·(g_T / g_N)·neural``, where
``g_T`` and ``g_N`` are the norms of the two terms' gradients with respect to all trained
parameters, averaged over a few batches before the first step. At the start the update
direction is then ``(1 − λ)·û_T + λ·û_N`` (unit vectors) times ``g_T``: λ is the neural
term's share of it. ``balance="none"`` keeps the raw weight ``task + λ·neural``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

from ..errors import ConfigError


def gradient_norms(params: Iterable[torch.nn.Parameter], terms: Mapping[str, Callable[[], torch.Tensor]]) -> dict:
    """``{name: ‖∇ term()‖₂}`` over ``params`` (float64 sum of squares; unused parameters count 0)."""
    params = [p for p in params if p.requires_grad]
    out = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term(), params, allow_unused=True)
        out[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))
    return out


def _none(lam: float, g_task: float, g_neural: float) -> tuple[float, float]:
    return 1.0, lam


def _gradnorm(lam: float, g_task: float, g_neural: float) -> tuple[float, float]:
    if not 0 <= lam < 1:
        raise ConfigError(f"with balance 'gradnorm', lam is the neural term's share of the update and must lie in "
                          f"[0, 1); got {lam}. Use balance 'none' for a raw weight.")
    if lam == 0:
        return 1.0, 0.0
    if not g_neural > 0 or not g_task > 0:
        raise ConfigError(f"gradient-norm balance needs both terms' start gradients non-zero; got task {g_task:g}, "
                          f"neural {g_neural:g}. Use balance 'none' with a raw lam.")
    return 1.0 - lam, lam * g_task / g_neural


#: balance name -> (λ, g_task, g_neural) -> (task weight, neural weight)
BALANCES: dict[str, Callable[[float, float, float], tuple[float, float]]] = {"gradnorm": _gradnorm, "none": _none}


def balance_weights(balance: str, lam: float, g_task: float = float("nan"), g_neural: float = float("nan")):
    """(task weight, neural weight) for ``balance`` (a key of :data:`BALANCES`)."""
    if balance not in BALANCES:
        from ..errors import unknown

        raise unknown("balance", balance, BALANCES)
    return BALANCES[balance](float(lam), float(g_task), float(g_neural))
