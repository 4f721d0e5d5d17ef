#!/usr/bin/env bash
# Stop the one-node SLURM cluster that .ci/slurm/start.sh started (slurmd, slurmctld, munged,
# each by the pid in its pid file). --purge also forgets its jobs and configuration, so that the
# next start.sh begins from nothing, and a machine without a controller has no configuration that
# sends every `scontrol` (and so every Snakemake start, through the SLURM plugin) into a 9 s wait
# for one. Leaves the packages installed.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
CONF=/etc/slurm/slurm.conf
MARK="# written by neuroalign .ci/slurm/start.sh"
SPOOL=/var/spool/neuroalign-slurm
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  echo "slurm/stop: $CONF was not written by .ci/slurm/start.sh; not stopping a real cluster" >&2; exit 1
fi
running() { local pid; pid=$(cat "$2" 2>/dev/null) && [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$1" ]; }
stop_pidfile() {
  running "$1" "$2" || return 0
  local pid; pid=$(cat "$2"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do running "$1" "$2" || { echo "slurm/stop: stopped $1 ($pid)" >&2; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
if running slurmctld /run/slurmctld.pid; then
  # cancel what is still queued or running, so no job outlives its scheduler
  squeue -h -t PENDING,RUNNING -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
fi
stop_pidfile slurmd /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
stop_pidfile munged /run/munge/munged.pid
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$SPOOL" "$CONF" /etc/slurm/gres.conf
  echo "slurm/stop: purged $SPOOL and the configuration" >&2
fi
