"""Model registry: spec string -> LoadedModel (eval-mode module, layers, preprocessing, identity)."""

from .base import LoadedModel, Preprocessing, list_layers
from .registry import SPEC_FORMS, available_models, load_model, register_model

__all__ = ["SPEC_FORMS", "LoadedModel", "Preprocessing", "available_models", "list_layers", "load_model",
           "register_model"]
