#!/usr/bin/env bash
# make test-integration: builds the image (scripts/docker-build.sh, as `make
# docker-orchestrator` does), the static test worker for the controller test,
# and a Redis image from the host's redis-server
# (no registry), runs the container tests (container-tests/) against them,
# then cross-builds for aarch64 and runs its smoke test under qemu (tests/aarch64.rs).
# Usage: scripts/container-tests.sh [IMAGE] [VERSION]
#
# Without Docker the container tests are skipped with the reason (recorded in
# target/test-skips/, listed at the end of make test), except in CI (CI=true),
# where that is a failure.
# SETT_CT_REDIS_IMAGE=redis:7-alpine uses a registry image instead of building one.
# SETT_SKIP_AARCH64=1 leaves out the aarch64 cross-build and its qemu smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-sett-orchestrator}
version=${2:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}

if ! command -v docker >/dev/null 2>&1; then
  why="the docker CLI is not installed"
elif ! docker_error=$(docker info 2>&1 >/dev/null); then
  why="the Docker daemon does not answer: $(printf '%s' "$docker_error" | head -1)"
else
  why=""
fi
if [ -n "$why" ]; then
  if [ "${CI:-}" = true ]; then
    echo "container tests: FAILED: $why (Docker is required when CI=true)" >&2
    exit 1
  fi
  scripts/test-skips.sh record "container tests" "$why"
else
  scripts/docker-build.sh "$image" "$version"
  export SETT_CT_IMAGE="$image:latest"
  # The controller test's worker (workers.rs puts it in a FROM-scratch image).
  if [ -z "${SETT_TEST_WORKER_BIN:-}" ]; then
    cargo build --release --locked -q -p sett-sim --bin sett-test-worker --target x86_64-unknown-linux-musl
    export SETT_TEST_WORKER_BIN="$PWD/target/x86_64-unknown-linux-musl/release/sett-test-worker"
  fi
  if [ -z "${SETT_CT_REDIS_IMAGE:-}" ]; then
    # FROM scratch + redis-server + the libraries ldd names, each at its path.
    ctx=$(mktemp -d)
    trap 'rm -rf "$ctx"' EXIT
    real=$(readlink -f "$(command -v redis-server)")
    install -D -m 0755 "$real" "$ctx/rootfs/usr/bin/redis-server"
    ldd "$real" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
      while read -r lib; do install -D -m 0755 "$(readlink -f "$lib")" "$ctx/rootfs$lib"; done
    cp docker/redis-test.Dockerfile "$ctx/Dockerfile"
    if ! docker build -q -t sett-ct-redis:test "$ctx" >"$ctx/build.log" 2>&1; then
      cat "$ctx/build.log" >&2
      exit 1
    fi
    export SETT_CT_REDIS_IMAGE=sett-ct-redis:test
    echo "container tests: Redis image $SETT_CT_REDIS_IMAGE ($(docker image inspect -f '{{.Size}}' "$SETT_CT_REDIS_IMAGE") bytes)"
  fi
  # Two at a time: each test has its own network, Redis and orchestrator.
  # --nocapture: the measured image size, peak memory and stop time are printed.
  cargo test --locked -p sett-container-tests -- --test-threads=2 --nocapture
fi

if [ "${SETT_SKIP_AARCH64:-}" = 1 ]; then
  if [ "${CI:-}" = true ]; then
    echo "aarch64 smoke: FAILED: SETT_SKIP_AARCH64=1 is not allowed when CI=true" >&2
    exit 1
  fi
  scripts/test-skips.sh record "aarch64 smoke test" "SETT_SKIP_AARCH64=1"
  exit 0
fi
ARCH=aarch64 scripts/ensure-deps.sh qemu
scripts/build.sh aarch64
SETT_AARCH64_REQUIRED=1 cargo test --locked -p sett-orchestrator --test aarch64
