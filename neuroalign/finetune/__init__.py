"""Neural-regularised fine-tuning (``task + λ·neural``), its controls and its evaluation."""

from .balance import BALANCES, balance_weights, gradient_norms
from .data import CONDITIONS, check_disjoint, resolve_neural
from .evaluate import figure_table, summarize
from .losses import NEURAL_LOSSES, NeuralLoss, cka_loss, correlation_rdm, distillation_loss, linear_cka, rsa_loss
from .robustness import (PGD_EPS, PGD_STEPS, PGDResult, calibrate_noise, calibrate_pgd, noise_correct, noise_robustness,
                         pgd_attack, pgd_robustness)
from .train import AUTO, NOISE_LEVELS, FinetuneConfig, evaluate, prepare, run_finetune, train

__all__ = ["AUTO", "BALANCES", "CONDITIONS", "FinetuneConfig", "NEURAL_LOSSES", "NOISE_LEVELS", "NeuralLoss", "PGDResult",
           "PGD_EPS", "PGD_STEPS", "balance_weights", "calibrate_noise", "calibrate_pgd", "check_disjoint", "cka_loss",
           "correlation_rdm", "distillation_loss", "evaluate", "figure_table", "gradient_norms", "linear_cka",
           "noise_correct", "noise_robustness", "pgd_attack", "pgd_robustness", "prepare", "resolve_neural", "rsa_loss",
           "run_finetune", "summarize", "train"]
