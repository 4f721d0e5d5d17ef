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


# ---- parallel runs (opt-in: `pytest -n 2 --dist loadgroup`; the README runs the suite serially) ----
#: Modules whose tests run one after another on one worker: the SLURM cluster (system daemons),
#: the workflow runs (snakemake, several processes each), Brain-Score's shared virtual
#: environment, the browser, and the slow real-data fits. Everything else is spread over workers.
SERIAL_MODULES = {"test_slurm", "test_workflow", "test_brainscore_benchmarks", "test_brainscore_parity",
                  "test_leaderboard_browser", "test_datasets_real", "test_encoding_real", "test_finetune",
                  "test_finetune_cowley"}


#: Run last: the cluster is stopped when its module ends, and a Snakemake start while
#: SLURM's tools are installed but no controller answers waits for ``scontrol`` (the SLURM
#: executor plugin asks it on import), so no workflow test should come after it.
LAST_MODULES = ("test_slurm",)


def _module(item) -> str:
    return item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _module(item) in LAST_MODULES)  # stable: the order is kept otherwise
    for item in items:
        if _module(item) in SERIAL_MODULES or item.get_closest_marker("slow") or item.get_closest_marker("brainscore"):
            item.add_marker(pytest.mark.xdist_group("serial"))
