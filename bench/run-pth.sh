#!/usr/bin/env bash
# Extraction with native torchvision backbones built from .pth state dicts (ConvNeXt-T,
# ResNet-50, ViT-B/16) vs PyTorch eager on the same weights, same batch, threads and run, 224 px.
# MODELS overrides the list.
# usage: bench/run-pth.sh   (BATCH, THREADS, REPEATS, BUILD_DIR override; needs a build with
#        -DPQW_BUILD_BENCH=ON and Debian's python3-torch / python3-torchvision)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BATCH="${BATCH:-16}"; THREADS="${THREADS:-$(nproc)}"; REPEATS="${REPEATS:-5}"; SIZE="${SIZE:-224}"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
/usr/bin/python3 "$ROOT/bench/torch_pth.py" write "$W"
printf "%-14s %-5s %-6s %14s %14s %8s\n" model size batch "pqw img/s" "torch img/s" ratio
for model in ${MODELS:-convnext_tiny resnet50 vit_b_16}; do
  p=(); t=()
  for round in 1 2 3; do  # alternate, medians: the machine is shared
    p+=("$("$BUILD_DIR/bench/bench_extract" "$SIZE" "$BATCH" "$REPEATS" "$THREADS" "$W/$model.pth")")
    t+=("$(/usr/bin/python3 "$ROOT/bench/torch_pth.py" run "$W/$model.pth" "$SIZE" "$BATCH" "$REPEATS" "$THREADS")")
  done
  pm=$(printf "%s\n" "${p[@]}" | sort -g | sed -n 2p); tm=$(printf "%s\n" "${t[@]}" | sort -g | sed -n 2p)
  printf "%-14s %-5s %-6s %14s %14s %8.2f\n" "$model" "$SIZE" "$BATCH" "$pm" "$tm" "$(awk -v a="$pm" -v b="$tm" "BEGIN{print a/b}")"
done
