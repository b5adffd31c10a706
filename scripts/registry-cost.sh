#!/usr/bin/env bash
# registry-cost.sh [AGENTS...]: what carrying the registry in every script
# call costs Redis, counted by callgrind (instructions per call): the
# prelude of main's lib.lua (the registry as one 'name<TAB>role' text, parsed
# with gmatch) against this tree's (names and roles as arguments), with
# due.lua as the entry (it uses no agent), for registries of each size
# given (default: 3 1000 8000). Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-3 1000 8000}")
read -r -a sizes <<<"${sizes[*]}"
n=${N:-20}
# shellcheck source=scripts/lib-callgrind-redis.sh
. scripts/lib-callgrind-redis.sh
L=src/lifecycle/lua
old=$(git show d392bf5:src/lifecycle/lua/lib.lua; cat $L/due.lua)
new=$(cat $L/lib.lua; echo "begin(ARGV)"; cat $L/due.lua)
old_sha=$(redis-cli -p "$port" script load "$old")
new_sha=$(redis-cli -p "$port" script load "$new")
cost() { # cost SHA ARGS-FILE: instructions per call
  cg_zero
  for _ in $(seq 1 "$n"); do cat "$2"; done | redis-cli -p "$port" -x --pipe >/dev/null 2>&1 || true
  echo $(($(cg_total) / n))
}
resp() { # resp ARG...: one command in RESP
  printf '*%d\r\n' $#
  for a in "$@"; do printf '$%d\r\n%s\r\n' "${#a}" "$a"; done
}
for size in "${sizes[@]}"; do
  names=() roles=() text=""
  for i in $(seq 1 "$size"); do
    names+=("agent-$i") roles+=("role-$i")
    text+="agent-$i"$'\t'"role-$i"$'\n'
  done
  resp EVALSHA "$old_sha" 1 sett:x:orchestrator:bidding sett:x: "${text%$'\n'}" 3 \
    11111111-2222-4333-8444-555555555555 0 10 >"$dir/old.resp"
  resp EVALSHA "$new_sha" 1 sett:x:orchestrator:bidding sett:x: "$size" 3 \
    11111111-2222-4333-8444-555555555555 0 10 "${names[@]}" "${roles[@]}" >"$dir/new.resp"
  printf '%6d agents: text + gmatch %12d, arguments %12d instructions/call\n' "$size" \
    "$(cost "$old_sha" "$dir/old.resp")" "$(cost "$new_sha" "$dir/new.resp")"
done
