#!/usr/bin/env bash
# make fuzz: runs each cargo-fuzz target (fuzz/) for FUZZ_SECONDS seconds
# (default 180), on nightly, starting from the committed seeds in
# fuzz/seeds/<target>; new inputs go to fuzz/corpus/<target> (not committed).
# A crash stops the run: libFuzzer saves it under fuzz/artifacts/<target>/,
# and it becomes a regression test next to the code it broke.
# Inputs go up to 20,000 bytes, past the 8 KiB head limit (libFuzzer's default
# stops at 4 KiB). Not part of `make test`. FUZZ_TARGETS picks targets
# (default: all three).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-180}
targets=${FUZZ_TARGETS:-"http_head decode_event config"}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
TIMEFORMAT="fuzz: %R s wall, %U s user + %S s system CPU"
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  echo "fuzz: $t for ${seconds}s" >&2
  time cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=20000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
