#!/usr/bin/env bash
# make run: the orchestrator in the foreground. Without REDIS_URL it starts a
# private redis-server on a free port (stopped on exit) and uses instance "dev".
# Without SETT_HTTP_ADDR it listens on 0.0.0.0:8080, or on a free port when
# 8080 is taken; either way it prints the URLs to try (on stderr).
set -euo pipefail
bin=${1:-bin/sett-orchestrator}
export SETT_INSTANCE_NAME=${SETT_INSTANCE_NAME:-dev}
redis_pid=""
# (ifs, not `[ ] && …`: a false test as the trap's last status would turn a
# clean exit into exit 1 under `set -e`.)
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; fi
  if [ -n "${redis_dir:-}" ]; then rm -rf "$redis_dir"; fi
}
trap cleanup EXIT
# free_port [PORT]: PORT when nothing listens on it (any address), else a free one.
free_port() {
  python3 - "${1:-0}" <<'EOF'
import socket, sys
want = int(sys.argv[1])
s = socket.socket()
try:
    s.bind(("0.0.0.0", want))
except OSError:
    s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])
EOF
}
if [ -z "${REDIS_URL:-}" ]; then
  port=$(free_port)
  redis_dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "make run: private redis-server on 127.0.0.1:$port (pid $redis_pid), instance '$SETT_INSTANCE_NAME'" >&2
fi
if [ -z "${SETT_HTTP_ADDR:-}" ]; then
  http_port=$(free_port 8080)
  [ "$http_port" = 8080 ] || echo "make run: 0.0.0.0:8080 is taken; HTTP on a free port instead (set SETT_HTTP_ADDR to choose)" >&2
  export SETT_HTTP_ADDR="0.0.0.0:$http_port"
fi
# Where to point a browser or curl: an unspecified address is reached on loopback.
case "$SETT_HTTP_ADDR" in
  :*) url_host=127.0.0.1 url_port=${SETT_HTTP_ADDR#:} ;;
  0.0.0.0:*) url_host=127.0.0.1 url_port=${SETT_HTTP_ADDR##*:} ;;
  "[::]:"*) url_host="[::1]" url_port=${SETT_HTTP_ADDR##*:} ;;
  *) url_host=${SETT_HTTP_ADDR%:*} url_port=${SETT_HTTP_ADDR##*:} ;;
esac
base="http://$url_host:$url_port"
echo "make run: HTTP on $SETT_HTTP_ADDR: $base/healthz $base/readyz $base/livez $base/metrics" >&2
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
