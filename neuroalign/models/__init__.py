"""Model registry: spec string -> LoadedModel (eval-mode module, layers, preprocessing, identity)."""

from .base import LoadedModel, Preprocessing, list_layers
from .registry import ModelSource, available_models, load_model, register_model, register_model_source, spec_forms

__all__ = ["LoadedModel", "ModelSource", "Preprocessing", "available_models", "list_layers", "load_model",
           "register_model", "register_model_source", "spec_forms"]
