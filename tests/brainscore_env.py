"""The brainscore-vision environment for the tests: created when missing, then reused.

brainscore-vision pins numpy<2, scikit-learn<1.6 and xarray<2022.6, so it lives in its
own virtual environment ``.venv-brainscore`` at the repository root (git-ignored),
installed from ``requirements-brainscore.txt``. Scripts run there exchange data with
neuroalign through files only.

.ci/install-chromium.sh builds it in the background (``python3 tests/brainscore_env.py build``,
see .ci/background.sh) while neuroalign itself is installed; :func:`ensure` waits for that build
and fails with its log when it failed. A build that fails removes the half-built venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import background  # tests/background.py: the setup script's background jobs

try:
    from filelock import FileLock
except ImportError:  # `python3 tests/brainscore_env.py build` before neuroalign's venv exists
    import fcntl

    class FileLock:  # filelock's UnixFileLock: flock(2) on the same file, so the two exclude each other
        def __init__(self, path: str):
            self.path = path

        def __enter__(self):
            self._fh = open(self.path, "a")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
            return self

        def __exit__(self, *exc):
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("NEUROALIGN_BRAINSCORE_VENV", ROOT / ".venv-brainscore"))
REQUIREMENTS = ROOT / "requirements-brainscore.txt"
STAMP = ".neuroalign-requirements"  # a copy of the requirements the venv was built from
PYTHON = VENV / "bin" / "python"


def _base_python() -> str:
    """A Python 3.11 interpreter to build the venv with (brainscore-vision 2.4 needs >=3.11)."""
    for name in ("python3.11", "python3"):
        exe = shutil.which(name)
        if exe:
            out = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
                                 capture_output=True, text=True)
            if out.stdout.strip() == "True":
                return exe
    return sys.executable


def ready() -> bool:
    """True when the venv exists and was built from the current requirements file."""
    stamp = VENV / STAMP
    return PYTHON.is_file() and stamp.is_file() and stamp.read_text() == REQUIREMENTS.read_text()


BACKGROUND_JOB = "brainscore-venv"  # the name .ci/install-chromium.sh gives its background build


def ensure(timeout: float = 1500, *, wait_background: bool = True) -> Path:
    """Create ``.venv-brainscore`` when missing or stale; return its python. Raises with pip's log on failure.
    One process builds it at a time (a file lock beside it): pytest-xdist workers, or two test runs.
    A build the setup script started in the background is waited for first; its failure is raised."""
    if wait_background and VENV == ROOT / ".venv-brainscore":
        try:
            background.wait(BACKGROUND_JOB, timeout=timeout)
        except background.BackgroundFailed as exc:
            raise RuntimeError(str(exc)) from None
    if ready():
        return PYTHON
    with FileLock(str(VENV.parent / f"{VENV.name}.lock")):
        if not ready():  # another process may have built it while this one waited
            _build(timeout)
    return PYTHON


def _build(timeout: float) -> None:
    t0 = time.monotonic()
    if not PYTHON.is_file():
        subprocess.run([_base_python(), "-m", "venv", str(VENV)], check=True, timeout=300)
    install = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)]
    proc = subprocess.run(install, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:  # a venv whose pip went missing: restore, retry
        subprocess.run([str(PYTHON), "-m", "ensurepip"], capture_output=True, text=True, timeout=300)
        proc = subprocess.run(install, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)  # no half-built venv is left behind: the next ensure() starts afresh
        raise RuntimeError(f"installing {REQUIREMENTS} into {VENV} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    (VENV / STAMP).write_text(REQUIREMENTS.read_text())
    print(f"[brainscore_env] built {VENV} in {time.monotonic() - t0:.0f} s", file=sys.stderr)


def run(script: str | Path, *args, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a script with the brainscore venv's python from the repository root; raise with its output on failure."""
    python = ensure()
    full_env = {**os.environ, "BS_INSTALL_DEPENDENCIES": "no", "RESULTCACHING_DISABLE": "1",
                "PYTHONNOUSERSITE": "1", **(env or {})}
    full_env.pop("PYTHONPATH", None)  # neuroalign (numpy 2) must stay out of this interpreter
    proc = subprocess.run([str(python), str(script), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def site_packages() -> Path:
    """The venv's site-packages folder (brainscore_vision's plugin folders live under it)."""
    out = subprocess.run([str(ensure()), "-c", "import sysconfig, json; print(json.dumps(sysconfig.get_paths()['purelib']))"],
                         capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout))


if __name__ == "__main__":  # `python3 tests/brainscore_env.py build`: build (or check) the venv now
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python3 tests/brainscore_env.py build")
    print(ensure(wait_background=False))
