#!/usr/bin/env bash
# Measures the cost of one catch-up scan (issues 5 and 11): fills a private
# Redis with N artefacts of which 1% have no claim yet, starts the static musl
# release orchestrator (bin/sett-orchestrator, scripts/build.sh; or
# $SETT_ORCHESTRATOR_BIN), and reports the reconcile_complete line
# (duration_ms, scanned, claimed) and the process's peak RSS (VmHWM) once the
# scan is done. Checks the result: N index keys and N claims afterwards.
#
#   scripts/catchup-bench.sh [phase1|lifecycle|both|adopt]     (default phase1)
#
# BENCH_PERIODIC=1: the orchestrator runs with SETT_CATCHUP_INTERVAL=1s and
# the three periodic passes after the first are printed too (the steady
# state: nothing to claim or adopt; issue 15's second-pass cost). The peak
# RSS and CPU then cover all four passes.
#
# BENCH_FOREIGN=1 (with lifecycle data): the claims in their review phase are
# someone else's (the active set is deleted after the fill, as when Holt's
# Go orchestrator made them): the first pass adopts them into their phase and
# the next pass replays, counting the artefacts of claims someone else
# finished too (docs/lifecycle.md, "Adoption"). With BENCH_PERIODIC=1 that
# replaying pass is the first periodic line.
#
# adopt (issue 15): the lifecycle switched on over a Phase-1 blackboard. Each
# size runs Phase 1 over Phase-1 data, then the lifecycle over the same data
# (a fresh Redis each, filled alike): every claim is a six-field Phase-1
# claim that the lifecycle's first catch-up adopts (the 14 fields, the
# bidding set). Checked afterwards: `adopted` = the claims filled, every
# claim (adopted and new) collecting bids, a sample claim with 14 fields;
# printed: the lifecycle pass's duration over the Phase-1 pass's (budget 2x)
# and both peak RSS.
#
# lifecycle: the orchestrator runs with an agent registry (Coder, Reviewer,
# Tester; SETT_BID_TIMEOUT=0) and the blackboard looks lived-in: claims have
# the lifecycle's 14 fields, most are complete, every 1,000th is in its review
# phase (granted to Reviewer, in orchestrator:active), and for every 10,000th
# the Reviewer's approving Review was written while no orchestrator listened.
# The catch-up must count each of those Reviews: checked afterwards (those
# claims moved on to the exclusive phase, granted to Coder; one review_approved
# and one exclusive claim_granted line each; the other claims still in review;
# the 1% new claims collecting bids).
# Sizes: BENCH_SIZES (default "10000 1000000"), so the peak RSS of a small and
# a large scan can be compared; with `both`, each size runs Phase 1 first,
# then the lifecycle, on a fresh Redis each. CATCHUP_FILL=phase1|lifecycle
# fills the blackboard as that mode does whatever the orchestrator's mode
# (e.g. `CATCHUP_FILL=lifecycle scripts/catchup-bench.sh phase1` separates
# the cost of the lifecycle's bigger data from that of its code; a Phase-1
# orchestrator also claims the unhandled Reviews).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-phase1}
case "$mode" in phase1 | lifecycle | both | adopt) ;; *) echo "usage: $0 [phase1|lifecycle|both|adopt]" >&2; exit 2 ;; esac
[ "$mode" = adopt ] && export CATCHUP_FILL=phase1
sizes=${BENCH_SIZES:-"10000 1000000"}
command -v redis-server >/dev/null || scripts/ensure-deps.sh
if [ -n "${SETT_ORCHESTRATOR_BIN:-}" ]; then
  bin=$SETT_ORCHESTRATOR_BIN
else
  scripts/build.sh >&2
  bin=bin/sett-orchestrator
fi

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
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Reviewer: {}\n  Tester: {}\n' >"$dir/sett.yml"

