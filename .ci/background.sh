#!/usr/bin/env bash
# Long, I/O-bound installs that only some tests need, started in the background by
# .ci/install-chromium.sh so that they run while pip installs neuroalign and the first tests run:
#
#   slurm-packages   .ci/slurm/install.sh           (apt: slurm-wlm, munge; tests/test_slurm.py)
#   brainscore-venv  tests/brainscore_env.py build  (pip: .venv-brainscore; the brainscore tests)
#
# Each job NAME keeps its books in .ci/background/ (git-ignored): NAME.started (written before
# the job starts), NAME.lock (held, with flock, for the job's whole life), NAME.log and, once it
# has ended, NAME.rc (its exit status). The fixtures that need a job's result wait for its lock
# (tests/background.py), then read NAME.rc: a job that failed, or died without an exit status,
# fails those tests with its log. Where no job was started (a test run without this script, e.g.
# `pytest tests/test_slurm.py` alone), the fixtures install what they need themselves, as before.
#
#   source .ci/background.sh && bg_start NAME CMD [ARG...]
set -euo pipefail

BG_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/background"

bg_start() {
  local name=$1; shift
  mkdir -p "$BG_DIR"
  local lock="$BG_DIR/$name.lock" log="$BG_DIR/$name.log" rc="$BG_DIR/$name.rc" fd
  exec {fd}>>"$lock"
  # one job per name: a job still running from an earlier call is left to finish (and waited for)
  if ! flock -n "$fd"; then
    exec {fd}>&-
    echo "background: $name already running (log: ${log#"$PWD"/})" >&2
    return 0
  fi
  rm -f "$rc" "$log"
  date -u +%Y-%m-%dT%H:%M:%SZ > "$BG_DIR/$name.started"
  # the subshell inherits the locked descriptor and holds the lock until it has written NAME.rc;
  # the command itself gets it closed (a daemon it might start must not hold the lock forever)
  (
    status=0
    "$@" </dev/null >"$log" 2>&1 {fd}>&- || status=$?
    echo "$status" > "$rc.tmp" && mv "$rc.tmp" "$rc"
  ) </dev/null >/dev/null 2>&1 &
  exec {fd}>&-
  echo "background: started $name (pid $!; log: ${log#"$PWD"/})" >&2
}
