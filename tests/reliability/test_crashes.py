"""Crashes tried on purpose: SIGKILL mid-extraction, mid-ridge-fit and mid-fine-tuning; a rerun
gives the result of an uninterrupted run, and nothing half-written is ever read. Concurrent
writers of one cache entry leave one complete entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

NA = str(Path(sys.executable).parent / "neuroalign")


def run(*args, failpoint=None, check=True):
    env = {**os.environ, "NEUROALIGN_OFFLINE": "1"}
    env.pop("NEUROALIGN_FAILPOINT", None)
    if failpoint:
        env["NEUROALIGN_FAILPOINT"] = failpoint
    proc = subprocess.run([NA, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    if check and failpoint is None:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def stores(cache: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(cache.rglob("*.zarr")):
        if p.name.startswith("."):
            continue
        out[p.name] = np.asarray(xr.open_zarr(p, consolidated=False)["activations"].values)
    return out


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp-" in p.name]


def test_kill_during_extraction_then_rerun(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = ["extract", "reference", "--stimuli", "synthetic", "--batch-size", "50"]
    proc = run(*args, "--cache-dir", killed, failpoint="extract.batch:5")
    assert proc.returncode == -signal.SIGKILL  # really killed, half-way (5 of 12 batches)
    assert stores(killed) == {}  # nothing complete-looking was left
    run(*args, "--cache-dir", killed)
    run(*args, "--cache-dir", clean)
    a, b = stores(killed), stores(clean)
    assert a.keys() == b.keys() and len(a) == 3
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_kill_during_ridge_fit_then_rerun(tmp_path):
    cache, out = tmp_path / "c", tmp_path / "score.nc"
    args = ["score", "reference", "--benchmark", "synthetic.encoding", "--cache-dir", cache, "--out", out,
            "--table", tmp_path / "rows.csv"]
    proc = run(*args, failpoint="encoding.layer:2")  # after 2 of 3 layers' fits
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and not (tmp_path / "rows.csv").exists() and not leftovers(tmp_path)
    run(*args)
    ref = tmp_path / "ref.nc"
    run("score", "reference", "--benchmark", "synthetic.encoding", "--cache-dir", cache, "--out", ref)
    a, b = xr.load_dataset(out), xr.load_dataset(ref)
    np.testing.assert_array_equal(a["raw"].values, b["raw"].values)
    assert a.attrs["aggregate_normalized"] == b.attrs["aggregate_normalized"]


def test_two_processes_write_one_cache_entry(tmp_path):
    cache = tmp_path / "c"
    env = {**os.environ, "NEUROALIGN_OFFLINE": "1"}
    env.pop("NEUROALIGN_FAILPOINT", None)
    cmd = [NA, "extract", "reference", "--stimuli", "synthetic", "--batch-size", "25", "--cache-dir", str(cache)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()[-2000:]
    got = stores(cache)
    assert len(got) == 3 and not leftovers(cache)
    clean = tmp_path / "clean"
    run("extract", "reference", "--stimuli", "synthetic", "--batch-size", "25", "--cache-dir", clean)
    for k, v in stores(clean).items():
        np.testing.assert_array_equal(got[k], v)
