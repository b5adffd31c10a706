#!/usr/bin/env bash
# make demo: the tour of the claim lifecycle. A private redis-server; the
# orchestrator (instance "demo") with sett-demo's agent registry (Reviewer,
# WorkerA, WorkerB, Coder; max_review_iterations 1); sett-demo plays those four
# agents (simulated, each doing what the contract says real agents do) through
# three stories and prints everything on the blackboard as a timeline, then
# whether each story ended as it should. Then a /metrics scrape, SIGTERM, and a
# summary of the orchestrator's log; everything private is gone again on exit.
# Exit status: sett-demo's (0 when all three stories ended as they should).
set -euo pipefail
cd "$(dirname "$0")/.."
# redis-server, redis-cli, musl-tools and the musl target (quiet when all are there).
scripts/ensure-deps.sh
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

step "building the orchestrator (release) and sett-demo"
bin=$(orchestrator_bin)
cargo build --locked -q -p sett-demo
demo=target/debug/sett-demo
echo "$bin, $demo"

start_redis
registry="$private_dir/sett.yml"
"$demo" registry >"$registry"
step "private redis-server on 127.0.0.1:$redis_port; the orchestrator with this registry (SETT_CONFIG_FILE)"
sed 's/^/    /' "$registry"
start_orchestrator "$bin" demo SETT_CONFIG_FILE="$registry"
echo "healthy: GET http://127.0.0.1:$http_port/healthz -> $(http_status "$http_port" /healthz)"

step "the lifecycle, played by sett-demo's simulated agents"
started=$(ms)
demo_status=0
"$demo" --redis-url "$REDIS_URL" --instance demo || demo_status=$?
echo "(sett-demo: exit status $demo_status, $(($(ms) - started)) ms)"

step "a scrape of /metrics (lifecycle counters)"
(exec 3<>"/dev/tcp/127.0.0.1/$http_port" && printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 && cat <&3) |
  grep -E '^sett_orchestrator_(claims_created|grants|claims_completed|claims_terminated|claims_dormant|feedback_claims|failure_artefacts)_total' || true

step "SIGTERM"
stop_orchestrator
echo "orchestrator exit status: $orch_status"

log="$private_dir/orchestrator.log"
step "the orchestrator's log: $(wc -l <"$log") JSON lines on stdout; per event:"
grep -o '"event":"[a-z_]*"' "$log" | cut -d'"' -f4 | sort | uniq -c | sort -rn | awk '{printf "  %4d %s\n", $1, $2}'
echo "its start-up, terminations, Failure artefacts, warnings and errors, shutdown:"
grep -E '"event":"(orchestrator_startup|claim_terminated|failure_artefact_written|orchestrator_shutdown)"|"level":"(warn|error)"' "$log" || true
exit "$demo_status"
