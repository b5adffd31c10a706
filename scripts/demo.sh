#!/usr/bin/env bash
# make demo: the five-minute tour. A private redis-server and the orchestrator
# (instance "demo"); a few artefacts written the way Sett's producers write them
# (HSET the hash, then PUBLISH the JSON); the claims found on the blackboard;
# the orchestrator's log; then SIGTERM and everything is gone again.
set -euo pipefail
cd "$(dirname "$0")/.."
# redis-server, redis-cli, musl-tools and the musl target (quiet when all are there).
scripts/ensure-deps.sh
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building the orchestrator (release)"
bin=$(orchestrator_bin)
echo "$bin"
start_redis
step "private redis-server on 127.0.0.1:$redis_port; starting the orchestrator"
start_orchestrator "$bin" demo
echo "healthy: GET http://127.0.0.1:$http_port/healthz -> $(http_status "$http_port" /healthz)"
rc() { redis-cli -p "$redis_port" "$@"; }
redis-cli -p "$redis_port" subscribe sett:demo:claim_events >"$private_dir/claim_events.txt" &
sub_pid=$!
sleep 0.2

# write STRUCTURAL_TYPE TYPE PAYLOAD: HSET then PUBLISH, as the Go producer does; prints the id.
write() {
  local id json
  id=$(cat /proc/sys/kernel/random/uuid)
  rc hset "sett:demo:artefact:$id" id "$id" logical_id "$id" version 1 structural_type "$1" type "$2" \
    payload "$3" source_artefacts '[]' produced_by_role user >/dev/null
  json=$(printf '{"id":"%s","logical_id":"%s","version":1,"structural_type":"%s","type":"%s","payload":"%s","source_artefacts":[],"produced_by_role":"user"}' \
    "$id" "$id" "$1" "$2" "$3")
  rc publish sett:demo:artefact_events "$json" >/dev/null
  echo "$id"
}

step "writing artefacts"
goal=$(write Standard GoalDefined "build a bridge")
review=$(write Review DesignReview "is the bridge sound?")
final=$(write Terminal FinalReport "done")
twice=$(write Standard TaskDefined "sent twice")
rc publish sett:demo:artefact_events "$(printf '{"id":"%s","logical_id":"%s","version":1,"structural_type":"Standard","type":"TaskDefined","payload":"sent twice","source_artefacts":[],"produced_by_role":"user"}' "$twice" "$twice")" >/dev/null
rc publish sett:demo:artefact_events '{"id":"not-a-uuid","payload":"secret"}' >/dev/null
printf '%-10s %s\n' Standard "$goal" Review "$review" Terminal "$final" "Standard" "$twice (event published twice)" malformed '{"id":"not-a-uuid",...}'
sleep 0.5

step "claims on the blackboard"
for id in "$goal" "$review" "$final" "$twice"; do
  claim=$(rc get "sett:demo:claim_by_artefact:$id")
  if [ -z "$claim" ]; then
    echo "artefact $id: no claim"
    continue
  fi
  echo "artefact $id -> claim $claim:"
  rc hgetall "sett:demo:claim:$claim" | paste - - | sed 's/^/    /'
done
echo "claim hashes in total: $(rc --scan --pattern 'sett:demo:claim:*' | wc -l) (one per non-Terminal artefact)"

step "announced on sett:demo:claim_events"
kill "$sub_pid" 2>/dev/null; wait "$sub_pid" 2>/dev/null || true
grep '^{' "$private_dir/claim_events.txt" || echo "(none)"

step "a scrape of /metrics (counters)"
(exec 3<>"/dev/tcp/127.0.0.1/$http_port" && printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 && cat <&3) |
  grep -E '^sett_orchestrator_(claims_created|terminal_skipped|duplicate_events|malformed_events)_total '

step "SIGTERM"
stop_orchestrator
echo "orchestrator exit status: $orch_status"

step "the orchestrator's log (one JSON object per line on stdout)"
cat "$private_dir/orchestrator.log"
