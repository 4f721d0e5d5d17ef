"""Open benchmarks (issue 16): a researcher's own recording from a file, every Cowley session,
third-party plugins through entry points, and clear errors on bad benchmark files."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neuroalign.benchmarks import benchmarks, get_benchmark
from neuroalign.benchmarks.files import import_data
from neuroalign.errors import DataError
from plugin_pkg import install_plugin  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).with_name("neuroalign"))]


def _run(*args, env=None, cwd=None):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def cowley_as_files(data_root, tmp_path_factory):
    """Cowley 210325 exported the way a lab holds its own data: single-trial array + rows CSV +
    a folder of images named by stimulus id, then turned into a benchmark by import-data."""
    from neuroalign.datasets.cowley import load_cowley

    assembly, stimuli = load_cowley("210325")
    tmp = tmp_path_factory.mktemp("mylab")
    np.save(tmp / "responses.npy", np.asarray(assembly.values))
    pd.DataFrame({"stimulus_id": assembly["stimulus_id"].values,
                  "repetition": assembly["repetition"].values}).to_csv(tmp / "rows.csv", index=False)
    (tmp / "images").mkdir()
    for sid in stimuli.stimulus_ids:
        (tmp / "images" / f"{sid}.jpg").write_bytes(stimuli.read_bytes(sid))
    bench = import_data(tmp / "responses.npy", tmp / "rows.csv", tmp / "images", tmp / "bench",
                        identifier="mylab.v4.encoding", kind="encoding", region="V4")
    return bench


def test_benchmark_file_scores_like_the_registered_session(cowley_as_files, tmp_path):
    from neuroalign.scoring import score

    spec = yaml.safe_load(cowley_as_files.read_text())
    assert spec["assembly"] == "responses.nc" and spec["stimuli"] == "images"
    mine = score("reference", str(cowley_as_files), cache_dir=tmp_path / "c1", device="cpu")
    ref = score("reference", "cowley2023.210325.encoding", cache_dir=tmp_path / "c2", device="cpu")
    assert mine.attrs["benchmark"] == "mylab.v4.encoding" and mine.attrs["region"] == "V4"
    np.testing.assert_allclose(mine["raw"].values, ref["raw"].values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mine["ceiling"].values, ref["ceiling"].values, rtol=0, atol=1e-9)
    for key in ("aggregate_raw", "aggregate_ceiling", "aggregate_normalized"):
        assert abs(mine.attrs[key] - ref.attrs[key]) < 1e-9
    assert mine.attrs["aggregate_raw"] > 0.2  # a real fit


def test_cli_scores_a_benchmark_file(cowley_as_files, tmp_path):
    out = _run("score", "reference", "--benchmark", cowley_as_files, "--layers", "block2",
               "--cache-dir", tmp_path / "c", "--device", "cpu", "--table", tmp_path / "rows.csv")
    assert out.returncode == 0, out.stderr
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert set(rows["benchmark"]) == {"mylab.v4.encoding"}
    listed = _run("benchmarks", cowley_as_files)
    assert listed.returncode == 0 and "mylab.v4.encoding" in listed.stdout and "local" in listed.stdout


def test_every_cowley_session_with_images_is_a_benchmark_family(data_root):
    manifest = (ROOT / "neuroalign/datasets/cowley/cowley2023_v4.sha256").read_text()
    with_images = sorted(set(re.findall(r"images/images_(\d+)\.zip", manifest)))
    out = _run("benchmarks")
    assert out.returncode == 0, out.stderr
    listed = re.findall(r"^cowley2023\.(\d+)\.encoding\s", out.stdout, flags=re.M)
    assert sorted(listed) == with_images and len(listed) == len(with_images)
    for kind in ("pls", "rsa", "cka"):
        assert all(f"cowley2023.{s}.{kind}" in benchmarks() for s in with_images)
    here = sorted(p.name[len("images_"):-len(".zip")] for p in (data_root / "cowley2023_v4/images").glob("images_*.zip"))
    local = re.findall(r"^cowley2023\.(\d+)\.encoding\s+encoding\s+V4\s+local\s", out.stdout, flags=re.M)
    assert sorted(local) == here  # which sessions have their files locally, derived from the folder


def test_a_session_added_to_the_data_scores(data_root, tmp_path):
    """190927 (one of the sessions added to the shared data): averaged only, so no ceiling, said so."""
    from neuroalign.scoring import score

    s = score("reference", "cowley2023.190927.encoding", layers=["block2"], cache_dir=tmp_path, device="cpu")
    assert s.sizes["neuroid"] == 31 and np.isnan(s.attrs["aggregate_normalized"])
    assert s.attrs["normalization"].startswith("none: the responses are repeat-averaged")


PLUGIN = '''
import numpy as np

def register():
    from neuroalign.benchmarks import Benchmark, register, register_stimulus_set
    from neuroalign.data.assembly import make_assembly
    from neuroalign.data.stimuli import StimulusSet

    def load():
        rng = np.random.default_rng(0)
        images = rng.integers(0, 255, (60, 32, 32, 3), dtype=np.uint8)
        ids = [f"tiny{i:02d}" for i in range(60)]
        # two neurons: mean red and mean green intensity, four noisy trials each
        signal = images.reshape(60, -1, 3).mean(1)[:, :2]
        trials = np.repeat(signal, 4, axis=0) + rng.normal(0, 1.0, (240, 2))
        asm = make_assembly(trials, stimulus_id=np.repeat(ids, 4), region="V1")
        return asm, StimulusSet.from_arrays(images, ids, "tinyplug")

    register_stimulus_set("tinyplug", load)
    register(Benchmark("tinyplug.encoding", "encoding", "V1", "tinyplug", "a plugin's benchmark",
                       {"n_splits": 3}, source="plugin:tinyplug"))
'''


def test_entry_point_plugin_is_listed_and_scored(tmp_path):
    env = install_plugin(tmp_path, "tinyplug", PLUGIN, {"neuroalign.plugins": {"tinyplug": "tinyplug:register"}})
    listed = _run("benchmarks", env=env)
    assert listed.returncode == 0 and re.search(r"^tinyplug\.encoding\s+encoding\s+V1\s+local", listed.stdout, re.M)
    out = _run("score", "reference", "--benchmark", "tinyplug.encoding", "--layers", "block1",
               "--cache-dir", tmp_path / "c", "--device", "cpu", "--table", tmp_path / "t.csv", env=env)
    assert out.returncode == 0, out.stderr
    rep = pd.read_csv(tmp_path / "t.csv").query("scope == 'reported'").iloc[0]
    assert rep["benchmark"] == "tinyplug.encoding" and np.isfinite(rep["raw"])
    assert "tinyplug.encoding" not in benchmarks()  # installed only for that environment


def _bench_folder(tmp_path, **spec):
    from neuroalign.data.assembly import make_assembly, save_assembly
    from neuroalign.data.stimuli import StimulusSet

    folder = tmp_path / "b"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    ids = [f"im{i}" for i in range(12)]
    for sid in ids:
        from PIL import Image

        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / "images" / f"{sid}.png")
    save_assembly(make_assembly(rng.normal(size=(24, 3)), stimulus_id=np.repeat(ids, 2)), folder / "r.nc")
    base = {"identifier": "t.enc", "kind": "encoding", "region": "V4", "assembly": "r.nc", "stimuli": "images"}
    base.update(spec)
    base = {k: v for k, v in base.items() if v is not None}
    (folder / "bench.yaml").write_text(yaml.safe_dump(base))
    return folder


@pytest.mark.parametrize("change, message", [
    ({"region": None}, r"missing key 'region'"),
    ({"kind": "regression"}, r"key kind: 'regression' is not one of"),
    ({"assembly": "../r.nc"}, r"points outside the benchmark's folder"),
    ({"assembly": "nope.nc"}, r"assembly = 'nope.nc' does not exist"),
    ({"options": {"n_splitz": 3}}, r"Additional properties are not allowed \('n_splitz'"),
])
def test_bad_benchmark_files_are_named_and_write_nothing(tmp_path, change, message):
    folder = _bench_folder(tmp_path, **change)
    with pytest.raises(DataError, match=message) as exc:
        get_benchmark(str(folder / "bench.yaml")).load()
    assert "bench.yaml" in str(exc.value)
    if "region" in change:  # the command line says the same in one line, exit 2, nothing written
        out = _run("score", "reference", "--benchmark", folder / "bench.yaml", "--out", tmp_path / "s.nc")
        assert out.returncode == 2 and "bench.yaml" in out.stderr and "Traceback" not in out.stderr
        assert not (tmp_path / "s.nc").exists()


def test_ids_absent_from_the_stimuli_and_wrong_dims_are_refused(tmp_path):
    import xarray as xr

    folder = _bench_folder(tmp_path)
    (folder / "images" / "im3.png").unlink()
    with pytest.raises(DataError, match=r"1 stimulus_id\(s\) of the responses are not among the 11 images.*im3"):
        get_benchmark(str(folder / "bench.yaml")).load()
    bad = xr.DataArray(np.zeros((2, 3, 4)), dims=("a", "b", "c"), name="responses")
    bad.to_netcdf(folder / "r.nc")
    with pytest.raises(DataError, match=r"bench\.yaml"):
        get_benchmark(str(folder / "bench.yaml")).load()


def test_import_data_refuses_bad_rows_and_leaves_nothing(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((5, 2)))
    pd.DataFrame({"stimulus_id": ["x"] * 4}).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DataError, match="5 response rows but 4 rows"):
        import_data(tmp_path / "a.npy", tmp_path / "rows.csv", tmp_path / "imgs", tmp_path / "out",
                    identifier="x.enc")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_npz_responses_and_rdm_files_are_benchmarks_too(tmp_path):
    """The other neural-data forms: an .npz array with a rows CSV (encoding), and RDMs (rsa)."""
    from neuroalign.atomic import write_netcdf
    from neuroalign.data.rdms import make_rdms
    from neuroalign.scoring import check_identities, result_rows, score

    folder = _bench_folder(tmp_path)
    rng = np.random.default_rng(4)
    ids = [f"im{i}" for i in range(12)]
    np.savez(folder / "r.npz", spikes=rng.normal(size=(24, 3)), other=np.zeros(2))
    pd.DataFrame({"stimulus_id": np.repeat(ids, 2)}).to_csv(folder / "rows.csv", index=False)
    (folder / "npz.yaml").write_text(yaml.safe_dump({
        "identifier": "t.npz", "kind": "encoding", "region": "V4", "stimuli": "images",
        "responses": {"array": "r.npz", "rows": "rows.csv", "key": "spikes"}, "options": {"n_splits": 3}}))
    data = get_benchmark(str(folder / "npz.yaml")).load()
    assert data.sizes == {"presentation": 24, "neuroid": 3} and set(data["stimulus_id"].values) == set(ids)
    (folder / "bad.yaml").write_text((folder / "npz.yaml").read_text().replace("key: spikes", "key: nope"))
    with pytest.raises(DataError, match=r"responses/key must name one of \['spikes', 'other'\]"):
        get_benchmark(str(folder / "bad.yaml"))

    d = rng.random((2, 12, 12))
    d = (d + d.transpose(0, 2, 1)) / 2
    d[:, np.arange(12), np.arange(12)] = 0
    write_netcdf(make_rdms(d, ids, rdm_coords={"subject": ["a", "b"]}), folder / "rdms.nc")
    (folder / "rsa.yaml").write_text(yaml.safe_dump({
        "identifier": "t.rsa", "kind": "rsa", "region": "IT", "stimuli": "images", "rdms": "rdms.nc",
        "options": {"n_halves": 4}}))
    s = score("reference", str(folder / "rsa.yaml"), layers=["block1"], cache_dir=tmp_path / "c", device="cpu")
    assert s.attrs["benchmark"] == "t.rsa" and s.attrs["n_stimuli"] == 12 and np.isfinite(s.attrs["aggregate_ceiling"])
    assert check_identities(result_rows(s)) == []


def test_fmri_betas_file_benchmark(tmp_path):
    """fMRI: per-stimulus beta maps + an ROI mask + a volume table, read through nilearn's masker."""
    import nibabel as nib

    folder = _bench_folder(tmp_path)
    ids = [f"im{i}" for i in range(12)]
    rng = np.random.default_rng(2)
    vols = rng.normal(size=(4, 4, 3, 24)).astype(np.float32)
    mask = np.zeros((4, 4, 3), dtype=np.uint8)
    mask[1:3, 1:3, 1] = 1
    nib.save(nib.Nifti1Image(vols, np.eye(4)), folder / "betas.nii.gz")
    nib.save(nib.Nifti1Image(mask, np.eye(4)), folder / "roi.nii.gz")
    pd.DataFrame({"volume": range(24), "stimulus_id": ids * 2}).to_csv(folder / "vols.csv", index=False)
    (folder / "fmri.yaml").write_text(yaml.safe_dump({
        "identifier": "t.fmri", "kind": "encoding", "region": "V1", "stimuli": "images",
        "fmri": {"maps": "betas.nii.gz", "mask": "roi.nii.gz", "table": "vols.csv"}}))
    data = get_benchmark(str(folder / "fmri.yaml")).load()
    assert data.sizes == {"presentation": 24, "neuroid": 4} and (data["region"] == "V1").all()
    i, j, k = data["voxel_i"].values[0], data["voxel_j"].values[0], data["voxel_k"].values[0]
    np.testing.assert_allclose(data.values[:, 0], vols[i, j, k, :], rtol=1e-6)
