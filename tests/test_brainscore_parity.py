"""neuroalign against brainscore-vision itself, run in its own environment (.venv-brainscore).

The environment is built from requirements-brainscore.txt when missing (a few minutes,
once). Data goes between the two environments through files only. Nothing here touches
S3: brainscore reads the files we wrote, from its local cache.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import xarray as xr

from neuroalign.data.assembly import average_repetitions
from neuroalign.interop.brainscore_export import export_brainscore_plugin
from neuroalign.interop.brainscore_format import (
    assemblies_equal,
    read_brainscore_export,
    stimulus_set_bytes_equal,
    write_brainscore_assembly,
    write_brainscore_features,
    write_brainscore_stimulus_set,
)

import brainscore_env  # tests/ is on sys.path (pytest rootdir-relative import)

pytestmark = pytest.mark.brainscore
TOL = 1e-3


@pytest.fixture(scope="module")
def bs_python():
    return brainscore_env.ensure()


@pytest.fixture(scope="module")
def cowley(data_root):
    from neuroalign.datasets.cowley import load_cowley

    return load_cowley("210325")


def test_round_trip_through_brainscore_loader(bs_python, cowley, tmp_path):
    assembly, stimuli = cowley
    nc = write_brainscore_assembly(assembly, tmp_path)
    csv, zpath = write_brainscore_stimulus_set(stimuli, tmp_path)
    out = tmp_path / "out"
    brainscore_env.run(
        "scripts_brainscore/roundtrip.py", "--csv", csv, "--zip", zpath,
        "--stimulus-identifier", stimuli.identifier, "--assembly", nc,
        "--identifier", assembly.attrs["identifier"], "--cache", tmp_path / "brainio", "--out", out)

    back, back_stimuli = read_brainscore_export(out / "dataset")
    assert assemblies_equal(assembly, back, coords=list(assembly.coords)) == []
    assert back.attrs["identifier"] == assembly.attrs["identifier"]
    assert back.attrs["stimulus_set_identifier"] == stimuli.identifier
    # brainscore's loader merges the stimulus set's columns into the presentations: check them by id
    extra = sorted(set(back.coords) - set(assembly.coords))
    assert extra == ["filename", "sha256"]
    meta = stimuli.metadata.loc[back["stimulus_id"].values]
    np.testing.assert_array_equal(back["sha256"].values, meta["sha256"].to_numpy(str))
    np.testing.assert_array_equal(back["filename"].values, np.char.add(back["stimulus_id"].values, ".jpg"))

    for got in (back_stimuli, read_brainscore_export(out / "stimulus_set")[1]):
        assert got.identifier == stimuli.identifier
        assert stimulus_set_bytes_equal(stimuli, got)
        assert got.metadata.astype(str).equals(stimuli.metadata.astype(str))


def _ceiling_halves(n_repetitions: int, n_splits: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """The repetition halves neuroalign.ceiling.split_half_reliability draws (same generator, same order).

    Repetitions are numbered 0..n-1 per stimulus in the Cowley assembly, so a position
    in its trials array is the repetition value Brain-Score splits on.
    """
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(n_splits):
        perm = rng.permutation(n_repetitions)
        halves.append((sorted(perm[: n_repetitions // 2].tolist()), sorted(perm[n_repetitions // 2:].tolist())))
    return halves


def test_parity_pls_ceiling_cka(bs_python, cowley, tmp_path):
    from neuroalign.activations import extract
    from neuroalign.ceiling import split_half_reliability
    from neuroalign.mapping.pls import brainscore_pls_protocol, brainscore_splits
    from neuroalign.similarity.cka import cka

    assembly, stimuli = cowley
    features = extract("reference", stimuli, ["block3"], reduction="avgpool", cache_dir=tmp_path / "cache",
                       progress=False)["block3"].load()
    averaged = average_repetitions(assembly)

    # neuroalign's numbers: the exact PLS solver, and scikit-learn's NIPALS (what Brain-Score runs)
    pls = brainscore_pls_protocol(features, averaged)
    pls_nipals = brainscore_pls_protocol(features, averaged, solver="nipals")
    ceiling = split_half_reliability(assembly, n_splits=10, seed=0)
    cka_debiased = float(cka(features, averaged, debiased=True))
    cka_biased = float(cka(features, averaged, debiased=False))

    # the same inputs and splits, for brainscore-vision
    sorted_ids = np.sort(averaged["stimulus_id"].values.astype(str))
    splits = {
        "pls": [{"train": sorted_ids[tr].tolist(), "test": sorted_ids[te].tolist()}
                for tr, te in brainscore_splits(sorted_ids)],
        "ceiling": [{"half1": h1, "half2": h2}
                    for h1, h2 in _ceiling_halves(int(assembly["repetition"].max()) + 1, 10, 0)],
    }
    (tmp_path / "splits.json").write_text(json.dumps(splits))
    nc = write_brainscore_assembly(assembly, tmp_path / "assy.nc")
    fnc = write_brainscore_features(features, tmp_path / "features.nc", layer="block3",
                                    identifier="reference.block3", stimulus_set_identifier=stimuli.identifier)
    brainscore_env.run("scripts_brainscore/parity.py", "--assembly", nc, "--features", fnc,
                       "--splits", tmp_path / "splits.json", "--out", tmp_path / "bs.json")
    bs = json.loads((tmp_path / "bs.json").read_text())
    assert bs["versions"]["brainscore-vision"].startswith("2.")

    # PLS: same splits (brainscore's own default draw included), same per-neuroid r, same score
    assert bs["pls"]["splits"] == splits["pls"]
    assert [(set(s["train"]), set(s["test"])) for s in bs["pls"]["default_splits"]] == \
           [(set(s["train"]), set(s["test"])) for s in splits["pls"]]
    assert bs["pls"]["neuroid_id"] == pls["neuroid_id"].values.tolist()
    np.testing.assert_allclose(np.asarray(bs["pls"]["r"]), pls_nipals["r"].values, atol=TOL)
    assert abs(bs["pls"]["score"] - float(pls_nipals["score"])) < TOL
    # the exact solver: NIPALS stops at tol=1e-6 on the weights' change, a few 1e-3 of r short of converged
    np.testing.assert_allclose(np.asarray(bs["pls"]["r"]), pls["r"].values, atol=5e-3)
    assert abs(bs["pls"]["score"] - float(pls["score"])) < TOL
    assert float(pls["score"]) > 0.1  # a real fit, not two degenerate zeros

    # split-half ceiling: per neuroid (mean over splits) and the median over neuroids
    assert [(s["half1"], s["half2"]) for s in bs["ceiling"]["splits"]] == \
           [(s["half1"], s["half2"]) for s in splits["ceiling"]]
    assert bs["ceiling"]["neuroid_id"] == ceiling["neuroid_id"].values.tolist()
    bs_per_neuroid = np.asarray(bs["ceiling"]["raw"]).mean(axis=0)
    np.testing.assert_allclose(bs_per_neuroid, ceiling.values, atol=TOL)
    assert abs(np.median(bs_per_neuroid) - float(np.median(ceiling.values))) < TOL
    per_split_medians = np.median(np.asarray(bs["ceiling"]["raw"]), axis=1)
    assert abs(bs["ceiling"]["score"] - per_split_medians.mean()) < 1e-9  # brainscore's aggregation order
    assert np.median(ceiling.values) > 0.3

    assert abs(ceiling.attrs["aggregate_brainscore"] - bs["ceiling"]["score"]) < TOL

    # protocol="brainscore" reproduces Brain-Score's number for this layer: score, ceiling, normalised
    from neuroalign.scorers.pls import score_pls

    s = score_pls({"block3": features}, assembly, protocol="brainscore")
    assert abs(s.attrs["aggregate_raw"] - bs["pls"]["score"]) < 1e-3
    assert abs(s.attrs["aggregate_ceiling"] - bs["ceiling"]["score"]) < 1e-3
    assert abs(s.attrs["aggregate_normalized"] - bs["pls"]["score"] / bs["ceiling"]["score"]) < 1e-3
    assert s.attrs["protocol"] == "brainscore"

    # CKA: brainscore's default 'cka' is the debiased estimator, 'cka_biased' the original
    assert abs(bs["cka"]["unbiased"] - cka_debiased) < TOL
    assert abs(bs["cka"]["biased"] - cka_biased) < TOL
    assert abs(cka_biased - cka_debiased) > 3 * TOL  # the estimators differ here (by 0.005), so the pairing is tested

    print(f"\nparity on cowley 210325 (reference block3, avgpool features): max |dr| per neuroid "
          f"{np.abs(np.asarray(bs['pls']['r']) - pls['r'].values).max():.2e}, max |d ceiling| per neuroid "
          f"{np.abs(bs_per_neuroid - ceiling.values).max():.2e}; "
          f"PLS neuroalign {float(pls['score']):.6f} brainscore {bs['pls']['score']:.6f}; "
          f"ceiling median neuroalign {np.median(ceiling.values):.6f} brainscore {np.median(bs_per_neuroid):.6f} "
          f"(brainscore aggregate {bs['ceiling']['score']:.6f}); "
          f"CKA debiased neuroalign {cka_debiased:.6f} brainscore {bs['cka']['unbiased']:.6f}, "
          f"biased {cka_biased:.6f} / {bs['cka']['biased']:.6f}")


def test_exported_plugin_matches_neuroalign_activations(bs_python, cowley, tmp_path):
    from neuroalign.activations import extract
    from neuroalign.models import load_model

    _, stimuli = cowley
    model = load_model("efficientnet-lite0")
    layer = "_blocks.6"
    plugin = export_brainscore_plugin("efficientnet-lite0", tmp_path / "efficientnet_lite0", {"V4": layer},
                                      model=model)
    subset = stimuli.subset(stimuli.stimulus_ids[:4], identifier="cowley-4")
    images = tmp_path / "images"
    images.mkdir()
    paths = []
    with zipfile.ZipFile(subset.source) as zf:
        for sid, member in zip(subset.stimulus_ids, subset.files):
            paths.append(images / f"{sid}.jpg")
            paths[-1].write_bytes(zf.read(member))
    proc = brainscore_env.run("scripts_brainscore/plugin_check.py", "--plugin", plugin, "--identifier",
                              "efficientnet-lite0", "--layer", layer, "--out", tmp_path / "bs.nc", *paths)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["region_layer_map"] == {"V4": layer}
    assert summary["bibtex"]

    ours = extract(model, subset, [layer], reduction="flatten", cache_dir=tmp_path / "cache",
                   progress=False)[layer].load()
    theirs = xr.open_dataset(tmp_path / "bs.nc")["data"].load()
    assert theirs["filename"].values.tolist() == [f"{s}.jpg" for s in subset.stimulus_ids]
    assert theirs.shape == ours.shape == (4, 80 * 14 * 14)
    scale = float(np.abs(ours.values).max())
    np.testing.assert_allclose(theirs.values, ours.values, atol=1e-4 * scale, rtol=0)
    assert scale > 0.1
