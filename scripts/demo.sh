#!/usr/bin/env bash
# make demo: the tour of the claim lifecycle. A private redis-server; the
# orchestrator (instance "demo") with sett-demo's agent registry (Reviewer,
# WorkerA, WorkerB, Coder; max_review_iterations 1); sett-demo plays those four
# agents (simulated, each doing what the contract says real agents do) through
# three stories and prints everything on the blackboard as a timeline, then
# whether each story ended as it should. Then a /metrics scrape, SIGTERM, and a
# summary of the orchestrator's log. Then, when Docker answers, the controller
# story: a second orchestrator (instance demo-workers-PID) with two controller
# agents whose claims run in worker containers (sett-test-worker, built static,
# in a FROM-scratch image) on network holt-network-demo-workers-PID, reaching
# Redis through the network's gateway: two workers at once, a third claim in
# the grant queue, a worker that exits 3. Without Docker it says in one line
# that it skipped that story. Everything private (processes, containers, the
# network, the image) is gone again on exit.
# Exit status: 0 when every story played ended as it should.
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

# The controller story needs Docker, the musl target for the static test
# worker, and a network whose gateway Redis also listens on.
musl="$(uname -m)-unknown-linux-musl"
workers_instance="demo-workers-$$"
workers_net="holt-network-$workers_instance"
workers_image="sett-demo-worker:$workers_instance"
if ! command -v docker >/dev/null 2>&1; then
  workers_why="the docker CLI is not installed"
elif ! docker_error=$(docker info 2>&1 >/dev/null); then
  workers_why="Docker is not reachable: $(printf '%s' "$docker_error" | head -1)"
elif ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  workers_why="the $musl target (for the static test worker) is not installed"
elif ! net_error=$(docker network create --label "sett.demo=$workers_instance" "$workers_net" 2>&1 >/dev/null); then
  workers_why="docker network create failed: $(printf '%s' "$net_error" | head -1)"
else
  workers_why=""
fi
cleanup_workers() {
  [ -z "$workers_why" ] || return 0
  local ids
  ids=$(docker ps -aq --filter "label=holt.instance.name=$workers_instance" 2>/dev/null || true)
  # shellcheck disable=SC2086 # one id per word
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker network rm "$workers_net" >/dev/null 2>&1 || true
  docker rmi -f "$workers_image" >/dev/null 2>&1 || true
}
trap 'stop_private; cleanup_workers' EXIT
gateway=""
[ -n "$workers_why" ] || gateway=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$workers_net")

# shellcheck disable=SC2086 # no address, or the gateway's
start_redis $gateway
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

if [ -n "$workers_why" ]; then
  printf '\ncontroller story: skipped (%s)\n' "$workers_why"
  exit "$demo_status"
fi
step "controller agents: the static sett-test-worker in a FROM-scratch image"
cargo build --release --locked -q -p sett-sim --bin sett-test-worker --target "$musl"
echo "$workers_image: $("$demo" worker-image "target/$musl/release/sett-test-worker" "$workers_image")"
workers_registry="$private_dir/workers.yml"
"$demo" registry --workers "$workers_image" >"$workers_registry"
step "the orchestrator (instance $workers_instance) with the controllers' registry; workers reach Redis at $gateway:$redis_port"
sed 's/^/    /' "$workers_registry"
start_orchestrator "$bin" "$workers_instance" SETT_CONFIG_FILE="$workers_registry" \
  SETT_WORKER_REDIS_URL="redis://$gateway:$redis_port" ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"}

step "controller agents: each claim they win runs in a worker container"
started=$(ms)
workers_status=0
"$demo" workers --redis-url "$REDIS_URL" --instance "$workers_instance" || workers_status=$?
echo "(sett-demo workers: exit status $workers_status, $(($(ms) - started)) ms)"

step "SIGTERM"
stop_orchestrator
echo "orchestrator exit status: $orch_status"
step "the orchestrator's worker log lines, per event:"
grep -oE '"event":"(worker_[a-z_]*|grant_[a-z_]*_queue)"' "$log" | cut -d'"' -f4 | sort | uniq -c | sort -rn | awk '{printf "  %4d %s\n", $1, $2}'
echo "the queue and the failed worker:"
grep -E '"event":"(grant_paused_for_queue|grant_resumed_from_queue|worker_failed)"' "$log" || true
echo "worker containers left: $(docker ps -aq --filter "label=holt.instance.name=$workers_instance" | wc -l)"
[ "$demo_status" -ne 0 ] || demo_status=$workers_status
exit "$demo_status"
