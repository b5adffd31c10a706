#!/usr/bin/env bash
# make run: the orchestrator in the foreground. Without REDIS_URL it starts a
# private redis-server on a free port (stopped on exit) and uses instance "dev".
# Without SETT_HTTP_ADDR it listens on 0.0.0.0:8080, or on a free port when
# 8080 is taken; either way it prints the URLs to try (on stderr). One SIGTERM
# (to make's process group, as `timeout` sends it, or to this script) or one
# Ctrl-C is one graceful shutdown, whose exit status this script exits with;
# a second signal (a SIGINT, or a SIGTERM a second or more later) cuts it
# short (exit 1).
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
# `detached CMD… &`: CMD in a session of its own (no signal to this process
# group reaches it), sent SIGTERM should this script die first. It execs, so
# $! is CMD's pid: only ever run it in the background.
detached() {
  exec setpriv --pdeathsig TERM setsid "$@"
}
if [ -z "${REDIS_URL:-}" ]; then
  port=$(free_port)
  redis_dir=$(mktemp -d)
  # Detached too: it must outlive the orchestrator's drain (the EXIT trap stops it).
  detached redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >"$redis_dir/redis.log" 2>&1 &
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
# The orchestrator runs in a session of its own (setsid), so this script is
# the one way a signal reaches it, once: left in this process group, one
# SIGTERM to the group (`timeout`, `kill -- -PGID`) or one Ctrl-C reached it
# directly and again through this script, and the second copy forced an exit 1
# mid-drain. If this script is killed outright it still gets SIGTERM
# (--pdeathsig).
detached "$bin" &
orch=$!
# Every SIGINT is passed on (a Ctrl-C reaches this script once). A SIGTERM is
# passed on unless one was less than a second ago: make passes the SIGTERM it
# gets on to its recipe, so one SIGTERM to make's process group reaches this
# script twice, microseconds apart. A second signal (later, or a SIGINT) still
# reaches the orchestrator, which then exits 1 at once.
last_term=0
on_term() {
  local now=${EPOCHREALTIME//[!0-9]/}
  if ((now - last_term >= 1000000)); then
    last_term=$now
    kill -TERM "$orch" 2>/dev/null || true
  fi
}
trap on_term TERM
trap 'kill -INT "$orch" 2>/dev/null || true' INT
# `wait` returns early (over 128) when a trap runs: wait again while it runs.
# Once it has exited, `wait` gives its exit status (bash keeps it), even when
# it exited between a trap and the `kill -0`.
while kill -0 "$orch" 2>/dev/null; do wait "$orch" || :; done
status=0
wait "$orch" || status=$?
exit "$status"
