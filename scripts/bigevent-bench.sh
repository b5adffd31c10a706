#!/usr/bin/env bash
# Peak RSS while single huge artefact events are delivered (issue 8): starts a
# private redis-server (no pubsub output-buffer limit, bulk strings up to
# 512 MiB), then publishes one event per size, the id AFTER the payload, and
# after each prints the measured process's peak RSS (VmHWM, /proc) with the
# command that produced it.
#
#   scripts/bigevent-bench.sh              measures the streaming subscriber's
#                                          driver (examples/bigevent_driver.rs,
#                                          static musl release build when possible)
#   scripts/bigevent-bench.sh BINARY       measures that orchestrator binary: each
#                                          artefact hash is written first, and an
#                                          event counts once it is claimed: its
#                                          index key names a claim hash for that
#                                          artefact (status pending_review) and the
#                                          log has its claim_created line; the run
#                                          fails otherwise, or on any malformed_event
#                                          or error line
#
# BIGEVENT_REGISTRY=FILE runs the orchestrator with that agent registry
# (SETT_CONFIG_FILE: lifecycle mode; its claims then wait for bids).
# Sizes in MiB: BIGEVENT_SIZES (default "16 64 256"). Needs redis-server,
# redis-cli and python3; the 256 MiB event needs ~1.5 GB of RAM in Redis and
# redis-cli, besides what the measured process takes.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${BIGEVENT_SIZES:-"16 64 256"}
orchestrator=${1:-}
instance=bigevent
channel="sett:$instance:artefact_events"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vmhwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/sett-bigevent.XXXXXX")
redis_pid="" pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# until CMD...: polls CMD every 0.1 s for at most 300 s.
until_ok() {
  for _ in $(seq 1 3000); do "$@" && return 0; sleep 0.1; done
  echo "bigevent: gave up waiting for: $*" >&2
  return 1
}

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --client-output-buffer-limit 'pubsub 0 0 0' --proto-max-bulk-len 512mb >"$dir/redis.log" 2>&1 &
redis_pid=$!
until_ok redis-cli -p "$port" ping >/dev/null 2>&1
url="redis://127.0.0.1:$port"

if [ -n "$orchestrator" ]; then
  http_port=$(free_port)
  registry=()
  [ -z "${BIGEVENT_REGISTRY:-}" ] || registry=("SETT_CONFIG_FILE=$BIGEVENT_REGISTRY")
  command="SETT_INSTANCE_NAME=$instance REDIS_URL=$url SETT_HTTP_ADDR=127.0.0.1:$http_port ${registry[*]:+${registry[*]} }$orchestrator"
  env -i PATH="$PATH" SETT_INSTANCE_NAME="$instance" REDIS_URL="$url" SETT_HTTP_ADDR="127.0.0.1:$http_port" \
    "${registry[@]}" "$orchestrator" >"$dir/measured.log" 2>&1 &
  pid=$!
  healthy() { python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$http_port/healthz', timeout=1)" 2>/dev/null; }
  until_ok healthy
  # Claimed: the index names a claim whose hash is for this artefact, and the log says so.
  delivered() {
    local claim
    claim=$(redis-cli -p "$port" GET "sett:$instance:claim_by_artefact:$1")
    [ -n "$claim" ] || return 1
    [ "$(redis-cli -p "$port" HMGET "sett:$instance:claim:$claim" artefact_id status | paste -sd ' ')" = "$1 pending_review" ] || return 1
    grep -q "\"event\":\"claim_created\",\"artefact_id\":\"$1\",\"claim_id\":\"$claim\"" "$dir/measured.log"
  }
  describe() { echo "claimed: claim $(redis-cli -p "$port" GET "sett:$instance:claim_by_artefact:$1") for $1"; }
else
  musl=x86_64-unknown-linux-musl
  if [ "$(uname -m)" = x86_64 ] && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    cargo build --release --locked -q --example bigevent_driver --target "$musl"
    driver="target/$musl/release/examples/bigevent_driver"
  else
    cargo build --release --locked -q --example bigevent_driver
    driver=target/release/examples/bigevent_driver
  fi
  command="SETT_INSTANCE_NAME=$instance REDIS_URL=$url $driver"
  env -i PATH="$PATH" SETT_INSTANCE_NAME="$instance" REDIS_URL="$url" "$driver" >"$dir/measured.log" 2>&1 &
  pid=$!
  until_ok grep -qx ready "$dir/measured.log"
  delivered() { grep -qx "event $1" "$dir/measured.log"; }
  describe() { echo "delivered: event $1"; }
fi
echo "bigevent: after start-up: VmHWM $(vmhwm "$pid") kB -- $command"

for mib in $sizes; do
  id=$(python3 -c 'import uuid; print(uuid.uuid4())')
  event="$dir/event-${mib}MiB.json"
  { printf '{"payload":"'; head -c $((mib << 20)) /dev/zero | tr '\0' x; printf '","version":1,"id":"%s"}' "$id"; } >"$event"
  if [ -n "$orchestrator" ]; then
    redis-cli -p "$port" HSET "sett:$instance:artefact:$id" id "$id" logical_id "$id" version 1 \
      structural_type Standard type Bench payload big source_artefacts '[]' produced_by_role user >/dev/null
  fi
  receivers=$(redis-cli -p "$port" -x PUBLISH "$channel" <"$event")
  [ "$receivers" = 1 ] || { echo "bigevent: PUBLISH reached $receivers subscribers, not 1" >&2; exit 1; }
  until_ok delivered "$id"
  kill -0 "$pid"
  hwm=$(vmhwm "$pid")
  echo "bigevent: ${mib} MiB event ($(stat -c %s "$event") bytes, id after the payload): VmHWM $hwm kB" \
    "($([ "$hwm" -le 8192 ] && echo 'met: <= 8192 kB' || echo 'MISSED: > 8192 kB')), $(describe "$id")" \
    "-- $command; published with: redis-cli -p $port -x PUBLISH $channel < event-${mib}MiB.json"
  rm -f "$event"
done
if grep -E '"event":"malformed_event"|"level":"error"' "$dir/measured.log"; then
  echo "bigevent: the measured process logged the lines above" >&2
  exit 1
fi
