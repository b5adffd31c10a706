#!/usr/bin/env bash
# Makes scripts/link/idle-functions.txt, the functions the static linker
# (scripts/link/rust-lld) puts first: those an idle orchestrator runs.
#   scripts/idle-functions.sh
# Builds the x86_64 binary with its symbols, runs it under valgrind's
# callgrind against a private redis-server for 10 s idle three times (Phase
# 1, then registries of two and three agents), its probes and /metrics asked
# a few times meanwhile as Kubernetes and a scraper would, and writes every function
# callgrind saw, as a mangled name without its hash and LLVM's suffixes
# (which change from build to build; the linker drops them the same way).
# Refresh it when the idle path changes: a stale list costs resident pages
# (docs/performance.md, "Idle memory"), never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
command -v valgrind >/dev/null || { echo "idle-functions: valgrind is needed" >&2; exit 1; }
target=x86_64-unknown-linux-musl
cargo build --release --locked -q -p sett-orchestrator --target "$target" \
  --config 'profile.release.package.sett-orchestrator.strip=false'
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
cp "target/$target/release/sett-orchestrator" "$private_dir/orchestrator"
start_redis
write_registry "$private_dir/two.yml" Coder Docs
write_registry "$private_dir/three.yml" Coder Docs Lint
probe() { # GET each path a few times, as Kubernetes and a scraper would; 1 if /healthz never said 200
  local ok=1
  for _ in 1 2 3; do
    sleep 2
    [ "$(http_status "$1" /healthz)" != 200 ] || ok=0
    for path in /readyz /livez /metrics; do http_status "$1" "$path" >/dev/null; done
  done
  return "$ok"
}
for registry in "" "$private_dir/two.yml" "$private_dir/three.yml"; do
  http=$(free_port)
  env REDIS_URL="$REDIS_URL" SETT_INSTANCE_NAME="idle$RANDOM" \
    ${registry:+SETT_CONFIG_FILE="$registry"} SETT_HTTP_ADDR="127.0.0.1:$http" \
    valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$private_dir/cg.%p" "$private_dir/orchestrator" >"$private_dir/orchestrator.log" 2>&1 &
  orch_pid=$! # stopped by lib-private.sh's exit trap if this script stops early
  if ! probe "$http"; then
    echo "idle-functions: the orchestrator never answered /healthz 200${registry:+ (registry $registry)}; its log:" >&2
    tail -20 "$private_dir/orchestrator.log" >&2
    exit 1
  fi
  sleep 4
  kill -TERM "$orch_pid"
  wait "$orch_pid" || true
  orch_pid=""
done
out=scripts/link/idle-functions.txt
{
  echo "# Functions an idle orchestrator runs (Phase 1, two and three agents; its"
  echo "# probes and /metrics asked), as"
  echo "# mangled names without hashes and suffixes: scripts/idle-functions.sh."
  cat "$private_dir"/cg.* | sed -n 's/^c\{0,1\}fn=//p' |
    awk -v mode=names -f scripts/link/names.awk | LC_ALL=C sort -u
} >"$out"
echo "idle-functions: $(grep -vc '^#' "$out") functions in $out"
