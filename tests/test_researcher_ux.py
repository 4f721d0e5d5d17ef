"""Issue 28, own data and the command line: inputs are never overwritten, import-data says what it
imported, errors say what to do, activations export to plain xarray, compact listings, progress."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from PIL import Image

from neuroalign import cli

N_STIM, N_REP, N_NEUROID = 24, 3, 6


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def recording(tmp_path, monkeypatch):
    """A lab's recording: images named by id, single trials (signal + noise), a rows table."""
    monkeypatch.setenv("NEUROALIGN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(N_STIM):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "images" / f"obj{i:02d}.png")
    signal = rng.normal(size=(N_STIM, N_NEUROID))
    trials = np.repeat(signal, N_REP, axis=0) + 0.5 * rng.normal(size=(N_STIM * N_REP, N_NEUROID))
    np.save(tmp_path / "r.npy", trials)
    rows = pd.DataFrame({"stimulus_id": np.repeat([f"obj{i:02d}" for i in range(N_STIM)], N_REP),
                         "repetition": np.tile(np.arange(N_REP), N_STIM)})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    return tmp_path


def _import(capsys, d, **over):
    args = {"--array": d / "r.npy", "--rows": d / "rows.csv", "--stimuli": d / "images",
            "--identifier": "mylab.v4.encoding", "--region": "V4", "--out-dir": d / "mylab_v4", **over}
    return _run(capsys, "import-data", *[x for kv in args.items() for x in kv])


def test_import_data_summary_and_explicit_options(recording, capsys):
    rc, out, err = _import(capsys, recording)
    assert rc == 0, err
    assert f"stimuli {N_STIM}, neuroids {N_NEUROID}, presentations {N_STIM * N_REP}" in out
    assert f"repeats per stimulus: min {N_REP}, median {N_REP}, max {N_REP}" in out
    from neuroalign.scorers._build import ceiling_of
    from neuroalign.benchmarks import get_benchmark

    c = ceiling_of(get_benchmark(str(recording / "mylab_v4/benchmark.yaml")).load()).values
    assert f"median {np.nanmedian(c):.3f}, range {np.nanmin(c):.3f} to {np.nanmax(c):.3f}" in out
    assert "score will: fit a ridge" in out and "5-fold" in out
    text = (recording / "mylab_v4/benchmark.yaml").read_text()
    spec = yaml.safe_load(text)
    assert spec["options"] == {"n_splits": 5, "ceiling": "reliability"}
    option_lines = text.split("options:")[1].splitlines()[1:]
    assert len(option_lines) == 2 and all(" # " in ln for ln in option_lines)  # a comment per key
    assert "docs/benchmark-files.md" in text


def test_commands_refuse_to_overwrite_their_inputs(recording, capsys):
    assert _import(capsys, recording)[0] == 0
    before = (recording / "rows.csv").read_bytes()
    bench = recording / "mylab_v4/benchmark.yaml"
    # the README's old example: --table rows.csv right after importing rows.csv
    rc, _, err = _run(capsys, "score", "reference", "--benchmark", bench, "--table", recording / "rows.csv",
                      "--device", "cpu")
    assert rc == 2 and f"refusing to write {recording / 'rows.csv'}" in err and "import-data" in err
    assert err.count("\n") == 1 and (recording / "rows.csv").read_bytes() == before
    # the marker beside the benchmark file protects the originals even when the cache registry is gone
    (recording / "cache" / "imported-inputs.txt").unlink()
    rc, _, err = _run(capsys, "score", "reference", "--benchmark", bench, "--out", recording / "r.npy")
    assert rc == 2 and "r.npy" in err
    # a file read in the same run
    pd.DataFrame({"a": [1]}).to_csv(recording / "t.csv", index=False)
    rc, _, err = _run(capsys, "results", recording / "t.csv", "--out", recording / "t.csv")
    assert rc == 2 and "it is read by this command" in err
    rc, _, err = _run(capsys, "score", "reference", "--benchmark", bench, "--table", bench)
    assert rc == 2 and "benchmark.yaml" in err


def test_id_with_extension_and_transposed_array_say_what_to_do(recording, capsys):
    rows = pd.read_csv(recording / "rows.csv")
    rows["stimulus_id"] = rows["stimulus_id"] + ".png"
    rows.to_csv(recording / "rows_ext.csv", index=False)
    rc, _, err = _import(capsys, recording, **{"--rows": recording / "rows_ext.csv"})
    assert rc == 2 and "ids are file names without extension: write 'obj00', not 'obj00.png'" in err
    assert str(recording / "rows_ext.csv") in err and "np.str_" not in err and ".tmp-" not in err
    np.save(recording / "rT.npy", np.load(recording / "r.npy").T)
    rc, _, err = _import(capsys, recording, **{"--array": recording / "rT.npy"})
    assert rc == 2 and "looks transposed" in err and "array.T" in err
    assert not (recording / "mylab_v4").exists()


def test_extract_out_is_plain_xarray(recording, capsys):
    nc, zarr = recording / "acts.nc", recording / "acts.zarr"
    rc, out, err = _run(capsys, "extract", "reference", "--stimuli", recording / "images", "--device", "cpu",
                        "--cache-dir", recording / "c", "--stimuli", recording / "images", "--out", nc, "--out", zarr)
    assert rc == 0, err
    with xr.open_dataset(nc) as a:
        assert set(a.data_vars) == {"block1", "block2", "block3"}
        assert a["block3"].dims == ("presentation", "block3_feature") and a["block3"].shape == (N_STIM, 64)
        assert sorted(a["stimulus_id"].values.tolist()) == [f"obj{i:02d}" for i in range(N_STIM)]
        b = xr.open_zarr(zarr, consolidated=True)  # consolidated metadata: plain xarray opens it
        np.testing.assert_array_equal(a["block2"].values, b["block2"].values)
    assert (zarr / ".zmetadata").is_file()
    rc, _, err = _run(capsys, "extract", "reference", "--stimuli", recording / "images", "--out", recording / "x.csv")
    assert rc == 2 and ".nc" in err and ".zarr" in err


def test_results_without_tables_and_its_help(tmp_path, capsys):
    rc, _, err = _run(capsys, "results", "--out", tmp_path / "x.csv")
    assert rc == 2 and "no results tables given" in err and not (tmp_path / "x.csv").exists()
    with pytest.raises(SystemExit):
        cli.main(["results", "--help"])
    out = capsys.readouterr().out
    assert "Concatenate the per-benchmark tables" in out and "Example: neuroalign results" in out


def test_benchmarks_compact_and_filtered(capsys):
    rc, out, _ = _run(capsys, "benchmarks")
    assert rc == 0 and max(map(len, out.splitlines())) <= 120
    assert "description" not in out.splitlines()[0]
    rc, out, _ = _run(capsys, "benchmarks", "--kind", "rsa", "--region", "it", "--local")
    body = [ln for ln in out.splitlines()[1:] if ln.startswith(("kriegeskorte", "cowley", "synthetic"))]
    assert body and all(" rsa " in ln and " IT " in ln and ln.rstrip().endswith("local") for ln in body)
    assert "of" in out.splitlines()[-2] and "shown" in out
    rc, out, _ = _run(capsys, "benchmarks", "--long", "--kind", "encoding", "--region", "v4")
    assert "description" in out.splitlines()[0]


def test_models_lists_spec_forms(capsys):
    rc, out, _ = _run(capsys, "models")
    assert rc == 0
    for text in ("timm:<arch>", "timm.list_models()", "torchvision:<arch>", "neuroalign models --all",
                 "reference", "synthetic", "checkpoint:", "plugin:"):
        assert text in out
    assert len(out.splitlines()) < 25
    rc, out, _ = _run(capsys, "models", "--all")
    assert "torchvision:alexnet" in out and "efficientnet-lite0" in out


def test_submit_warns_on_template_placeholders(tmp_path, capsys, monkeypatch):
    from neuroalign import submit as submit_mod
    from neuroalign.submission_template import placeholder_warnings

    assert _run(capsys, "new-submission", tmp_path / "net")[0] == 0
    meta = yaml.safe_load((tmp_path / "net/metadata.yaml").read_text())
    assert len(placeholder_warnings(meta)) == 2
    assert placeholder_warnings({**meta, "authors": ["Ada Lovelace"], "description": "mine"}) == []
    monkeypatch.setattr(submit_mod, "submit", lambda *a, **k: {**meta, "identity": "x", "layers": ["block1"],
                                                              "limits": "t"})
    rc, _, err = _run(capsys, "submit", tmp_path / "net", "--submissions", tmp_path / "subs.yaml")
    assert rc == 0 and "warning: authors still holds the template's placeholder 'Your Name'" in err


def test_score_shows_progress_over_layers_and_folds(tmp_path, capsys):
    from neuroalign.scoring import score

    score("reference", "synthetic.encoding", device="cpu", cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "ridge: layers" in err and "folds" in err
    score("reference", "synthetic.encoding", device="cpu", cache_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_one_table_of_outputs_and_a_new_folder_never_created_by_the_check(recording, capsys):
    """guard.OUTPUTS is the one list of what each command writes (writability and the input guard
    both read it): it names only arguments its command has, and every output-like argument is in
    it. import-data --out-dir must not exist: refused in one line, the folder untouched; a
    missing one is not created by the writability check (import-data then writes it)."""
    import argparse

    from neuroalign.guard import OUTPUTS

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        dests = {a.dest for a in parser._actions}
        listed = {o.dest for o in OUTPUTS.get(command, ())}
        assert listed <= dests, command
        assert dests & {"out", "table", "manifest", "out_dir", "output"} == listed, command
    (recording / "taken").mkdir()
    (recording / "taken" / "keep.txt").write_text("mine")
    rc, _, err = _import(capsys, recording, **{"--out-dir": recording / "taken"})
    assert rc == 2 and err.strip() == (f"neuroalign import-data: error: import-data: {recording / 'taken'} already "
                                       "exists; choose a new folder (nothing was written).")
    assert [p.name for p in (recording / "taken").iterdir()] == ["keep.txt"]
    rc, _, err = _import(capsys, recording, **{"--out-dir": recording / "new" / "lab"})
    assert rc == 0, err
    assert (recording / "new" / "lab" / "benchmark.yaml").is_file()
