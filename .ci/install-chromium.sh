#!/usr/bin/env bash
# Set-up for the tests, before neuroalign's own install (the name is historical).
#  1. In the background (.ci/background.sh), the I/O-bound installs that only some tests need, so
#     that they overlap pip's install of neuroalign and the first tests, which wait for them:
#     Brain-Score's virtual environment (.venv-brainscore, from requirements-brainscore.txt) and,
#     once apt is free, the SLURM packages (.ci/slurm/install.sh: Debian `slurm-wlm`, `munge`).
#  2. When missing, the system packages the tests need: headless Chromium and its WebDriver
#     (Debian `chromium`, `chromium-driver`) for the leaderboard browser test
#     (tests/test_leaderboard_browser.py), and bubblewrap (Debian `bubblewrap`, the `bwrap` sandbox
#     that `neuroalign submit` and the workflow run submitted models in).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=background.sh
source .ci/background.sh
bg_start brainscore-venv python3 tests/brainscore_env.py build

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && command -v bwrap >/dev/null 2>&1; then
  echo "chromium, chromedriver and bwrap already installed: $(chromium --version 2>/dev/null || true)"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "install-chromium: need root (or sudo) to apt-get install chromium chromium-driver bubblewrap" >&2; exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found; install Chromium, chromedriver and bubblewrap with this system's package manager" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver bubblewrap
  echo "installed: $(chromium --version 2>/dev/null || true); $(chromedriver --version 2>/dev/null || true); $(bwrap --version 2>/dev/null || true)"
fi

bg_start slurm-packages bash .ci/slurm/install.sh  # after the apt-get above: one dpkg at a time
