#!/usr/bin/env bash
# Measures the cost of one catch-up scan (issue 5): fills a private Redis with
# N artefacts of which 1% have no claim yet, starts the release orchestrator,
# and reports the reconcile_complete line (duration_ms, scanned, claimed) and
# the process's peak RSS (VmHWM) once the scan is done. Checks the result: N
# index keys and N claims afterwards. Sizes: BENCH_SIZES (default
# "10000 1000000"), so the peak RSS of a small and a large scan can be compared.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${BENCH_SIZES:-"10000 1000000"}
bin=target/release/sett-orchestrator
cargo build --release --locked -p sett-orchestrator
command -v redis-server >/dev/null || scripts/ensure-deps.sh

redis_cpu() { redis-cli -p "$1" INFO cpu | awk -F: '/^used_cpu_(user|sys):/ {t += $2} END {print t}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
redis_pid="" orch_pid=""
cleanup() {
  [ -n "$orch_pid" ] && kill "$orch_pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Artefact i gets id <prefix>-0000-4000-8000-<i as 12 hex digits>; all but
# every 100th also get an index key and a claim hash, as if claimed long ago.
fill_lua='
local base, from, to = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = from, to - 1 do
  local id = string.format("%s-0000-4000-8000-%012x", ARGV[4], i)
  redis.call("HSET", base .. "artefact:" .. id, "id", id, "logical_id", id, "version", "1",
    "structural_type", "Standard", "type", "Bench", "payload", "benchmark payload", "source_artefacts", "[]",
    "produced_by_role", "user")
  if i % 100 ~= 0 then
    local claim = string.format("%s-0000-4000-9000-%012x", ARGV[4], i)
    redis.call("SET", base .. "claim_by_artefact:" .. id, claim)
    redis.call("HSET", base .. "claim:" .. claim, "id", claim, "artefact_id", id, "status", "pending_review",
      "granted_review_agents", "[]", "granted_parallel_agents", "[]", "granted_exclusive_agent", "")
  end
end'

measure() {
  local n=$1 inst="bench-$1" port http_port
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  local t0=$SECONDS
  for ((from = 0; from < n; from += 10000)); do
    to=$((from + 10000 < n ? from + 10000 : n))
    redis-cli -p "$port" EVAL "$fill_lua" 0 "sett:$inst:" "$from" "$to" 0000beef >/dev/null
  done
  echo "bench: $n artefacts ($((n / 100)) unclaimed), $(redis-cli -p "$port" DBSIZE) keys, filled in $((SECONDS - t0)) s;" \
    "Redis $(redis-cli -p "$port" INFO memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"

  redis_cpu=$(redis_cpu "$port")
  http_port=$(free_port)
  SETT_INSTANCE_NAME=$inst REDIS_URL="redis://127.0.0.1:$port" SETT_HTTP_ADDR="127.0.0.1:$http_port" \
    "$bin" >"$dir/orch.log" 2>&1 &
  orch_pid=$!
  until grep -q '"event":"reconcile_complete"' "$dir/orch.log"; do
    kill -0 "$orch_pid" 2>/dev/null || { cat "$dir/orch.log"; exit 1; }
    sleep 0.1
  done
  echo "bench: $(grep '"event":"reconcile_complete"' "$dir/orch.log")"
  echo "bench: orchestrator $(grep -E '^(VmHWM|VmRSS)' /proc/$orch_pid/status | tr -s ' \t' ' ' | paste -sd ',')," \
    "CPU $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f s user + %.1f s system", $14 / hz, $15 / hz}' "/proc/$orch_pid/stat");" \
    "Redis CPU during the scan $(awk -v a="$redis_cpu" -v b="$(redis_cpu "$port")" 'BEGIN {printf "%.1f s", b - a}')"
  curl -s "http://127.0.0.1:$http_port/metrics" 2>/dev/null | grep -E '^sett_orchestrator_reconcile' || true
  kill -TERM "$orch_pid"; wait "$orch_pid" || true; orch_pid=""

  local index claims
  index=$(redis-cli -p "$port" --scan --pattern "sett:$inst:claim_by_artefact:*" | wc -l)
  claims=$(redis-cli -p "$port" --scan --pattern "sett:$inst:claim:*" | wc -l)
  echo "bench: afterwards $index index keys, $claims claim hashes (want $n each)"
  [ "$index" = "$n" ] && [ "$claims" = "$n" ] || { echo "bench: WRONG COUNTS" >&2; exit 1; }
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
  rm -f "$dir"/*.rdb
}

for n in $sizes; do measure "$n"; done
