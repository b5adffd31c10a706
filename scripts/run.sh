#!/usr/bin/env bash
# make run: the orchestrator in the foreground. Without REDIS_URL it starts a
# private redis-server on a free port (stopped on exit) and uses instance "dev".
set -euo pipefail
bin=${1:-bin/sett-orchestrator}
export SETT_INSTANCE_NAME=${SETT_INSTANCE_NAME:-dev}
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  [ -n "${redis_dir:-}" ] && rm -rf "$redis_dir"
}
trap cleanup EXIT
if [ -z "${REDIS_URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis_dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "make run: private redis-server on 127.0.0.1:$port (pid $redis_pid), instance '$SETT_INSTANCE_NAME'" >&2
fi
# Not exec: the EXIT trap must stop the private Redis when the orchestrator exits.
"$bin" &
orch=$!
# SIGTERM to this script is passed on; Ctrl-C already reaches the whole process group.
trap 'kill -TERM "$orch" 2>/dev/null || true' TERM
trap ':' INT
status=0
while kill -0 "$orch" 2>/dev/null; do
  if wait "$orch"; then status=0; else status=$?; fi
done
exit "$status"
