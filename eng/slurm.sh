#!/usr/bin/env bash
# A one-node Slurm (munge + slurmctld + slurmd) on this machine, for the Slurm sweep tests.
# Usage: eng/slurm.sh start|stop|status|env
#   start   installs Debian's slurm-wlm and munge when missing (root, apt), writes LoraKit's own
#           slurm.conf under $LORAKIT_SLURM_DIR (never touches /etc/slurm), starts the daemons and
#           waits until the node is idle. Idempotent: daemons already running are kept.
#   stop    cancels every job, stops slurmd, slurmctld and the munged this script started (by pid file).
#   status  sinfo + squeue of this Slurm.
#   env     prints `export SLURM_CONF=…`: clients (sbatch, squeue, scontrol, scancel) read that file.
# Slurm 22.05 on Debian 12 has no accounting daemon here (no sacct); finished jobs are recorded by
# jobcomp/filetxt in $LORAKIT_SLURM_DIR/jobcomp.log and are visible to `scontrol show job` for
# MinJobAge seconds.
set -euo pipefail

dir="${LORAKIT_SLURM_DIR:-/var/lib/lorakit-slurm}"
conf="$dir/slurm.conf"
munge_pid=/run/munge/munged.pid
export SLURM_CONF="$conf"

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "eng/slurm.sh: $1 needs root (a local Slurm runs its daemons as root here)" >&2
    exit 2
  fi
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  echo "eng/slurm.sh: installing slurmctld, slurmd, slurm-client and munge from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_config() {
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  local host cpus memory
  host="$(hostname -s)"
  cpus="$(nproc)"
  # RealMemory in MiB, a little under the machine's so slurmd accepts the node.
  memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  local tmp="$conf.tmp.$$"
  cat > "$tmp" <<EOF
# Written by LoraKit eng/slurm.sh: a one-node test cluster. Regenerated on every start.
ClusterName=lorakit
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
MinJobAge=600
MaxArraySize=1001
InactiveLimit=0
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -f "$conf" ] && cmp -s "$tmp" "$conf"; then rm -f "$tmp"; else mv -f "$tmp" "$conf"; fi
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if munge -n </dev/null >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --pid-file="$munge_pid"
  touch "$dir/munged.ours" # stop ends only a munged this script started
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && return; sleep 0.1; done
  echo "eng/slurm.sh: munged did not start (see /var/log/munge/munged.log)" >&2
  exit 1
}

wait_idle() {
  local host state
  host="$(hostname -s)"
  for _ in $(seq 150); do
    state="$(sinfo -h -n "$host" -o '%T' 2>/dev/null || true)"
    case "$state" in
      idle|mixed|allocated) return ;;
      down*|drain*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
  done
  echo "eng/slurm.sh: node $host did not become idle (state '$state'); logs in $dir/log" >&2
  exit 1
}

start() {
  need_root start
  install_packages
  write_config
  start_munge
  if ! running "$dir/slurmctld.pid"; then /usr/sbin/slurmctld -f "$conf"; fi
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
  if ! running "$dir/slurmd.pid"; then /usr/sbin/slurmd -f "$conf"; fi
  wait_idle
  echo "eng/slurm.sh: Slurm is up (SLURM_CONF=$conf)" >&2
}

stop() {
  need_root stop
  if [ -f "$conf" ]; then scancel --full --quiet --user=root 2>/dev/null || true; fi
  for daemon in slurmd slurmctld; do
    if running "$dir/$daemon.pid"; then
      local pid; pid="$(cat "$dir/$daemon.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [ -f "$dir/munged.ours" ] && running "$munge_pid"; then
    local pid; pid="$(cat "$munge_pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/munged.ours"
  echo "eng/slurm.sh: Slurm stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo; squeue ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: eng/slurm.sh start|stop|status|env" >&2; exit 2 ;;
esac
