"""Issue 24, "bounded inputs and clean failures": each hostile or broken input ends in one
error line naming the user's own file (never a ``.tmp-PID`` temporary) and what to do, exit 2
from the CLI, no traceback, and nothing half-written. Each test failed on the code before."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neuroalign.errors import DataError

from .test_bad_input import _folder, _png
from .test_hardening import one_line_error

NA = str(Path(sys.executable).parent / "neuroalign")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def cli(*args, env=None, mem_gb=None, timeout=300, cwd=None):
    """The CLI as a user runs it; ``mem_gb`` caps its address space (what the old code blew through)."""
    full = {**os.environ, "NEUROALIGN_OFFLINE": "1", **(env or {})}
    full.pop("NEUROALIGN_FAILPOINT", None)
    cap = int(mem_gb * 2**30) if mem_gb else None
    pre = (lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))) if cap else None
    return subprocess.run([NA, *map(str, args)], capture_output=True, text=True, env=full, timeout=timeout,
                          preexec_fn=pre, cwd=cwd)


def no_tmp_named(proc):
    assert ".tmp-" not in proc.stderr, proc.stderr


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", ro: bool = False):
    """A small tmpfs of our own (root only): a full disk or a read-only folder, for real."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _import(tmp_path, values, rows=None, images=None, **kw):
    arr = tmp_path / "r.npy"
    np.save(arr, values, allow_pickle=values.dtype == object)
    rows_path = tmp_path / "rows.csv"
    (rows if rows is not None else pd.DataFrame({"stimulus_id": [f"im{i}" for i in range(len(values))]})
     ).to_csv(rows_path, index=False)
    out = tmp_path / "bench"
    proc = cli("import-data", "--array", arr, "--rows", rows_path, "--stimuli", images or _folder(tmp_path),
               "--identifier", "lab.x.encoding", "--out-dir", out, **kw)
    return proc, out


# ---- YAML alias bombs: one loader for every YAML read of user input ----

def test_alias_bomb_in_benchmark_file(tmp_path):
    bench = tmp_path / "bench.yaml"
    bench.write_text(BOMB + "identifier: *i\nkind: encoding\nregion: V4\nstimuli: imgs\nassembly: r.nc\n")
    proc = cli("benchmarks", bench, mem_gb=6, timeout=120)
    one_line_error(proc, str(bench), "alias")


def test_alias_bomb_in_submission_metadata(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "model.py").write_text("def build():\n    raise SystemExit(3)\n")
    (pkg / "metadata.yaml").write_text(BOMB + "name: m1\nauthors: *i\ncallable: model.py:build\nlayers: [a]\n")
    proc = cli("submit", pkg, "--submissions", tmp_path / "subs.yaml", "--trust-code", mem_gb=6, timeout=120)
    one_line_error(proc, "metadata.yaml", "alias", outputs=[tmp_path / "subs.yaml"])


def test_alias_bomb_in_leaderboard_info_and_config(tmp_path):
    from neuroalign.errors import ConfigError
    from neuroalign.leaderboard.table import load_model_info
    from neuroalign.workflow import with_defaults

    info = tmp_path / "subs.yaml"
    info.write_text(BOMB + "models: {m: {authors: *i}}\n")
    with pytest.raises(ConfigError, match=rf"{info}.*alias"):
        load_model_info([info])
    cfg = yaml.safe_load(BOMB)  # what Snakemake's own loader hands the Snakefile: shared references
    with pytest.raises(ConfigError, match="alias"):
        with_defaults(cfg)


# ---- declared sizes checked before reading ----

def _netcdf_declaring(path: Path, n: int) -> None:
    import h5netcdf

    with h5netcdf.File(path, "w") as f:  # nothing written: a few KB on disk
        f.dimensions = {"presentation": n, "neuroid": n}
        v = f.create_variable("responses", ("presentation", "neuroid"), "f8", chunks=(1000, 1000))
        v.attrs["_FillValue"] = np.float64(0)


