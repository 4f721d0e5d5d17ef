"""``neuroalign new-submission DIR``: a submission folder that validates and scores as written,
and the metadata check that explains every rejected field at once.

The template is a small untrained convnet (seeded, so its weights hash is stable) whose
``build()`` returns the module, the layers to score and the preprocessing, with every
field written out. Replace the network and keep the shape of what ``build()`` returns.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import yaml

from .atomic import atomic_path
from .errors import ConfigError, unknown
from .yamlsafe import safe_load

REQUIRED = {
    "name": "the model's name on the leaderboard (letters, digits, '-', '_', '.')",
    "authors": "who made it: a list of names (shown on the model's leaderboard page)",
    "callable": "where the code is: 'model.py:build' (a .py file in this folder, then ':' and the function)",
}
OPTIONAL = {
    "layers": "the layers to score (default: those build() returns); `neuroalign models --layers plugin:model.py:build` lists them",
    "description": "one line on what the model is",
    "bibtex": "how to cite it",
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # model names: file names, shell words, URLs
LAYER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # layer names: module paths such as layer4.1.conv2


def check_layer_name(layer, error=ConfigError) -> str:
    """``layer`` if it matches :data:`LAYER_RE` (safe in a path and a shell word), else ``error`` naming it."""
    if not isinstance(layer, str) or not LAYER_RE.match(layer):
        raise error(f"layer name {str(layer)[:80]!r} is not allowed: layer names hold letters, digits, '_', '.', '-' "
                    "(up to 128 characters, not starting with '.' or '-').")
    return layer

PREPROCESSING_FIELDS = {  # neuroalign.models.Preprocessing, in words
    "input_size": "side of the square image the network sees, in pixels (e.g. 224)",
    "resize": "resize the shorter side to this many pixels before cropping (null: to input_size)",
    "crop": "true: centre-crop input_size × input_size after the resize; false: squash the whole image to a square",
    "mean": "per-channel mean subtracted after scaling pixels to [0, 1] (RGB; ImageNet: [0.485, 0.456, 0.406])",
    "std": "per-channel standard deviation divided by (ImageNet: [0.229, 0.224, 0.225])",
    "interpolation": "resampling filter: bilinear, bicubic, nearest, …",
}

MODEL_PY = '''"""{name}: the model neuroalign scores. Edit the network; keep what build() returns."""

import torch
from torch import nn


class Net(nn.Module):
    """A small convnet; replace it with yours (load trained weights in build())."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(x)))
        return self.head(torch.flatten(x, 1))


def build():
    torch.manual_seed(0)  # untrained weights fixed by a seed: the same weights hash on every run
    module = Net()
    # trained weights: module.load_state_dict(torch.load("weights.pt", map_location="cpu", weights_only=True))
    module.eval()
    layers = ["block1", "block2", "block3"]  # names from module.named_modules(); the leaderboard picks the best
    preprocessing = {{  # how an image becomes the network's input (README.md explains each field)
        "input_size": 96,
        "resize": 96,
        "crop": True,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear",
    }}
    return {{"module": module, "layers": layers, "preprocessing": preprocessing}}
