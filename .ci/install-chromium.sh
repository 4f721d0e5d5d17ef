#!/usr/bin/env bash
# Install the system packages the tests need, when missing (the name is historical): headless
# Chromium and its WebDriver (Debian `chromium`, `chromium-driver`) for the leaderboard browser
# test (tests/test_leaderboard_browser.py), and bubblewrap (Debian `bubblewrap`, the `bwrap`
# sandbox that `neuroalign submit` and the workflow run submitted models in).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && command -v bwrap >/dev/null 2>&1; then
  echo "chromium, chromedriver and bwrap already installed: $(chromium --version 2>/dev/null || true)"
  exit 0
fi
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