def test_netcdf_declaring_huge_array_refused_before_reading(tmp_path):
    nc = tmp_path / "r.nc"
    _netcdf_declaring(nc, 60000)
    assert nc.stat().st_size < 64_000
    _folder(tmp_path)
    bench = tmp_path / "b.yaml"
    bench.write_text("identifier: lab.x.encoding\nkind: encoding\nregion: V4\nstimuli: imgs\nassembly: r.nc\n")
    out = tmp_path / "s.nc"
    proc = cli("score", "reference", "--benchmark", bench, "--out", out, "--cache-dir", tmp_path / "c",
               env={"NEUROALIGN_MAX_ARRAY_GB": "2"}, mem_gb=6, timeout=180)
    one_line_error(proc, str(nc), "60000", "NEUROALIGN_MAX_ARRAY_GB", outputs=[out])


def test_sparse_huge_image_refused_by_file_size(tmp_path):
    d = _folder(tmp_path)
    with open(d / "huge.png", "wb") as f:  # a sparse file: 3 MB declared, nothing on disk
        f.write(_png(np.zeros((32, 32, 3), np.uint8)))
        f.truncate(3 * 2**20)
    out = tmp_path / "m.json"
    proc = cli("extract", "reference", "--stimuli", d, "--manifest", out, "--cache-dir", tmp_path / "c",
               env={"NEUROALIGN_MAX_IMAGE_MB": "1"})
    one_line_error(proc, "huge.png", "3 MB", "NEUROALIGN_MAX_IMAGE_MB", outputs=[out])


# ---- what a model produces is checked batch by batch ----

PLUGIN = textwrap.dedent('''
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self, mode):
            super().__init__()
            self.mode = mode
        def forward(self, x):
            y = x.mean(dim=(2, 3))
            if x.shape[0] > 1 and self.mode == "wide":
                return torch.cat([y, y], dim=1)
            if x.shape[0] > 1 and self.mode == "nans":
                return y * float("nan")
            return y

    def build(mode="wide"):
        net = nn.Sequential(nn.Conv2d(3, 4, 3), Head(mode))
        return {"module": net, "layers": ["1"], "name": "odd",
                "preprocessing": {"input_size": 32, "resize": 32, "mean": [0.5] * 3, "std": [0.5] * 3}}
''')


@pytest.mark.parametrize("mode, needles", [("wide", ["layer '1'", "8 features", "4", "im0"]),
                                           ("nans", ["layer '1'", "NaN", "im0"])])
def test_model_output_changes_with_batch(tmp_path, mode, needles):
    plugin = tmp_path / "odd.py"
    plugin.write_text(PLUGIN)
    out, cache = tmp_path / "m.json", tmp_path / "c"
    proc = cli("extract", f"plugin:{plugin}:build?mode={mode}", "--stimuli", _folder(tmp_path), "--batch-size", 3,
               "--manifest", out, "--cache-dir", cache)
    one_line_error(proc, *needles, outputs=[out])
    assert not list(cache.rglob("*.zarr")) if cache.exists() else True


def test_rsa_scorer_never_divides_by_zero():
    import xarray as xr

    from neuroalign.scorers.rsa import score_rsa
    from neuroalign.similarity import compute_rdms

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(20)]

    def feats(values):
        return xr.DataArray(values, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})

    data = xr.concat([compute_rdms(feats(rng.normal(size=(20, 8))), "correlation") for _ in range(2)], dim="rdm")
    nan = rng.normal(size=(20, 8))
    nan[5:] = np.nan
    with pytest.raises(DataError, match=r"layer 'a'.*non-finite.*15 stimul.*s5"):
        score_rsa({"a": feats(nan)}, data, n_bootstrap=5)


# ---- import-data reads, checks and decodes everything it imports ----

def test_import_nan_inf_columns_refused_naming_neuroids(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 4))
    values[:, 1] = np.nan
    values[2, 3] = np.inf
    proc, out = _import(tmp_path, values)
    one_line_error(proc, "2 neuroid", "'n0001'", "'n0003'", outputs=[out])
    assert not out.exists()


def test_import_object_npy(tmp_path):
    proc, out = _import(tmp_path, np.array([[1, "a"]] * 6, dtype=object))
    one_line_error(proc, "r.npy", "object", outputs=[out])
    assert not out.exists()


def test_import_repetition_not_a_number(tmp_path):
    rows = pd.DataFrame({"stimulus_id": [f"im{i}" for i in range(6)], "repetition": [0, 0, "abc", 0, 0, 0]})
    proc, out = _import(tmp_path, np.zeros((6, 2)), rows=rows)
    one_line_error(proc, "rows.csv", "repetition", "'abc'", outputs=[out])
    assert not out.exists()


