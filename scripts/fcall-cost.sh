#!/usr/bin/env bash
# fcall-cost.sh [BASE]: what one lifecycle call costs Redis as a script and
# as a function, counted by callgrind (instructions per call, the lifecycle's
# common ARGV with 3 agents, as lua-cost.sh). For the entries `nop` (return
# 1) and `due.lua`, behind every shared part: EVALSHA of BASE's parts (default
# 3e7e50a, before the library), EVALSHA of this tree's (begin(ARGV) before
# the entry, as src/lifecycle/library.rs builds a script), and FCALL of a
# library built from this tree's parts as library.rs builds it. Also a bare
# `return 1` both ways (what EVALSHA/FCALL cost with no Lua of ours).
# Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-3e7e50a}
n=${N:-2000}
# shellcheck source=scripts/lib-callgrind-redis.sh
. scripts/lib-callgrind-redis.sh
parts=(src/lifecycle/lua/lib.lua src/lifecycle/lua/json.lua src/lifecycle/lua/claims.lua src/workers/lua/grant.lua
  src/lifecycle/lua/grants.lua src/lifecycle/lua/feedback.lua src/lifecycle/lua/phases.lua)
# (json.lua was the end of lib.lua before it had its own file: absent at an older base.)
old_parts=$(for p in "${parts[@]}"; do git show "$base:$p" 2>/dev/null || true; echo; done)
new_parts=$(for p in "${parts[@]}"; do cat "$p"; echo; done)
due=$(cat src/lifecycle/lua/due.lua)
lib="#!lua name=lc_cost
$(cat src/lifecycle/lua/locals.lua)
$new_parts
KEEP_REGISTRY = true
local function run(entry)
  return function(keys, args)
    bind_standard()
    if not begin(args) then return redis.error_reply('NOREGISTRY send the registry with this call') end
    return entry(keys, args)
  end
end
local api = loading_api()
api.register_function('lc_cost_nop', run(function(KEYS, ARGV)
return 1
end))
api.register_function('lc_cost_due', run(function(KEYS, ARGV)
$due
end))
api.register_function('lc_cost_bare', function() return 1 end)"
redis-cli -p "$port" function load "$lib" >/dev/null
args=(1 "sett:x:orchestrator:bidding" "sett:x:" 3 3 11111111-2222-4333-8444-555555555555 0 10
  Coder Docs Lint Coder Docs Lint)
# A library call names the registry by its tag (lib.lua, src/redis_io/call.rs):
# sent once with it to be kept, then without it.
kept=(1 "sett:x:orchestrator:bidding" "sett:x:" 3@cost 3 11111111-2222-4333-8444-555555555555 0 10
  Coder Docs Lint Coder Docs Lint)
tagged=(1 "sett:x:orchestrator:bidding" "sett:x:" @cost 3 11111111-2222-4333-8444-555555555555 0 10)
per_call() { # per_call COMMAND...: instructions per call of COMMAND args
  local argv=("${args[@]}")
  if [ "$1" = FCALL ]; then
    redis-cli -p "$port" "$@" "${kept[@]}" >/dev/null
    argv=("${tagged[@]}")
  fi
  redis-cli -p "$port" -r 10 "$@" "${argv[@]}" >/dev/null
  cg_zero
  redis-cli -p "$port" -r "$n" "$@" "${argv[@]}" >/dev/null
  echo $(($(cg_total) / n))
}
evalsha() { # evalsha TEXT: instructions per EVALSHA of TEXT
  per_call EVALSHA "$(redis-cli -p "$port" script load "$1")"
}
printf '%-6s %14s %14s %14s\n' entry "EVALSHA $base" "EVALSHA now" "FCALL now"
printf '%-6s %14d %14s %14d\n' bare "$(evalsha 'return 1')" "" "$(per_call FCALL lc_cost_bare)"
printf '%-6s %14d %14d %14d\n' nop "$(evalsha "$old_parts
return 1")" "$(evalsha "$new_parts
begin(ARGV)
return 1")" "$(per_call FCALL lc_cost_nop)"
printf '%-6s %14d %14d %14d\n' due "$(evalsha "$old_parts
$due")" "$(evalsha "$new_parts
begin(ARGV)
$due")" "$(per_call FCALL lc_cost_due)"
