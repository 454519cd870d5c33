#!/usr/bin/env bash
# ProtoQuant benchmark: seconds per epoch of stage 1 and stage 2 and the prototype-index build
# on a Fashion-MNIST feature cache, against PyTorch eager on the same cached tensors, same run.
# usage: bench/run-protoquant.sh [CACHE_DIR]   (default: extracts Fashion-MNIST at 112 px)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup"
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
"$ROOT/scripts/build" -DPQW_BUILD_BENCH=ON
CACHE="${1:-$ROOT/out/bench/fmnist-112}"
[ -f "$CACHE/meta.json" ] || "$BUILD_DIR/app/pqw" extract -d fashion-mnist --size 112 -o "$CACHE"
THREADS="${THREADS:-$(nproc)}"; REPEATS="${REPEATS:-3}"; CODES="${CODES:-256}"
CKPT="$(mktemp --suffix=.pqwh)"
p=$(OMP_NUM_THREADS=$THREADS "$BUILD_DIR/bench/bench_protoquant" "$CACHE" "$CKPT" "$CODES" "$REPEATS")
t=$(/usr/bin/python3 "$ROOT/bench/protoquant_eager.py" "$CACHE" "$CKPT" "$CODES" "$REPEATS" "$THREADS")
rm -f "$CKPT"
read -r p1 p2 pi <<<"$p"; read -r t1 t2 ti <<<"$t"
printf "%-22s %10s %12s %8s\n" what "pqw s" "torch s" "ratio"
printf "%-22s %10.2f %12.2f %8.2f\n" "stage 1 epoch" "$p1" "$t1" "$(awk -v a="$t1" -v b="$p1" 'BEGIN{print a/b}')"
printf "%-22s %10.2f %12.2f %8.2f\n" "stage 2 epoch" "$p2" "$t2" "$(awk -v a="$t2" -v b="$p2" 'BEGIN{print a/b}')"
printf "%-22s %10.2f %12.2f %8.2f\n" "prototype index" "$pi" "$ti" "$(awk -v a="$ti" -v b="$pi" 'BEGIN{print a/b}')"
echo "(ratio = PyTorch eager seconds / pqw seconds; >= 1 means pqw is not slower)"
