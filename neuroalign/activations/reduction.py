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
        CSR layout on CPU and CUDA: its product with a batch runs row by row, 10× and more faster
        than COO's on a wide conv layer (bench/bench_scale.py), at 60 % of COO's memory; the
        entries are the same, the products agree to float32 rounding.
        """
        import torch

        key = (n_in, str(device))
        if key not in self._proj:
            g = torch.Generator().manual_seed(self.seed)
            s = _per_row(n_in)
            rows = torch.arange(self.dim).repeat_interleave(s)
            cols = torch.randint(0, n_in, (self.dim * s,), generator=g)
            signs = torch.randint(0, 2, (self.dim * s,), generator=g).float().mul_(2).sub_(1)
            scale = math.sqrt(n_in / (self.dim * s))  # keeps E||Px||^2 = ||x||^2
            coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), signs * scale, (self.dim, n_in),
                                          check_invariants=False)  # in range by construction
            del rows, cols, signs
            proj = coo.coalesce()
            del coo  # the uncoalesced copy: ~150 MB on a VGG16 conv1 layer at srp:4096
            if torch.device(device).type in ("cpu", "cuda"):
                with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
                    warnings.simplefilter("ignore", UserWarning)
                    proj = proj.to_sparse_csr()
            self._proj[key] = proj.to(device)
        return self._proj[key]


def _per_row(n_in: int) -> int:
    return max(1, round(math.sqrt(n_in)))


def _avgpool(r: Reduction, x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:  # (batch, tokens, channels)
        return x.mean(dim=1)
    return x.mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else x.reshape(x.shape[0], -1)


def _srp(r: Reduction, x: torch.Tensor) -> torch.Tensor:
    import torch

    x = x.reshape(x.shape[0], -1)
    return torch.sparse.mm(r.projection(x.shape[1], x.device), x.T).T.contiguous()


def _flatten_coords(r: Reduction, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    if len(shape) <= 1:
        return {"channel": np.arange(_channels(shape))}
    if len(shape) == 2:  # tokens: (token, channel)
        token, channel = np.unravel_index(np.arange(int(np.prod(shape))), shape)
        return {"token": token, "channel": channel}
    idx = np.unravel_index(np.arange(int(np.prod(shape, dtype=np.int64))), shape)
    names = ["channel", *(["y", "x"] if len(shape) == 3 else [f"pos{i}" for i in range(len(shape) - 1)])]
    return dict(zip(names, idx, strict=True))


#: Bytes per projection entry while it is built: two int64 indices, a float32 value, a float32 sign.
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
