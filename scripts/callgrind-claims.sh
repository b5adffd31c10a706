#!/usr/bin/env bash
# Where the orchestrator's CPU goes per claim, in instructions (repeatable on
# a shared machine, unlike CPU time): runs an unstripped release build under
# `valgrind --tool=callgrind` against a private redis-server, sends a first
# burst of 200 events (start-up and warm-up), zeroes callgrind's counters
# (`callgrind_control --zero`), sends a burst of N, dumps the counters
# (`callgrind_control --dump`), and prints the instructions per claim of that
# burst and callgrind_annotate's summary of the dump (target/prof/callgrind.*:
# open it with callgrind_annotate or kcachegrind for the functions). Counts
# user-space instructions only: system calls and page faults cost CPU time
# that this does not show (`perf record -e cpu-clock` does).
#
#   scripts/callgrind-claims.sh phase1 [N]      Phase-1 claims (256 B events)
#   scripts/callgrind-claims.sh lifecycle [N]   lifecycle bursts (3 agents)
#
# The build: CARGO_TARGET_DIR=target/prof, not stripped, line tables (same code otherwise).
# Under valgrind the orchestrator is ~50x slower, so batches fill up more than
# at full speed (and in lifecycle mode the 1 s sweep runs more often per
# claim): compare figures of this script with each other, not with
# `make bench`'s CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-phase1}
n=${2:-2000}
small=200
scripts/ensure-deps.sh
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh

export CARGO_TARGET_DIR=$PWD/target/prof
# (The package's own `strip = true` in Cargo.toml is overridden too.)
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --locked -q -p sett-orchestrator \
  --target x86_64-unknown-linux-musl --config 'profile.release.package.sett-orchestrator.strip=false'
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/sett-orchestrator
unset CARGO_TARGET_DIR
cargo build --release --locked -q -p sett-bench
out=$PWD/target/prof/callgrind.$mode
rm -f "$out".*

start_redis
registry="$private_dir/sett.yml"
write_registry "$registry" Coder Docs Lint
extra=()
[ "$mode" = lifecycle ] && extra=(SETT_CONFIG_FILE="$registry" SETT_BID_TIMEOUT=0)
http_port=$(free_port)
env -i PATH="$PATH" SETT_INSTANCE_NAME=prof REDIS_URL="$REDIS_URL" SETT_HTTP_ADDR="127.0.0.1:$http_port" "${extra[@]}" \
  valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$bin" >"$private_dir/orchestrator.log" 2>"$private_dir/valgrind.log" &
orch_pid=$!
for _ in $(seq 1 1500); do [ "$(http_status "$http_port" /healthz)" = 200 ] && break; sleep 0.02; done
[ "$(http_status "$http_port" /healthz)" = 200 ] || { cat "$private_dir/valgrind.log" >&2; exit 1; }

burst() {
  if [ "$mode" = lifecycle ]; then
    target/release/sett-bench lifecycle --redis-url "$REDIS_URL" --instance prof --registry "$registry" \
      --burst "$1" >/dev/null
  else
    target/release/sett-bench --redis-url "$REDIS_URL" --instance prof --burst "$1" --wait-ms 120000 >/dev/null
  fi
}
burst "$small"
callgrind_control --zero "$orch_pid" >/dev/null
burst "$n"
callgrind_control --dump "burst-$n" "$orch_pid" >/dev/null
stop_orchestrator
dump=$(grep -l "^desc: Trigger: dump burst-$n" "$out".* | head -1)
ir=$(awk '/^summary:/ {print $2; exit}' "$dump")
echo "$mode: $n claims: $ir instructions, $((ir / n)) per claim ($(basename "$dump"))"
callgrind_annotate --inclusive=no "$dump" 2>/dev/null | sed -n '1,60p'
