"""Model registry: specs, identities, preprocessing, checkpoints, plugins, and a check that
the real efficientnet-lite weights and preprocessing recognise animals in the 92 images."""

from __future__ import annotations

import textwrap
import urllib.error

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from neuroalign.errors import ModelError, UnknownKeyError
from neuroalign.models import LoadedModel, Preprocessing, available_models, list_layers, load_model
from neuroalign.models.base import weights_sha256

IMAGENET_ANIMALS = 398  # ImageNet-1k classes 0..397 are animals


class NotATensor:
    """Something a weights_only unpickler must refuse."""

    def __init__(self, value: int = 3) -> None:
        self.value = value


def test_preprocessing_transform_and_stable_dict():
    from PIL import Image

    pre = Preprocessing(input_size=48, resize=56, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    img = Image.fromarray(np.full((80, 120, 3), 191, np.uint8))
    x = pre.transform()(img)
    assert x.shape == (3, 48, 48)
    np.testing.assert_allclose(x.numpy(), (191 / 255 - 0.5) / 0.25, rtol=1e-6)
    squash = Preprocessing(input_size=48, crop=False).transform()(img)
    assert squash.shape == (3, 48, 48)
    d = pre.to_dict()
    assert list(d) == sorted(d) and Preprocessing.from_dict(d).to_dict() == d
    assert Preprocessing(input_size=49, resize=56).to_dict() != Preprocessing(input_size=48, resize=56).to_dict()


def _torchvision_reference(pre: Preprocessing):
    """The same recipe as torchvision transforms (what Preprocessing.transform built before)."""
    from torchvision import transforms as T

    interp = T.InterpolationMode(pre.interpolation)
    steps = ([T.Resize(pre.resize or pre.input_size, interpolation=interp), T.CenterCrop(pre.input_size)]
             if pre.crop else [T.Resize((pre.input_size, pre.input_size), interpolation=interp)])
    return T.Compose([*steps, T.ToTensor(), T.Normalize(pre.mean, pre.std)])


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest", "nearest-exact", "box", "hamming",
                                           "lanczos"])
def test_preprocessing_is_torchvisions_bit_for_bit(interpolation):
    """Preprocessing.transform runs Pillow itself (no torchvision import); on every shape of image
    (tall, wide, square, already at size, smaller than the crop: padded; grey and RGBA) and every
    interpolation its tensors equal torchvision's Resize/CenterCrop/ToTensor/Normalize exactly."""
    from PIL import Image

    from neuroalign.activations.loader import BatchTransform

    rng = np.random.default_rng(0)
    shapes = [(80, 120), (131, 67), (64, 64), (56, 90), (40, 30)]
    images = [Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)) for hw in shapes]
    recipes = [Preprocessing(input_size=48, resize=56, interpolation=interpolation),
               Preprocessing(input_size=48, resize=None, interpolation=interpolation, mean=(0.5, 0.4, 0.3)),
               Preprocessing(input_size=64, crop=False, interpolation=interpolation),
               Preprocessing(input_size=60, resize=50, interpolation=interpolation)]  # crop larger: padded
    for pre in recipes:
        ours, ref = pre.transform(), _torchvision_reference(pre)
        for img in images + [images[0].convert("L").convert("RGB")]:
            assert torch.equal(ours(img), ref(img)), (pre, img.size)
        batch = [im for im in images if ours(im).shape == ours(images[0]).shape]
        assert torch.equal(BatchTransform(ours)(batch), torch.stack([ref(im) for im in batch]))
    rgba = images[1].convert("RGBA")  # four channels: torchvision's own ToTensor, and its error
    with pytest.raises(RuntimeError):
        _torchvision_reference(recipes[0])(rgba)
    with pytest.raises(RuntimeError):
        recipes[0].transform()(rgba)
    grey = images[1].convert("L")
    one = Preprocessing(input_size=48, resize=56, mean=(0.5,), std=(0.25,), interpolation=interpolation)
    assert torch.equal(one.transform()(grey), _torchvision_reference(one)(grey))


def test_unknown_interpolation_names_the_choices():
    with pytest.raises(ModelError, match="unknown interpolation 'cubic'.*bilinear"):
        Preprocessing(interpolation="cubic").transform()


def test_torchvision_untrained_is_seeded_and_identity_tracks_weights():
    a, b = load_model("torchvision:resnet18"), load_model("torchvision:resnet18")
    assert a.identity == b.identity and a.identity.startswith("torchvision:resnet18@sha256:")
    assert load_model("torchvision:resnet18?seed=1").weights_sha256 != a.weights_sha256
    assert not a.module.training
    with torch.no_grad():
        b.module.fc.bias[0] += 1e-3
    assert weights_sha256(b.module) != a.weights_sha256
    assert a.layers == ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    names = list_layers(a)
    assert "layer3.1.conv2" in names and "" not in names and set(a.layers) <= set(names)
    assert load_model("torchvision:resnet18?num_classes=7").module.fc.out_features == 7


def test_unknown_specs_suggest_close_names():
    with pytest.raises(UnknownKeyError, match="efficientnet-lite0"):
        load_model("efficientnet-lite")
    with pytest.raises(UnknownKeyError, match="resnet18"):
        load_model("torchvision:resnet81")
    specs = available_models()
    assert {"efficientnet-lite0", "efficientnet-lite1", "torchvision:resnet18", "torchvision:vit_b_16"} <= set(specs)


def test_pretrained_torchvision_offline_fails_clearly(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ModelError, match="could not be fetched") as err:
        load_model("torchvision:resnet18?weights=DEFAULT")
    assert "checkpoint:" in str(err.value) and "efficientnet-lite0" in str(err.value)
    with pytest.raises(ModelError, match="no weights 'NOPE'"):
        load_model("torchvision:resnet18", weights="NOPE")