'''

README = """# {name}: a neuroalign submission

Check it, then add it to the workflow's grid:

```bash
neuroalign submit {folder} --submissions results/submissions.yaml   # validates in a sandbox, pins the code hash
snakemake --cores 2                                                 # scores it on every benchmark of the grid
```

Try it on one benchmark first: `neuroalign score plugin:{folder}/model.py:build --benchmark synthetic.encoding`.

## metadata.yaml

| field | required | meaning |
| --- | --- | --- |
{meta_rows}

## What `build()` returns

A dict (or the tuple `(module, layers, preprocessing)`):

- `module`: a `torch.nn.Module`, in eval mode. Trained weights: load them inside `build()`
  (`torch.load(..., weights_only=True)` or safetensors); the weights hash is the model's identity.
- `layers`: names from `module.named_modules()` whose outputs are scored; each benchmark
  picks the best one without looking at the images it reports on.
- `preprocessing`: how an image becomes the input, a dict of these fields:

| field | meaning |
| --- | --- |
{pre_rows}

## Other ways in

- Code elsewhere: `neuroalign score plugin:my_package.models:build --benchmark …` (a module or a `.py`
  file, then `:` and the function).
- Weights only, for a known architecture: `neuroalign score 'checkpoint:weights.safetensors?arch=resnet18' …`.
"""

METADATA = """# neuroalign submission: `neuroalign submit {folder}` checks every field and explains what it rejects
name: {name}
authors:
  - Your Name
callable: model.py:build      # file.py:function, inside this folder
layers: [block1, block2, block3]
description: A small untrained convnet (the template; replace it with your model).
"""


#: Template values a submitter is meant to replace: (field, text) pairs ``submit`` warns about.
PLACEHOLDERS = (("authors", "Your Name"), ("description", "(the template; replace it with your model)"))


def placeholder_warnings(meta: dict) -> list[str]:
    """Fields still holding the template's placeholder text (accepted, but said)."""
    out = []
    for field, text in PLACEHOLDERS:
        value = meta.get(field)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and text in v for v in values):
            out.append(f"{field} still holds the template's placeholder {text!r}: edit metadata.yaml and submit again")
    return out


def metadata_problems(meta, where: str | os.PathLike = "metadata.yaml", base: str | os.PathLike | None = None) -> list[str]:
    """Every problem of a submission's metadata, each naming the field and what it should hold."""
    if not isinstance(meta, dict):
        return [f"the file must be a YAML mapping of fields ({', '.join([*REQUIRED, *OPTIONAL])}), "
                f"got {type(meta).__name__}"]
    out = []
    for key, what in REQUIRED.items():
        if key not in meta or meta[key] in (None, "", []):
            out.append(f"`{key}` is missing: {what}")
    for key in sorted(set(meta) - set(REQUIRED) - set(OPTIONAL)):
        hint = str(unknown("field", str(key), [*REQUIRED, *OPTIONAL]))
        out.append(f"`{key}` is not a field: {hint}")
    name = meta.get("name")
    if name not in (None, "") and not NAME_RE.match(str(name)):
        out.append(f"`name` {str(name)[:80]!r} may hold only letters, digits, '-', '_' and '.' (starts with a letter or "
                   "digit, at most 64 characters)")
    authors = meta.get("authors")
    if authors not in (None, "", []) and not (isinstance(authors, str) or (
            isinstance(authors, list) and all(isinstance(a, str) and a.strip() for a in authors))):
        out.append(f"`authors` must be a list of names, got {authors!r}")
    call = meta.get("callable")
    if call not in (None, ""):
        file_part, sep, func = str(call).rpartition(":")
        if not sep or not file_part or not func.isidentifier():
            out.append(f"`callable` {call!r} must look like 'model.py:build' (a file in the folder, ':', a function name)")
        elif base is not None:
            code = (Path(base) / file_part).resolve()
            if not code.is_file():
                out.append(f"`callable` names {file_part}, which does not exist in {Path(base)}")
            elif Path(base).resolve() not in code.parents:
                out.append(f"`callable` names {code}, outside the submission folder {Path(base)}")
    layers = meta.get("layers")
    if layers is not None and not (isinstance(layers, list) and layers and all(isinstance(x, str) for x in layers)):
        out.append(f"`layers` must be a non-empty list of layer names (e.g. [block1, block2]), got {layers!r}")
    elif layers is not None and any(not LAYER_RE.match(x) for x in layers):
        bad = [x for x in layers if not LAYER_RE.match(x)]
        out.append(f"`layers` {str(bad)[:120]} are not allowed: letters, digits, '_', '.', '-' (up to 128 characters)")
    for key in ("description", "bibtex"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            out.append(f"`{key}` must be text, got {type(meta[key]).__name__}")
    return out


def read_metadata(meta_path: str | os.PathLike, base: str | os.PathLike | None = None) -> dict:
    """Parse and check ``metadata.yaml``; one ConfigError lists every problem with the fix."""
    meta_path = Path(meta_path)
    try:
        meta = safe_load(meta_path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"submission metadata {meta_path} is not valid YAML{at} "
                          f"({getattr(exc, 'problem', None) or exc}).") from None
    meta = {} if meta is None else meta
    problems = metadata_problems(meta, meta_path, base if base is not None else meta_path.parent)
    if problems:
        raise ConfigError(f"submission metadata {meta_path} is rejected ({len(problems)} problem(s)):\n  - "
                          + "\n  - ".join(problems)
                          + "\n`neuroalign new-submission DIR` writes a working example.")
    return meta


def write_template(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Write ``metadata.yaml``, ``model.py`` and ``README.md`` into a new (or empty) ``folder``.

    The folder appears complete or not at all (built beside it, then renamed into place).
    """
    from .models.base import Preprocessing

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} already exists and is not an empty folder; give a new folder name "
                          "(nothing was written).")
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.resolve().name).strip("-._") or "my-model"
    if not NAME_RE.match(name):
        raise ConfigError(f"model name {name!r} may hold only letters, digits, '-', '_' and '.'; pass --name.")
    fields = {f.name for f in dataclasses.fields(Preprocessing)}
    assert fields == set(PREPROCESSING_FIELDS), "PREPROCESSING_FIELDS must list Preprocessing's fields"
    rows_meta = "\n".join([f"| `{k}` | yes | {v} |" for k, v in REQUIRED.items()]
                          + [f"| `{k}` | no | {v} |" for k, v in OPTIONAL.items()])
    rows_pre = "\n".join(f"| `{k}` | {v} |" for k, v in PREPROCESSING_FIELDS.items())
    files = {
        "metadata.yaml": METADATA.format(name=name, folder=folder),
        "model.py": MODEL_PY.format(name=name),
        "README.md": README.format(name=name, folder=folder, meta_rows=rows_meta, pre_rows=rows_pre),
    }
    with atomic_path(folder) as tmp:  # an empty folder is replaced by the complete one
        tmp.mkdir()
        for fname, text in files.items():
            (tmp / fname).write_text(text, encoding="utf-8")
    return [folder / f for f in files]
