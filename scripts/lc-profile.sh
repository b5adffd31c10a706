#!/usr/bin/env bash
# lc-profile.sh [N]: where a lifecycle claim's Redis CPU goes. A private
# redis-server, one lifecycle orchestrator (the bench's registry of three
# agents, SETT_BID_TIMEOUT=0), `sett-bench lifecycle --burst N` (default
# 10000), then Redis's INFO commandstats for the run: calls, total µs and µs
# per call of every command, and per lifecycle claim. SETT_ORCHESTRATOR_BIN
# picks the binary (as `make bench`). VALGRIND=1 runs redis-server under
# valgrind's callgrind and also prints the instructions Redis spent per
# claim (deterministic on a shared machine, where µs are not; use N=2000:
# valgrind is ~50x slower). Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
bin=$(orchestrator_bin)
cargo build --release --locked -q -p sett-bench
if [ "${VALGRIND:-0}" = 1 ]; then
  redis_port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$private_dir/cg.out" redis-server --port "$redis_port" \
    --bind 127.0.0.1 --save '' --appendonly no --dir "$private_dir" >"$private_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 300); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_URL="redis://127.0.0.1:$redis_port"
else
  start_redis
fi
registry="$private_dir/sett.yml"
write_registry "$registry" Coder Docs Lint
start_orchestrator "$bin" prof SETT_CONFIG_FILE="$registry" SETT_BID_TIMEOUT=0
redis-cli -p "$redis_port" config resetstat >/dev/null
[ "${VALGRIND:-0}" != 1 ] || callgrind_control -z "$redis_pid" >/dev/null
target/release/sett-bench lifecycle --redis-url "$REDIS_URL" --instance prof --pid "$orch_pid" \
  --registry "$registry" --burst "$n" --wait-ms 120000 2>/dev/null | grep -Ei 'claims/s|cpu|complete' || true
if [ "${VALGRIND:-0}" = 1 ]; then
  callgrind_control -d "$redis_pid" >/dev/null
  ir=$(cat "$private_dir"/cg.out* | sed -n 's/^summary: //p; s/^totals: //p' | sort -n | tail -1)
  echo "redis-server instructions: $ir for $n lifecycle claims: $((ir / n)) per claim"
  mkdir -p target/bench
  cp "$(ls -t "$private_dir"/cg.out* | head -1)" target/bench/lc-profile.callgrind
  echo "callgrind_annotate target/bench/lc-profile.callgrind: where they went"
fi
echo "commandstats for $n lifecycle claims (redis CPU: $(redis-cli -p "$redis_port" info cpu | grep -E 'used_cpu_(user|sys):' | tr -d '\r' | tr '\n' ' '))"
redis-cli -p "$redis_port" info commandstats | tr -d '\r' | grep '^cmdstat_' |
  sed -E 's/^cmdstat_([^:]*):calls=([0-9]+),usec=([0-9]+),usec_per_call=([0-9.]+).*/\1 \2 \3 \4/' |
  sort -k3 -n -r |
  awk -v n="$n" 'BEGIN { printf "%-14s %10s %12s %10s %12s\n", "command", "calls", "usec", "us/call", "us/claim" }
    { printf "%-14s %10d %12d %10.2f %12.2f\n", $1, $2, $3, $4, $3 / n; t += $3 }
    END { printf "%-14s %10s %12d %10s %12.2f\n", "total", "", t, "", t / n }'
