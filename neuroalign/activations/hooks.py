"""Forward hooks that grab (and immediately reduce) the outputs of named submodules."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Sequence

import torch

from ..errors import ModelError

ROOT = ""  # the module itself: its output (used for digital twins)


def resolve_layers(module: torch.nn.Module, layers: Sequence[str], model_name: str = "model") -> dict[str, torch.nn.Module]:
    """Map each layer name to its submodule; an unknown name is a ModelError listing valid
    names, closest first."""
    named = dict(module.named_modules())
    out = {}
    for layer in layers:
        if layer not in named:
            valid = [n for n in named if n]
            close = difflib.get_close_matches(layer, valid, n=len(valid), cutoff=0.0)[:10]
            raise ModelError(
                f"{model_name} has no layer {layer!r}. Closest: {', '.join(close)}. "
                f"List all {len(valid)} with neuroalign.models.list_layers(model) or `neuroalign models --layers SPEC`."
            )
        out[layer] = named[layer]
    return out


def first_tensor(out) -> torch.Tensor:
    """A layer's output tensor; tuple/list/dict outputs contribute their first tensor."""
    if isinstance(out, torch.Tensor):
        return out
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else ()
    for item in items:
        if isinstance(item, torch.Tensor):
            return item
    raise ModelError(f"layer output of type {type(out).__name__} holds no tensor.")


@contextlib.contextmanager
def capture(module: torch.nn.Module, layers: Sequence[str],
            reduce: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
            model_name: str = "model", detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Yield a dict that each forward pass fills with ``{layer: reduce[layer](output)}``.

    A module called twice in one forward pass keeps its last output. ``detach=False``
    keeps the graph (fine-tuning losses on a layer). Hooks are removed on exit.
    """
    mods = resolve_layers(module, layers, model_name)
    store: dict[str, torch.Tensor] = {}
    handles = []

    def make(layer: str):
        fn = (reduce or {}).get(layer)

        def hook(_mod, _inp, out):
            t = first_tensor(out).detach() if detach else first_tensor(out)
            store[layer] = fn(t) if fn is not None else t

        return hook

    try:
        for layer, mod in mods.items():
            handles.append(mod.register_forward_hook(make(layer)))
        yield store
    finally:
        for h in handles:
            h.remove()
