#!/usr/bin/env bash
# make bench: builds the release orchestrator and sett-bench, starts a private
# redis-server and two orchestrators on it: one in Phase-1 mode (instance
# bench), one in lifecycle mode (instance bench-lc, a registry of three
# agents, SETT_BID_TIMEOUT=0). Runs `sett-bench suite` on them: the
# claim-script ceilings (calls of one artefact, of 32 as the orchestrator
# sends them, and claim_artefact calls), 10k bursts (256 B, 4 KiB, 64 KiB), 10k at 1,000/s,
# 5 fresh start-ups with SIGTERM; then the lifecycle with simulated agents
# (10k burst to `complete`, 2k at 100/s for last bid -> grant, 10k claims
# waiting for bids) and 5 fresh start-ups with the registry. Prints one table;
# JSON in target/bench/. Then scripts/bigevent-bench.sh on the same binary:
# peak RSS while single 16/64/256 MiB events are delivered and claimed, in
# Phase-1 mode and with the registry.
# Then the controller workers on the real Docker engine (`sett-bench workers`:
# its own redis-server, a FROM-scratch image of sett-test-worker, networks;
# about 3-5 minutes, most of it Docker starting containers) and the binary's
# and image's sizes; without Docker one line says these rows were skipped.
# RUNS=N repeats each burst N times (default 3). LIFECYCLE=0 skips the
# lifecycle orchestrator and its scenarios (e.g. for an older binary given as
# SETT_ORCHESTRATOR_BIN), BIGEVENT=0 the big events (they need ~1.5 GB of
# RAM), WORKERS=0 the controller workers. BENCH_IMAGE names the image built
# for its size (default sett-orchestrator-bench; removed after). It reports;
# it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# redis-server, redis-cli, musl-tools and the musl target (quiet when all are there).
scripts/ensure-deps.sh
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh

bin=$(orchestrator_bin)
cargo build --release --locked -q -p sett-bench
mkdir -p target/bench
start_redis
start_orchestrator "$bin" bench

# The lifecycle orchestrator: its own instance, a registry of three agents
# (sett-bench simulates them: the first by name bids exclusive, the others ignore).
registry="$private_dir/sett.yml"
write_registry "$registry" Coder Docs Lint
lc_pid="" lifecycle_args=()
if [ "${LIFECYCLE:-1}" != 0 ]; then
  lc_port=$(free_port)
  env -i PATH="$PATH" SETT_INSTANCE_NAME=bench-lc REDIS_URL="$REDIS_URL" SETT_HTTP_ADDR="127.0.0.1:$lc_port" \
    SETT_CONFIG_FILE="$registry" SETT_BID_TIMEOUT=0 "$bin" >"$private_dir/orchestrator-lc.log" 2>&1 &
  lc_pid=$!
  lifecycle_args=(--lifecycle-pid "$lc_pid" --lifecycle-instance bench-lc --registry "$registry")
fi
stop_all() {
  [ -z "$lc_pid" ] || { kill -TERM "$lc_pid" 2>/dev/null && wait "$lc_pid" 2>/dev/null || true; }
  stop_private
}
trap stop_all EXIT
if [ -n "$lc_pid" ]; then
  for _ in $(seq 1 500); do [ "$(http_status "$lc_port" /healthz)" = 200 ] && break; sleep 0.02; done
  [ "$(http_status "$lc_port" /healthz)" = 200 ] || { cat "$private_dir/orchestrator-lc.log" >&2; exit 1; }
fi

