"""Model registry: spec string -> LoadedModel (eval-mode module, layers, preprocessing, identity).

Names are resolved on first use (PEP 562), so ``neuroalign.models.registry`` (spec checks)
is importable without torch."""

from importlib import import_module

_WHERE = {"LoadedModel": ".base", "Preprocessing": ".base", "list_layers": ".base", "ModelSource": ".registry",
          "available_models": ".registry", "load_model": ".registry", "register_model": ".registry",
          "register_model_source": ".registry", "spec_forms": ".registry"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
