"""A new user's first hour: the submission template, rejected fields, the CLI's messages, timm specs."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from neuroalign import cli
from neuroalign.errors import ConfigError, ModelError, UnknownKeyError
from neuroalign.models.base import Preprocessing
from neuroalign.submission_template import PREPROCESSING_FIELDS, metadata_problems


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ---- the submission template -------------------------------------------------------------------

def test_template_submits_and_scores(tmp_path, capsys):
    folder = tmp_path / "my-net"
    rc, out, err = _run(capsys, "new-submission", str(folder))
    assert rc == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "metadata.yaml", "model.py"]
    assert "neuroalign submit" in out
    readme = (folder / "README.md").read_text()
    for field in PREPROCESSING_FIELDS:  # every preprocessing field is explained
        assert f"`{field}`" in readme
    assert "plugin:" in readme and "checkpoint:" in readme

    from neuroalign.submit import validate_submission

    trust = shutil.which("bwrap") is None  # the sandbox where bubblewrap is installed
    try:
        rec = validate_submission(folder, timeout=300, trust_code=trust)
    except Exception as exc:  # a machine whose kernel refuses user namespaces: the template itself is what we test
        if "sandbox" not in str(exc).lower():
            raise
        rec = validate_submission(folder, timeout=300, trust_code=True)
    assert rec["name"] == "my-net" and rec["layers"] == ["block1", "block2", "block3"]
    assert rec["preprocessing"]["input_size"] == 96
    assert rec["shapes"]["block3"][1] == 64

    from neuroalign.scoring import result_rows, score

    s = score(rec["spec"], "synthetic.encoding", device="cpu", cache_dir=tmp_path / "cache", progress=False)
    a = s.attrs
    assert a["layer"] in {"block1", "block2", "block3"}
    # the template's untrained convnet is scored like any model: a held-out r below its ceiling, normalised
    assert a["model"].startswith("plugin:") and a["kind"] == "encoding"
    assert 0.5 < a["aggregate_raw"] < a["aggregate_ceiling"] ** 0.5 <= 1.0  # r below √reliability (0.85 < 0.91)
    assert 0.5 < a["aggregate_normalized"] < 1.05
    rows = result_rows(s)
    assert rows.loc[rows["scope"] == "reported", "layer"].item() == a["layer"]


def test_template_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    rc, _, err = _run(capsys, "new-submission", str(tmp_path / "taken"))
    assert rc == 2 and "already exists and is not an empty folder" in err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    rc, _, _ = _run(capsys, "new-submission", str(tmp_path / "empty-ok"))
    assert rc == 0


def test_submit_explains_every_rejected_field(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "model.py").write_text("def build():\n    pass\n")
    (folder / "metadata.yaml").write_text(yaml.safe_dump({
        "name": "bad name!", "autors": ["Me"], "callable": "model.py", "layers": "block1"}))
    rc, _, err = _run(capsys, "submit", str(folder), "--submissions", str(tmp_path / "subs.yaml"))
    assert rc == 2
    assert "rejected (5 problem(s))" in err
    assert "`authors` is missing" in err
    assert "`autors` is not a field" in err and "Did you mean 'authors'" in err
    assert "`name` 'bad name!'" in err
    assert "`callable` 'model.py' must look like 'model.py:build'" in err
    assert "`layers` must be a non-empty list" in err
    assert not (tmp_path / "subs.yaml").exists()


def test_metadata_problems_cover_files_and_yaml(tmp_path):
    ok = {"name": "n", "authors": ["A"], "callable": "model.py:build"}
    assert metadata_problems(ok, base=tmp_path) == ["`callable` names model.py, which does not exist in " + str(tmp_path)]
    (tmp_path / "model.py").write_text("")
    assert metadata_problems(ok, base=tmp_path) == []
    assert metadata_problems(["x"])[0].startswith("the file must be a YAML mapping")
    from neuroalign.submission_template import read_metadata

    (tmp_path / "metadata.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        read_metadata(tmp_path / "metadata.yaml")


def test_preprocessing_fields_are_the_dataclass_fields():
    import dataclasses

    assert [f.name for f in dataclasses.fields(Preprocessing)] == list(PREPROCESSING_FIELDS)


# ---- extract: stimuli folders, colour conversion, where the activations went ----------------------

def _images(folder, modes=("RGB", "L", "RGBA")):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, mode in enumerate(modes):
        arr = rng.integers(0, 255, size=(40, 40, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(folder / f"img{i}.png")
    return folder


def test_extract_color_convert_and_where_it_went(tmp_path, capsys):
    imgs = _images(tmp_path / "imgs")
    base = ["extract", "reference", "--stimuli", str(imgs), "--layers", "block1", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]
    rc, _, err = _run(capsys, *base)
    assert rc == 2 and "img1.png" in err and "convert" in err  # grayscale refused, the file and the fix named
    rc, out, err = _run(capsys, *base, "--color", "convert")
    assert rc == 0, err
    assert "block1: 3 stimuli x" in out
    stores = [line.rsplit("-> ", 1)[1] for line in out.splitlines() if "-> " in line]
    assert stores and all(str(tmp_path / "cache") in s for s in stores)
    assert "activations (Zarr stores" in out
    assert "%|" not in err  # not a terminal: no progress bar in logs


def test_missing_stimuli_folder_says_it_does_not_exist(tmp_path, capsys):
    rc, _, err = _run(capsys, "extract", "reference", "--stimuli", str(tmp_path / "nope"), "--device", "cpu")
    assert rc == 2 and "does not exist" in err and "unknown stimulus set" not in err
    rc, _, err = _run(capsys, "extract", "reference", "--stimuli", "kriegeskorte2008", "--device", "cpu")
    assert rc == 2 and "unknown stimulus set" in err and "kriegeskorte2008_92" in err
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["extract"].format_help()
    assert "folder" in help_text and ".zip" in help_text and "--color" in help_text


# ---- workflow config: models {} and models left out ----------------------------------------------

def test_models_empty_runs_submissions_alone(tmp_path, capsys, monkeypatch):
    import neuroalign.submit
    from neuroalign.workflow import grid_models, validate_config, with_defaults

    # the grid's composition is the subject here; pinning is tested in tests/reliability/test_hostile.py
    monkeypatch.setattr(neuroalign.submit, "check_pinned", lambda name, entry: None)

    cfg = with_defaults({"models": {}, "benchmarks": ["synthetic.encoding"], "results": str(tmp_path),
                         "submissions": str(tmp_path / "subs.yaml")})
    assert capsys.readouterr().err == ""  # models named (empty): no notice
    validate_config(cfg)
    with pytest.raises(ConfigError, match="no models to score"):
        grid_models(cfg)
    (tmp_path / "subs.yaml").write_text(yaml.safe_dump({"models": {"sub-net": {"spec": "reference"}}}))
    assert list(grid_models(cfg)) == ["sub-net"]

    cfg = with_defaults({"benchmarks": ["synthetic.encoding"]})
    err = capsys.readouterr().err
    assert "names no `models`: using the default models" in err and "efficientnet-lite0" in err
    assert "efficientnet-lite0" in cfg["models"]

    cfg = with_defaults({})  # the built-in default run (no --configfile): its models are the defaults, no notice
    assert capsys.readouterr().err == "" and "efficientnet-lite0" in cfg["models"]


# ---- timm specs --------------------------------------------------------------------------------

def test_timm_untrained_offline_and_pretrained_error(monkeypatch):
    pytest.importorskip("timm", reason="timm is in the zoo extra")
    from neuroalign.models import load_model

    monkeypatch.setenv("NEUROALIGN_OFFLINE", "1")
    a, b = load_model("timm:resnet18"), load_model("timm:resnet18")
    assert a.identity == b.identity and a.identity != load_model("timm:resnet18?seed=1").identity
    assert a.name == "timm:resnet18" and "layer4" in a.layers
    assert (a.preprocessing.input_size, a.preprocessing.interpolation) == (224, "bicubic")
    with pytest.raises(ModelError, match="could not be fetched.*checkpoint:<path>\\?arch=timm:resnet18"):
        load_model("timm:resnet18?pretrained=true")
    with pytest.raises(UnknownKeyError, match="Did you mean 'resnet18'"):
        load_model("timm:resnet181")


def test_cli_progress_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli._progress() is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli._progress() is True


def test_several_benchmarks_or_stimulus_sets_in_one_process(tmp_path, capsys):
    """`score` and `extract` take repeated --benchmark/--stimuli with one output each (the
    workflow's one job per model); outputs equal one-at-a-time runs; a count mismatch is refused."""
    import xarray as xr

    cache = str(tmp_path / "cache")
    common = ["reference", "--device", "cpu", "--cache-dir", cache]
    m = [tmp_path / "a.json", tmp_path / "b.json"]
    code, out, _ = _run(capsys, "extract", *common, "--stimuli", "synthetic", "--manifest", str(m[0]),
                        "--stimuli", "kriegeskorte2008_92", "--manifest", str(m[1]))
    assert code == 0 and all(p.is_file() for p in m) and out.count("manifest: ") == 2
    benches = ["synthetic.encoding", "kriegeskorte2008.human_it.rsa"]
    outs = [tmp_path / f"{b}.nc" for b in benches]
    argv = [x for b, o in zip(benches, outs) for x in ("--benchmark", b, "--out", str(o), "--table", str(o.with_suffix(".csv")))]
    code, out, _ = _run(capsys, "score", *common, *argv)
    assert code == 0 and all(o.is_file() and o.with_suffix(".csv").is_file() for o in outs)
    one = tmp_path / "one.nc"
    assert _run(capsys, "score", *common, "--benchmark", benches[1], "--out", str(one))[0] == 0
    a, b = xr.load_dataset(outs[1], engine="h5netcdf"), xr.load_dataset(one, engine="h5netcdf")
    assert a.attrs["aggregate_raw"] == b.attrs["aggregate_raw"] and a.attrs["layer"] == b.attrs["layer"]
    code, _, err = _run(capsys, "score", *common, "--benchmark", benches[0], "--benchmark", benches[1],
                        "--out", str(tmp_path / "x.nc"))
    assert code == 2 and "--out was given 1 time(s) for 2 --benchmark(s)" in err
    assert not (tmp_path / "x.nc").exists()


def test_glibc_allocator_settings_take():
    """The CLI's compute commands keep large blocks on the heap (neuroalign.allocator): mallopt
    must accept the values here (Linux, glibc), in a fresh process as the CLI does."""
    import subprocess

    code = "from neuroalign.allocator import keep_large_allocations as k; raise SystemExit(0 if k() else 1)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_printed_tables_show_missing_values_as_a_dash(capsys):
    """`compare` prints an RSA row's absent neuroid count, and an encoding row's absent subject
    count, as "–" (it printed "None" and "<NA>")."""
    import pandas as pd

    from neuroalign.cli import _print_table

    df = pd.DataFrame({"benchmark": ["a.rsa", "b.encoding"], "n_neuroids": [None, 50], "n_subjects": [4, None]})
    df = df.astype({"n_neuroids": "Int64", "n_subjects": "Int64"})
    _print_table(df.to_dict("records"), list(df.columns))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["a.rsa", "–", "4"] and lines[2].split() == ["b.encoding", "50", "–"]
