#!/usr/bin/env bash
# A private one-node Slurm 22.05 cluster (munged + slurmctld + slurmd) in a folder, for the
# cluster tests and for trying `pqw sweep --slurm` by hand. Runs as root without systemd,
# cgroups or accounting. Clients find it through SLURM_CONF=DIR/slurm.conf.
#
#   cluster.sh start DIR [CTLD_PORT SLURMD_PORT]   # ports default to two free ones
#   cluster.sh stop DIR                            # cancels every job, stops exactly our PIDs
#   cluster.sh status DIR
#
# Environment: PQW_SLURM_CPUS (default: nproc) CPUs the node offers.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|status DIR [CTLD_PORT SLURMD_PORT]" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
conf="$dir/slurm.conf"

need() {
  for b in "$@"; do
    if ! command -v "$b" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$b" ]; then
      echo "cluster.sh: $b not found (install slurmctld slurmd slurm-client munge: scripts/setup)" >&2
      exit 1
    fi
  done
}
sbin() { if command -v "$1" >/dev/null 2>&1; then command -v "$1"; else echo "/usr/sbin/$1"; fi; }

port_free() {
  # nothing listens on it (ss from iproute2; /dev/tcp as a fallback)
  if command -v ss >/dev/null 2>&1; then
    ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
pick_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$((20000 + RANDOM % 30000))
    if port_free "$p" && port_free "$((p + 1))"; then echo "$p"; return 0; fi
    tries=$((tries + 1))
  done
  echo "cluster.sh: no free port pair found" >&2
  exit 1
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

stop_cluster() {
  [ -f "$conf" ] || return 0
  export SLURM_CONF="$conf"
  if [ -f "$dir/slurmctld.pid.rec" ] && alive "$(cat "$dir/slurmctld.pid.rec")"; then
    scancel --partition=debug >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do  # up to 10 s for the jobs to go
      if [ -z "$(squeue -h -o %i 2>/dev/null || true)" ]; then break; fi
      sleep 0.1
    done
  fi
  for d in slurmd slurmctld munged; do
    f="$dir/$d.pid.rec"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if alive "$pid"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  # slurmstepd of jobs that were still being torn down: only those started from this
  # cluster's spool folder (their command line names no folder, so match by parent gone and
  # by the job's environment pointing at our slurm.conf).
  for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$conf"; then
      kill -9 "$p" 2>/dev/null || true
    fi
  done
}

case "$cmd" in
start)
  need munged slurmctld slurmd sbatch squeue scontrol sinfo
  if [ "$(id -u)" != 0 ]; then
    echo "cluster.sh: the private cluster runs its daemons as root (SlurmUser=root); run as root" >&2
    exit 1
  fi
  stop_cluster  # a stale cluster in the same folder
  ctld_port="${3:-$(pick_port)}"
  slurmd_port="${4:-$((ctld_port + 1))}"
  node="$(hostname -s)"
  cpus="${PQW_SLURM_CPUS:-$(nproc)}"
  mem="$("$(sbin slurmd)" -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
  mem=$(( ${mem:-1000} * 95 / 100 ))
  rm -rf "$dir/state" "$dir/spool" "$dir/munge"
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge" "$dir/log"
  chmod 755 "$dir" "$dir/munge"
  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  : >"$dir/plugstack.conf"
  : >"$dir/log/jobcomp.txt"
  cat >"$conf" <<EOF
# Written by tests/slurm/cluster.sh: a private one-node cluster in $dir
ClusterName=pqw
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
PlugStackConfig=$dir/plugstack.conf
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$conf"
  setsid "$(sbin munged)" --foreground --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" \
    --force >"$dir/log/munged.out" 2>&1 </dev/null &
  echo $! >"$dir/munged.pid.rec"
  for _ in $(seq 1 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
  if [ ! -S "$dir/munge/munge.socket" ]; then
    echo "cluster.sh: munged did not start (see $dir/log/munged.out)" >&2
    stop_cluster
    exit 1
  fi
  setsid "$(sbin slurmctld)" -D -i -f "$conf" >"$dir/log/slurmctld.out" 2>&1 </dev/null &
  echo $! >"$dir/slurmctld.pid.rec"
  setsid "$(sbin slurmd)" -D -N "$node" -f "$conf" >"$dir/log/slurmd.out" 2>&1 </dev/null &
  echo $! >"$dir/slurmd.pid.rec"
  # Up when the node is idle (usually about half a second).
  ok=0
  for _ in $(seq 1 200); do
    st="$(sinfo -h -n "$node" -o %t 2>/dev/null || true)"
    case "$st" in idle*|mix*|alloc*) ok=1; break ;; esac
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    echo "cluster.sh: the node did not come up (state '${st:-?}'; logs in $dir/log)" >&2
    stop_cluster
    exit 1
  fi
  echo "SLURM_CONF=$conf"
  echo "cluster up: node $node, $cpus CPUs, ports $ctld_port/$slurmd_port, folder $dir"
  ;;
stop)
  stop_cluster
  echo "cluster stopped: $dir"
  ;;
status)
  if [ -f "$dir/slurmctld.pid.rec" ] && alive "$(cat "$dir/slurmctld.pid.rec")"; then
    SLURM_CONF="$conf" sinfo
  else
    echo "not running: $dir"
    exit 1
  fi
  ;;
*)
  echo "usage: $0 start|stop|status DIR [CTLD_PORT SLURMD_PORT]" >&2
  exit 2
  ;;
esac
