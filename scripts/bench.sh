#!/usr/bin/env bash
# make bench: builds the release orchestrator and sett-bench, starts a private
# redis-server and the orchestrator, and runs `sett-bench suite` on them: the
# claim-script ceiling, 10k bursts (256 B, 4 KiB, 64 KiB), 10k at 1,000/s and
# 5 fresh start-ups with SIGTERM. Prints one table; JSON in target/bench/.
# RUNS=N repeats each burst N times (default 3). It reports; it asserts nothing.
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

echo "sett-bench suite: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "orchestrator: $bin ($(stat -c %s "$bin") bytes); $(redis-server --version | cut -d' ' -f1-3)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/sett-bench suite --redis-url "$REDIS_URL" --instance bench --pid "$orch_pid" --bin "$bin" \
  --runs "${RUNS:-3}" --out target/bench/results.json
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_orchestrator
echo "bench orchestrator: exit status $orch_status after SIGTERM; $(grep -c '"event":"claim_created"' "$private_dir/orchestrator.log") claim_created lines, $(grep -c '"level":"error"' "$private_dir/orchestrator.log") error lines"
cp "$private_dir/orchestrator.log" target/bench/orchestrator.log
echo "full results: target/bench/results.json, orchestrator log: target/bench/orchestrator.log"
