"""``plugin:<module or file.py>:<callable>``: the user's own code builds the model.

``resolve_plugin`` (import and look up) is kept apart from ``build_from_result`` (check
what came back) so the import can later be moved into a sandboxed subprocess.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..errors import ModelError
from .base import LoadedModel, Preprocessing


def parse_plugin_target(target: str) -> tuple[str, str]:
    """``"pkg.mod:fn"`` or ``"/path/file.py:fn"`` -> (module or file, callable name)."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise ModelError(f"plugin spec {target!r} must be plugin:<module or file.py>:<callable>.")
    return where, attr


def resolve_plugin(where: str, attr: str) -> Callable:
    """Import the module (or the .py file) and return its callable. Runs the plugin's code."""
    path = Path(where).expanduser()
    try:
        if where.endswith(".py") or path.is_file():
            if not path.is_file():
                raise ModelError(f"plugin file {path} does not exist.")
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            name = f"neuroalign_plugin_{path.stem}_{digest}"
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        else:
            mod = importlib.import_module(where)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"plugin {where!r} failed to import: {type(exc).__name__}: {exc}") from exc
    fn = getattr(mod, attr, None)
    if not callable(fn):
        public = [n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))]
        raise ModelError(f"plugin {where!r} has no callable {attr!r}; callables there: {public[:20]}.")
    return fn


def build_from_result(result, spec: str) -> LoadedModel:
    """Accept a LoadedModel, a mapping with ``module``/``layers``/``preprocessing`` (and
    optionally ``name``, ``neuroid_ids`` for a digital twin), or a tuple
    ``(module, layers, preprocessing)``. ``preprocessing`` may be a Preprocessing or a dict."""
    if isinstance(result, LoadedModel):
        result.spec = spec
        return result
    if isinstance(result, tuple) and len(result) == 3:
        result = dict(zip(("module", "layers", "preprocessing"), result, strict=True))
    if not isinstance(result, Mapping):
        raise ModelError(f"{spec} returned {type(result).__name__}; return a dict with module, layers "
                         "and preprocessing, a (module, layers, preprocessing) tuple, or a LoadedModel.")
    missing = [k for k in ("module", "layers", "preprocessing") if k not in result]
    if missing:
        raise ModelError(f"{spec} returned no {missing}; a plugin must give module, layers and preprocessing.")
    module = result["module"]
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"{spec}: 'module' is a {type(module).__name__}, not a torch.nn.Module.")
    pre = result["preprocessing"]
    if isinstance(pre, Mapping):
        pre = Preprocessing.from_dict(pre)
    if not isinstance(pre, Preprocessing):
        import dataclasses

        fields = ", ".join(f.name for f in dataclasses.fields(Preprocessing))
        raise ModelError(f"{spec}: 'preprocessing' must be a neuroalign Preprocessing or a dict of its fields "
                         f"({fields}), got {type(pre).__name__}.")
    neuroid_ids = result.get("neuroid_ids")
    return LoadedModel(name=str(result.get("name") or spec), module=module, layers=list(result["layers"]),
                       preprocessing=pre, spec=spec, is_twin=bool(result.get("is_twin", neuroid_ids is not None)),
                       neuroid_ids=None if neuroid_ids is None else list(neuroid_ids),
                       metadata=dict(result.get("metadata", {})))


def load_plugin(target: str, **params) -> LoadedModel:
    where, attr = parse_plugin_target(target)
    fn = resolve_plugin(where, attr)
    try:
        result = fn(**params)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"plugin {where}:{attr} raised {type(exc).__name__}: {exc}") from exc
    return build_from_result(result, f"plugin:{target}")
