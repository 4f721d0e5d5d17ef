"""Neural-regularised fine-tuning (``task + λ·neural``), its controls and its evaluation."""

from .data import CONDITIONS, check_disjoint, resolve_neural
from .evaluate import figure_table, summarize
from .losses import NEURAL_LOSSES, NeuralLoss, cka_loss, correlation_rdm, distillation_loss, linear_cka, rsa_loss
from .robustness import PGD_EPS, PGD_STEPS, PGDResult, noise_robustness, pgd_attack, pgd_robustness
from .train import NOISE_LEVELS, run_finetune

__all__ = ["CONDITIONS", "NEURAL_LOSSES", "NOISE_LEVELS", "NeuralLoss", "PGDResult", "PGD_EPS", "PGD_STEPS",
           "check_disjoint", "cka_loss", "correlation_rdm", "distillation_loss", "figure_table", "linear_cka",
           "noise_robustness", "pgd_attack", "pgd_robustness", "resolve_neural", "rsa_loss", "run_finetune",
           "summarize"]
