"""Install a one-module plugin package with pip, as a user would (entry-point tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install_plugin(tmp: Path, module: str, code: str, entry_points: dict[str, dict[str, str]]) -> dict:
    """Install a one-module package (``{group: {name: "module:callable"}}`` entry points) into
    ``tmp/site`` with pip, as a user would; returns an environment that sees it (and this checkout)."""
    pkg = tmp / "pkg"
    pkg.mkdir()
    (pkg / f"{module}.py").write_text(code)
    eps = "".join(f'[project.entry-points."{group}"]\n' + "".join(f'{k} = "{v}"\n' for k, v in names.items())
                  for group, names in entry_points.items())
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{module}"\nversion = "0.1"\n{eps}[tool.setuptools]\npy-modules = ["{module}"]\n')
    site = tmp / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(pkg)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
