"""Neural-regularised fine-tuning (``task + λ·neural``), its controls and its evaluation.

The steps (``train.prepare``, ``train.train``, ``train.evaluate``) stay in their modules:
exported here, ``train`` and ``evaluate`` would hide the submodules of the same names."""

from .balance import BALANCES, balance_weights, gradient_norms
from .data import CONDITIONS, check_disjoint, resolve_neural
from .evaluate import figure_table, summarize
from .losses import NEURAL_LOSSES, NeuralLoss, cka_loss, correlation_rdm, distillation_loss, linear_cka, rsa_loss
from .robustness import (PGD_EPS, PGD_STEPS, PGDResult, calibrate_noise, calibrate_pgd, noise_correct, noise_robustness,
                         pgd_attack, pgd_robustness)
from .train import AUTO, NOISE_LEVELS, FinetuneConfig, prepare, run_finetune

__all__ = ["AUTO", "BALANCES", "CONDITIONS", "FinetuneConfig", "NEURAL_LOSSES", "NOISE_LEVELS", "NeuralLoss", "PGDResult",
           "PGD_EPS", "PGD_STEPS", "balance_weights", "calibrate_noise", "calibrate_pgd", "check_disjoint", "cka_loss",
           "correlation_rdm", "distillation_loss", "figure_table", "gradient_norms", "linear_cka",
           "noise_correct", "noise_robustness", "pgd_attack", "pgd_robustness", "prepare", "resolve_neural", "rsa_loss",
           "run_finetune", "summarize"]
