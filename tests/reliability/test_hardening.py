"""Issue 18: bounded resources on every input, no traceback, no silent wrong result. Each CLI case
ends in one clear error naming the input and what to do (exit 2; 130 for Ctrl-C), with no output
or temporary left behind."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroalign.atomic import atomic_path
from neuroalign.data.stimuli import StimulusSet, decode_image
from neuroalign.errors import ConfigError, DataError, NeuroalignWarning

from .test_bad_input import _folder, _png

NA = str(Path(sys.executable).parent / "neuroalign")


def cli(*args, env=None, timeout=600):
    extra, env = env or {}, {**os.environ, "NEUROALIGN_OFFLINE": "1"}
    env.pop("NEUROALIGN_FAILPOINT", None)
    env.update(extra)
    return subprocess.run([NA, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def one_line_error(proc, *needles, code=2, outputs=()):
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln or "interrupted" in ln]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1, proc.stderr
    for n in needles:
        assert n in errors[0], f"{n!r} not in {errors[0]!r}"
    for out in outputs:
        out = Path(out)
        assert not (out.exists() and out.is_file()), f"{out} left behind"
        assert not list(out.parent.glob(f".{out.name}.tmp*")), "temporary left behind"



def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (grey, 8 bit) with a tiny body: what a
    decompression bomb looks like before decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ---- §2 bounded resources ----

def _patched_zip(path: Path, declared: int) -> None:
    """A small zip whose central directory declares ``declared`` uncompressed bytes for its member."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", _png(np.zeros((8, 8, 3), np.uint8)))
        zf.writestr("big.png", b"\0" * 4096)
    raw = bytearray(path.read_bytes())
    cd = raw.rfind(b"PK\x01\x02")  # the central-directory entry of the last member, big.png
    raw[cd + 24:cd + 28] = struct.pack("<I", declared)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("declared, needle", [(3 * 2**30, "declares 3072 MB uncompressed"),
                                              (100 * 2**20, "expands")])
def test_zip_bomb_refused_before_reading(tmp_path, declared, needle):
    z = tmp_path / "bomb.zip"
    _patched_zip(z, declared)
    t0 = time.monotonic()
    with pytest.raises(DataError, match=rf"big.png.*{needle}.*(NEUROALIGN_MAX_IMAGE_MB|NEUROALIGN_MAX_ZIP_RATIO)"):
        StimulusSet.from_zip(z)
    assert time.monotonic() - t0 < 2


def test_zip_limit_is_configurable(tmp_path, monkeypatch):
    z = tmp_path / "ok.zip"
    _patched_zip(z, 4096)  # honest size: accepted
    assert len(StimulusSet.from_zip(z)) == 2
    monkeypatch.setenv("NEUROALIGN_MAX_IMAGE_MB", "0.001")
    with pytest.raises(DataError, match="over the limit of 0 MB"):
        StimulusSet.from_zip(z)


def test_huge_image_clean_error_names_image_and_limit():
    with pytest.raises(DataError, match=r"image imgs/huge.png has 900 million pixels, over the limit of 100 million"):
        decode_image(_png_header_only(30000, 30000), "imgs/huge.png")
    with pytest.raises(DataError, match=r"image imgs/big.png is 12000 x 10000 = 120 million pixels, over the limit"):
        decode_image(_png_header_only(12000, 10000), "imgs/big.png")  # under PIL's bomb limit, over ours


def test_huge_image_through_cli(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "a.png").write_bytes(_png(np.zeros((32, 32, 3), np.uint8)))
    (d / "huge.png").write_bytes(_png_header_only(30000, 30000))
    out = tmp_path / "m.json"
    one_line_error(cli("extract", "reference", "--stimuli", d, "--manifest", out, "--cache-dir", tmp_path / "c"),
                   "huge.png", "900 million pixels", "limit of 100 million", outputs=[out])


