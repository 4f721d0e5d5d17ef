"""The RSA noise ceiling (Nili et al. 2014), as rsatoolbox's ``boot_noise_ceiling``.

Upper bound: mean similarity of each subject's RDM with the pooled RDM of all subjects;
lower bound: the same with the pooled RDM of the other subjects (leave one subject out).
Pooling follows the comparison method (ranks are averaged for Spearman/Kendall).
"""

from __future__ import annotations


from ..errors import DataError
from ._tensors import as_rdmset, torch_dtype
from .compare import canonical_method
from .evaluate import Evaluator


def noise_ceiling(data_rdms, method: str = "spearman", *, device="auto", dtype="float64") -> tuple[float, float]:
    """``(lower, upper)`` for the RDMs of several subjects (one RDM per subject)."""
    method = canonical_method(method)
    data = as_rdmset(data_rdms, device=device, dtype=torch_dtype(dtype), name="data_rdms")
    if data.values.shape[0] < 2:
        raise DataError("noise_ceiling needs RDMs from at least two subjects; got one. "
                        "Average sessions per subject, but keep subjects apart.")
    _, (lower, upper) = Evaluator(None, data.values, data.n, method)()
    return float(lower[0]), float(upper[0])
