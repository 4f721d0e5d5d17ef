"""Differentiable neural losses: CKA, RSA similarity matching, a jointly trained readout.

Why here and not in ``neuroalign.similarity``: those functions score fixed arrays in
float64 without gradients; a training loss must keep the autograd graph of a batch of
layer activations. The numbers agree with ``neuroalign.similarity.cka`` (tested).

Every loss takes ``feats`` (batch × features, the layer's activations, grad on) and
``targets`` (batch × neurons, the responses to the same images) and returns a scalar
to *minimise*.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, DataError, unknown
from ..similarity.cka import hsic

_EPS = 1e-8


def linear_cka(X: torch.Tensor, Y: torch.Tensor, debiased: bool = False) -> torch.Tensor:
    """Linear CKA between the rows of ``X`` and ``Y`` (same stimuli), differentiable.

    Gram form (``K = XXᵀ``): cheap when features outnumber the images of a batch, as in
    a flattened conv layer. ``debiased`` uses the unbiased HSIC (Song et al. 2012), which
    needs at least 4 rows.
    """
    if X.shape[0] != Y.shape[0]:
        raise DataError(f"linear_cka: {X.shape[0]} rows of features vs {Y.shape[0]} rows of targets.")
    X = X.reshape(X.shape[0], -1)
    Y = Y.reshape(Y.shape[0], -1).to(X.dtype)
    K, L = X @ X.T, Y @ Y.T
    kl, kk, ll = hsic(K, L, debiased), hsic(K, K, debiased), hsic(L, L, debiased)
    # clamp: the debiased HSIC(K, K) of a small batch can dip below 0 by rounding
    return kl / torch.sqrt(kk.clamp_min(_EPS) * ll.clamp_min(_EPS))


def cka_loss(X: torch.Tensor, Y: torch.Tensor, debiased: bool = False) -> torch.Tensor:
    """``log(1 − CKA)``, the form Dapello et al. (2023) use (issue 8 states it so).

    It decreases as CKA rises (minimising it maximises alignment) and, unlike ``1 − CKA``,
    its gradient grows as CKA approaches 1, so the last bit of alignment still pulls.
    """
    c = linear_cka(X, Y, debiased)
    return torch.log((1.0 - c).clamp_min(_EPS))


def correlation_rdm(X: torch.Tensor) -> torch.Tensor:
    """Condensed correlation-distance RDM (``1 − Pearson r`` between rows), scipy/rsatoolbox order."""
    X = X.reshape(X.shape[0], -1)
    Xc = X - X.mean(1, keepdim=True)
    Xn = Xc / Xc.norm(dim=1, keepdim=True).clamp_min(_EPS)
    iu = torch.triu_indices(X.shape[0], X.shape[0], offset=1, device=X.device)
    return 1.0 - (Xn @ Xn.T)[iu[0], iu[1]]


def rsa_loss(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Similarity matching: ``1 − Pearson r`` between the model's and the neural RDM on the
    batch's image pairs (Federer et al. 2020 use an RDM-matching loss of this kind)."""
    if X.shape[0] < 3:
        raise DataError(f"rsa_loss needs at least 3 images per batch (2 pairs), got {X.shape[0]}.")
    a = correlation_rdm(X)
    b = correlation_rdm(Y.to(X.dtype))
    a, b = a - a.mean(), b - b.mean()
    r = (a * b).sum() / (a.norm() * b.norm()).clamp_min(_EPS)
    return 1.0 - r


class Readout(nn.Module):
    """A linear head layer -> neurons, trained jointly with the network.

    ``poisson``: the head predicts log-rates and the loss is the Poisson negative
    log-likelihood (targets must be non-negative counts); otherwise MSE on targets the
    caller has z-scored.
    """

    def __init__(self, n_features: int, n_targets: int, poisson: bool = False):
        super().__init__()
        self.linear = nn.Linear(n_features, n_targets)
        self.poisson = poisson
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear(feats.reshape(feats.shape[0], -1))

    def loss(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        pred = self(feats)
        if self.poisson:
            return F.poisson_nll_loss(pred, targets.to(pred.dtype), log_input=True, full=False)
        return F.mse_loss(pred, targets.to(pred.dtype))


# name -> loss(feats, targets, readout); the readout variants own a head (built by NeuralLoss)
_LOSSES = {
    "cka": lambda f, y, head: cka_loss(f, y, debiased=False),
    "cka_debiased": lambda f, y, head: cka_loss(f, y, debiased=True),
    "rsa": lambda f, y, head: rsa_loss(f, y),
    "readout_mse": lambda f, y, head: head.loss(f, y),
    "readout_poisson": lambda f, y, head: head.loss(f, y),
}
NEURAL_LOSSES = tuple(_LOSSES)


class NeuralLoss(nn.Module):
    """One of :data:`NEURAL_LOSSES` as a module (the readout variants own parameters)."""

    def __init__(self, name: str, n_features: int, n_targets: int):
        super().__init__()
        if name not in _LOSSES:
            raise unknown("neural loss", name, NEURAL_LOSSES)
        self.name = name
        self.readout = (Readout(n_features, n_targets, poisson=name == "readout_poisson")
                        if name.startswith("readout") else None)

    def forward(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return _LOSSES[self.name](feats, targets, self.readout)


class _Distill(torch.autograd.Function):
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), batch mean, with the gradient written out:
    ``T (softmax(s/T) − softmax(t/T)) / B``. Autograd's own path leaves rounding noise
    (≈1e-9) when student and teacher agree bit for bit; Adam would blow that noise up
    into full-size steps, so the exact form matters: equal logits give a zero gradient."""

    @staticmethod
    def forward(ctx, s, t, temperature):
        ls, lt = F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1)
        pt = lt.exp()
        ctx.save_for_backward(ls, pt)
        ctx.temperature = temperature
        return (pt * (lt - ls)).sum(1).mean() * temperature * temperature

    @staticmethod
    def backward(ctx, grad):
        ls, pt = ctx.saved_tensors
        return (ls.exp() - pt) * (ctx.temperature / ls.shape[0]) * grad, None, None


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher ‖ student) on softened class probabilities, times T² (Hinton et al. 2015);
    exactly zero gradient where the logits are equal (see :class:`_Distill`)."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ConfigError(f"distillation temperature must be positive, got {temperature}.")
    return _Distill.apply(logits, teacher_logits.detach().to(logits.dtype), float(temperature))
