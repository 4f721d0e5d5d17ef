#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the HPC tests (tests/test_slurm.py) and for
# trying the SLURM profile by hand. Idempotent: a cluster that already answers is left as it is.
#
#   bash .ci/slurm/start.sh     # install (Debian: slurm-wlm, munge), configure, start, wait for the node
#   bash .ci/slurm/stop.sh      # stop the daemons (and forget the jobs with --purge)
#
# The node is this machine: its CPUs and memory as `slurmd -C` reports them, two partitions
# over it (`main`, the default, and `gpu`), and one pretend GPU (a GRES backed by /dev/null) so
# that jobs asking for `--gpus=1` are scheduled and their request can be checked. No
# accounting database: `squeue` reports finished jobs for MinJobAge (a day), which is what
# the snakemake SLURM plugin's `--slurm-status-command squeue` reads.
# Needs root (CI runs as root on Debian). Exits non-zero, with the daemons' logs, when the
# node does not come up idle.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # the daemons live there

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by neuroalign .ci/slurm/start.sh"
LOG_DIR=/var/log/slurm
SPOOL=/var/spool/neuroalign-slurm
WAIT_S=${SLURM_START_WAIT_S:-60}

log() { echo "slurm/start: $*" >&2; }
# a daemon is ours and alive when the pid in its pid file runs that program
running() { local pid; pid=$(cat "$2" 2>/dev/null) && [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$1" ]; }
stop_pidfile() {  # stop the daemon named $1 whose pid is in $2, and wait for it to go
  running "$1" "$2" || return 0
  local pid; pid=$(cat "$2"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do running "$1" "$2" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
die() { log "$*"; exit 1; }

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

if [ "$(id -u)" -ne 0 ]; then
  die "must run as root (it installs packages, writes $CONF and starts munged, slurmctld and slurmd)"
fi

# 1. packages -------------------------------------------------------------------------------
bash "$(dirname "$0")/install.sh" || die "installing the SLURM packages failed"  # when missing (apt)

# 2. already up? ----------------------------------------------------------------------------
if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF" && running slurmctld /run/slurmctld.pid && running slurmd /run/slurmd.pid; then
  case "$(node_state)" in
    idle|mixed|allocated|completing)  # a suffix (idle*, idle~, ...) means not ready
      log "already running: $(sinfo -h -N -o '%N %T %c CPUs %m MB' | head -n1)"; exit 0 ;;
  esac
fi

# 3. configuration --------------------------------------------------------------------------
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  die "$CONF exists and was not written by this script; not touching a real cluster's configuration"
fi
HOST=$(hostname -s)
# "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW=$(slurmd -C | head -n1 | sed -E 's/^NodeName=[^ ]+ //')
echo "$HW" | grep -q 'CPUs=' || die "slurmd -C did not report this machine's CPUs: $HW"
mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL/ctld" "$SPOOL/d"
cat > "$CONF" <<EOF
$MARK ($(date -u +%Y-%m-%dT%H:%M:%SZ))
ClusterName=neuroalign
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# containers have no usable cgroup hierarchy for slurm: track processes through /proc
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for a day (no accounting database here)
MinJobAge=86400
DefMemPerCPU=1000
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 $HW Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
# a pretend GPU: slurmd counts a gpu GRES only with a device file, and /dev/null is one that every
# machine has (nothing opens it; jobs that get it see CUDA_VISIBLE_DEVICES=0 and no CUDA device)
echo "NodeName=$HOST Name=gpu File=/dev/null" > "$CONF_DIR/gres.conf"
log "wrote $CONF for $HOST: $HW"

# 4. daemons --------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  stop_pidfile munged /run/munge/munged.pid  # one that does not answer
  runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged does not answer: $(tail -n 20 /var/log/munge/munged.log 2>/dev/null)"
fi

# (re)start slurmctld and slurmd on the configuration just written
stop_pidfile slurmd /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
# (the daemons log to $LOG_DIR; their stdio is closed so that a caller reading ours is not held open)
slurmctld -c </dev/null >/dev/null 2>&1  # -c: a fresh start forgets the jobs of a cluster that died
slurmd </dev/null >/dev/null 2>&1

# 5. wait until the node is idle ------------------------------------------------------------
state=""
for _ in $(seq $((WAIT_S * 2))); do
  state=$(node_state)
  [ "$state" = idle ] && break
  [[ "$state" == inval* ]] && break  # the configuration does not match what slurmd found
  if [[ "$state" == down* || "$state" == drain* ]]; then
    scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
  fi
  sleep 0.5
done
if [ "$state" != idle ]; then
  log "node $HOST not idle after ${WAIT_S}s (state: '${state:-no answer}')"
  log "--- sinfo"; sinfo -N -l >&2 || true
  log "--- $LOG_DIR/slurmctld.log"; tail -n 30 "$LOG_DIR/slurmctld.log" >&2 || true
  log "--- $LOG_DIR/slurmd.log"; tail -n 30 "$LOG_DIR/slurmd.log" >&2 || true
  exit 1
fi
log "up: $(sinfo -h -N -o '%N %T %c CPUs %m MB %G' | head -n1)"
