"""Per-layer reductions from a layer's output to a feature vector per image.

``avgpool`` averages over space (or tokens), ``flatten`` keeps every unit, and
``srp:<dim>[:<seed>]`` is a fixed-seed very sparse random projection (Li, Hastie & Church
2006) of the flattened units to ``dim`` features, so that large conv layers fit in memory
while pairwise distances are kept on average. The seed is in ``to_dict`` and so in the cache key.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    import torch  # imported where a reduction runs: parsing one (the workflow's config check) needs no torch


@dataclass(frozen=True)
class Reduction:
    kind: str = "avgpool"
    dim: int | None = None
    seed: int = 0
    _proj: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    @classmethod
    def parse(cls, spec: str | Reduction) -> Reduction:
        if isinstance(spec, Reduction):
            return spec
        kind, *params = str(spec).strip().split(":")
        try:
            if kind in _KINDS and len(params) in _KINDS[kind].n_params:
                values = [int(p) for p in params]
                if not values or values[0] >= 1:
                    return cls(kind, *values)
        except ValueError:
            pass
        raise ConfigError(f"unknown reduction {spec!r}; use 'avgpool', 'flatten' or 'srp:<dim>[:<seed>]' "
                          "(e.g. 'srp:4096').")

    def __str__(self) -> str:
        return self.kind if self.dim is None else f"{self.kind}:{self.dim}:{self.seed}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "seed": None if self.dim is None else self.seed}

    # ---- shapes ---------------------------------------------------------------------
    def n_features(self, shape: tuple[int, ...]) -> int:
        """Feature count for one image whose layer output has ``shape`` (batch dim excluded)."""
        return int(_KINDS[self.kind].n_features(self, shape))

    def feature_coords(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Coords on the feature dim: ``channel`` (and positions for flatten), or ``component``."""
        return _KINDS[self.kind].coords(self, shape)

    def working_bytes(self, shape: tuple[int, ...]) -> int:
        """Memory the reduction itself holds besides the features (SRP: its projection, built twice)."""
        return int(_KINDS[self.kind].working_bytes(self, shape))

    # ---- compute --------------------------------------------------------------------
    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        """(batch, ...) layer output -> (batch, features) float32 on the same device."""
        import torch

        x = out.detach()
        if x.dtype != torch.float32:
            x = x.float()
        return _KINDS[self.kind].apply(self, x)

    def projection(self, n_in: int, device: torch.device) -> torch.Tensor:
        """Sparse ``(dim, n_in)`` matrix: sqrt(n_in) random ±scale entries per row, from ``seed``.

        Built on the CPU from a private generator, so it is the same on every device. Kept in
        CSR layout with int32 indices on CPU and CUDA: its product with a batch runs row by
        row, 10× and more faster than COO's on a wide conv layer (bench/bench_scale.py), and
        int32 indices halve their memory and skip a per-product conversion. It is the
        coalesced matrix of those draws (a column drawn twice in a row holds the sum), formed
        row-wise without a COO intermediate; elsewhere a coalesced COO of the same entries.
        """
        import torch

        key = (n_in, str(device))
        if key not in self._proj:
            self._proj[key] = _sparse_projection(self.dim, n_in, self.seed, torch.device(device))
        return self._proj[key]


def _sparse_projection(dim: int, n_in: int, seed: int, device) -> torch.Tensor:
    """See :meth:`Reduction.projection`: the draws, sorted and summed within each row."""
    import torch

    g = torch.Generator().manual_seed(seed)
    s = _per_row(n_in)
    cols = torch.randint(0, n_in, (dim * s,), generator=g).view(dim, s)
    signs = torch.randint(0, 2, (dim * s,), generator=g).float().mul_(2).sub_(1).view(dim, s)
    cols, order = cols.sort(dim=1)
    values = signs.gather(1, order).mul_(math.sqrt(n_in / (dim * s))).view(-1)  # keeps E||Px||^2 = ||x||^2
    del signs, order
    first = torch.ones(dim, s, dtype=torch.bool)
    torch.ne(cols[:, 1:], cols[:, :-1], out=first[:, 1:])  # the first entry of each distinct column
    group = torch.cumsum(first.view(-1), 0).sub_(1)
    values = torch.zeros(int(group[-1]) + 1).index_add_(0, group, values)
    del group
    cols = cols.view(-1)[first.view(-1)]
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(first.sum(1), 0)])
    if device.type not in ("cpu", "cuda"):
        rows = torch.repeat_interleave(torch.arange(dim), crow.diff())
        return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (dim, n_in), is_coalesced=True).to(device)
    index = torch.int32 if max(n_in, len(cols)) < 2**31 else torch.long
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow.to(index), cols.to(index), values, (dim, n_in)).to(device)