# Artefact i gets id <prefix>-0000-4000-8000-<i as 12 hex digits>; all but
# every 100th also get an index key and a claim hash, as if claimed long ago.
# ARGV[5] = "lifecycle": 14-field claims, mostly complete; every 1,000th (i %
# 1000 == 1) in its review phase; for every 10,000th (i % 10000 == 1) a Review
# by Reviewer, sourced from the artefact, written but never handled.
fill_lua='
local base, from, to, lifecycle = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5] == "lifecycle"
local t = redis.call("TIME")
local now = string.format("%d", t[1] * 1000 + math.floor(t[2] / 1000))
for i = from, to - 1 do
  local id = string.format("%s-0000-4000-8000-%012x", ARGV[4], i)
  redis.call("HSET", base .. "artefact:" .. id, "id", id, "logical_id", id, "version", "1",
    "structural_type", "Standard", "type", "Bench", "payload", "benchmark payload", "source_artefacts", "[]",
    "produced_by_role", "user")
  if i % 100 ~= 0 then
    local claim = string.format("%s-0000-4000-9000-%012x", ARGV[4], i)
    redis.call("SET", base .. "claim_by_artefact:" .. id, claim)
    if not lifecycle then
      redis.call("HSET", base .. "claim:" .. claim, "id", claim, "artefact_id", id, "status", "pending_review",
        "granted_review_agents", "[]", "granted_parallel_agents", "[]", "granted_exclusive_agent", "")
    else
      local bids = "{\"Coder\":\"exclusive\",\"Reviewer\":\"review\",\"Tester\":\"ignore\"}"
      local status, reviewers, exclusive, phase = "complete", "[\"Reviewer\"]", "Coder",
        "{\"current\":\"exclusive\",\"granted_agents\":[\"Coder\"],\"received\":{\"Coder\":\"" .. id .. "\"},\"all_bids\":" .. bids .. ",\"start_time_ms\":" .. now .. "}"
      if i % 1000 == 1 then
        status, exclusive = "pending_review", ""
        phase = "{\"current\":\"review\",\"granted_agents\":[\"Reviewer\"],\"received\":{},\"all_bids\":" .. bids .. ",\"start_time_ms\":" .. now .. "}"
        redis.call("ZADD", base .. "orchestrator:active", now, claim)
      end
      redis.call("HSET", base .. "claim:" .. claim, "id", claim, "artefact_id", id, "status", status,
        "granted_review_agents", reviewers, "granted_parallel_agents", "[]", "granted_exclusive_agent", exclusive,
        "additional_context_ids", "[]", "termination_reason", "", "phase_state", phase, "grant_queue", "",
        "last_grant_agent", "", "last_grant_time", "0", "artefact_expected", "0", "granted_agent_image_id", "")
      if i % 10000 == 1 then
        local review = string.format("%s-0000-4000-a000-%012x", ARGV[4], i)
        redis.call("HSET", base .. "artefact:" .. review, "id", review, "logical_id", review, "version", "1",
          "structural_type", "Review", "type", "ReviewResult", "payload", "{}", "source_artefacts", "[\"" .. id .. "\"]",
          "produced_by_role", "Reviewer", "created_at_ms", now)
      end
    end
  end
end'

