#!/usr/bin/env bash
# lc-trace.sh [N]: every command Redis runs for N lifecycle claims (default
# 1), in order, and a count per command: the commands scripts call (MONITOR
# shows them as `lua`) apart from those clients send (the producer, the
# simulated agents, the orchestrator's own reads). A private redis-server,
# one lifecycle orchestrator (the bench's registry of three agents: Coder
# bids exclusive, Docs and Lint ignore; SETT_BID_TIMEOUT=0), then
# `sett-bench lifecycle --burst N` under MONITOR; the run is what lies between
# the bench's two `INFO cpu` (its own board reads and clean-up come after).
# The bench polls `ZCARD orchestrator:bidding` while it waits: those are its
# own. SETT_ORCHESTRATOR_BIN picks the binary (as `make bench`). Reports;
# asserts nothing. (docs/performance.md, "Where a lifecycle claim's commands
# come from".)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1}
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
bin=$(orchestrator_bin)
cargo build --release --locked -q -p sett-bench
start_redis
registry="$private_dir/sett.yml"
write_registry "$registry" Coder Docs Lint
start_orchestrator "$bin" trace SETT_CONFIG_FILE="$registry" SETT_BID_TIMEOUT=0
trace="$private_dir/monitor.txt"
redis-cli -p "$redis_port" MONITOR >"$trace" 2>&1 &
monitor=$!
# MONITOR answers OK once it is on.
for _ in $(seq 1 100); do grep -q OK "$trace" && break; sleep 0.05; done
target/release/sett-bench lifecycle --redis-url "$REDIS_URL" --instance trace --pid "$orch_pid" \
  --registry "$registry" --burst "$n" --wait-ms 20000 --settle-ms 300 >/dev/null 2>&1
sleep 0.2
kill "$monitor"
wait "$monitor" 2>/dev/null || true
# A line: `<time> [0 <client>] "VERB" "key" ...`; client `lua` inside a script.
run=$(awk '/"INFO" "cpu"/ { n++; next } n == 1' "$trace")
echo "$run" | awk '{ from = ($3 == "lua]") ? "script" : "client"; verb = $4; key = $5; gsub(/"/, "", verb); gsub(/"/, "", key)
  printf "%-6s %-8s %s\n", from, verb, key }'
echo
echo "commands for $n lifecycle claim(s): from scripts, from clients (per claim)"
echo "$run" | awk -v n="$n" '{ from = ($3 == "lua]") ? "script" : "client"; verb = $4; gsub(/"/, "", verb)
    c[verb, from]++; v[verb] = 1; t[from]++ }
  END { for (verb in v) printf "%-10s %8.2f %8.2f\n", verb, c[verb, "script"] / n, c[verb, "client"] / n
        printf "%-10s %8.2f %8.2f\n", "all", t["script"] / n, t["client"] / n }' | sort -k2,2nr -k3,3nr
