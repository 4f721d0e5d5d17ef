"""One spec string per model: ``load_model("torchvision:resnet18")`` and friends.

Forms: a registered name (``efficientnet-lite0``, ``efficientnet-lite1``, ``reference``),
``torchvision:<arch>[?weights=DEFAULT]``, ``checkpoint:<path>?arch=<arch>[&trust=true]``,
``plugin:<module or file.py>:<callable>``. Query parameters (``?k=v&...``) and keyword
arguments to ``load_model`` go to the loader.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from ..errors import ModelError, unknown
from .base import LoadedModel
from .checkpoint import load_checkpoint
from .plugin import load_plugin
from .reference import load_reference
from .zoo import load_efficientnet_lite, load_torchvision, torchvision_archs

SPEC_FORMS = (
    "torchvision:<arch>[?weights=DEFAULT]",
    "checkpoint:<path>?arch=<arch>[&trust=true]",
    "plugin:<module or file.py>:<callable>",
)

_NAMED: dict[str, Callable[..., LoadedModel]] = {
    "efficientnet-lite0": lambda **kw: load_efficientnet_lite("efficientnet-lite0", **kw),
    "efficientnet-lite1": lambda **kw: load_efficientnet_lite("efficientnet-lite1", **kw),
    "reference": load_reference,  # the synthetic benchmark's seeded generator network
}


def register_model(name: str, loader: Callable[..., LoadedModel]) -> None:
    """Add a named model (``loader(**params) -> LoadedModel``) to the registry."""
    if ":" in name or "?" in name:
        raise ModelError(f"model name {name!r} may not contain ':' or '?'.")
    _NAMED[name] = loader


def _arch_spec(arch: str) -> str:
    """A checkpoint's architecture as a spec: a spec or registered name as is, else torchvision's."""
    return arch if ":" in arch or arch in _NAMED else f"torchvision:{arch}"


def _value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def parse_spec(spec: str) -> tuple[str, str, dict]:
    """``"kind:rest?k=v"`` -> (kind, rest, params); a bare name has kind ``""``."""
    body, _, query = spec.strip().partition("?")
    params = {k: _value(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    kind, sep, rest = body.partition(":")
    return (kind, rest, params) if sep else ("", body, params)


def load_model(spec: str, **params) -> LoadedModel:
    """Load a model from its spec; ``params`` override the spec's query parameters."""
    if isinstance(spec, LoadedModel):
        return spec
    kind, rest, query = parse_spec(spec)
    params = {**query, **params}
    if kind == "torchvision":
        model = load_torchvision(rest, **params)
    elif kind == "checkpoint":
        model = load_checkpoint(rest, base_loader=lambda arch, **kw: load_model(_arch_spec(arch), **kw), **params)
    elif kind == "plugin":
        model = load_plugin(rest, **params)
    elif kind == "" and rest in _NAMED:
        model = _NAMED[rest](**params)
    else:
        raise unknown("model", spec, available_models(),
                      "Other forms: " + ", ".join(SPEC_FORMS) + ".")
    model.spec = spec
    return model


def available_models() -> list[str]:
    """Every spec loadable without arguments: named models, then each torchvision arch."""
    return sorted(_NAMED) + [f"torchvision:{a}" for a in torchvision_archs()]
