#!/usr/bin/env bash
# Stop the test cluster started by tests/cluster/slurm_up.sh: cancel its jobs, then stop slurmd,
# slurmctld and munged by the PIDs in their pid files under $AMIPS_SLURM_DIR (default /tmp/amips-slurm).
# Never kills by name. A pid file whose process is gone, or now belongs to another program (PID reuse
# after a crash or reboot), is just removed. Idempotent: safe to run when nothing is running.
# Logs under $AMIPS_SLURM_DIR/log and .../munge are kept for debugging; slurm_up.sh wipes them.
set -uo pipefail

STATE=${AMIPS_SLURM_DIR:-/tmp/amips-slurm}
CONF=$STATE/slurm.conf

# pid_of NAME PIDFILE: print the PID if the file names a live process whose command is NAME
pid_of() {
  local name=$1 file=$2 pid comm
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ] || return 1
  echo "$pid"
}

# stop NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL; remove the pid file (slurmctld leaves it stale)
stop() {
  local name=$1 file=$2 pid
  if pid=$(pid_of "$name" "$file"); then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm_down: $name ($pid) ignored SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$file"
}

# 1. Cancel jobs of this cluster while slurmctld is up, so no job processes outlive slurmd.
if [ -f "$CONF" ] && pid_of slurmctld "$STATE/run/slurmctld.pid" >/dev/null; then
  export SLURM_CONF=$CONF
  jobs=$(timeout 10 squeue -h -o '%A' -t PENDING,RUNNING,SUSPENDED,COMPLETING 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 40); do
      left=$(timeout 5 squeue -h -o '%A' -t PENDING,RUNNING,SUSPENDED,COMPLETING 2>/dev/null)
      [ -z "$left" ] && break
      sleep 0.25
    done
  fi
fi

# 2. Processes of jobs that are still around (e.g. slurmctld died first): ask their slurmstepd for the
#    job's PIDs (works without slurmctld) and kill exactly those.
if [ -f "$CONF" ] && pid_of slurmd "$STATE/run/slurmd.pid" >/dev/null; then
  pids=$(SLURM_CONF=$CONF timeout 5 scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}')
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
fi

# 3. Daemons, in reverse start order.
stop slurmd "$STATE/run/slurmd.pid"
stop slurmctld "$STATE/run/slurmctld.pid"
stop munged "$STATE/munge/munged.pid"

# 4. A slurmstepd whose job was killed in step 2 keeps waiting for the (dead) slurmctld. Ours are the
#    slurmstepd processes that hold THIS cluster's slurmd.log open (inherited from our slurmd).
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
  for fd in "$d"/fd/*; do
    if [ "$(readlink "$fd" 2>/dev/null)" = "$STATE/log/slurmd.log" ]; then
      echo "slurm_down: killing leftover slurmstepd ${d#/proc/}" >&2
      kill -KILL "${d#/proc/}" 2>/dev/null || true
      break
    fi
  done
done
exit 0
