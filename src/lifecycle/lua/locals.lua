-- locals.lua: the head of the library only (src/lifecycle/library.rs), in
-- front of lib.lua. The standard tables and functions the decisions use
-- become locals of the library's text (upvalues) instead of globals: in a
-- library, Redis reaches a global through an empty table and its
-- metatable, about 150 instructions each, several hundred times a claim
-- (docs/performance.md, "Globals as upvalues"). The scripts (EVALSHA) run
-- without this part, on the globals: there every call builds every closure
-- again, and more upvalues would make that dearer.
--
-- A library's top level runs where only the loading API exists (`redis`
-- with `register_function`), so the locals are bound by the first call
-- (bind_standard, from the library's `run`). `standard` and `loading_api`
-- come before the locals, so they name the globals.
local function standard()
  return redis, type, pairs, ipairs, next, pcall, tonumber, tostring, unpack, string, table, math, cjson
end
local function loading_api() return redis end
local redis, type, pairs, ipairs, next, pcall, tonumber, tostring, unpack, string, table, math, cjson

local function bind_standard()
  if not redis then
    redis, type, pairs, ipairs, next, pcall, tonumber, tostring, unpack, string, table, math, cjson = standard()
  end
end

