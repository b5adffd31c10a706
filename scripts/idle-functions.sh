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
dir=$(mktemp -d)
cp "target/$target/release/sett-orchestrator" "$dir/orchestrator"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
redis=$!
trap 'kill "$redis" 2>/dev/null; wait "$redis" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Docs: {}\n' >"$dir/two.yml"
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Docs: {}\n  Lint: {}\n' >"$dir/three.yml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
probe() { # GET each path a few times once the process answers
  python3 - "$1" <<'PY'
import sys, time, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
for _ in range(3):
    time.sleep(2)
    for path in ("/healthz", "/readyz", "/livez", "/metrics"):
        try:
            urllib.request.urlopen(base + path, timeout=5).read()
        except Exception:
            pass
PY
}
for registry in "" "$dir/two.yml" "$dir/three.yml"; do
  http=$(free_port)
  env REDIS_URL="redis://127.0.0.1:$port" SETT_INSTANCE_NAME="idle$RANDOM" \
    ${registry:+SETT_CONFIG_FILE="$registry"} SETT_HTTP_ADDR="127.0.0.1:$http" \
    valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$dir/cg.%p" "$dir/orchestrator" >/dev/null 2>&1 &
  pid=$!
  probe "$http"
  sleep 4
  kill -TERM "$pid"
  wait "$pid" || true
done
out=scripts/link/idle-functions.txt
{
  echo "# Functions an idle orchestrator runs (Phase 1, two and three agents; its"
  echo "# probes and /metrics asked), as"
  echo "# mangled names without hashes and suffixes: scripts/idle-functions.sh."
  cat "$dir"/cg.* | sed -n 's/^c\{0,1\}fn=//p' | grep -v '^0x\|^(\|^$' |
    sed -E "s/17h[0-9a-f]+E/E/g; s/((\.llvm\.[0-9]+)|(\.[0-9]+)|('[0-9]+))+\$//" | LC_ALL=C sort -u
} >"$out"
echo "idle-functions: $(grep -vc '^#' "$out") functions in $out"
