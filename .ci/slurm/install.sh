#!/usr/bin/env bash
# Install the SLURM packages (Debian: slurm-wlm, munge) when missing; configure and start nothing.
# Called by .ci/slurm/start.sh, and in the background by .ci/install-chromium.sh (.ci/background.sh)
# so that the download and unpacking overlap the rest of the set-up. Waits for apt's lock rather
# than failing when another apt-get (the Chromium install) holds it. Needs root.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
log() { echo "slurm/install: $*" >&2; }
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
   && command -v munged >/dev/null; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { log "must run as root (it installs slurm-wlm and munge with apt-get)"; exit 1; }
command -v apt-get >/dev/null || { log "apt-get not found: install slurm-wlm and munge with this system's package manager"; exit 1; }
log "installing slurm-wlm and munge (apt-get)"
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=900)
daemons() {  # the pids of munged, slurmctld and slurmd (from /proc: procps may not be installed)
  local d; for d in /proc/[0-9]*; do
    case "$(cat "$d/comm" 2>/dev/null)" in munged|slurmctld|slurmd) echo "${d#/proc/}" ;; esac
  done | sort
}
before=$(daemons)
"${APT[@]}" update -qq
"${APT[@]}" install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
# a package script may have started its daemon (where no policy-rc.d forbids it): start.sh starts
# them itself, with its configuration, so stop what the install started (nothing else runs them)
for pid in $(comm -13 <(echo "$before") <(daemons)); do
  log "stopping $(cat /proc/"$pid"/comm 2>/dev/null) ($pid), started by the package install"; kill "$pid" 2>/dev/null || true
done
log "installed: $(slurmctld -V 2>/dev/null || true)"
