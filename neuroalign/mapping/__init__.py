"""Encoding models: stimulus features -> neural responses (ridge, PLS, banded ridge, splits)."""

from .banded import BandedRidgeCV
from .distributed import DistributedRidgeCV, dask_cluster, fit_distributed
from .defaults import ALPHAS, default_ridge
from .encoding import cross_validated_encoding
from .pls import PLS, brainscore_pls_protocol, brainscore_splits
from .ridge import (DEFAULT_ALPHAS, RidgeCV, check_ridge_budget, make_plan, ridge_memory_bytes, solve_targets,
                    stimulus_gram)
from .splits import make_splits, splits_from_record

__all__ = [
    "ALPHAS", "default_ridge", "BandedRidgeCV", "DEFAULT_ALPHAS", "DistributedRidgeCV", "dask_cluster", "PLS", "RidgeCV", "brainscore_pls_protocol", "brainscore_splits",
    "check_ridge_budget", "cross_validated_encoding", "ridge_memory_bytes", "fit_distributed", "make_splits", "make_plan", "solve_targets", "stimulus_gram",
    "splits_from_record",
]
