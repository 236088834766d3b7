#!/usr/bin/env bash
# Start a throw-away one-node SLURM cluster on 127.0.0.1 for tests: munged + slurmctld + slurmd.
#
#   sudo bash tests/cluster/slurm_up.sh           # installs slurm-wlm + munge with apt-get if missing
#   . /tmp/amips-slurm/env.sh                     # SLURM_CONF + srun wrapper on PATH for sbatch/squeue/snakemake
#   snakemake --workflow-profile profiles/slurm --slurm-status-command squeue ...
#   sudo bash tests/cluster/slurm_down.sh         # stops the daemons by PID (always run it, even after a failure)
#
# Environment: AMIPS_SLURM_DIR   state dir (default /tmp/amips-slurm): slurm.conf, env.sh, bin/srun,
#                                pid files (run/, munge/), logs (log/, munge/), spool/. Must be reachable
#                                by the `slurm` and `munge` users (so not below a 0700 dir such as pytest's tmp).
#              AMIPS_SLURM_PORT  slurmctld port (default 16817); slurmd uses the next one. Non-standard ports
#                                so that a real SLURM installation on 6817/6818 is not disturbed.
# Exit codes:  0 cluster up and node idle; 2 not root; 3 SLURM/munge missing and not installable;
#              4 port in use / state dir unusable; 1 any other failure (daemon logs are printed).
#
# Design choices (see /work/shared/reference/slurm-local-cluster.md, where this recipe was verified):
# * Variant A, no accounting (no slurmdbd + MariaDB): 9 packages instead of ~35, two fewer daemons, no
#   database to initialise, ~1-2 s to start. The price is that Snakemake must be run with
#   `--slurm-status-command squeue` (with accounting_storage/none the plugin's default `sacct` fails and the
#   run hangs forever), and finished jobs are visible only for MinJobAge (300 s), which is plenty here.
# * Everything lives under $AMIPS_SLURM_DIR, nothing in /etc or /run is written: the config is passed
#   with SLURM_CONF (plus an `srun` wrapper first on PATH, because the jobstep plugin strips SLURM_CONF
#   before its nested srun), and munged runs on a private socket with a private key. So a system munged
#   or SLURM, if any, is left untouched, and no systemd is needed.
# * Every start first stops what a previous (possibly crashed) run left behind, by the PIDs in our pid
#   files, and wipes the previous state, so running twice in a row or after a crash works.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${AMIPS_SLURM_DIR:-/tmp/amips-slurm}
CTLD_PORT=${AMIPS_SLURM_PORT:-16817}
SLURMD_PORT=$((CTLD_PORT + 1))

