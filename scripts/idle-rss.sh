#!/usr/bin/env bash
# Idle RSS of the orchestrator (docs/performance.md, "Idle memory"):
#   scripts/idle-rss.sh [BIN] [REGISTRY] [STARTS]
# starts BIN (default: bin/sett-orchestrator) STARTS times (default 3)
# against a private redis-server, with REGISTRY as SETT_CONFIG_FILE (none:
# Phase 1), and prints VmRSS, RssAnon and RssFile after 3 s idle. A
# controller registry needs Docker and its worker image present.
set -euo pipefail
bin=${1:-bin/sett-orchestrator}
registry=${2:-}
starts=${3:-3}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
redis=$!
trap 'kill "$redis" 2>/dev/null; wait "$redis" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
for i in $(seq 1 "$starts"); do
  env REDIS_URL="redis://127.0.0.1:$port" SETT_INSTANCE_NAME="idle$i" \
    ${registry:+SETT_CONFIG_FILE="$registry"} SETT_HTTP_ADDR=127.0.0.1:0 \
    "$bin" >"$dir/out.log" 2>"$dir/err.log" &
  pid=$!
  sleep 3
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "idle-rss: $bin exited; its stderr:" >&2
    cat "$dir/err.log" >&2
    exit 1
  fi
  echo "start $i: $(grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$pid/status" | tr -s ' \t\n' ' ')"
  kill "$pid"
  wait "$pid" || true
done