def _per_row(n_in: int) -> int:
    return max(1, round(math.sqrt(n_in)))


def _avgpool(r: Reduction, x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:  # (batch, tokens, channels)
        return x.mean(dim=1)
    return x.mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else x.reshape(x.shape[0], -1)


#: Images per SRP product are capped so that their flattened copy stays under this: a
#: channels_last batch is copied to rows (and transposed) for the product, 2 × 411 MB for a
#: batch of 32 on VGG16's first layer instead of 2 × ~128 MB. The numbers do not change.
_SRP_CHUNK_BYTES = 128 << 20


def _srp(r: Reduction, x: torch.Tensor) -> torch.Tensor:
    import torch

    n_in = math.prod(x.shape[1:])
    P = r.projection(n_in, x.device)
    step = max(1, _SRP_CHUNK_BYTES // (4 * n_in))
    out = x.new_empty(x.shape[0], r.dim)
    for i in range(0, x.shape[0], step):
        xi = x[i:i + step]
        out[i:i + step] = torch.sparse.mm(P, xi.reshape(xi.shape[0], -1).T).T
    return out


def _flatten_coords(r: Reduction, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    if len(shape) <= 1:
        return {"channel": np.arange(_channels(shape))}
    if len(shape) == 2:  # tokens: (token, channel)
        token, channel = np.unravel_index(np.arange(int(np.prod(shape))), shape)
        return {"token": token, "channel": channel}
    idx = np.unravel_index(np.arange(int(np.prod(shape, dtype=np.int64))), shape)
    names = ["channel", *(["y", "x"] if len(shape) == 3 else [f"pos{i}" for i in range(len(shape) - 1)])]
    return dict(zip(names, idx, strict=True))


#: Bytes per projection entry, counted twice for its build: int64 column and sort order, an
#: int64 group, float32 sign and value at the peak; the int32 CSR then keeps 8.
_SRP_ENTRY_BYTES = 24


@dataclass(frozen=True)
class _Kind:
    n_params: tuple  # accepted counts of the ':'-separated integers after the name
    n_features: Callable
    coords: Callable
    apply: Callable
    working_bytes: Callable = lambda r, shape: 0


_KINDS = {
    "avgpool": _Kind((0,), lambda r, shape: _channels(shape), lambda r, shape: {"channel": np.arange(_channels(shape))},
                     _avgpool),
    "flatten": _Kind((0,), lambda r, shape: np.prod(shape, dtype=np.int64), _flatten_coords,
                     lambda r, x: x.reshape(x.shape[0], -1)),
    "srp": _Kind((1, 2), lambda r, shape: r.dim, lambda r, shape: {"component": np.arange(r.dim)}, _srp,
                 lambda r, shape: 2 * _SRP_ENTRY_BYTES * r.dim * _per_row(int(np.prod(shape, dtype=np.int64)))),
}
KINDS = tuple(_KINDS)


def _channels(shape: tuple[int, ...]) -> int:
    if len(shape) == 0:
        return 1
    if len(shape) == 2:  # tokens: channels last
        return shape[1]
    return shape[0]


def parse_reductions(reduction, layers: list[str]) -> dict[str, Reduction]:
    """One reduction for all layers, or a dict ``{layer: reduction}`` (missing layers: avgpool)."""
    if isinstance(reduction, dict):
        extra = [k for k in reduction if k not in layers]
        if extra:
            raise ConfigError(f"reduction given for layers {extra} that are not being extracted ({layers}).")
        return {layer: Reduction.parse(reduction.get(layer, "avgpool")) for layer in layers}
    r = Reduction.parse(reduction)
    return {layer: r for layer in layers}
