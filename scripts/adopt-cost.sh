#!/usr/bin/env bash
# adopt-cost.sh [N]: what switching the lifecycle on over N Phase-1 claims
# (default 20000) costs Redis, in instructions (callgrind: deterministic on a
# shared machine, where the milliseconds of catchup-bench.sh adopt are not).
# A private redis-server under callgrind is filled as `catchup-bench.sh
# adopt` fills it (N artefacts, all but every 100th with a six-field Phase-1
# claim), then a lifecycle orchestrator (SETT_ORCHESTRATOR_BIN, default
# bin/sett-orchestrator) runs its first catch-up, which adopts them; the
# instructions Redis spent from its start to the `reconcile_complete` line
# are printed, in all and per artefact. Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
bin=${SETT_ORCHESTRATOR_BIN:-bin/sett-orchestrator}
[ -x "$bin" ] || scripts/build.sh >&2
# shellcheck source=scripts/lib-callgrind-redis.sh
. scripts/lib-callgrind-redis.sh
# The fill of catchup-bench.sh (its fill_lua, read from there: one fill).
fill_lua=$(sed -n "/^fill_lua='/,/^end'/p" scripts/catchup-bench.sh | sed "1s/^fill_lua='//; \$s/'\$//")
[ -n "$fill_lua" ] || { echo "adopt-cost: no fill_lua found in scripts/catchup-bench.sh" >&2; exit 1; }
for ((from = 0; from < n; from += 10000)); do
  to=$((from + 10000 < n ? from + 10000 : n))
  redis-cli -p "$port" EVAL "$fill_lua" 0 "sett:cost:" "$from" "$to" 0000beef phase1 >/dev/null
done
[ "$(redis-cli -p "$port" DBSIZE)" -gt "$n" ] || { echo "adopt-cost: the fill wrote nothing" >&2; exit 1; }
printf 'version: "1.0"\nagents:\n  Coder: {}\n  Reviewer: {}\n  Tester: {}\n' >"$dir/sett.yml"
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cg_zero
env -i PATH="$PATH" SETT_INSTANCE_NAME=cost REDIS_URL="redis://127.0.0.1:$port" SETT_HTTP_ADDR="127.0.0.1:$http" \
  SETT_CONFIG_FILE="$dir/sett.yml" SETT_BID_TIMEOUT=0 "$bin" >"$dir/orch.log" 2>&1 &
orch=$!
trap 'kill "$orch" 2>/dev/null || true; kill "$vg" 2>/dev/null || true; wait "$vg" 2>/dev/null || true; rm -rf "$dir"' EXIT
until grep -q '"event":"reconcile_complete"' "$dir/orch.log"; do
  kill -0 "$orch" 2>/dev/null || { cat "$dir/orch.log"; exit 1; }
  sleep 0.2
done
ir=$(cg_total)
kill "$orch"; wait "$orch" 2>/dev/null || true
echo "adopt-cost: $bin: $(grep -m1 '"event":"reconcile_complete"' "$dir/orch.log" | grep -o '"adopted":[0-9]*')" \
  "of $n artefacts; Redis instructions for the pass: $ir, $((ir / n)) per artefact"
