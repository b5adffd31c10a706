#!/usr/bin/env bash
# Tests that could not run record why in target/test-skips/ (one file each;
# see tests/support/mod.rs `skip`), so a skip is seen, not taken for a pass.
# Usage: scripts/test-skips.sh reset | report | record NAME REASON
#   reset   forget earlier runs' skips (make test-unit does it first)
#   record  add one (scripts that skip a whole suite, e.g. without Docker)
#   report  print one `SKIPPED: …` line per skip (make test does it last)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/test-skips"
case "${1:-report}" in
  reset) rm -rf "$dir" ;;
  record)
    mkdir -p "$dir"
    printf '%s: %s\n' "$2" "$3" >"$dir/$2.txt"
    echo "SKIPPED: $2: $3" >&2
    ;;
  report)
    shopt -s nullglob
    files=("$dir"/*.txt)
    if [ ${#files[@]} -eq 0 ]; then
      echo "no test was skipped"
    else
      for f in "${files[@]}"; do printf 'SKIPPED: %s\n' "$(cat "$f")"; done
    fi
    ;;
  *) echo "usage: $0 reset | report | record NAME REASON" >&2; exit 2 ;;
esac
