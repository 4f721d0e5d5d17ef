"""Test setup: real data read in place from ../shared/datasets, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

# Before anything loads torch's OpenMP runtime (libgomp reads this once, when it loads; child
# processes inherit it): idle OpenMP threads sleep instead of spinning. Two pytest workers, each
# with torch's threads for both cores, plus the Snakemake jobs and CLI processes they start,
# oversubscribe the 2 cores, and spinning threads then burn the cores the others wait for: the
# suite took 12:07-13:10 and 16-19 min of user CPU with spinning, 10:45 and 13 min without, the
# Cowley fine-tuning test 157-166 s and 56 s. Results are unchanged: the same threads do the same
# work, only their waiting differs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from shared_service import run_member  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NEUROALIGN_DATA", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("NEUROALIGN_OFFLINE", "1")
DATA = Path(os.environ["NEUROALIGN_DATA"])


def _compile_package() -> None:
    """Byte-compile neuroalign's own modules once (pip compiles the installed packages, not an
    editable checkout). Where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, every
    process the tests start (CLI calls, Snakemake jobs, sandboxed children) otherwise compiles
    them from source again: 0.26 s of CPU each to import the scoring modules. Files that cannot be
    written are left alone; a compiled file whose source changed is recompiled (mtime check)."""
    import compileall

    compileall.compile_dir(str(ROOT / "neuroalign"), quiet=2)


_compile_package()


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


# ---- parallel runs: `pytest -n 2 --dist loadfile` (the README's command) ----
# Each test file runs on one worker, so its module fixtures are built once. Files are queued
# longest first (below; xdist would otherwise queue them by their number of tests), so that the
# two workers end together. The services a file may share with another worker are made safe
# where they are built: the SLURM cluster (tests/shared_service.py: started once per run, stopped
# when the last worker is out) and Brain-Score's virtual environment (tests/brainscore_env.py:
# built under a file lock). (xdist_group/loadgroup is not used: pytest-xdist 3.8 renames the
# node ids for it in a way pytest 9.2 ignores, so every group was spread over the workers.)

#: The longest test files, longest first (from a full run's `pytest --durations`; refresh from a
#: serial run's `pytest --durations=0`); the rest follow in collection order. xdist gives a worker
#: its next file once at most two of its tests are pending: one worker starts with test_workflow,
#: the other with test_finetune_cowley and test_slurm queued behind it. So the files that wait for
#: the set-up script's background installs (.ci/background.sh: the SLURM packages, Brain-Score's
#: venv) start only after a few minutes' work, when those installs are done, and never hold a worker
#: idle at the start.
LONGEST_FIRST = ("test_workflow", "test_finetune_cowley", "test_slurm", "test_brainscore_parity",
                 "test_brainscore_benchmarks", "test_finetune", "test_encoding_real", "test_activations",
                 "test_leaderboard_browser", "test_datasets_real")


def _module(item) -> str:
    return item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist installed: keep the order below
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))  # stable: the order is kept otherwise


@pytest.fixture(scope="session", autouse=True)
def _run_member(tmp_path_factory):
    """This worker is in the run until its last test (the SLURM cluster waits for every worker)."""
    with run_member(tmp_path_factory):
        yield
