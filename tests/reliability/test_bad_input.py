"""Bad input, tried on purpose: each case gives an error naming the file, id or key and what
to do, and leaves no output file behind. Most go through the `neuroalign` CLI, as a user would."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from PIL import Image

from neuroalign.data.assembly import make_assembly, validate_assembly
from neuroalign.data.stimuli import StimulusSet
from neuroalign.errors import DataError, ModelError

NA = str(Path(sys.executable).parent / "neuroalign")


def cli(*args, cwd=None):
    env = {**os.environ, "NEUROALIGN_OFFLINE": "1"}
    return subprocess.run([NA, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def assert_refused(proc, *needles, outputs=()):
    assert proc.returncode != 0, proc.stdout
    msg = proc.stderr
    assert "Traceback" not in msg, msg  # an error a user can act on, not a crash
    for n in needles:
        assert n in msg, f"{n!r} not in: {msg}"
    for out in outputs:
        out = Path(out)
        assert not out.exists(), f"{out} left behind"
        assert not list(out.parent.glob(f".{out.name}.tmp*")), "temporary left behind"


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _folder(tmp_path, n=6):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        (d / f"im{i}.png").write_bytes(_png(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)))
    return d


def test_01_corrupt_jpeg(tmp_path):
    d = _folder(tmp_path)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    out = tmp_path / "m.json"
    assert_refused(cli("extract", "reference", "--stimuli", d, "--manifest", out, "--cache-dir", tmp_path / "c"),
                   "broken.jpg", "corrupt", outputs=[out])
    assert not any((tmp_path / "c").rglob("*.zarr")) if (tmp_path / "c").exists() else True


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_02_grayscale_or_rgba(tmp_path, mode):
    d = _folder(tmp_path)
    Image.new(mode, (32, 32)).save(d / "odd.png")
    out = tmp_path / "m.json"
    assert_refused(cli("extract", "reference", "--stimuli", d, "--manifest", out, "--cache-dir", tmp_path / "c"),
                   "odd.png", f"mode '{mode}'", "color='convert'", outputs=[out])


def test_03_zip_member_escapes(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", _png(np.zeros((8, 8, 3), np.uint8)))
        zf.writestr("../../etc/evil.png", _png(np.zeros((8, 8, 3), np.uint8)))
    out = tmp_path / "m.json"
    assert_refused(cli("extract", "reference", "--stimuli", z, "--manifest", out), "../../etc/evil.png", "escapes",
                   outputs=[out])


def test_04_response_ids_missing_from_stimuli():
    from neuroalign.data.assembly import align_on_stimulus_id

    feats = xr.DataArray(np.zeros((3, 2)), dims=("presentation", "feature"),
                         coords={"stimulus_id": ("presentation", ["a", "b", "c"])})
    resp = make_assembly(np.zeros((4, 2)), stimulus_id=["a", "b", "zz1", "zz2"])
    with pytest.raises(DataError, match=r"2 stimulus_id.*'zz1', 'zz2'"):
        align_on_stimulus_id(feats, resp)


def test_05_duplicate_ids_with_different_images():
    imgs = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(DataError, match=r"duplicate stimulus_id \['x'\]"):
        StimulusSet.from_arrays(imgs, ["x", "x"], "dup")


def test_06_nan_responses_refused_with_count():
    from neuroalign.mapping import cross_validated_encoding, make_splits

    rng = np.random.default_rng(0)
    resp = make_assembly(rng.normal(size=(20, 3)), stimulus_id=[f"s{i}" for i in range(20)],
                         neuroid_id=["n0", "n1", "n2"])
    resp.values[[2, 5], 1] = np.nan
    resp.values[7, 2] = np.inf
    feats = xr.DataArray(rng.normal(size=(20, 4)), dims=("presentation", "feature"),
                         coords={"stimulus_id": ("presentation", resp.stimulus_id.values)})
    with pytest.raises(DataError, match=r"3 NaN/inf value\(s\) in 2 neuroid\(s\) \['n1', 'n2'\]"):
        cross_validated_encoding(feats, resp, make_splits(resp.stimulus_id.values, n_splits=2))


def test_07_constant_neuron_reported_not_crashing():
    from neuroalign.mapping import cross_validated_encoding, make_splits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    Y = np.c_[X @ rng.normal(size=4), np.full(30, 3.0)]
    resp = make_assembly(Y, stimulus_id=[f"s{i}" for i in range(30)], neuroid_id=["good", "flat"])
    feats = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", resp.stimulus_id.values)})
    ds = cross_validated_encoding(feats, resp, make_splits(resp.stimulus_id.values, n_splits=3))
    assert ds["constant"].values.tolist() == [False, True]
    assert np.isnan(ds["r"].values[:, 1]).all() and (ds["r"].values[:, 0] > 0.9).all()


def test_08_fewer_stimuli_than_folds():
    from neuroalign.mapping import make_splits

    with pytest.raises(DataError, match="3 stimuli for 5 folds"):
        make_splits(["a", "b", "c"], n_splits=5)


def test_09_assembly_with_wrong_dims():
    bad = xr.DataArray(np.zeros((4, 3)), dims=("neuroid", "presentation"))
    with pytest.raises(DataError, match=r"dims are \('neuroid', 'presentation'\)"):
        validate_assembly(bad, name="my.nc")


def test_10_unknown_layer_lists_valid(tmp_path):
    out = tmp_path / "m.json"
    assert_refused(cli("extract", "reference", "--stimuli", "synthetic", "--layers", "blok2", "--manifest", out),
                   "no layer 'blok2'", "block2", outputs=[out])


def test_11_checkpoint_keys_mismatch(tmp_path):
    from safetensors.torch import save_file

    ck = tmp_path / "bad.safetensors"
    save_file({"features.0.weight": torch.zeros(3), "not.a.key": torch.zeros(2)}, str(ck))
    out = tmp_path / "m.json"
    assert_refused(cli("extract", f"checkpoint:{ck}?arch=alexnet", "--stimuli", "synthetic", "--manifest", out),
                   "not.a.key", outputs=[out])


def test_12_pickled_code_needs_trust(tmp_path):
    from neuroalign.models import load_model

    ck = tmp_path / "pickled.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, ck)  # a module object: unpickling runs code
    with pytest.raises(ModelError, match="trust=True"):
        load_model(f"checkpoint:{ck}?arch=alexnet")


def test_13_dataset_wrong_checksum(tmp_path, data_root):
    d = tmp_path / "kriegeskorte2008_92"
    d.mkdir()
    for f in (data_root / "kriegeskorte2008_92").glob("*.mat"):
        (d / f.name).write_bytes(f.read_bytes())
    (d / "92_brainRDMs.mat").write_bytes(b"garbage")
    proc = cli("datasets", "--check", "--data-dir", tmp_path)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout and "fail their checksum" in proc.stderr
    env = {**os.environ, "NEUROALIGN_DATA": str(tmp_path), "NEUROALIGN_OFFLINE": "1"}
    out = tmp_path / "s.nc"
    score = subprocess.run([NA, "score", "reference", "--benchmark", "kriegeskorte2008.human_it.rsa", "--out", out],
                           capture_output=True, text=True, env=env, timeout=600)
    assert_refused(score, "checksum mismatch", "92_brainRDMs.mat", outputs=[out])


def test_14_offline_download_names_file_dir_and_variable(tmp_path):
    env = {**os.environ, "NEUROALIGN_DATA": str(tmp_path), "NEUROALIGN_OFFLINE": "1"}
    out = tmp_path / "s.nc"
    proc = subprocess.run([NA, "score", "reference", "--benchmark", "cowley2023.210325.encoding", "--out", out],
                          capture_output=True, text=True, env=env, timeout=600)
    assert_refused(proc, "images/images_210325.zip", str(tmp_path), "NEUROALIGN_DATA", outputs=[out])


def test_15_misspelled_config_key():
    from neuroalign.errors import ConfigError
    from neuroalign.workflow import validate_config

    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "pipelines/config/default.yaml").read_text())
    cfg["modles"] = cfg.pop("models")
    with pytest.raises(ConfigError, match=r"unknown config key 'modles'.*Did you mean 'models'"):
        validate_config(cfg)


def test_16_unknown_benchmark_suggests(tmp_path):
    out = tmp_path / "s.nc"
    assert_refused(cli("score", "reference", "--benchmark", "cowley2023.210325.encodng", "--out", out),
                   "unknown benchmark", "Did you mean 'cowley2023.210325.encoding'", outputs=[out])


def test_17_unknown_model_suggests(tmp_path):
    out = tmp_path / "s.nc"
    assert_refused(cli("score", "torchvision:resnet19", "--benchmark", "synthetic.encoding", "--out", out),
                   "resnet18", outputs=[out])


def test_18_extraction_over_budget_names_setting_that_fits(tmp_path):
    out = tmp_path / "s.nc"
    assert_refused(cli("score", "reference", "--benchmark", "synthetic.encoding", "--budget-gb", "0.0005",
                       "--reduction", "flatten", "--out", out, "--cache-dir", tmp_path / "c"),
                   "layer 'block1'", "over the budget", "reduction='avgpool'", outputs=[out])


def test_19_ridge_over_budget_names_setting_that_fits(tmp_path):
    out = tmp_path / "s.nc"  # avgpool features fit the extraction budget; the ridge fit does not
    assert_refused(cli("score", "reference", "--benchmark", "synthetic.encoding", "--budget-gb", "0.0005",
                       "--out", out, "--cache-dir", tmp_path / "c"),
                   "ridge fit of layer", "600 stimuli", "over the budget", outputs=[out])
