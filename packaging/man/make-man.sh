#!/usr/bin/env bash
# Generates a gzipped manual page from an executable's --help and --version with help2man.
# usage: make-man.sh EXECUTABLE OUT.1 INCLUDE.h2m
# A program with subcommands (pqw) gets a COMMANDS section with every subcommand's --help.
set -euo pipefail
exe="$1" out="$2" include="$3"
mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# No display is needed for --help and --version, and no network at all.
export QT_QPA_PLATFORM=offscreen LC_ALL=C.UTF-8 COLUMNS=100
# Reproducible dates: the newest changelog entry, unless the caller set one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  changelog="$(dirname "$0")/../changelog"
  SOURCE_DATE_EPOCH="$(date -d "$(sed -n 's/^ -- .*>  //p' "$changelog" | head -1)" +%s)"
  export SOURCE_DATE_EPOCH
fi

# Run the program by its name (as users do), so no build path ends up in the page.
name="$(basename "$exe")"
PATH="$(cd "$(dirname "$exe")" && pwd):$PATH"
exe="$name"
"$exe" --help >"$tmp/help"
includes=(--include "$include")
if grep -q '^Subcommands:' "$tmp/help"; then
  {
    echo "[COMMANDS]"
    echo "Each command has its own options; \\fB$(basename "$exe") \\fICOMMAND\\fB \\-\\-help\\fR prints them."
    # CLI11 lists subcommands as "  name   description" after Subcommands:.
    sed -n '/^Subcommands:/,/^$/p' "$tmp/help" | awk 'NR>1 && NF {print $1}' | while read -r sub; do
      echo ".SS $sub"
      echo ".nf"
      # Escape backslashes and leading dots/quotes for roff.
      "$exe" "$sub" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
      echo ".fi"
    done
  } >"$tmp/commands.h2m"
  includes+=(--include "$tmp/commands.h2m")
fi
help2man --no-info --no-discard-stderr "${includes[@]}" --output="$tmp/page.1" "$exe"
if grep -q "$(dirname "$(command -v "$exe")")" "$tmp/page.1"; then
  echo "make-man.sh: the page names the build folder" >&2; exit 1
fi
gzip -9n -c "$tmp/page.1" >"$out.gz.tmp"
mv "$out.gz.tmp" "$out.gz"
cp "$tmp/page.1" "$out"
