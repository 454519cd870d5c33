#!/usr/bin/env bash
# Figures for sweeps on Slurm (docs/pruning.md "On Slurm"): wall time of an 8-run sweep run
# locally (one process, runs one after another, --threads 1) against the same sweep as a job
# array on a private one-node cluster with one task per core (--cpus-per-task 1), and the
# overhead per task: from the submission to the task's first event (run.start).
#   bench/slurm_sweep.sh [BUILD_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
PQW="$BUILD/app/pqw"
export PQW_DATA_DIR="${PQW_DATA_DIR:-$ROOT/datasets/assets}"
T="$(mktemp -d /tmp/pqw-slurm-bench.XXXXXX)"
trap '"$ROOT/tests/slurm/cluster.sh" stop "$T/cluster" >/dev/null 2>&1 || true' EXIT
cat >"$T/sweep.json" <<'JSON'
{"dataset": {"path": "fashion-mnist", "limit_train": 1000, "limit_test": 200, "val": 0.2},
 "model": {"arch": "lenet", "width": 4, "pretrain_epochs": 1}, "latency_reps": 0,
 "grid": {"strategy": ["one-shot", "iterative"], "target": [0.5, 0.7, 0.8, 0.9], "steps": [3],
          "fine_tune": [{"epochs": 2}]}}
JSON
"$ROOT/tests/slurm/cluster.sh" start "$T/cluster" >/dev/null
export SLURM_CONF="$T/cluster/slurm.conf"
# The same base model in both folders, made beforehand: only the runs are timed.
mkdir -p "$T/local" "$T/array"
cp "$T/sweep.json" "$T/local/sweep.json"
"$PQW" sweep-run "$T/local" --prepare --threads 1 >/dev/null 2>&1
t0=$(date +%s.%N)
"$PQW" sweep "$T/sweep.json" -o "$T/local" --threads 1 >/dev/null 2>&1
t1=$(date +%s.%N)
local_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
# The array folder starts from the local folder's base model.
cp "$T/local/sweep.json" "$T/local/base_model.pqwcnn" "$T/array/"
t0=$(date +%s.%N)
out=$("$PQW" sweep "$T/sweep.json" -o "$T/array" --slurm --cpus-per-task 1)
job=$(echo "$out" | sed -n 's/.*job array \([0-9]*\).*/\1/p')
while [ -n "$(squeue -h -j "$job" -o %i)" ]; do sleep 0.2; done
t1=$(date +%s.%N)
array_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
echo "cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "8-run sweep, local (one after another, 1 thread): ${local_s} s"
echo "8-run sweep, job array on the local cluster (1 CPU per task, $(nproc) at once): ${array_s} s"
/usr/bin/python3 - "$T/array" <<'PY'
import json, sys, glob, statistics
d = sys.argv[1]
sub = [json.loads(l) for l in open(d + "/slurm/submissions.jsonl")][-1]["submitted"]
starts, runs = [], []
for f in sorted(glob.glob(d + "/runs/*.jsonl")):
    lines = [json.loads(l) for l in open(f)]
    s = [l for l in lines if l["kind"] == "run.start"][0]["values"]["unix_time"]
    done = [l for l in lines if l["kind"] == "run.done"][0]["values"]["seconds"]
    starts.append(s - sub)
    runs.append(done)
starts.sort()
print("submission -> first event per task (s):", " ".join("%.2f" % x for x in starts))
print("first task's overhead: %.2f s; run seconds median %.2f" % (starts[0], statistics.median(runs)))
PY
