-- lib.lua: what every lifecycle script shares. It is concatenated in front of
-- each decision script at start-up (see src/lifecycle/scripts.rs), so every
-- decision stays one atomic script that Redis runs alone; on Redis 7.0+ the
-- same text is also the head of one Redis Functions library holding every
-- decision (src/lifecycle/library.rs), each still one atomic call.
--
-- Answers follow protocol 8 (src/blackboard/effects.rs): a list of rows, each
-- a tag and its cells (strings, integers, lists of strings), as a list or
-- laid flat after its cell count (effect, below). The version is
-- stated below and checked against the decoder's before the scripts load.
--
-- ARGV common to every lifecycle script:
--   ARGV[1] key prefix, e.g. 'sett:prod:'
--   ARGV[2] the registry's size: n, or n/c with c controllers among the n;
--           as a library call, followed by '@' and the registry's tag (a
--           hash of it, src/redis_io/call.rs), or only '@' and the tag
--           (see begin: the registry is then not sent)
--   ARGV[3] orchestrator.max_review_iterations (0 = unlimited)
--   ARGV[4] a fresh random (v4) UUID: the first id this script mints
-- The script's own arguments start at ARGV[5]. The registry comes last: the
-- n names sorted bytewise, their n roles, then for each controller its name,
-- max_concurrent and worker image id (one
-- argument each: Redis hands them over as Lua strings, nothing to parse;
-- docs/performance.md measured a 'name<TAB>role' text parsed with gmatch at
-- a fifth of a small script's cost).
--
-- Keys are derived here from the prefix and from ids this orchestrator wrote or
-- checked (valid_id); one Redis primary is required (not Cluster), as in Phase 1.
-- Every decision reads the claim's current state first, so a replay or a
-- second replica changes nothing and publishes nothing.

local PROTOCOL = 8

-- Per call: everything below that depends on the call's arguments or the
-- server's clock. Declared here, set by begin() at the start of every call:
-- as one script, the decision's text calls begin(ARGV) before its own code;
-- as a Redis Functions library (src/lifecycle/library.rs), the functions
-- and tables of the shared parts are built once at load and every call
-- begins here, so nothing of one call is seen by the next.
-- (orchestrator.max_review_iterations and NOW as text are made where used,
-- by max_iter() and now_text(): few calls need them.)
local P, MAX_ITER_ARG, SEED, NOW, NOW_TEXT
-- The registry: names in bytewise order, each name's role, each role's first
-- name, and each controller's worker limit and image id. Read only.
local AGENTS, ROLE_OF, AGENT_FOR_ROLE, WORKER_OF
-- True in the library (its loader sets it): registries are kept there
-- across calls, by tag (REGISTRIES[tag]: { AGENTS, ROLE_OF, AGENT_FOR_ROLE,
-- WORKER_OF }, at most REGISTRIES_MAX of them, so that replicas with other
-- registries sharing this Redis each find theirs). REGISTRY_SPEC: ARGV[2]
-- of the kept registry the tables above are, or nil.
local KEEP_REGISTRY = false
local REGISTRIES, registries_n, REGISTRIES_MAX = {}, 0, 16
local REGISTRY_SPEC
-- What the script did, for the orchestrator's log lines and metrics: a list
-- of rows (effect, below), e.g. 4, 'granted', claim_id, 'review', {'A', 'B'}.
local EFFECTS
-- Keys: claims in a phase or awaiting rework, by start ms; claims collecting
-- bids, by creation ms; claims decided with no bid to work, by decision ms.
-- (Built again only for another prefix: SETS_OF, the prefix they are of.)
local ACTIVE, BIDDING, DORMANT, SETS_OF
-- How many ids this call has minted (new_uuid).
local minted
-- Claims whose counted set this call found empty (absent) before its first
-- write, or nil: set by delivery_claims (phases.lua: artefact.lua's and
-- adopt.lua's deliveries), which probes them anyway; a delivery
-- then needs no SISMEMBER and an end no DEL (phases.lua, claims.lua). A
-- claim leaves it when its set is written.
local NO_COUNTED

-- The registry's tables from the call's arguments: n names, their n roles,
-- then c controllers (name, max_concurrent, image id), which end the ARGV.
local function registry_from(argv, n, c)
  local names = #argv - 2 * n - 3 * c
  AGENTS, ROLE_OF, AGENT_FOR_ROLE, WORKER_OF = {}, {}, {}, {}
  local roles = names + n
  for i = 1, n do
    local name, role = argv[names + i], argv[roles + i]
    AGENTS[i] = name
    ROLE_OF[name] = role
    if not AGENT_FOR_ROLE[role] then AGENT_FOR_ROLE[role] = name end
  end
  local controllers = roles + n
  for i = 0, c - 1 do
    local at = controllers + 3 * i
    WORKER_OF[argv[at + 1]] = { max = tonumber(argv[at + 2]), image = argv[at + 3] }
  end
end

-- The registry of ARGV[2]: 'n' or 'n/c' (sent: the tables are built from
-- the arguments), 'n@tag' or 'n/c@tag' (sent, and kept under its tag, in
-- the library), '@tag' (not sent: the one kept under the tag). False when
-- there is none such kept (a library loaded again, FUNCTION FLUSH, a Redis
-- restart, another registry's calls filling the table): the call then
-- answers NOREGISTRY having done nothing, and the orchestrator sends it
-- again with the registry (src/redis_io/scripts.rs).
local function use_registry(argv)
  local spec = argv[2]
  if spec == REGISTRY_SPEC then return true end
  local n, c, tag = string.match(spec, '^(%d*)/?(%d*)@?(.*)$')
  if n == nil then n, c, tag = '0', '', '' end
  if n == '' and tag ~= '' then
    local kept = REGISTRIES[tag]
    if not kept then return false end
    AGENTS, ROLE_OF, AGENT_FOR_ROLE, WORKER_OF = kept[1], kept[2], kept[3], kept[4]
    REGISTRY_SPEC = spec
    return true
  end
  registry_from(argv, tonumber(n) or 0, tonumber(c) or 0)
  REGISTRY_SPEC = nil
  if KEEP_REGISTRY and tag ~= '' then
    if not REGISTRIES[tag] then
      if registries_n >= REGISTRIES_MAX then REGISTRIES, registries_n = {}, 0 end
      registries_n = registries_n + 1
    end
    REGISTRIES[tag] = { AGENTS, ROLE_OF, AGENT_FOR_ROLE, WORKER_OF }
    REGISTRY_SPEC = '@' .. tag
  end
  return true
end

-- The call's state; false (nothing done) when its registry is not here.
local function begin(argv)
  if not use_registry(argv) then return false end
  P = argv[1]
  MAX_ITER_ARG = argv[3]
  SEED = argv[4]
  -- Milliseconds by arithmetic on the reply's strings (Lua converts them
  -- as tonumber does; exact, whole numbers far below 2^53): tonumber and
  -- math.floor are C calls, about 4,000 instructions a call together.
  local TIME = redis.call('TIME')
  local us = TIME[2] + 0
  NOW = TIME[1] * 1000 + (us - us % 1000) / 1000
  EFFECTS = {}
  if P ~= SETS_OF then
    ACTIVE = P .. 'orchestrator:active'
    BIDDING = P .. 'orchestrator:bidding'
    DORMANT = P .. 'orchestrator:dormant'
    SETS_OF = P
  end
  minted = 0
  NO_COUNTED = nil
  NOW_TEXT = nil
  return true
end

local function max_iter() return tonumber(MAX_ITER_ARG) or 3 end
-- NOW as text, made once a call where used: a score or field written as
-- this text is the same number, and Redis formats a Lua number argument
-- with printf's %.17g (about 3,600 instructions a ZADD).
local function now_text()
  if not NOW_TEXT then NOW_TEXT = string.format('%d', NOW) end
  return NOW_TEXT
end

local function role_of(name) return ROLE_OF[name] or name end

-- A row laid flat in the answer: its cell count, then the tag and cells
-- (protocol 6; a table per row cost Redis about 3,000 instructions to make
-- a reply of, docs/performance.md). At most four cells after the tag, none
-- of them nil but trailing ones (a nil cell in the middle would cut this
-- row short and every row after it off); a cell may be a list of strings
-- (a table).
local function effect(t, a, b, c, d)
  local e = EFFECTS
  local at = #e
  local n = d ~= nil and 5 or c ~= nil and 4 or b ~= nil and 3 or a ~= nil and 2 or 1
  e[at + 1] = n
  e[at + 2] = t
  if n > 1 then e[at + 3] = a end
  if n > 2 then e[at + 4] = b end
  if n > 3 then e[at + 5] = c end
  if n > 4 then e[at + 6] = d end
end

-- Keys and channels.
local function claim_key(id) return P .. 'claim:' .. id end
local function artefact_key(id) return P .. 'artefact:' .. id end
local function index_key(id) return P .. 'claim_by_artefact:' .. id end
local function counted_key(id) return P .. 'orchestrator:counted:' .. id end

-- A read of a key that other programs write: a key of the wrong type (junk)
-- reads as absent (nil). redis.call would raise WRONGTYPE, and Redis keeps
-- what a script wrote before it raised: a raise after the first write (e.g.
-- on agent_images in the middle of a grant) would break exactly-once.
local function read(...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then return nil end
  return r
end

-- Every key a decision will write must be absent or of the type it writes,
-- checked before its first write: Redis keeps what a script wrote before an
-- error, so a WRONGTYPE halfway would leave half a decision. `checks` is a
-- flat list: key, type, key, type... The answer for the first wrong-typed key
-- ('key_conflict', the key, its type) is the script's whole answer: it
-- writes nothing, and the orchestrator logs it and goes on with the rest.
-- Each key is probed with a read of its type's (ZCARD, SCARD): an integer
-- for that type or no key, an error for any other. Only then is TYPE asked
-- (for the answer): its status reply, a Lua table, costs Redis twice the probe.
local PROBE = { zset = 'ZCARD', set = 'SCARD', hash = 'HLEN', string = 'STRLEN' }

local function key_conflict(checks)
  for i = 1, #checks, 2 do
    local probe = PROBE[checks[i + 1]]
    if not probe or type(redis.pcall(probe, checks[i])) == 'table' then
      local t = redis.call('TYPE', checks[i])['ok']
      if t ~= 'none' and t ~= checks[i + 1] then return { { 'key_conflict', checks[i], t } } end
    end
  end
  return nil
end

-- The fields of hash `key` named by every registered agent, in AGENTS order
-- (false where absent), read in chunks: a command's arguments and unpack are
-- bounded (Lua's C stack holds about 8,000 values) and a registry may list more.
local function agents_hmget(key)
  local out = {}
  for first = 1, #AGENTS, 1000 do
    local last = math.min(first + 999, #AGENTS)
    local got = read('HMGET', key, unpack(AGENTS, first, last)) or {}
    for i = first, last do out[i] = got[i - first + 1] or false end
  end
  return out
end

-- Bytewise order (Lua's own '<' follows the server's collation locale).
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function sorted(list)
  table.sort(list, bytes_less)
  return list
end

-- A map's keys in bytewise order. Keys that are registered names come out
-- in the registry's order (already bytewise) without a sort: a map of
-- thousands of names (a bid snapshot) is not sorted by a Lua comparator on
-- every call. Other keys are sorted in.
local function sorted_keys(map)
  local n = 0
  for _ in pairs(map) do n = n + 1 end
  -- Exactly the registered names (a bid snapshot): AGENTS itself, no new
  -- table. Every caller only reads the keys.
  if n == #AGENTS then
    local all = true
    for i = 1, n do
      if map[AGENTS[i]] == nil then
        all = false
        break
      end
    end
    if all then return AGENTS end
  end
  local keys = {}
  if n * 8 >= #AGENTS then
    for i = 1, #AGENTS do
      local name = AGENTS[i]
      if map[name] ~= nil then keys[#keys + 1] = name end
    end
    if #keys == n then return keys end
    keys = {}
  end
  for k in pairs(map) do keys[#keys + 1] = k end
  return sorted(keys)
end

-- The artefact id forms the Go client accepts (src/ids.rs): only these ever
-- become part of a key.
-- (Five runs of hex digits, the dashes at 9, 14, 19 and 24: the same test
-- as 36 single-character items, in about 60% of Redis's instructions.)
local function hex_dashed(s)
  if #s ~= 36 then return false end
  local a, b, c, d = string.match(s, '^%x+()%-%x+()%-%x+()%-%x+()%-%x+$')
  return a == 9 and b == 14 and c == 19 and d == 24
end
local function valid_id(s)
  if type(s) ~= 'string' then return false end
  local n = #s
  if n == 36 then return hex_dashed(s) end
  if n == 38 then return string.sub(s, 1, 1) == '{' and string.sub(s, 38) == '}' and hex_dashed(string.sub(s, 2, 37)) end
  if n == 45 then return string.lower(string.sub(s, 1, 9)) == 'urn:uuid:' and hex_dashed(string.sub(s, 10)) end
  if n == 32 then return string.find(s, '^%x+$') ~= nil end
  return false
end

-- Ids this script mints: the seed first, then v4-shaped ids derived from it.
local function new_uuid()
  minted = minted + 1
  if minted == 1 then return SEED end
  local h = redis.sha1hex(SEED .. ':' .. minted)
  local v = (tonumber(string.sub(h, 17, 17), 16) % 4) + 1
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-4' .. string.sub(h, 14, 16) .. '-'
    .. string.sub('89ab', v, v) .. string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
end
