"""Per-layer reductions from a layer's output to a feature vector per image.

``avgpool`` averages over space (or tokens), ``flatten`` keeps every unit, and
``srp:<dim>[:<seed>]`` is a fixed-seed very sparse random projection (Li, Hastie & Church
2006) of the flattened units to ``dim`` features, so that large conv layers fit in memory
while pairwise distances are kept on average. The seed is in ``to_dict`` and so in the cache key.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    import torch  # imported where a reduction runs: parsing one (the workflow's config check) needs no torch

KINDS = ("avgpool", "flatten", "srp")


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
        parts = str(spec).strip().split(":")
        kind = parts[0]
        try:
            if kind in ("avgpool", "flatten") and len(parts) == 1:
                return cls(kind)
            if kind == "srp" and len(parts) in (2, 3):
                dim, seed = int(parts[1]), int(parts[2]) if len(parts) == 3 else 0
                if dim >= 1:
                    return cls("srp", dim, seed)
        except ValueError:
            pass
        raise ConfigError(f"unknown reduction {spec!r}; use 'avgpool', 'flatten' or 'srp:<dim>[:<seed>]' "
                          "(e.g. 'srp:4096').")

    def __str__(self) -> str:
        return self.kind if self.kind != "srp" else f"srp:{self.dim}:{self.seed}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "seed": self.seed if self.kind == "srp" else None}

    # ---- shapes ---------------------------------------------------------------------
    def n_features(self, shape: tuple[int, ...]) -> int:
        """Feature count for one image whose layer output has ``shape`` (batch dim excluded)."""
        if self.kind == "srp":
            n_in = int(np.prod(shape))
            _check_projection_size(int(self.dim), max(1, round(math.sqrt(n_in))), n_in)
            return int(self.dim)
        if self.kind == "avgpool":
            return int(_channels(shape))
        return int(np.prod(shape, dtype=np.int64))

    def feature_coords(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Coords on the feature dim: ``channel`` (and positions for flatten), or ``component``."""
        if self.kind == "srp":
            return {"component": np.arange(self.dim)}
        if self.kind == "avgpool" or len(shape) == 1:
            return {"channel": np.arange(_channels(shape))}
        if len(shape) == 2:  # tokens: (token, channel)
            token, channel = np.unravel_index(np.arange(int(np.prod(shape))), shape)
            return {"token": token, "channel": channel}
        idx = np.unravel_index(np.arange(int(np.prod(shape, dtype=np.int64))), shape)
        names = ["channel", *(["y", "x"] if len(shape) == 3 else [f"pos{i}" for i in range(len(shape) - 1)])]
        return dict(zip(names, idx, strict=True))

    # ---- compute --------------------------------------------------------------------
    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        """(batch, ...) layer output -> (batch, features) float32 on the same device."""
        import torch

        x = out.detach()
        if x.dtype != torch.float32:
            x = x.float()
        if self.kind == "avgpool":
            if x.ndim == 3:  # (batch, tokens, channels)
                return x.mean(dim=1)
            return x.mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else x.reshape(x.shape[0], -1)
        x = x.reshape(x.shape[0], -1)
        if self.kind == "flatten":
            return x
        proj = self.projection(x.shape[1], x.device)
        return torch.sparse.mm(proj, x.T).T.contiguous()

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
            s = max(1, round(math.sqrt(n_in)))
            _check_projection_size(self.dim, s, n_in)
            g = torch.Generator().manual_seed(self.seed)
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


PROJECTION_BYTES_PER_ENTRY = 48  # building it: int64 row + col, float value, the coalesced copy, CSR


def _check_projection_size(dim: int, per_row: int, n_in: int) -> None:
    """Refuse an ``srp:<dim>`` whose projection cannot be built in half of this machine's memory
    (``srp:2000000000`` would otherwise exhaust it), naming a dim that fits."""
    import os

    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    except (ValueError, OSError, AttributeError):
        limit = 8 * 2**30
    need = dim * per_row * PROJECTION_BYTES_PER_ENTRY
    if need > limit:
        fits = 2 ** int(math.log2(max(1, limit / (per_row * PROJECTION_BYTES_PER_ENTRY))))
        raise ConfigError(f"reduction srp:{dim} on a layer of {n_in} units needs about {need / 2**30:.1f} GiB for its "
                          f"random projection, over half of this machine's memory ({limit / 2**30:.1f} GiB); use a "
                          f"smaller dimension, e.g. srp:{min(fits, 4096)}.")


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
