"""Representational similarity: RDMs, RDM comparisons, bootstrap inference, RSA noise
ceilings and CKA, in torch (CPU or GPU), with rsatoolbox's numbers."""

from .bootstrap import BootstrapResult, bootstrap, draw_counts
from .cka import CKAScore, cka, hsic
from .compare import METHODS, canonical_method, compare_rdms
from .noise import noise_covariance, noise_precision
from .noise_ceiling import noise_ceiling
from .rdm import RDM_METHODS, compute_rdms

__all__ = ["BootstrapResult", "CKAScore", "METHODS", "RDM_METHODS", "bootstrap", "canonical_method", "cka",
           "compare_rdms", "compute_rdms", "draw_counts", "hsic", "noise_ceiling", "noise_covariance",
           "noise_precision"]
