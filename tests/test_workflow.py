"""The Snakemake workflow for real: a tiny grid end to end, dry runs, schema errors, kill and resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")

TINY = {
    "results": "results",
    "models": {"ref": {"spec": "reference"}, "ref-seed7": {"spec": "reference?seed=7"}},
    "benchmarks": ["synthetic.encoding", "synthetic.ood.gratings_to_blobs", "kriegeskorte2008.human_it.rsa"],
    "device": "cpu",
    "submissions": "results/submissions.yaml",
    "scaling": {"n_boot": 200, "runs": {"synthetic": {"stimuli": "synthetic", "model": "ref", "layer": "block2",
                                                      "stimulus_duration_s": 0.1, "interstimulus_s": 0.1}}},
}

PLUGIN = '''
import torch
from neuroalign.models.reference import build_reference_net

def build():
    net = build_reference_net(seed=3)
    return net, ["block1", "block3"], {"input_size": 64, "resize": None, "crop": False,
                                       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
'''


def _env():
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return env


def _snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, timeout: int = 900):
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if config is not None:
        cmd += ["--configfile", str(config)]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, env=_env(), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _incomplete(work: Path) -> set[str]:
    """The outputs snakemake has marked as being made (``.snakemake/incomplete``: one file per
    output, named by the url-safe base64 of its path, split into ``@``-prefixed folders when long)."""
    import base64

    root = work / ".snakemake" / "incomplete"
    names = set()
    for f in root.rglob("*") if root.is_dir() else ():
        if f.is_file() and f.name != "migration_underway":
            b64 = "".join(part.lstrip("@") for part in f.relative_to(root).parts)
            names.add(base64.urlsafe_b64decode(b64).decode())
    return names


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    """The tiny grid, run the hard way: killed with SIGKILL once its first score job (one model's
    benchmarks) is finished, then rerun to completion (as a user would after a crash)."""
    work = tmp_path_factory.mktemp("wf")
    cfg = work / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    # a model submitted through `neuroalign submit` joins the grid
    pkg = work / "mymodel"
    pkg.mkdir()
    (pkg / "model.py").write_text(PLUGIN)
    (pkg / "metadata.yaml").write_text(yaml.safe_dump({"name": "submitted-net", "authors": ["Test Author"],
                                                       "callable": "model.py:build", "layers": ["block1", "block3"]}))
    sub = subprocess.run([str(BIN / "neuroalign"), "submit", str(pkg), "--submissions",
                          str(work / "results" / "submissions.yaml"), "--timeout", "300"],
                         capture_output=True, text=True, env=_env(), cwd=work)
    assert sub.returncode == 0, sub.stderr
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--cores", "2",
           "--configfile", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
                            start_new_session=True)
    scores = work / "results" / "scores"

    def done_jobs():  # a score job (all of one model's benchmarks) is finished once every table exists
        return [m for m in scores.glob("*") if all((m / f"{b}.csv").exists() for b in TINY["benchmarks"])]

    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not done_jobs():
        time.sleep(0.5)
    first = sorted(p for m in done_jobs() for p in m.glob("*.nc"))
    # kill only once snakemake has recorded that job as complete (its incomplete markers gone):
    # a fixed pause lost this race on a loaded machine, and the rerun then redid the job
    outputs = {str(p.relative_to(work)) for p in first}
    while time.time() < deadline and proc.poll() is None and _incomplete(work) & outputs:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first, "no score job was finished before the kill"
    finished = {p: p.stat().st_mtime_ns for p in first}
    assert not (work / "results" / "results.csv").exists()  # killed part-way, before the end
    _snakemake(work, "--unlock", config=cfg)  # the lock a killed run leaves behind
    # snakemake flags the killed jobs' outputs as incomplete; neuroalign wrote none of them
    # (atomic renames), so rerunning them is all that is left to do
    _snakemake(work, "--rerun-incomplete", config=cfg)
    return work, cfg, finished


def test_tiny_grid_outputs_and_numbers(tiny_run):
    work, _, _ = tiny_run
    res = pd.read_csv(work / "results" / "results.csv")
    rep = res[res["scope"] == "reported"].set_index(["model", "benchmark"])
    assert set(rep.index.get_level_values("model")) == {"ref", "ref-seed7", "submitted-net"}
    enc = rep.loc[("ref", "synthetic.encoding")]
    assert abs(enc["normalized"] - 1.0) < 0.05 and enc["layer"] == "block2"
    ood = rep.loc[("ref", "synthetic.ood.gratings_to_blobs")]
    assert ood["ratio"] > 0.9
    rsa = rep.loc[("ref", "kriegeskorte2008.human_it.rsa")]
    assert -1 <= rsa["raw"] <= 1 and rsa["ceiling"] > 0
    from neuroalign.scoring import check_identities

    assert check_identities(res) == []  # every row: raw, ceiling, normalized by its kind's one convention
    assert res["normalization"].notna().all() and (rep["n_excluded"] >= 0).all()
    assert (work / "results" / "leaderboard" / "leaderboard.html").is_file()
    assert (work / "results" / "figures" / "png").is_dir()
    pngs = {p.stem for p in (work / "results" / "figures" / "png").glob("*.png")}
    assert {"encoding_layers", "rsa_bars", "id_vs_ood", "scaling_law", "model_compare"} <= pngs
    scaling = pd.read_csv(work / "results" / "scaling" / "synthetic.csv")
    assert (pd.read_csv(work / "results" / "scaling" / "synthetic_fit.csv")["n_boot_ok"] > 150).all()
    assert scaling["feve"].max() > 0.9  # the generator layer explains the simulated neurons


def test_submitted_model_on_leaderboard_with_every_benchmark(tiny_run):
    work, _, _ = tiny_run
    lb = pd.read_csv(work / "results" / "leaderboard" / "leaderboard.csv")
    row = lb[lb["model"] == "submitted-net"]
    assert len(row) == 1
    for b in TINY["benchmarks"]:
        assert pd.notna(row[f"{b}.raw"].iloc[0]), b
    html = (work / "results" / "leaderboard" / "leaderboard.html").read_text()
    assert "submitted-net" in html
    # issue 26: tiers and intervals in the cells, a pairwise page per benchmark from the score files
    assert 'class="tier"' in html and 'id="decisions"' in html
    page = (work / "results" / "leaderboard" / "benchmarks" / "synthetic.encoding.html").read_text()
    assert page.count('class="num pair') == 6 and 'id="version">version v1' in page  # 3 models: 6 ordered pairs


def test_rerun_after_kill_recomputes_nothing_finished(tiny_run):
    work, _, finished = tiny_run
    for p, mtime in finished.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed"
    assert not [p for p in (work / "results").rglob(".*") if ".tmp-" in p.name]  # no half-written output
    # the resumed grid's scores equal an uninterrupted computation of the same pair
    import xarray as xr

    ref = work / "direct.nc"
    subprocess.run([str(BIN / "neuroalign"), "score", "reference", "--benchmark", "synthetic.encoding", "--name", "ref",
                    "--cache-dir", str(work / "results" / "cache"), "--device", "cpu", "--out", str(ref)],
                   check=True, env=_env(), capture_output=True)
    a = xr.load_dataset(work / "results" / "scores" / "ref" / "synthetic.encoding.nc", engine="h5netcdf")
    b = xr.load_dataset(ref, engine="h5netcdf")
    assert (a["raw"].values == b["raw"].values).all()  # bit for bit
    assert a.attrs["aggregate_normalized"] == b.attrs["aggregate_normalized"]


def test_dry_run_default_config_and_slurm_profile(tmp_path):
    out = _snakemake(tmp_path, "-n")
    assert "extract" in out.stdout and "score" in out.stdout
    out = _snakemake(tmp_path, "-n", "--profile", str(ROOT / "pipelines" / "profiles" / "slurm"))
    assert "score" in out.stdout
    ft = tmp_path / "ft.yaml"  # the fine-tuning block switched on
    ft.write_text(yaml.safe_dump(dict(TINY, finetune={"enabled": True, "steps": 10})))
    out = _snakemake(tmp_path, "-n", config=ft)
    assert "finetune" in out.stdout and "finetune_summary" in out.stdout
    assert "finetune_sweep" in out.stdout  # the λ sweep and its Pareto figure (calibrated λ by default)


def test_jobs_per_model_or_stimulus_set(tmp_path):
    """`jobs_per: model` (default): one extract and one score process per model, every benchmark
    still with its own outputs; `jobs_per: stimulus_set`: one job each per model × stimulus set."""
    from neuroalign.benchmarks import get_benchmark, stimulus_key
    from neuroalign.workflow import score_rule_name

    sets = {}
    for b in TINY["benchmarks"]:
        sets.setdefault(stimulus_key(get_benchmark(b)), []).append(b)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = _snakemake(tmp_path, "-n", "-p", "--forceall", config=cfg).stdout
    score = [x for x in out.splitlines() if "neuroalign score" in x]
    extract = [x for x in out.splitlines() if "neuroalign extract" in x]
    assert len(score) == len(extract) == len(TINY["models"])  # the submitted model is not in this config
    for line in score:
        assert line.count("--benchmark ") == line.count("--out ") == line.count("--table ") == len(TINY["benchmarks"])
    for line in extract:
        assert line.count("--stimuli ") == line.count("--manifest ") == len(sets)
    cfg.write_text(yaml.safe_dump(dict(TINY, jobs_per="stimulus_set")))
    out = _snakemake(tmp_path, "-n", "-p", "--forceall", config=cfg).stdout
    score = [x for x in out.splitlines() if "neuroalign score" in x]
    assert len(score) == len(TINY["models"]) * len(sets)
    assert sorted(x.count("--benchmark ") for x in score) == sorted([len(v) for v in sets.values()] * len(TINY["models"]))
    for key in sets:
        assert re.search(rf"^(local)?rule {score_rule_name(key)}:$", out, re.M), score_rule_name(key)
    assert len([x for x in out.splitlines() if "neuroalign extract" in x]) == len(TINY["models"]) * len(sets)


def test_scaling_rule_passes_the_model_and_layer(tmp_path):
    """Issue 28: the scaling rule names the grid model and the layer, which the tables record and
    the figure's title shows (not only the model's spec)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = _snakemake(tmp_path, "-n", "-p", "--forceall", config=cfg).stdout
    (line,) = [x for x in out.splitlines() if "neuroalign scaling" in x]
    assert "--model reference --model-name ref --layer block2" in line