def test_import_symlink_leaving_the_folder_refused(tmp_path):
    d = _folder(tmp_path)
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(_png(np.zeros((32, 32, 3), np.uint8)))
    (d / "im5.png").unlink()
    (d / "im5.png").symlink_to(secret)
    proc, out = _import(tmp_path, np.zeros((6, 2)), images=d)
    one_line_error(proc, "im5.png", "outside", outputs=[out])
    assert not out.exists()


def test_import_broken_image_found_at_import(tmp_path):
    d = _folder(tmp_path)
    (d / "im3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    proc, out = _import(tmp_path, np.zeros((6, 2)), images=d)
    one_line_error(proc, "im3.png", "corrupt", outputs=[out])
    assert not out.exists()


def test_import_error_names_the_users_folder_not_a_temporary(tmp_path):
    rows = pd.DataFrame({"stimulus_id": [f"im{i}" for i in range(5)] + ["ghost"]})
    proc, out = _import(tmp_path, np.zeros((6, 2)), rows=rows)
    # the unknown id is caught before anything is written, naming the user's rows file (not a .tmp-PID copy)
    one_line_error(proc, "ghost", str(tmp_path / "rows.csv"), outputs=[out])
    no_tmp_named(proc)


# ---- outputs: writable before computing, disk full without a crash ----

def test_read_only_out_refused_before_computing(tmp_path):
    ro = tmp_path / "ro"
    with tmpfs(ro, ro=True):
        cache = tmp_path / "c"
        out = ro / "rdms.nc"
        proc = cli("rdms", "reference", "--stimuli", "synthetic", "--out", out, "--cache-dir", cache)
        one_line_error(proc, str(out), "not writable", outputs=[out])
        assert not cache.exists(), "computed before checking the output"
        proc = cli("extract", "reference", "--stimuli", "synthetic", "--cache-dir", ro / "cache")
        one_line_error(proc, str(ro / "cache"), "not writable")
        no_tmp_named(proc)


@pytest.mark.parametrize("target", ["out", "cache"])
def test_disk_full_clean_error_nothing_partial(tmp_path, target):
    small = tmp_path / "small"
    with tmpfs(small, size="64k"):
        out = (small if target == "out" else tmp_path) / "rdms.nc"
        cache = (small if target == "cache" else tmp_path) / "c"
        proc = cli("rdms", "reference", "--stimuli", "synthetic", "--reduction", "flatten", "--out", out,
                   "--cache-dir", cache)
        one_line_error(proc, "no space left", str(out if target == "out" else cache), outputs=[out])
        no_tmp_named(proc)
        assert not any(p.name.startswith(".") for p in small.rglob("*")), list(small.rglob("*"))


# ---- numeric options ----

@pytest.mark.parametrize("flag, args", [
    ("--budget-gb", ["extract", "reference", "--stimuli", "synthetic", "--budget-gb", "0"]),
    ("--budget-gb", ["extract", "reference", "--stimuli", "synthetic", "--budget-gb", "nan"]),
    ("--budget-gb", ["score", "reference", "--benchmark", "synthetic.encoding", "--budget-gb", "-1"]),
    ("--dask-workers", ["score", "reference", "--benchmark", "synthetic.encoding", "--dask-workers", "0"]),
    ("--n-draws", ["scaling", "synthetic", "--n-draws", "0", "--out", "x.csv"]),
    ("--n-boot", ["figures", "r.csv", "figs", "--n-boot", "-5"]),
    ("--lr", ["finetune", "reference", "--layer", "block2", "--lr", "nan", "--out-dir", "ft"]),
])
def test_numeric_options_refused(tmp_path, flag, args):
    proc = cli(*args, cwd=tmp_path)  # relative outputs land in tmp_path, should the option pass
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"error: argument {flag}: must be" in proc.stderr, proc.stderr


# ---- a random projection bounded by the machine's memory ----

def test_huge_srp_dimension_refused_before_allocating(tmp_path):
    """``srp:2000000000`` ran the machine out of memory; now one line naming a dimension that fits."""
    cache = tmp_path / "c"
    proc = cli("extract", "reference", "--stimuli", "synthetic", "--reduction", "srp:2000000000",
               "--cache-dir", cache, mem_gb=12)
    one_line_error(proc, "srp:2000000000", "for the projection", "would fit")
    assert not list(cache.rglob("*.zarr")), "a store was left behind"
