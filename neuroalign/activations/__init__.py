"""Activation extraction: hooks, batching, device, reduction, and an on-disk Zarr cache."""

from .extract import estimate_bytes, extract, extract_outputs
from .reduction import Reduction
from .store import open_activations

__all__ = ["Reduction", "estimate_bytes", "extract", "extract_outputs", "open_activations"]
