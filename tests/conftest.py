"""Test setup: real data read in place from ../shared/datasets, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NEUROALIGN_DATA", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("NEUROALIGN_OFFLINE", "1")
DATA = Path(os.environ["NEUROALIGN_DATA"])


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets; their absence is a failure, not a skip."""
    for name in ("cowley2023_v4", "kriegeskorte2008_92"):
        if not (DATA / name).is_dir():
            pytest.fail(f"real dataset {name} not found under NEUROALIGN_DATA={DATA}; point it at shared/datasets.")
    return DATA


@pytest.fixture(scope="session")
def synthetic():
    from neuroalign.datasets.synthetic import load_synthetic

    return load_synthetic()


@pytest.fixture(scope="session")
def k92(data_root):
    from neuroalign.datasets.kriegeskorte import load_kriegeskorte92

    return load_kriegeskorte92()
