"""The tiny workflow grid that tests/test_workflow.py runs locally, set up in a folder so that
other tests (tests/test_slurm.py) run the same grid elsewhere: two reference models and a
model submitted through `neuroalign submit`, × three benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from test_workflow import BIN, PLUGIN, ROOT, SNAKEMAKE, TINY, _env

__all__ = ["BIN", "ROOT", "SNAKEMAKE", "TINY", "env", "submit_package", "tiny_workdir"]


def env(**extra: str) -> dict:
    """The environment the workflow tests run commands in (this venv's bin first), plus ``extra``."""
    return {**_env(), **extra}


def submit_package(folder: Path) -> Path:
    """Write the test's model package under ``folder`` and submit it with `neuroalign submit`;
    returns the submissions file it wrote (its model points at the package by absolute path)."""
    pkg = folder / "mymodel"
    pkg.mkdir(parents=True)
    (pkg / "model.py").write_text(PLUGIN)
    (pkg / "metadata.yaml").write_text(yaml.safe_dump({"name": "submitted-net", "authors": ["Test Author"],
                                                       "callable": "model.py:build", "layers": ["block1", "block3"]}))
    submissions = folder / "submissions.yaml"
    sub = subprocess.run([str(BIN / "neuroalign"), "submit", str(pkg), "--submissions", str(submissions),
                          "--timeout", "300"], capture_output=True, text=True, env=env(), cwd=folder)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    return submissions


def tiny_workdir(work: Path, submissions: Path, **overrides) -> Path:
    """A working directory for the tiny grid (config ``TINY`` updated with ``overrides``) whose
    submitted model is the one in ``submissions``; returns its config file."""
    cfg = dict(TINY, **overrides)
    work.mkdir(parents=True, exist_ok=True)
    dest = work / cfg["submissions"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submissions, dest)
    path = work / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake_cmd(work: Path, config: Path, *args: str) -> list[str]:
    """The snakemake command line for the repository's Snakefile in ``work`` with ``config``."""
    return [SNAKEMAKE, *args, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
            "--configfile", str(config)]