measure() {
  local mode=$1 n=$2 inst="bench-$2" port http_port fill=${CATCHUP_FILL:-$1}
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  local t0=$SECONDS
  for ((from = 0; from < n; from += 10000)); do
    to=$((from + 10000 < n ? from + 10000 : n))
    redis-cli -p "$port" EVAL "$fill_lua" 0 "sett:$inst:" "$from" "$to" 0000beef "$fill" >/dev/null
  done
  local active=0 reviews=0
  if [ "$fill" = lifecycle ]; then
    active=$(redis-cli -p "$port" ZCARD "sett:$inst:orchestrator:active")
    reviews=$(redis-cli -p "$port" --scan --pattern "sett:$inst:artefact:*-a000-*" | wc -l)
    [ -z "${BENCH_FOREIGN:-}" ] || redis-cli -p "$port" DEL "sett:$inst:orchestrator:active" >/dev/null
  fi
  echo "bench [$mode, $fill data]: $n artefacts ($((n / 100)) unclaimed), $(redis-cli -p "$port" DBSIZE) keys," \
    "$active claims in their review phase, $reviews unhandled Reviews, filled in $((SECONDS - t0)) s;" \
    "Redis $(redis-cli -p "$port" INFO memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"

  redis_cpu=$(redis_cpu "$port")
  http_port=$(free_port)
  local env=(SETT_INSTANCE_NAME="$inst" REDIS_URL="redis://127.0.0.1:$port" SETT_HTTP_ADDR="127.0.0.1:$http_port")
  [ "$mode" = lifecycle ] && env+=(SETT_CONFIG_FILE="$dir/sett.yml" SETT_BID_TIMEOUT=0)
  [ -n "${BENCH_PERIODIC:-}" ] && env+=(SETT_CATCHUP_INTERVAL=1s)
  # Emptied here, not by the background job's redirection: the wait below
  # must not read the previous run's log.
  : >"$dir/orch.log"
  env -i PATH="$PATH" "${env[@]}" "$bin" >"$dir/orch.log" 2>&1 &
  orch_pid=$!
  until grep -q '"event":"reconcile_complete"' "$dir/orch.log"; do
    kill -0 "$orch_pid" 2>/dev/null || { cat "$dir/orch.log"; exit 1; }
    sleep 0.1
  done
  echo "bench [$mode]: $(grep -m1 '"event":"reconcile_complete"' "$dir/orch.log")"
  if [ -n "${BENCH_PERIODIC:-}" ]; then
    # The periodic passes that follow (1 s apart): nothing left to claim or adopt.
    until [ "$(grep -c '"event":"reconcile_complete"' "$dir/orch.log")" -ge 4 ]; do
      kill -0 "$orch_pid" 2>/dev/null || { cat "$dir/orch.log"; exit 1; }
      sleep 0.1
    done
    grep '"event":"reconcile_complete"' "$dir/orch.log" | sed -n '2,4p' | while read -r line; do
      echo "bench [$mode]: periodic pass: $line"
    done
  fi
  last_ms=$(grep -m1 '"event":"reconcile_complete"' "$dir/orch.log" | sed -n 's/.*"duration_ms":\([0-9]*\).*/\1/p')
  last_adopted=$(grep -m1 '"event":"reconcile_complete"' "$dir/orch.log" | sed -n 's/.*"adopted":\([0-9]*\).*/\1/p')
  echo "bench [$mode]: orchestrator $(grep -E '^(VmHWM|VmRSS)' /proc/$orch_pid/status | tr -s ' \t' ' ' | paste -sd ',')," \
    "CPU $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f s user + %.1f s system", $14 / hz, $15 / hz}' "/proc/$orch_pid/stat");" \
    "Redis CPU during the scan $(awk -v a="$redis_cpu" -v b="$(redis_cpu "$port")" 'BEGIN {printf "%.1f s", b - a}')"
  echo "bench [$mode]: command: ${env[*]} $bin"
  # BENCH_COMMANDSTATS=1: where Redis spent its time (scripts count as one call each).
  [ -n "${BENCH_COMMANDSTATS:-}" ] && redis-cli -p "$port" INFO commandstats | grep -E 'calls=' | sort -t= -k3 -n -r | head -12
  curl -s "http://127.0.0.1:$http_port/metrics" 2>/dev/null | grep -E '^sett_orchestrator_reconcile' || true
  kill -TERM "$orch_pid"; wait "$orch_pid" || true; orch_pid=""

  local index claims ok=1 want=$n
  # Phase 1 claims every artefact but Terminal ones, Reviews included.
  [ "$mode" = phase1 ] && want=$((n + reviews))
  index=$(redis-cli -p "$port" --scan --pattern "sett:$inst:claim_by_artefact:*" | wc -l)
  claims=$(redis-cli -p "$port" --scan --pattern "sett:$inst:claim:*" | wc -l)
  echo "bench [$mode]: afterwards $index index keys, $claims claim hashes (want $want each)"
  [ "$index" = "$want" ] && [ "$claims" = "$want" ] || ok=0
  if [ "$mode" = lifecycle ] && [ "$fill" = lifecycle ]; then
    # Every unhandled Review counted: its claim approved and granted its exclusive phase.
    local moved approved granted still bidding
    moved=$(redis-cli -p "$port" EVAL "local n = 0
      for _, c in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
        local s = redis.call('HMGET', ARGV[1] .. c, 'status', 'granted_exclusive_agent')
        if s[1] == 'pending_exclusive' and s[2] == 'Coder' then n = n + 1 end
      end
      return n" 1 "sett:$inst:orchestrator:active" "sett:$inst:claim:")
    approved=$(grep -c '"event":"review_approved"' "$dir/orch.log" || true)
    granted=$(grep '"event":"claim_granted"' "$dir/orch.log" | grep -c '"phase":"exclusive"' || true)
    still=$(redis-cli -p "$port" ZCARD "sett:$inst:orchestrator:active")
    bidding=$(redis-cli -p "$port" ZCARD "sett:$inst:orchestrator:bidding")
    echo "bench [$mode]: Reviews counted: $moved claims moved to pending_exclusive (Coder), $approved review_approved" \
      "and $granted exclusive claim_granted lines (want $reviews each); $still claims in a phase (want $active);" \
      "$bidding new claims collecting bids (want $((n / 100)))"
    [ "$moved" = "$reviews" ] && [ "$approved" = "$reviews" ] && [ "$granted" = "$reviews" ] &&
      [ "$still" = "$active" ] && [ "$bidding" = $((n / 100)) ] || ok=0
  fi
  if [ "$mode" = lifecycle ] && [ "$fill" = phase1 ]; then
    # Adoption: every Phase-1 claim joined bidding with the 14 fields.
    local bidding sample
    bidding=$(redis-cli -p "$port" ZCARD "sett:$inst:orchestrator:bidding")
    sample=$(redis-cli -p "$port" HLEN "sett:$inst:claim:0000beef-0000-4000-9000-000000000001")
    echo "bench [$mode]: adopted $last_adopted Phase-1 claims (want $((n - n / 100))); $bidding claims collecting" \
      "bids (want $n); a sample adopted claim has $sample fields (want 14)"
    [ "$last_adopted" = $((n - n / 100)) ] && [ "$bidding" = "$n" ] && [ "$sample" = 14 ] || ok=0
  fi
  [ "$ok" = 1 ] || { echo "bench [$mode]: WRONG COUNTS" >&2; exit 1; }
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
  rm -f "$dir"/*.rdb
}

echo "catchup-bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $bin ($(stat -c %s "$bin") bytes)"
for n in $sizes; do
  case "$mode" in
    both) measure phase1 "$n"; measure lifecycle "$n" ;;
    adopt)
      measure phase1 "$n"; p1_ms=$last_ms
      measure lifecycle "$n"
      echo "bench [adopt]: $n artefacts: Phase-1 catch-up ${p1_ms} ms, lifecycle catch-up adopting" \
        "$last_adopted claims ${last_ms} ms: $(awk -v a="$last_ms" -v b="$p1_ms" 'BEGIN {printf "%.2f", a / (b > 0 ? b : 1)}')x (budget 2x)"
      ;;
    *) measure "$mode" "$n" ;;
  esac
done
echo "catchup-bench: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
