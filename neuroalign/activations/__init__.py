"""Activation extraction: hooks, batching, device, reduction, and an on-disk Zarr cache.

Names are resolved on first use (PEP 562): ``neuroalign.activations.reduction`` (the
workflow's config check parses reductions) does not import torch through ``extract``."""

from importlib import import_module

_WHERE = {"estimate_bytes": ".extract", "extract": ".extract", "extract_outputs": ".extract",
          "extraction_manifest": ".extract", "write_manifest": ".extract", "Reduction": ".reduction",
          "open_activations": ".store"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = import_module(_WHERE[name], __name__)
    for other, where in _WHERE.items():  # every name of that module: the function ``extract``, not the
        if where == _WHERE[name]:         # submodule of that name the import just bound
            globals()[other] = getattr(module, other)
    return globals()[name]
