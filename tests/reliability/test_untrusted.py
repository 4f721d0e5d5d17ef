"""Untrusted models: submitted code is validated in a subprocess under time and memory limits,
weights never unpickle code without the trust flag, and a changed submission is refused."""

from __future__ import annotations

import textwrap

import pytest
import torch
import yaml

from neuroalign.errors import ModelError
from neuroalign.submit import check_pinned, submit, validate_submission

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
    assert len(entry["code_sha256"]) == 64 and entry["layers"] == ["block2"]
    assert rec["shapes"]["block2"][1] == 32


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
    rec = submit(_package(tmp_path, GOOD), tmp_path / "subs.yaml")
    (tmp_path / "pkg" / "model.py").write_text(GOOD + "\nimport os  # changed\n")
    with pytest.raises(ModelError, match="changed since it was submitted"):
        check_pinned(rec["spec"], rec["code_sha256"])


def test_weights_never_unpickle_code_without_trust(tmp_path):
    from neuroalign.models import load_model

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ModelError, match="trust"):
        load_model(f"checkpoint:{path}?arch=alexnet")
