#!/usr/bin/env bash
# Feature-extraction benchmark: the workbench's default trunk vs PyTorch eager
# (torchvision MobileNetV2 features up to block 10), same batch and threads, same run.
# Installs Debian's python3-torch/python3-torchvision for the baseline (benchmark only).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup"
for p in python3-torch python3-torchvision; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
"$ROOT/scripts/build" -DPQW_BUILD_BENCH=ON
BATCH="${BATCH:-64}"; THREADS="${THREADS:-$(nproc)}"; REPEATS="${REPEATS:-7}"
printf "%-6s %-6s %14s %14s %8s\n" size batch "pqw img/s" "torch img/s" ratio
for size in 112 224; do
  # Alternate the two, three rounds each, and take the medians: the machine is shared.
  p=(); t=()
  for round in 1 2 3; do
    p+=("$("$BUILD_DIR/bench/bench_extract" "$size" "$BATCH" "$REPEATS" "$THREADS")")
    t+=("$(/usr/bin/python3 "$ROOT/bench/torch_mobilenet.py" "$size" "$BATCH" "$REPEATS" "$THREADS")")
  done
  pm=$(printf "%s\n" "${p[@]}" | sort -g | sed -n 2p); tm=$(printf "%s\n" "${t[@]}" | sort -g | sed -n 2p)
  printf "%-6s %-6s %14s %14s %8.2f\n" "$size" "$BATCH" "$pm" "$tm" "$(awk -v a="$pm" -v b="$tm" "BEGIN{print a/b}")"
done
