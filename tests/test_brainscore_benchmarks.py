"""``brainscore:<identifier>``: a Brain-Score dataset exported through brainscore-vision, scored by neuroalign.

Offline: the test writes a tiny Brain-Score data plugin (two regions, 2 repetitions, a
few grayscale images among RGB ones) into a temporary folder the way brainscore-vision's
own data plugins are written (``load_assembly_from_s3`` / ``load_stimulus_set_from_s3``
with SHA-1s), puts its files where brainio's fetcher keeps downloads
(``$BRAINIO_HOME/<sha1>/<name>``), and names it in ``NEUROALIGN_BRAINSCORE_PLUGINS``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import brainscore_env  # tests/ is on sys.path
import numpy as np
import pytest
from PIL import Image

from neuroalign.errors import DataError, DatasetUnavailableError

pytestmark = pytest.mark.brainscore
ID, STIM = "TinyLab2024.public", "TinyLab2024"
MISSING = "TinyLab2024.missing"  # registered, but its file is in no cache
N_STIMULI, N_REPS = 60, 2
REGIONS = np.array(["V4"] * 4 + ["IT"] * 4)
BUCKET = "brainscore-storage/neuroalign-test"  # never contacted


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _in_brainio_cache(path: Path, name: str, home: Path) -> str:
    digest = _sha1(path)
    (home / digest).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, home / digest / name)
    return digest


PLUGIN = '''"""A Brain-Score data plugin written by tests/test_brainscore_benchmarks.py."""
from brainscore_vision import data_registry, stimulus_set_registry, load_stimulus_set
from brainscore_core.supported_data_standards.brainio.s3 import load_stimulus_set_from_s3, load_assembly_from_s3
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

stimulus_set_registry[{stim!r}] = lambda: load_stimulus_set_from_s3(
    identifier={stim!r}, bucket={bucket!r}, csv_sha1={csv!r}, zip_sha1={zip!r}, csv_version_id=None,
    zip_version_id=None)
data_registry[{id!r}] = lambda: load_assembly_from_s3(
    identifier={id!r}, version_id=None, sha1={nc!r}, bucket={bucket!r}, cls=NeuroidAssembly,
    stimulus_set_loader=lambda: load_stimulus_set({stim!r}))
data_registry[{missing!r}] = lambda: load_assembly_from_s3(
    identifier={missing!r}, version_id=None, sha1="0" * 40, bucket={bucket!r}, cls=NeuroidAssembly,
    stimulus_set_loader=lambda: load_stimulus_set({stim!r}))
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The plugin's folder, the original assembly and images; the environment pointing at them."""
    from neuroalign.activations import extract
    from neuroalign.data.assembly import make_assembly
    from neuroalign.data.stimuli import StimulusSet
    from neuroalign.interop.brainscore_format import (
        write_brainscore_assembly,
        write_brainscore_stimulus_set,
    )

    brainscore_env.ensure()
    root = tmp_path_factory.mktemp("bs_plugin")
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir()
    ids = [f"im{i:03d}" for i in range(N_STIMULI)]
    for i, sid in enumerate(ids):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)  # 32 x 32 blocks
        img = Image.fromarray(pixels)
        (img.convert("L") if i % 6 == 0 else img).save(images / f"{sid}.png")  # every sixth is grayscale
    stimuli = StimulusSet.from_folder(images, identifier=STIM, color="convert")
    # neurons: a linear read-out of the reference network's block3 plus trial noise
    feats = extract("reference", stimuli, ["block3"], cache_dir=root / "act", progress=False)["block3"].values
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    signal = feats @ rng.normal(size=(feats.shape[1], len(REGIONS))) / np.sqrt(feats.shape[1])
    trials = np.concatenate([signal + 0.7 * rng.normal(size=signal.shape) for _ in range(N_REPS)])
    assembly = make_assembly(trials, stimulus_id=np.tile(ids, N_REPS), repetition=np.repeat(np.arange(N_REPS), N_STIMULI),
                             neuroid_id=[f"n{j}" for j in range(len(REGIONS))], region=REGIONS)
    files = root / "files"
    files.mkdir()
    nc = write_brainscore_assembly(assembly, files, identifier=ID, stimulus_set_identifier=STIM)
    csv, zpath = write_brainscore_stimulus_set(stimuli, files, identifier=STIM)
    home = root / "brainio"
    sums = {"csv": _in_brainio_cache(csv, csv.name, home), "zip": _in_brainio_cache(zpath, zpath.name, home),
            "nc": _in_brainio_cache(nc, nc.name, home)}
    module = root / "tinylab_plugin.py"
    module.write_text(PLUGIN.format(stim=STIM, id=ID, missing=MISSING, bucket=BUCKET, **sums))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEUROALIGN_CACHE", str(root / "cache"))
        mp.setenv("BRAINIO_HOME", str(home))
        mp.setenv("NEUROALIGN_BRAINSCORE_PLUGINS", str(module))
        mp.setenv("NEUROALIGN_BRAINSCORE_VENV", str(brainscore_env.VENV))
        mp.setenv("NEUROALIGN_OFFLINE", "1")
        yield {"root": root, "assembly": assembly, "images": images, "ids": ids}


