#!/usr/bin/env bash
# OMENN on traced torchvision ConvNeXt-T and ViT-B/16 at 224 px (pqw explain --script): one
# explanation vs one forward pass of the same TorchScript module (LibTorch, same run), and vs
# PyTorch's own Gradient x Input (eager torchvision model and the traced module, same threads).
# Three interleaved rounds (pqw, python, pqw, ...), medians of the round medians: the machine is
# shared. Issue 14's targets: explanation <= 3x forward, and faster than PyTorch's GxI.
# usage: bench/run-omenn-script.sh   (THREADS, REPEATS, SIZE, BUILD_DIR override; MODELS_DIR keeps
#        the traced models between runs; needs a build
#        with -DPQW_BUILD_BENCH=ON and Debian's python3-torch / python3-torchvision)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
THREADS="${THREADS:-2}"; REPEATS="${REPEATS:-5}"; SIZE="${SIZE:-224}"
if [ -n "${MODELS_DIR:-}" ]; then W="$MODELS_DIR"; else W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT; fi
[ -f "$W/vit_b_16.pt" ] || /usr/bin/python3 "$ROOT/bench/torch_script_gxi.py" write "$W"
echo "load: $(uptime)"
printf "%-14s %10s %10s %8s %10s %14s %14s %10s %10s\n" model "fwd ms" "OMENN ms" "/fwd" "freeze ms" "torch GxI ms" "GxI(.pt) ms" "OMENN/GxI" residual
for model in convnext_tiny vit_b_16; do
  f=(); e=(); g=(); s=(); z=(); r=""
  for round in 1 2 3; do
    read -r pf pe r pz < <("$BUILD_DIR/bench/bench_omenn_script" "$W/$model.pt" "$SIZE" "$REPEATS" "$THREADS")
    read -r tf tg ts < <(/usr/bin/python3 "$ROOT/bench/torch_script_gxi.py" run "$model" "$W" "$SIZE" "$REPEATS" "$THREADS")
    f+=("$pf"); e+=("$pe"); g+=("$tg"); s+=("$ts"); z+=("$pz")
  done
  med() { printf "%s\n" "$@" | sort -g | sed -n 2p; }
  fm=$(med "${f[@]}"); em=$(med "${e[@]}"); gm=$(med "${g[@]}"); sm=$(med "${s[@]}"); zm=$(med "${z[@]}")
  printf "%-14s %10s %10s %8.2f %10s %14s %14s %10.2f %10s\n" "$model" "$fm" "$em" "$(awk -v a="$em" -v b="$fm" 'BEGIN{print a/b}')" "$zm" \
    "$gm" "$sm" "$(awk -v a="$em" -v b="$gm" 'BEGIN{print a/b}')" "$r"
done
echo "load: $(uptime)"
