# Shared by the scripts that run a private orchestrator (sourced): pick the
# orchestrator binary, write a registry, start a private redis-server and
# the orchestrator, both stopped on exit.

# The orchestrator to run: $SETT_ORCHESTRATOR_BIN; else bin/sett-orchestrator (the
# image's static musl build, `make build-orchestrator`) when newer than every source
# file; else a fresh static musl release build when the musl target is installed
# (what the image ships: no shared libc pages in its RSS); else a host release build.
orchestrator_bin() {
  if [ -n "${SETT_ORCHESTRATOR_BIN:-}" ]; then
    echo "$SETT_ORCHESTRATOR_BIN"
    return
  fi
  if [ -x bin/sett-orchestrator ] && [ -z "$(find src Cargo.toml Cargo.lock -newer bin/sett-orchestrator -print -quit)" ]; then
    echo bin/sett-orchestrator
    return
  fi
  local musl=x86_64-unknown-linux-musl
  if [ "$(uname -m)" = x86_64 ] && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    cargo build --release --locked -q -p sett-orchestrator --target "$musl" >&2
    echo "target/$musl/release/sett-orchestrator"
    return
  fi
  cargo build --release --locked -q -p sett-orchestrator >&2
  echo target/release/sett-orchestrator
}

# write_registry FILE NAME...: an agent registry of these agents, nothing else set.
write_registry() {
  local file=$1
  shift
  { printf 'version: "1.0"\nagents:\n'; printf '  %s: {}\n' "$@"; } >"$file"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# GET $2 on 127.0.0.1:$1; prints the status code (000 when nothing answers).
http_status() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$2" >&3 && head -c 12 <&3) 2>/dev/null) || reply=""
  echo "${reply:9:3}" | grep -E '^[0-9]{3}$' || echo 000
}

private_dir=$(mktemp -d "${TMPDIR:-/tmp}/sett-private.XXXXXX")
redis_pid=""
orch_pid=""
stop_private() {
  [ -n "$orch_pid" ] && kill -TERM "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
  rm -rf "$private_dir"
}
trap stop_private EXIT

# start_redis [ADDRESS...]: sets redis_port, redis_pid and REDIS_URL. It listens
# on 127.0.0.1 and on each ADDRESS (e.g. a Docker network's gateway, for
# containers; then without protected mode, which would refuse them).
start_redis() {
  redis_port=$(free_port)
  local open=()
  [ "$#" -eq 0 ] || open=(--protected-mode no)
  redis-server --port "$redis_port" --bind 127.0.0.1 "$@" "${open[@]}" --save '' --appendonly no --dir "$private_dir" \
    >"$private_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 200); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$redis_port" ping >/dev/null
  REDIS_URL="redis://127.0.0.1:$redis_port"
}

# start_orchestrator BIN INSTANCE [NAME=VALUE...]: sets http_port, orch_pid; logs in
# $private_dir/orchestrator.log. NAME=VALUE: more environment (e.g. SETT_CONFIG_FILE=...).
start_orchestrator() {
  http_port=$(free_port)
  env -i PATH="$PATH" SETT_INSTANCE_NAME="$2" REDIS_URL="$REDIS_URL" SETT_HTTP_ADDR="127.0.0.1:$http_port" "${@:3}" \
    "$1" >"$private_dir/orchestrator.log" 2>&1 &
  orch_pid=$!
  for _ in $(seq 1 500); do [ "$(http_status "$http_port" /healthz)" = 200 ] && return; sleep 0.02; done
  echo "the orchestrator did not become healthy; its log:" >&2
  cat "$private_dir/orchestrator.log" >&2
  return 1
}

# stop_orchestrator: SIGTERM and wait; sets orch_status (not in a subshell: wait needs the parent).
stop_orchestrator() {
  orch_status=0
  kill -TERM "$orch_pid"
  wait "$orch_pid" || orch_status=$?
  orch_pid=""
}