def test_brainscore_dataset_is_a_benchmark_scored_with_brainscores_protocol(plugin, monkeypatch):
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.data.assembly import as_averaged
    from neuroalign.interop.brainscore_benchmarks import cache_root, cached
    from neuroalign.interop.brainscore_format import (
        write_brainscore_assembly,
        write_brainscore_features,
    )
    from neuroalign.mapping import brainscore_pls_protocol
    from neuroalign.scoring import model_features, score

    # two regions: the bare identifier exports and converts once, then asks which region
    with pytest.raises(DataError, match=r"brainscore:TinyLab2024.public holds 2 regions \(V4, IT\); name one"):
        get_benchmark(f"brainscore:{ID}")
    folder = cache_root() / ID
    assert cached() == [ID]
    assert sorted(p.name for p in cache_root().iterdir()) == [ID]  # no export or temporary folder left behind
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["brainscore.json", "images.zip", "assembly_V4.nc", "assembly_IT.nc"]
        + [f"{r}.{k}.yaml" for r in ("V4", "IT") for k in ("pls", "encoding", "rsa", "cka")])
    manifest = json.loads((folder / "brainscore.json").read_text())
    assert manifest["neuroids"] == {"V4": 4, "IT": 4} and manifest["n_stimuli"] == N_STIMULI
    assert manifest["export"]["kind"] == "dataset" and manifest["export"]["brainscore_vision"].startswith("2.")

    # from here on the cache alone serves: no brainscore environment at all
    monkeypatch.setenv("NEUROALIGN_BRAINSCORE_VENV", str(plugin["root"] / "no-such-venv"))
    bench = get_benchmark(f"brainscore:{ID}:V4")
    assert (bench.identifier, bench.kind, bench.region, bench.source) == \
           (f"brainscore:{ID}:V4:pls", "pls", "V4", f"brainscore:{ID}")
    assert bench.options["protocol"] == "brainscore"

    # the data are Brain-Score's assembly, V4 part, unchanged
    original = plugin["assembly"]
    v4 = original.isel(neuroid=np.flatnonzero(REGIONS == "V4"))
    data = bench.load()
    order = np.lexsort((data["repetition"].values, data["stimulus_id"].values.astype(str)))
    ref_order = np.lexsort((v4["repetition"].values, v4["stimulus_id"].values.astype(str)))
    np.testing.assert_array_equal(data.values[order], v4.values[ref_order])
    assert data["neuroid_id"].values.tolist() == ["n0", "n1", "n2", "n3"]
    assert set(data["region"].values.tolist()) == {"V4"}

    # the images: RGB ones byte for byte, grayscale ones as the RGB Brain-Score's models see
    stimuli = bench.stimuli()
    assert sorted(stimuli.stimulus_ids) == plugin["ids"]
    for i, sid in enumerate(plugin["ids"]):
        src = plugin["images"] / f"{sid}.png"
        if i % 6:
            assert stimuli.read_bytes(sid) == src.read_bytes()
        else:
            assert Image.open(src).mode == "L"
            np.testing.assert_array_equal(np.asarray(stimuli.load_image(sid)), np.asarray(Image.open(src).convert("RGB")))

    # scored with neuroalign: protocol brainscore is brainscore_pls_protocol (seed 1, scikit-learn's
    # NIPALS as Brain-Score runs it) on the same data
    cache = plugin["root"] / "act"
    s = score("reference", bench, layers=["block3"], cache_dir=cache)
    features = model_features("reference", stimuli, ["block3"], cache_dir=cache)["block3"]
    expected = float(brainscore_pls_protocol(features, as_averaged(data), seed=1, solver="nipals")["score"])
    assert s.attrs["aggregate_raw"] == pytest.approx(expected, abs=1e-12)
    assert s.attrs["benchmark"] == f"brainscore:{ID}:V4:pls" and s.attrs["protocol"] == "brainscore"
    assert expected > 0.3  # the read-out is there to find

    # ... and Brain-Score's own PLS metric and internal consistency on the same features and trials
    work = plugin["root"] / "parity"
    work.mkdir()
    nc = write_brainscore_assembly(data, work / "assy.nc", identifier=ID, stimulus_set_identifier=STIM)
    fnc = write_brainscore_features(features, work / "features.nc", layer="block3", identifier="reference.block3",
                                    stimulus_set_identifier=STIM)
    monkeypatch.setenv("NEUROALIGN_BRAINSCORE_VENV", str(brainscore_env.VENV))
    brainscore_env.run("scripts_brainscore/parity.py", "--assembly", nc, "--features", fnc, "--out", work / "bs.json")
    bs = json.loads((work / "bs.json").read_text())
    assert abs(bs["pls"]["score"] - s.attrs["aggregate_raw"]) < 1e-3
    assert abs(bs["ceiling"]["score"] - s.attrs["aggregate_ceiling"]) < 1e-3
    print(f"\nbrainscore:{ID}:V4 PLS neuroalign {s.attrs['aggregate_raw']:.6f} brainscore {bs['pls']['score']:.6f}; "
          f"ceiling {s.attrs['aggregate_ceiling']:.6f} / {bs['ceiling']['score']:.6f}")

    # another kind and region from the same cache (parts in either order)
    enc = get_benchmark(f"brainscore:{ID}:encoding:IT")
    assert (enc.identifier, enc.kind, enc.region, enc.options) == (f"brainscore:{ID}:IT:encoding", "encoding", "IT", {})
    e = score("reference", enc, layers=["block3"], cache_dir=cache)
    assert e["raw"].sizes["neuroid"] == 4 and e.attrs["aggregate_raw"] > 0.3