def test_misspelled_config_key_is_named(tmp_path):
    bad = dict(TINY, benchmarcks=["synthetic.encoding"])
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    out = _snakemake(tmp_path, "-n", config=cfg, check=False)
    assert out.returncode != 0
    assert "benchmarcks" in out.stderr + out.stdout and "benchmarks" in out.stderr + out.stdout


def test_image_limits_in_the_config_reach_every_command(tmp_path):
    cfg = tmp_path / "limits.yaml"
    cfg.write_text(yaml.safe_dump(dict(TINY, image_limits={"max_image_mb": 3, "max_image_pixels": 4000000})))
    out = _snakemake(tmp_path, "-n", "-p", config=cfg)
    assert out.returncode == 0, out.stderr
    extract = [line for line in out.stdout.splitlines() if " extract " in line and "neuroalign" in line]
    assert extract and all("NEUROALIGN_MAX_IMAGE_MB=3 " in x and "NEUROALIGN_MAX_IMAGE_PIXELS=4000000 " in x
                           and "NEUROALIGN_MAX_ZIP_RATIO=1000 " in x for x in extract)  # the rest from the defaults
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(TINY, image_limits={"max_image_gb": 3})))
    out = _snakemake(tmp_path, "-n", config=bad, check=False)
    assert out.returncode != 0 and "unknown config key 'max_image_gb'" in out.stdout + out.stderr