@pytest.mark.parametrize("name,size", [("efficientnet-lite0", 224), ("efficientnet-lite1", 240)])
def test_efficientnet_lite_sees_animals_in_92_images(name, size, k92, tmp_path):
    from neuroalign.activations import extract

    _, stimuli = k92
    model = load_model(name)
    assert model.preprocessing.input_size == size
    logits = extract(model, stimuli, ["_fc"], reduction="flatten", batch_size=46, cache_dir=tmp_path,
                     progress=False)["_fc"].load()
    assert logits.shape == (92, 1000)
    top1 = logits.argmax("feature").values
    meta = stimuli.metadata.loc[logits["stimulus_id"].values]
    animal = (meta["animal"] == 1) & (meta["human"] == 0)  # ImageNet has no person class
    inanimate = meta["animal"] == 0
    assert animal.sum() == 24 and inanimate.sum() == 44
    assert (top1[animal.values] < IMAGENET_ANIMALS).mean() >= 0.85
    assert (top1[inanimate.values] >= IMAGENET_ANIMALS).mean() >= 0.85


def _save_torch(obj, path):
    torch.save(obj, path)
    return path


def test_checkpoint_safetensors_and_torch_file(tmp_path):
    src = load_model("torchvision:resnet18?seed=5")
    sd = src.module.state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "w.safetensors")
    _save_torch({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "w.pt")
    x = torch.randn(2, 3, 40, 40)
    with torch.inference_mode():
        ref = src.module(x)
    for fname in ("w.safetensors", "w.pt"):
        m = load_model(f"checkpoint:{tmp_path / fname}?arch=resnet18")
        assert m.weights_sha256 == src.weights_sha256
        assert m.weights_sha256 != load_model("torchvision:resnet18").weights_sha256
        assert m.preprocessing == src.preprocessing and m.layers == src.layers
        with torch.inference_mode():
            assert torch.equal(m.module(x), ref)


def test_checkpoint_key_mismatch_names_keys(tmp_path):
    sd = load_model("torchvision:resnet18").module.state_dict()
    save_file(sd, tmp_path / "r18.safetensors")
    with pytest.raises(ModelError, match=r"missing \d+ keys, first \['layer1\.2\.conv1\.weight'"):
        load_model(f"checkpoint:{tmp_path / 'r18.safetensors'}?arch=resnet34")
    with pytest.raises(ModelError, match=r"fc\.weight \(1000, 512\) vs \(10, 512\)"):
        load_model(f"checkpoint:{tmp_path / 'r18.safetensors'}?arch=resnet18&num_classes=10")
    with pytest.raises(ModelError, match="needs the architecture"):
        load_model(f"checkpoint:{tmp_path / 'r18.safetensors'}")


def test_checkpoint_refuses_pickled_code_unless_trusted(tmp_path):
    sd = load_model("torchvision:resnet18?seed=2").module.state_dict()
    path = _save_torch({"state_dict": sd, "extra": NotATensor()}, tmp_path / "pickled.pt")
    with pytest.raises(ModelError, match="trust=True"):
        load_model(f"checkpoint:{path}?arch=resnet18")
    m = load_model(f"checkpoint:{path}?arch=resnet18&trust=true")
    assert m.weights_sha256 == weights_sha256(load_model("torchvision:resnet18?seed=2").module)
    assert load_model(f"checkpoint:{path}?arch=resnet18", trust=True).identity == m.identity


PLUGIN = textwrap.dedent('''
    import torch
    from torch import nn

    def build(width=4, twin=False):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, int(width), 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(int(width), 3))
        out = {"module": net, "layers": ["0", "1"], "name": "tiny",
               "preprocessing": {"input_size": 32, "resize": 36, "mean": [0.5] * 3, "std": [0.5] * 3}}
        if twin:
            out["neuroid_ids"] = ["v4-a", "v4-b", "v4-c"]
        return out

    def broken():
        return 42
''')


def test_plugin_from_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(PLUGIN)
    m = load_model(f"plugin:{path}:build?width=6")
    assert isinstance(m, LoadedModel) and m.name == "tiny" and not m.is_twin
    assert m.module[0].out_channels == 6 and m.layers == ["0", "1"]
    assert m.preprocessing == Preprocessing(input_size=32, resize=36, mean=(0.5,) * 3, std=(0.5,) * 3)
    twin = load_model(f"plugin:{path}:build", twin=True)
    assert twin.is_twin and twin.neuroid_ids == ["v4-a", "v4-b", "v4-c"]
    with pytest.raises(ModelError, match=r"no callable 'biuld'.*'build'"):
        load_model(f"plugin:{path}:biuld")
    with pytest.raises(ModelError, match="returned int"):
        load_model(f"plugin:{path}:broken")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"plugin:{tmp_path / 'nope.py'}:build")


def test_twin_requires_unique_neuroid_ids():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(ModelError, match="no neuroid_ids"):
        LoadedModel("t", net, [], Preprocessing(), is_twin=True)
    with pytest.raises(ModelError, match="not unique"):
        LoadedModel("t", net, [], Preprocessing(), is_twin=True, neuroid_ids=["a", "a"])


def test_preprocessing_typo_is_named():
    from neuroalign.errors import ModelError
    from neuroalign.models.base import Preprocessing

    with pytest.raises(ModelError, match="unknown preprocessing field 'size'. Did you mean 'resize'"):
        Preprocessing.from_dict({"size": 224, "mean": [0.5] * 3})
    assert Preprocessing.from_dict({"resize": 256, "crop": 224}).crop == 224