def test_offline_and_not_cached_is_a_clear_error_that_writes_nothing(plugin):
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.interop.brainscore_benchmarks import cache_root

    before = sorted(p.name for p in cache_root().iterdir()) if cache_root().is_dir() else []
    with pytest.raises(DatasetUnavailableError, match=rf"brainscore:{MISSING} is not cached .*downloads when online"):
        get_benchmark(f"brainscore:{MISSING}")
    with pytest.raises(DataError, match=r"brainscore:NoSuchLab1999.public: no Brain-Score dataset or benchmark "
                                        r"'NoSuchLab1999.public' is registered"):
        get_benchmark("brainscore:NoSuchLab1999.public")
    assert sorted(p.name for p in cache_root().iterdir()) == before


def test_spec_errors_name_the_spec(plugin, monkeypatch):
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.interop.brainscore_benchmarks import parse_spec

    assert parse_spec("brainscore:MajajHong2015.public") == ("MajajHong2015.public", None, "pls")
    assert parse_spec("brainscore:MajajHong2015.public:cka:IT") == ("MajajHong2015.public", "IT", "cka")
    with pytest.raises(DataError, match=r"'\.\./x' is not a Brain-Score identifier"):
        get_benchmark("brainscore:../x")
    with pytest.raises(DataError, match="at most one region and one kind"):
        get_benchmark("brainscore:MajajHong2015.public:pls:rsa")
    monkeypatch.setenv("NEUROALIGN_BRAINSCORE_VENV", str(plugin["root"] / "no-such-venv"))
    with pytest.raises(DataError, match=r"brainscore:Other2020\.public: .*no-such-venv has none.*"
                                        r"requirements-brainscore\.txt"):
        get_benchmark("brainscore:Other2020.public")


def test_a_conversion_that_fails_halfway_leaves_nothing(plugin, monkeypatch, tmp_path):
    """The export's files (as brainscore_loader writes them) given directly; the second region's write fails."""
    import neuroalign.data.assembly as assembly_module
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.interop import brainscore_benchmarks as bb

    files = plugin["root"] / "files"
    manifest = {"source": "Broken2024.public", "kind": "dataset", "brainscore_vision": "2.4.2",
                "assembly": {"identifier": ID, "file": "assy_TinyLab2024_public.nc"},
                "stimulus_set": {"identifier": STIM, "csv": "stimulus_TinyLab2024.csv", "zip": "stimulus_TinyLab2024.zip"}}

    def fake_export(identifier, out, **_):
        shutil.copytree(files, out)
        (out / "brainscore_export.json").write_text(json.dumps(manifest))
        return manifest

    real_save, calls = assembly_module.save_assembly, []

    def save_then_fail(da, path):
        calls.append(Path(path).name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real_save(da, path)

    monkeypatch.setattr(bb, "run_export", fake_export)
    monkeypatch.setattr(assembly_module, "save_assembly", save_then_fail)
    before = sorted(p.name for p in bb.cache_root().iterdir()) if bb.cache_root().is_dir() else []
    with pytest.raises(OSError, match="simulated"):
        get_benchmark("brainscore:Broken2024.public:V4")
    assert calls == ["assembly_V4.nc", "assembly_IT.nc"]  # it failed after writing part of the folder
    assert sorted(p.name for p in bb.cache_root().iterdir()) == before
    monkeypatch.setattr(assembly_module, "save_assembly", real_save)
    bench = get_benchmark("brainscore:Broken2024.public:IT:cka")  # the same export, now complete
    assert (bench.identifier, bench.kind, bench.load().sizes["neuroid"]) == ("brainscore:Broken2024.public:IT:cka", "cka", 4)
    assert "Broken2024.public" in bb.cached()
