#!/usr/bin/env bash
# lua-cost.sh: instructions Redis spends per script call, counted by
# valgrind's callgrind (deterministic, unlike µs on a shared machine).
# Starts a private redis-server under callgrind, and for each script given
# as `name=file[+file...]` runs N EVALSHAs (default 2000) with the
# lifecycle's common ARGV (prefix, 3 agents, 3, a seed), `age limit` for
# due-shaped scripts, then the registry (3 names, 3 roles), and prints
# instructions per call.
# E.g. scripts/lua-cost.sh bare=/tmp/bare.lua prelude=src/lifecycle/lua/lib.lua+src/lifecycle/lua/due.lua
set -euo pipefail
n=${N:-2000}
# shellcheck source=scripts/lib-callgrind-redis.sh
. "$(dirname "$0")/lib-callgrind-redis.sh"
for spec in "$@"; do
  name=${spec%%=*}
  text=$(for f in $(echo "${spec#*=}" | tr '+' ' '); do cat "$f"; echo; done)
  sha=$(redis-cli -p "$port" script load "$text")
  redis-cli -p "$port" -r 10 EVALSHA "$sha" 1 "sett:x:orchestrator:bidding" "sett:x:" 3 3 \
    11111111-2222-4333-8444-555555555555 0 10 Coder Docs Lint Coder Docs Lint >/dev/null
  cg_zero
  redis-cli -p "$port" -r "$n" EVALSHA "$sha" 1 "sett:x:orchestrator:bidding" "sett:x:" 3 3 \
    11111111-2222-4333-8444-555555555555 0 10 Coder Docs Lint Coder Docs Lint >/dev/null
  ir=$(cg_total)
  printf '%-24s %12d instructions/call\n' "$name" $((ir / n))
done