say() { echo "slurm_up: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "must run as root (installs packages, starts munged as 'munge' and slurmctld as 'slurm')"
  exit 2
fi
STATE=${STATE%/}
case "$STATE" in
  /*/*) ;;   # absolute and at least two levels deep: never /, /tmp, /var (sub-paths get rm -rf'd below)
  *) say "AMIPS_SLURM_DIR must be an absolute path below a top-level directory, got '$STATE'"; exit 4 ;;
esac
CONF=$STATE/slurm.conf

# --- packages ----------------------------------------------------------------------------------------
need="/usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/sbin/mungekey /usr/bin/munge /usr/bin/unmunge /usr/bin/sbatch /usr/bin/squeue /usr/bin/srun /usr/bin/sinfo /usr/bin/scontrol /usr/bin/scancel"
have_all() { for b in $need; do [ -x "$b" ] || return 1; done; }
if ! have_all; then
  if ! command -v apt-get >/dev/null; then
    say "SLURM is not installed and apt-get is not available"
    exit 3
  fi
  say "installing slurm-wlm munge with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$STATE"
  # Try the cached package lists first; refresh them only if that fails (fresh machines have none).
  if ! apt-get install -y -q --no-install-recommends slurm-wlm munge >"$STATE/apt.log" 2>&1; then
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } >>"$STATE/apt.log" 2>&1; then
      tail -n 20 "$STATE/apt.log" >&2
      say "apt-get install slurm-wlm munge failed"
      exit 3
    fi
  fi
  have_all || { say "packages installed but binaries missing: $need"; exit 3; }
fi

# --- stop leftovers of a previous run, reset the state dir -------------------------------------------------
AMIPS_SLURM_DIR=$STATE bash "$HERE/slurm_down.sh" || true
# Only our own sub-paths are removed, never $STATE itself (it might be a directory the caller chose).
rm -rf "${STATE:?}/run" "${STATE:?}/log" "${STATE:?}/spool" "${STATE:?}/munge" "${STATE:?}/bin" "$CONF" "${STATE:?}/env.sh"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$CTLD_PORT" "$SLURMD_PORT"; do
  if port_busy "$p"; then
    say "port $p on 127.0.0.1 is already in use (another slurmctld/slurmd whose pid file is gone?); set AMIPS_SLURM_PORT"
    exit 4
  fi
done

install -d -m 0755 "$STATE" "$STATE/bin"
install -d -o munge -g munge -m 0755 "$STATE/munge"
install -d -o slurm -g slurm -m 0755 "$STATE/run" "$STATE/log" "$STATE/spool" "$STATE/spool/slurmctld"
install -d -m 0755 "$STATE/spool/slurmd"
if ! runuser -u slurm -- test -w "$STATE/spool/slurmctld" || ! runuser -u munge -- test -w "$STATE/munge"; then
  say "$STATE is not reachable by the 'slurm'/'munge' users (is a parent directory mode 0700?)"
  exit 4
fi

fail() {
  say "$*"
  for f in "$STATE/munge/munged.log" "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log"; do
    [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 30 "$f" >&2; }
  done
  AMIPS_SLURM_DIR=$STATE bash "$HERE/slurm_down.sh" || true
  exit 1
}

# --- munge: private key + socket --------------------------------------------------------------------
SOCK=$STATE/munge/munge.socket
runuser -u munge -- /usr/sbin/mungekey --create --keyfile="$STATE/munge/munge.key" \
  || fail "mungekey failed"
runuser -u munge -- /usr/sbin/munged --socket="$SOCK" --key-file="$STATE/munge/munge.key" \
  --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
  --seed-file="$STATE/munge/munged.seed" \
  || fail "munged did not start"
munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || fail "munge self-test failed"

# --- slurm.conf -----------------------------------------------------------------------------------------
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) * 8 / 10 ))   # 80% of RAM (<= `slurmd -C`)
sed -e "s|@STATE@|$STATE|g" -e "s|@HOST@|$HOST|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" \
    -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
    "$HERE/slurm.conf.in" >"$CONF"
chmod 0644 "$CONF"
if grep -q '@[A-Z_]*@' "$CONF"; then fail "unrendered placeholder in $CONF"; fi

# srun inside a job: snakemake-executor-plugin-slurm-jobstep removes SLURM_CONF from the environment of
# its nested `srun`, which would then read /etc/slurm/slurm.conf (wrong or missing cluster).
cat >"$STATE/bin/srun" <<EOF
#!/bin/sh
export SLURM_CONF='$CONF'
exec /usr/bin/srun "\$@"
EOF
chmod 0755 "$STATE/bin/srun"
cat >"$STATE/env.sh" <<EOF
# source me: points SLURM clients at the local test cluster started by tests/cluster/slurm_up.sh
export SLURM_CONF='$CONF'
export PATH='$STATE/bin':\$PATH
EOF

# --- slurmctld + slurmd (both daemonize and write their pid files) ------------------------------------
export SLURM_CONF=$CONF
/usr/sbin/slurmctld -f "$CONF" || fail "slurmctld did not start"
/usr/sbin/slurmd -f "$CONF" || fail "slurmd did not start"
state=""
for _ in $(seq 1 120); do
  state=$(sinfo -h -o '%t' 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || fail "node not idle after 60 s (sinfo says '${state:-nothing}')"
say "up in $SECONDS s: node $HOST, $CPUS CPUs, $MEM_MB MB, partition debug, ports $CTLD_PORT/$SLURMD_PORT; . $STATE/env.sh"