echo "sett-bench suite: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "orchestrator: $bin ($(stat -c %s "$bin") bytes); $(redis-server --version | cut -d' ' -f1-3)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/sett-bench suite --redis-url "$REDIS_URL" --instance bench --pid "$orch_pid" --bin "$bin" \
  "${lifecycle_args[@]}" \
  --runs "${RUNS:-3}" --out target/bench/results.json
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_orchestrator
count() { grep -c "$1" "$2" || true; }
log="$private_dir/orchestrator.log" lc_log="$private_dir/orchestrator-lc.log"
echo "bench orchestrator: exit status $orch_status after SIGTERM; $(count '"event":"claim_created"' "$log") claim_created lines, $(count '"level":"error"' "$log") error lines"
cp "$log" target/bench/orchestrator.log
if [ -n "$lc_pid" ]; then
  lc_status=0
  kill -TERM "$lc_pid"
  wait "$lc_pid" || lc_status=$?
  lc_pid=""
  echo "lifecycle orchestrator: exit status $lc_status after SIGTERM; $(count '"event":"claim_complete"' "$lc_log") claim_complete, $(count '"event":"claim_dormant"' "$lc_log") claim_dormant lines, $(count '"level":"error"' "$lc_log") error lines"
  cp "$lc_log" target/bench/orchestrator-lc.log
fi
echo "full results: target/bench/results.json; orchestrator logs: target/bench/orchestrator*.log"

if [ "${BIGEVENT:-1}" != 0 ]; then
  echo
  echo "bigevent-bench: peak RSS while single big events are delivered and claimed (budget <= 8192 kB)"
  scripts/bigevent-bench.sh "$bin"
  echo "bigevent-bench, lifecycle mode (the same registry):"
  BIGEVENT_REGISTRY=$registry scripts/bigevent-bench.sh "$bin"
fi

echo
echo "controller workers and sizes (issue 16): what, measured, budget, verdict, the command"
row() { printf '%-42s %30s %14s %7s  %s\n' "$@"; }
size_budget=$((2816 * 1024)) # 2.75 MB (MiB, as the RSS budgets' KiB)
bin_bytes=$(stat -c %s "$bin")
row "binary size" "$bin_bytes bytes" "< $size_budget" "$([ "$bin_bytes" -lt "$size_budget" ] && echo met || echo MISSED)" "stat -c %s $bin"
docker_why=""
if ! command -v docker >/dev/null 2>&1; then
  docker_why="the docker CLI is not installed"
elif ! docker_why=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
  docker_why=${docker_why:-no Docker engine answers}
  docker_why=$(echo "$docker_why" | head -1)
else
  docker_why=""
fi
if [ "${WORKERS:-1}" = 0 ]; then
  echo "SKIPPED (WORKERS=0): worker grant -> started, 200 claims at max 8, RSS with a controller registry and 100 workers, image size"
elif [ -n "$docker_why" ]; then
  echo "SKIPPED (no Docker: $docker_why): worker grant -> started, 200 claims at max 8, RSS with a controller registry and 100 workers, image size"
else
  tag=${BENCH_IMAGE:-sett-orchestrator-bench}
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  # scripts/docker-build.sh packs bin/sett-orchestrator: measured when that is $bin (or the same bytes).
  if [ "$bin" = bin/sett-orchestrator ] || cmp -s "$bin" bin/sett-orchestrator; then
    scripts/docker-build.sh "$tag" "$version" >/dev/null
    image_bytes=$(docker image inspect -f '{{.Size}}' "$tag:latest")
    docker rmi "$tag:latest" "$tag:$version" >/dev/null
    row "image size (FROM scratch, the binary)" "$image_bytes bytes" "< $size_budget" "$([ "$image_bytes" -lt "$size_budget" ] && echo met || echo MISSED)" "scripts/docker-build.sh $tag; docker image inspect -f '{{.Size}}'"
  else
    echo "image size: skipped, bin/sett-orchestrator is not $bin (scripts/docker-build.sh packs bin/: make build-orchestrator)"
  fi
  worker_target=x86_64-unknown-linux-musl
  cargo build --release --locked -q -p sett-sim --bin sett-test-worker --target "$worker_target"
  target/release/sett-bench workers --bin "$bin" --worker-bin "target/$worker_target/release/sett-test-worker"
fi