def test_tiny_image_warns():
    with pytest.warns(NeuroalignWarning, match=r"image x/tiny.png is only 1 x 1 pixels"):
        img = decode_image(_png(np.zeros((1, 1, 3), np.uint8)), "x/tiny.png")
    assert img.size == (1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode_image(_png(np.zeros((32, 32, 3), np.uint8)), "x/fine.png")  # no warning


# ---- §3 no tracebacks ----

@pytest.mark.parametrize("value", ["0", "-1"])
def test_batch_size_must_be_positive(tmp_path, value):
    proc = cli("extract", "reference", "--stimuli", "synthetic", "--batch-size", value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"argument --batch-size: must be at least 1, got {value}" in proc.stderr


@pytest.mark.parametrize("device, env, needle", [
    ("cuda", {"CUDA_VISIBLE_DEVICES": ""}, "no CUDA GPU is visible here"),
    ("gpu", {}, "is not one of auto, cpu, cuda"),
])
def test_bad_device(tmp_path, device, env, needle):
    out = tmp_path / "m.json"
    one_line_error(cli("extract", "reference", "--stimuli", "synthetic", "--device", device, "--manifest", out,
                       "--cache-dir", tmp_path / "c", env=env), f"device {device!r}", needle, outputs=[out])


def test_random_bytes_checkpoint_with_trust(tmp_path):
    ck = tmp_path / "noise.pt"
    ck.write_bytes(np.random.default_rng(0).bytes(4096))
    out = tmp_path / "m.json"
    one_line_error(cli("extract", f"checkpoint:{ck}?arch=alexnet&trust=true", "--stimuli", "synthetic",
                       "--manifest", out), str(ck), "not a readable torch file", outputs=[out])


def test_misspelled_spec_parameter(tmp_path):
    ck = tmp_path / "w.pt"
    ck.write_bytes(b"unused")
    out = tmp_path / "m.json"
    one_line_error(cli("extract", f"checkpoint:{ck}?arch=alexnet&trsut=true", "--stimuli", "synthetic",
                       "--manifest", out), "'trsut'", "Did you mean 'trust'", outputs=[out])


def _table(path: Path, model="m", raw=0.5) -> Path:
    pd.DataFrame({"model": [model, model], "benchmark": ["b", "b"], "kind": ["encoding"] * 2,
                  "scope": ["layer", "reported"], "layer": ["l1", "l1"], "raw": [raw, raw],
                  "ceiling": [0.8, 0.8], "normalized": [raw / 0.8**0.5] * 2}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case, needle", [("missing", "does not exist"), ("empty", "is empty"),
                                          ("binary", "not a CSV file"), ("netcdf", "not a CSV file"),
                                          ("unrelated", "lacks column(s)")])
def test_results_bad_inputs(tmp_path, case, needle):
    bad = tmp_path / f"{case}.csv"
    if case == "empty":
        bad.write_text("")
    elif case == "binary":
        bad.write_bytes(bytes(range(256)) * 8)
    elif case == "netcdf":
        import xarray as xr

        bad = tmp_path / "score.nc"
        xr.Dataset({"raw": ("neuroid", np.arange(3.0))}).to_netcdf(bad, engine="h5netcdf")
    elif case == "unrelated":
        pd.DataFrame({"name": ["a", "b"], "value": [1, 2]}).to_csv(bad, index=False)
    out = tmp_path / "results.csv"
    one_line_error(cli("results", _table(tmp_path / "good.csv"), bad, "--out", out), str(bad), needle,
                   outputs=[out])


def test_results_out_is_a_directory(tmp_path):
    out = tmp_path / "outdir"
    out.mkdir()
    one_line_error(cli("results", _table(tmp_path / "good.csv"), "--out", out), str(out), "is a folder")
    assert list(tmp_path.glob(".outdir.tmp*")) == [] and list(out.iterdir()) == []


def test_sigint_during_extraction_one_line_nothing_written(tmp_path):
    cache, out = tmp_path / "c", tmp_path / "m.json"
    proc = cli("extract", "reference", "--stimuli", _folder(tmp_path, n=8), "--batch-size", "2", "--cache-dir", cache,
               "--manifest", out, env={"NEUROALIGN_FAILPOINT": "extract.batch:2:INT"})
    one_line_error(proc, "neuroalign extract: interrupted; nothing was written", code=130, outputs=[out])
    assert [p for p in cache.rglob("*") if p.name.endswith(".zarr") or ".tmp-" in p.name] == []


# ---- §4 no silent wrong results ----

def test_results_conflicting_duplicates_refused(tmp_path):
    a, b = _table(tmp_path / "a.csv", raw=0.5), _table(tmp_path / "b.csv", raw=0.6)
    out = tmp_path / "results.csv"
    one_line_error(cli("results", a, b, "--out", out), "model 'm' on benchmark 'b' has different results",
                   str(a), str(b), outputs=[out])


def test_results_identical_duplicates_kept_once(tmp_path):
    from neuroalign.results import combine_tables

    a, b, c = _table(tmp_path / "a.csv"), _table(tmp_path / "b.csv"), _table(tmp_path / "c.csv", model="other")
    df = combine_tables([a, b, c])
    assert len(df) == 4 and sorted(df["model"].unique()) == ["m", "other"]


def test_workflow_model_spec_typo_fails_at_parse_time():
    from neuroalign.workflow import check_config

    cfg = {"benchmarks": ["synthetic.encoding"], "models": {"r": {"spec": "torchvision:resnet19"}}}
    with pytest.raises(ConfigError, match=r"config error at models/r/spec: .*'torchvision:resnet18'"):
        check_config(cfg)
    check_config({"benchmarks": ["synthetic.encoding"], "models": {"r": {"spec": "torchvision:resnet18"}}})


def test_folder_reports_skipped_and_case_clash(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for name in ("img00.png", "Img00.png", "img01.png"):
        (d / name).write_bytes(_png(np.zeros((32, 32, 3), np.uint8)))
    (d / "notes.txt").write_text("x")
    (d / "nested").mkdir()
    with pytest.warns(NeuroalignWarning) as record:
        s = StimulusSet.from_folder(d)
    msgs = [str(w.message) for w in record]
    assert s.stimulus_ids == ["Img00", "img00", "img01"]
    assert any("skipped 2 entries" in m and "nested/" in m and "notes.txt" in m for m in msgs), msgs
    assert any("differ only in letter case" in m and "'Img00.png', 'img00.png'" in m for m in msgs), msgs


def test_stale_tmp_of_killed_writer_removed(tmp_path):
    from neuroalign.atomic import _HOST

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "store.zarr"
    stale = tmp_path / f".store.zarr.tmp-{dead.pid}-0123abcd-{_HOST}"  # this host, writer gone: removed
    live = tmp_path / f".store.zarr.tmp-1-89abcdef-{_HOST}"  # pid 1 is alive: kept
    remote = tmp_path / f".store.zarr.tmp-{dead.pid}-0123abce-ffffff"  # another host, recent: kept
    old_remote = tmp_path / f".store.zarr.tmp-{dead.pid}-0123abcf-fffffe"  # another host, 2 days old: removed
    for p in (stale, live, remote, old_remote):
        p.mkdir()
        (p / "chunk").write_bytes(b"x")
    os.utime(old_remote, (time.time() - 2 * 86400,) * 2)
    with atomic_path(target) as tmp:
        tmp.mkdir()
    assert target.is_dir() and live.exists() and remote.exists()
    assert not stale.exists() and not old_remote.exists()


def test_rerun_after_sigkill_removes_its_stale_store(tmp_path):
    cache = tmp_path / "c"
    args = ["extract", "reference", "--stimuli", _folder(tmp_path, n=8), "--layers", "block1", "--batch-size", "2",
            "--cache-dir", cache]
    killed = cli(*args, env={"NEUROALIGN_FAILPOINT": "extract.batch:2"})
    assert killed.returncode == -9
    assert len([p for p in cache.rglob(".*.tmp-*")]) == 1  # the killed run's half-written store
    assert cli(*args).returncode == 0
    assert [p for p in cache.rglob(".*.tmp-*")] == []
    assert len([p for p in cache.rglob("*.zarr") if not p.name.startswith(".")]) == 1
