#!/usr/bin/env bash
# make bench: builds the release orchestrator and sett-bench, starts a private
# redis-server and two orchestrators on it: one in Phase-1 mode (instance
# bench), one in lifecycle mode (instance bench-lc, a registry of three
# agents, SETT_BID_TIMEOUT=0). Runs `sett-bench suite` on them: the
# claim-script ceiling, 10k bursts (256 B, 4 KiB, 64 KiB), 10k at 1,000/s,
# 5 fresh start-ups with SIGTERM; then the lifecycle with simulated agents
# (10k burst to `complete`, 2k at 100/s for last bid -> grant, 10k claims
# waiting for bids) and 5 fresh start-ups with the registry. Prints one table;
# JSON in target/bench/. Then scripts/bigevent-bench.sh on the same binary:
# peak RSS while single 16/64/256 MiB events are delivered and claimed, in
# Phase-1 mode and with the registry.
# RUNS=N repeats each burst N times (default 3). LIFECYCLE=0 skips the
# lifecycle orchestrator and its scenarios (e.g. for an older binary given as
# SETT_ORCHESTRATOR_BIN), BIGEVENT=0 the big events (they need ~1.5 GB of
# RAM). It reports; it asserts nothing.
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
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Docs: {}\n  Lint: {}\n' >"$registry"
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
