"""``checkpoint:<path>?arch=<arch>``: a local state dict loaded onto a named architecture.

Torch files are read with ``weights_only=True``: a pickle that would run code is refused
unless the caller says ``trust=True``, because unpickling is code execution.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..errors import ModelError
from .base import LoadedModel

SAFETENSORS_SUFFIXES = (".safetensors", ".st")


def read_state_dict(path: str | Path, *, trust: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, unwrapped from ``{"state_dict": ...}`` / ``{"model": ...}``
    and from DataParallel's ``module.`` prefix."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"checkpoint file {path} does not exist.")
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path), device="cpu")
        except Exception as exc:
            raise ModelError(f"checkpoint {path} is not a readable safetensors file ({exc}).") from exc
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if not trust:
                raise ModelError(
                    f"checkpoint {path} holds pickled Python objects beyond tensors, and loading it "
                    "would run code from the file. Re-save it as a state dict (torch.save(model."
                    "state_dict(), ...) or safetensors), or, only if you trust where it came from, "
                    "pass trust=True (load_model(spec, trust=True) or add '&trust=true' to the spec)."
                    f" Detail: {str(exc).splitlines()[0]}"
                ) from exc
            try:
                obj = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc2:  # noqa: BLE001 - any unpickling failure of a trusted file
                raise ModelError(f"checkpoint {path} is not a readable torch file ({type(exc2).__name__}: "
                                 f"{str(exc2).splitlines()[0] if str(exc2) else 'no detail'}).") from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise ModelError(f"checkpoint {path} is not a readable torch file ({exc}).") from exc
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"checkpoint {path} does not hold a state dict (a mapping of names to tensors).")
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def apply_state_dict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Strict load; any missing, unexpected or mis-shaped key is a ModelError naming the first ones."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys, first {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys, first {unexpected[:5]}")
        if shapes:
            parts.append(f"shape mismatch (checkpoint vs architecture) for {shapes[:5]}")
        raise ModelError(
            f"checkpoint {where} does not fit the architecture: {'; '.join(parts)}. Check the arch= "
            "parameter (and builder parameters such as num_classes=) against the checkpoint."
        )
    module.load_state_dict(state, strict=True)


def load_checkpoint(path: str, *, arch: str | None = None, trust: bool | str = False,
                    base_loader: Callable[..., LoadedModel], **params) -> LoadedModel:
    """Build ``arch`` (a torchvision name or any registry spec) untrained, then load the file's
    weights onto it; preprocessing and default layers are the architecture's."""
    if not arch:
        raise ModelError(f"checkpoint:{path} needs the architecture: checkpoint:{path}?arch=resnet18 "
                         "(any torchvision name or registry spec).")
    trust = str(trust).lower() in ("1", "true", "yes")
    base = base_loader(arch, **params)  # the registry resolves names, specs and torchvision archs
    state = read_state_dict(path, trust=trust)
    apply_state_dict(base.module, state, str(path))
    base.module.eval()
    return LoadedModel(name=f"{base.name}+{Path(path).name}", module=base.module, layers=base.layers,
                       preprocessing=base.preprocessing, is_twin=base.is_twin, neuroid_ids=base.neuroid_ids,
                       metadata={**base.metadata, "checkpoint": str(Path(path).expanduser().resolve())})
