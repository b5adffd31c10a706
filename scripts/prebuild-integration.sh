#!/usr/bin/env bash
# What `make test-integration` compiles, compiled earlier: `make test` has
# scripts/run-tests.sh start this (RUN_TESTS_ALONGSIDE) as it starts
# building the test binaries, and it goes on while they run. They spend most
# of their time waiting (time-outs, stalls, restarts), so the container
# tests' build and the aarch64 cross-build use a core that would idle,
# instead of running after them. A warm-up only: scripts/container-tests.sh
# runs the same commands again (no-ops then), so a failure here shows there,
# in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
# The aarch64 release first: it shares no cargo lock with the test
# binaries' build (the debug profile), which is under way when this starts;
# the container tests' build (debug) waits for that build's lock.
if [ "${SETT_SKIP_AARCH64:-}" != 1 ]; then
  ARCH=aarch64 scripts/ensure-deps.sh qemu
  scripts/build.sh aarch64
fi
if docker info >/dev/null 2>&1; then
  cargo test --locked -p sett-container-tests --no-run
fi
