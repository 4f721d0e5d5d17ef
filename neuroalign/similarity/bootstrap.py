"""Bootstrap inference for RSA: resample stimuli, subjects or both, all samples in batches.

Each sample is a row of counts (how often each stimulus/subject was drawn), so a batch
of samples is a few tensor operations on the original RDMs (see :mod:`.kernels`);
resampled stimuli put copies in one sample and the pairs between copies are dropped, as
rsatoolbox's ``subsample_pattern`` does. Samples with fewer than 3 distinct stimuli are
NaN (rsatoolbox's rule). Intervals are percentiles of the bootstrap distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError
from ._tensors import align_pair, as_rdmset, torch_dtype
from .compare import canonical_method
from .evaluate import Evaluator

KINDS = ("stimulus", "subject", "both")


@dataclass
class BootstrapResult:
    """Point estimates on the full data, bootstrap samples and percentile intervals."""

    method: str
    kind: str
    model_names: list
    point: np.ndarray                 # (n_model,) mean similarity over subjects
    samples: np.ndarray               # (n_samples, n_model)
    ceiling: tuple | None = None      # (lower, upper) on the full data
    ceiling_samples: np.ndarray | None = None  # (n_samples, 2): lower, upper
    seed: int = 0
    info: dict = field(default_factory=dict)

    def ci(self, level: float = 0.95) -> np.ndarray:
        """Percentile interval ``(2, n_model)`` (NaN samples ignored)."""
        return _percentile_interval(self.samples, level)

    def ceiling_ci(self, level: float = 0.95) -> np.ndarray:
        """Percentile interval ``(2, 2)``: rows low/high, columns lower/upper bound."""
        return _percentile_interval(self.ceiling_samples, level)

    def sem(self) -> np.ndarray:
        return np.nanstd(self.samples, axis=0, ddof=1)


def _percentile_interval(samples: np.ndarray, level: float) -> np.ndarray:
    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    return np.nanpercentile(samples, q, axis=0)


def draw_counts(kind: str, n_samples: int, n_stim: int, n_subj: int, seed: int, device):
    """Stimulus counts ``(S, n_stim)`` and subject counts ``(S, n_subj)`` (None when not resampled)."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))

    def counts(n):  # how often each of n items is drawn, n draws with replacement per sample
        idx = torch.randint(n, (n_samples, n), generator=g)
        ones = torch.ones(idx.shape, dtype=torch.float64)
        return torch.zeros(n_samples, n, dtype=torch.float64).scatter_add_(1, idx, ones).to(device)

    C = counts(n_stim) if kind in ("stimulus", "both") else None  # stimuli first: the RNG order is fixed
    Q = counts(n_subj) if kind in ("subject", "both") else None
    return C, Q


def bootstrap(model_rdms, data_rdms, method: str = "spearman", kind: str = "stimulus", n_samples: int = 1000,
              seed: int = 0, *, ceiling: bool = True, device="auto", dtype="float64",
              max_memory_gb: float = 1.0, counts=None) -> BootstrapResult:
    """Evaluate each model RDM against the subjects' RDMs (mean similarity) with bootstrap.

    ``model_rdms``/``data_rdms``: RDM sets joined on stimulus id (one data RDM per
    subject). ``kind``: resample ``stimulus``, ``subject`` or ``both``. ``counts``: optional
    ``(C, Q)`` count tensors to evaluate given samples instead of drawing them.
    ``max_memory_gb`` bounds the batch of samples evaluated at once (on CPU a Spearman batch
    is also held to 128 MB, which is faster there: ``Evaluator.batch_size``).
    """
    method = canonical_method(method)
    if kind not in KINDS:
        raise DataError(f"bootstrap kind {kind!r} is not one of {KINDS}.")
    dt = torch_dtype(dtype)
    data = as_rdmset(data_rdms, device=device, dtype=dt, name="data_rdms")
    model, data = align_pair(as_rdmset(model_rdms, device=device, dtype=dt, name="model_rdms"), data)
    K, A = data.values.shape[0], model.values.shape[0]
    if ceiling and K < 2:
        raise DataError("the noise ceiling needs at least two subject RDMs; pass ceiling=False.")
    ev = Evaluator(model.values, data.values, data.n, method)
    point, ceil = ev(ceiling=ceiling)
    C, Q = counts if counts is not None else draw_counts(kind, n_samples, data.n, K, seed, data.values.device)
    C = None if C is None else torch.as_tensor(C, device=data.values.device).to(dt)
    Q = None if Q is None else torch.as_tensor(Q, device=data.values.device).to(dt)
    S = (C if C is not None else Q).shape[0]
    batch = ev.batch_size(A, max_memory_gb, stimuli_resampled=C is not None)
    samples, ceil_s = [], []
    for s in range(0, S, batch):
        cb = None if C is None else C[s:s + batch]
        qb = None if Q is None else Q[s:s + batch]
        e, c = ev(cb, qb, ceiling=ceiling)
        if cb is not None:  # fewer than 3 distinct stimuli: no sample (rsatoolbox's rule)
            bad = (cb > 0).sum(-1) < 3
            e = torch.where(bad[:, None], torch.full_like(e, float("nan")), e)
            if c is not None:
                c = tuple(torch.where(bad, torch.full_like(t, float("nan")), t) for t in c)
        samples.append(e.cpu().numpy())
        if c is not None:
            ceil_s.append(torch.stack(c, -1).cpu().numpy())
    names = next((list(map(str, model.coords[k])) for k in ("name", "layer", "model") if k in model.coords),
                 [f"model{i}" for i in range(A)])
    return BootstrapResult(
        method=method, kind=kind, model_names=names, point=point[0].cpu().numpy(),
        samples=np.concatenate(samples), seed=seed,
        ceiling=None if ceil is None else (float(ceil[0][0]), float(ceil[1][0])),
        ceiling_samples=np.concatenate(ceil_s) if ceil_s else None,
        info={"n_stimuli": data.n, "n_subjects": K, "batch": batch, "device": str(data.values.device)})
