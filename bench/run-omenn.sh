#!/usr/bin/env bash
# OMENN on the default trunk (MobileNetV2 to block 10) + a stage-0 head, batch 1: one explanation
# vs one forward pass of the same model (build/bench/bench_omenn, same process), and vs PyTorch
# eager Gradient x Input on torchvision's mobilenet_v2().features[:12] + a linear head
# (bench/torch_mobilenet_gxi.py), same size and threads. ROUNDS interleaved rounds (pqw, python,
# pqw, ...); each prints its own medians, the last line the median ratios over the rounds.
# Issue 19's targets: OMENN <= 3x forward; PyTorch GxI / OMENN >= 1.5 at 224 px.
# usage: bench/run-omenn.sh   (SIZE, HEAD, THREADS, REPEATS, ROUNDS, BUILD_DIR override; needs a
#        build with -DPQW_BUILD_BENCH=ON and Debian's python3-torch / python3-torchvision)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
SIZE="${SIZE:-224}"; HEAD="${HEAD:-stage0}"; THREADS="${THREADS:-2}"; REPEATS="${REPEATS:-15}"; ROUNDS="${ROUNDS:-3}"
echo "load: $(uptime)"
printf "%-6s %10s %10s %8s %12s %12s\n" round "fwd ms" "OMENN ms" "/fwd" "torch GxI ms" "GxI/OMENN"
r1=(); r2=()
for round in $(seq "$ROUNDS"); do
  out=$(PQW_BENCH_IG=0 "$BUILD_DIR/bench/bench_omenn" "$SIZE" "$HEAD" "$REPEATS" "$THREADS")
  fwd=$(awk '/^forward \(inference graph\)/{print $4}' <<<"$out")
  om=$(awk '/^OMENN explanation/{print $3}' <<<"$out")
  read -r _ tg < <(/usr/bin/python3 "$ROOT/bench/torch_mobilenet_gxi.py" "$SIZE" "$REPEATS" "$THREADS")
  a=$(awk -v a="$om" -v b="$fwd" 'BEGIN{printf "%.2f", a/b}'); b=$(awk -v a="$tg" -v b="$om" 'BEGIN{printf "%.2f", a/b}')
  r1+=("$a"); r2+=("$b")
  printf "%-6s %10s %10s %8s %12s %12s\n" "$round" "$fwd" "$om" "$a" "$tg" "$b"
done
med() { printf "%s\n" "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo "median over $ROUNDS rounds: OMENN / forward $(med "${r1[@]}")x, PyTorch GxI / OMENN $(med "${r2[@]}")x (size $SIZE, head $HEAD, threads $THREADS)"
echo "load: $(uptime)"