def test_benchmark_files_sit_beside_identifiers_in_the_config(tmp_path):
    """A benchmark file in `benchmarks:` runs like an identifier: extracted from its own images
    (a file-name-safe key), scored with its path, named by its identifier."""
    import numpy as np
    from PIL import Image

    from neuroalign.data.assembly import make_assembly, save_assembly

    lab = tmp_path / "mylab"
    (lab / "images").mkdir(parents=True)
    ids = [f"im{i}" for i in range(10)]
    for i, sid in enumerate(ids):
        Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)).save(lab / "images" / f"{sid}.png")
    save_assembly(make_assembly(np.random.default_rng(0).normal(size=(20, 2)), stimulus_id=ids * 2),
                  lab / "r.nc")
    (lab / "bench.yaml").write_text(yaml.safe_dump({"identifier": "mylab.v1.encoding", "kind": "encoding",
                                                    "region": "V1", "assembly": "r.nc", "stimuli": "images"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(dict(TINY, benchmarks=["synthetic.encoding", str(lab / "bench.yaml")])))
    out = _snakemake(tmp_path, "-n", "-p", config=cfg)
    score = [x for x in out.stdout.splitlines() if "neuroalign score" in x and "mylab.v1.encoding.nc" in x]
    assert score and all(f"--benchmark {__import__('shlex').quote(str(lab / 'bench.yaml'))}" in x for x in score)
    extract = [x for x in out.stdout.splitlines() if "neuroalign extract" in x and str(lab / "images") in x]
    assert extract and all("/file-" in x for x in extract)  # the extraction key of a stimulus folder
