"""Untrusted models: submitted code runs inside the bubblewrap sandbox (no network, minimal
read-only view, private /tmp, own PID namespace) under time and memory limits, weights never
unpickle code without the trust flag, and a changed submission is refused. The hostile cases
(a submission trying to get past the boundary) are in test_hostile.py."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import torch
import yaml

from neuroalign.errors import ModelError, SandboxError
from neuroalign.submit import check_pinned, submit, validate_submission
from processes import processes  # tests/processes.py

ROOT = Path(__file__).resolve().parents[2]
NA = str(Path(sys.executable).parent / "neuroalign")

GOOD = """
from neuroalign.models.reference import build_reference_net
def build():
    return build_reference_net(seed=5), ["block2"], {"input_size": 64, "resize": None, "crop": False,
                                                   "mean": [0.5] * 3, "std": [0.25] * 3}
"""


def _package(tmp_path, body, layers=("block2",)):
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "model.py").write_text(textwrap.dedent(body))
    (pkg / "metadata.yaml").write_text(yaml.safe_dump({"name": "m1", "authors": ["A"], "callable": "model.py:build",
                                                       "layers": list(layers)}))
    return pkg


def test_good_submission_recorded_with_hashes(tmp_path):
    rec = submit(_package(tmp_path, GOOD), tmp_path / "subs.yaml")
    entry = yaml.safe_load((tmp_path / "subs.yaml").read_text())["models"]["m1"]
    assert entry["identity"].startswith("plugin:") or "sha256" in entry["identity"]
    assert len(entry["folder_sha256"]) == 64 and entry["layers"] == ["block2"]
    assert rec["shapes"]["block2"][1] == 32 and entry["folder"] == str(tmp_path / "pkg")


def test_endless_model_is_stopped(tmp_path):
    pkg = _package(tmp_path, "import time\ndef build():\n    time.sleep(600)\n")
    with pytest.raises(ModelError, match=r"exceeded 5 s"):
        validate_submission(pkg, timeout=5)


def test_memory_hog_is_stopped(tmp_path):
    pkg = _package(tmp_path, "def build():\n    x = bytearray(6 * 2**30)\n    return x\n")
    with pytest.raises(ModelError, match="failed validation"):
        validate_submission(pkg, memory_gb=4)


def test_missing_layer_refused(tmp_path):
    with pytest.raises(ModelError, match="blockX"):
        validate_submission(_package(tmp_path, GOOD, layers=("blockX",)))


def test_edited_code_after_submission_refused(tmp_path):
    submit(_package(tmp_path, GOOD), tmp_path / "subs.yaml")
    entry = yaml.safe_load((tmp_path / "subs.yaml").read_text())["models"]["m1"]
    (tmp_path / "pkg" / "model.py").write_text(GOOD + "\nimport os  # changed\n")
    with pytest.raises(ModelError, match="changed since it was submitted"):
        check_pinned("m1", entry)


def test_weights_never_unpickle_code_without_trust(tmp_path):
    from neuroalign.models import load_model

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ModelError, match="trust"):
        load_model(f"checkpoint:{path}?arch=alexnet")


# ---- the sandbox (bubblewrap): each attack is refused, leaves nothing running, writes nothing ----

def _running(marker: str) -> list[str]:
    """Host processes whose command line holds ``marker``."""
    return [str(pid) for pid, cmd, _ in processes() if marker in cmd]


def test_sandbox_runs_here():
    from neuroalign import sandbox

    assert sandbox.why_unavailable() is None, sandbox.why_unavailable()


def test_write_outside_refused_and_nothing_written(tmp_path):
    target = ROOT / "neuroalign" / f"escaped-{uuid.uuid4().hex[:8]}.txt"  # the package's folder, bound read-only
    body = f"from pathlib import Path\nPath({str(target)!r}).write_text('pwned')\n" + GOOD
    try:
        with pytest.raises(ModelError, match=r"failed validation: .*(Read-only file system|Permission denied)"):
            submit(_package(tmp_path, body), tmp_path / "subs.yaml")
        assert not target.exists()
        assert not (tmp_path / "subs.yaml").exists()
    finally:
        target.unlink(missing_ok=True)


def test_socket_refused_and_no_connection(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'secrets')\n" + GOOD
    with pytest.raises(ModelError, match=r"failed validation: .*(ConnectionRefusedError|Network is unreachable)"):
        validate_submission(_package(tmp_path, body))
    with pytest.raises(TimeoutError):  # the host-side listener never saw a connection
        server.accept()
    server.close()


def test_detached_child_refused_and_killed(tmp_path):
    marker = f"{uuid.uuid4().int % 10**6 + 10**6}.5"  # `sleep <marker>`: findable among host processes
    body = ("import subprocess\n" + GOOD.replace(
        "def build():\n", f"def build():\n    subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"))
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"started 1 process\(es\) that outlive it .*sleep " + re.escape(marker)):
        validate_submission(_package(tmp_path, body), timeout=120)
    assert time.monotonic() - t0 < 100  # refused when validation ends, not at the time limit
    assert _running(f"sleep {marker}") == []


def test_without_sandbox_refused_unless_trusted(tmp_path, monkeypatch):
    from neuroalign import sandbox

    monkeypatch.setattr(sandbox, "why_unavailable", lambda: "bubblewrap (bwrap) is not installed; install it")
    pkg = _package(tmp_path, GOOD)
    with pytest.raises(SandboxError, match=r"refusing to run submitted code without a sandbox.*--trust-code"):
        submit(pkg, tmp_path / "subs.yaml")
    assert not (tmp_path / "subs.yaml").exists()
    rec = submit(pkg, tmp_path / "subs.yaml", trust_code=True)
    entry = yaml.safe_load((tmp_path / "subs.yaml").read_text())["models"]["m1"]
    assert entry["trusted"] is True and rec["sandboxed"] is False


def test_sandboxed_submission_scores_identically(tmp_path):
    """Validation in the sandbox agrees with loading in-process; `extract --sandbox` gives the same
    arrays as an unsandboxed run (stimuli and plugin in /tmp, which the sandbox re-exposes read-only)."""
    import numpy as np
    import xarray as xr
    from PIL import Image

    from neuroalign.models import load_model

    pkg = _package(tmp_path, GOOD)
    rec = validate_submission(pkg)
    here = load_model(rec["spec"])
    assert rec["sandboxed"] and rec["identity"].startswith(rec["spec"] + "@folder-sha256:")  # the host's hash
    assert rec["preprocessing"] == here.preprocessing.to_dict() and rec["shapes"]["block2"] == [4, 32]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(imgs / f"im{i}.png")
    stores = {}
    for flag in ("--sandbox", None):
        cache = tmp_path / f"cache{bool(flag)}"
        proc = subprocess.run([NA, "extract", rec["spec"], "--stimuli", imgs, "--layers", "block2",
                               "--cache-dir", cache, "--manifest", tmp_path / f"m{bool(flag)}.json",
                               *([flag] if flag else [])], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        (store,) = [p for p in cache.rglob("*.zarr") if not p.name.startswith(".")]
        stores[flag] = np.asarray(xr.open_zarr(store, consolidated=False)["activations"].values)
    assert stores["--sandbox"].shape == (8, 32) and np.abs(stores["--sandbox"]).sum() > 0
    np.testing.assert_array_equal(stores["--sandbox"], stores[None])


# ---- one clear line for a broken submission ----

@pytest.mark.parametrize("body, needles", [
    ("def build(:\n    pass\n", ["failed to import: SyntaxError", "model.py"]),
    (GOOD.replace('{"input_size"', 'None and {"input_size"'),
     ["'preprocessing' must be", "input_size", "mean", "std"]),
    (GOOD.replace("    return build_reference_net(seed=5)", "    net = build_reference_net(seed=5)\n"
                  "    net.forward = lambda x: 1 / 0\n    return net"),
     ["raised ZeroDivisionError: division by zero", "model.py, line"]),
])
def test_broken_submission_one_line(tmp_path, body, needles):
    proc = subprocess.run([NA, "submit", _package(tmp_path, body), "--submissions", tmp_path / "subs.yaml"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert not (tmp_path / "subs.yaml").exists()


def test_unparsable_submissions_file_named(tmp_path):
    from neuroalign.errors import ConfigError
    from neuroalign.workflow import grid_models

    bad = tmp_path / "submissions.yaml"
    bad.write_text("models:\n  m1: {spec: plugin:x.py:build\n  m2: [")
    with pytest.raises(ConfigError, match=rf"submissions file {re.escape(str(bad))} is not valid YAML at line"):
        grid_models({"models": {}, "submissions": str(bad)})
