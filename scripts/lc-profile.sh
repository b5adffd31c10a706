#!/usr/bin/env bash
# lc-profile.sh [N]: where a lifecycle claim's Redis CPU goes. A private
# redis-server, one lifecycle orchestrator (the bench's registry of three
# agents, SETT_BID_TIMEOUT=0), `sett-bench lifecycle --burst N` (default
# 10000), then Redis's INFO commandstats for the run: calls, total µs and µs
# per call of every command, and per lifecycle claim. SETT_ORCHESTRATOR_BIN
# picks the binary (as `make bench`). Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
bin=$(orchestrator_bin)
cargo build --release --locked -q -p sett-bench
start_redis
registry="$private_dir/sett.yml"
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Docs: {}\n  Lint: {}\n' >"$registry"
start_orchestrator "$bin" prof SETT_CONFIG_FILE="$registry" SETT_BID_TIMEOUT=0
redis-cli -p "$redis_port" config resetstat >/dev/null
target/release/sett-bench lifecycle --redis-url "$REDIS_URL" --instance prof --pid "$orch_pid" \
  --registry "$registry" --burst "$n" 2>/dev/null | grep -Ei 'claims/s|cpu|complete' || true
echo "commandstats for $n lifecycle claims (redis CPU: $(redis-cli -p "$redis_port" info cpu | grep -E 'used_cpu_(user|sys):' | tr -d '\r' | tr '\n' ' '))"
redis-cli -p "$redis_port" info commandstats | tr -d '\r' | grep '^cmdstat_' |
  sed -E 's/^cmdstat_([^:]*):calls=([0-9]+),usec=([0-9]+),usec_per_call=([0-9.]+).*/\1 \2 \3 \4/' |
  sort -k3 -n -r |
  awk -v n="$n" 'BEGIN { printf "%-14s %10s %12s %10s %12s\n", "command", "calls", "usec", "us/call", "us/claim" }
    { printf "%-14s %10d %12d %10.2f %12.2f\n", $1, $2, $3, $4, $3 / n; t += $3 }
    END { printf "%-14s %10s %12d %10s %12.2f\n", "total", "", t, "", t / n }'
