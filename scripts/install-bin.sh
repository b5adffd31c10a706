#!/usr/bin/env bash
# install-bin.sh SRC DEST: installs a binary by writing a temporary file next
# to DEST and renaming it over DEST. A copy of DEST still running (another
# terminal, a bench) keeps its own file, so this never fails with
# `Text file busy` as `cp SRC DEST` does (scripts/build.sh uses it).
set -euo pipefail
src=$1 dest=$2
tmp="$(dirname "$dest")/.$(basename "$dest").tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$src" "$tmp"
chmod +x "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
