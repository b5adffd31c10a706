-- claim.lua: the Phase-1 claim decision (no agent registry), for a batch of
-- artefacts in one call. An artefact that is not Terminal gets exactly one
-- claim, announced once; each artefact's check and writes run in this one
-- script, so racing replicas make one claim. One call decides many
-- artefacts because each call costs Redis a fixed part (parsing, the call,
-- its tables) of about a third of a decision's own work
-- (docs/performance.md, "Phase 1: several artefacts a call").
-- KEYS, three per artefact: the artefact hash, its claim_by_artefact index,
-- the new claim hash. ARGV[1] the claim_events channel; then three per
-- artefact: the claim id, the artefact id (as written), the claim event JSON.
-- Answers one row per artefact, in order, each laid flat after its cell
-- count (src/blackboard/effects.rs); the protocol version stated below is
-- checked against the decoder's before the script loads. Each artefact's
-- decision reads and checks every key it writes before its first write, so
-- it writes all or nothing, and a bad key or a refused write costs that
-- artefact a row (`refused` carries Redis's error), not the others their
-- decisions.
local PROTOCOL = 8

local out, n = {}, 0
local function row(tag, a, b)
  local cells = b ~= nil and 3 or a ~= nil and 2 or 1
  out[n + 1], out[n + 2] = cells, tag
  if cells > 1 then out[n + 3] = a end
  if cells > 2 then out[n + 4] = b end
  n = n + 1 + cells
end

-- A key's type; nil when Redis refuses TYPE (an ACL), answered `refused`.
local function kind_of(key)
  local t = redis.pcall('TYPE', key)
  if t.err then
    row('refused', t.err)
    return nil
  end
  return t.ok
end

-- Answers an error reply of a command on `key`: a wrong type is `on_type`'s
-- row, given the key's type; any other error is Redis refusing the command
-- (OOM, MISCONF, NOREPLICAS, READONLY after a failover, an ACL...), answered
-- as this artefact's `refused` row. The next artefacts are still decided
-- (those that write meet the same refusal).
local function failed(reply, key, on_type)
  if not string.find(reply.err, 'WRONGTYPE', 1, true) then return row('refused', reply.err) end
  local kind = kind_of(key)
  if kind then on_type(kind) end
end

local channel = ARGV[1]
for i = 1, #KEYS / 3 do
  local artefact, index, claim = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local id = ARGV[3 * i - 1]
  -- A hash's two fields, or an error for another type; a missing key reads
  -- as no fields (told apart from a hash without them by TYPE, off the hot
  -- path).
  local fields = redis.pcall('HMGET', artefact, 'structural_type', 'type')
  local structural_type = fields[1]
  if fields.err then
    failed(fields, artefact, function(t) row('invalid', 'artefact key is a ' .. t .. ', not a hash') end)
  elseif not structural_type and not fields[2] then
    local kind = kind_of(artefact)
    if kind == 'none' then
      row('not_found')
    elseif kind then
      row('invalid', 'artefact hash has no structural_type')
    end
  elseif not structural_type or structural_type == '' then
    row('invalid', 'artefact hash has no structural_type')
  elseif structural_type == 'Terminal' then
    row('skipped', 'Terminal', fields[2] or '')
  else
    -- The index must be absent (a string is a duplicate, another type a
    -- conflict); the claim key is new (a random v4 id): of another type, the
    -- decision writes nothing and answers key_conflict.
    local existing = redis.pcall('GET', index)
    if type(existing) == 'table' and existing.err then
      failed(existing, index, function(t) row('index_conflict', t) end)
    elseif existing then
      row('duplicate', existing)
    else
      -- The claim hash is the first write, so it is its own type check (no
      -- extra TYPE call on the hot path): if it fails, nothing is written.
      local first = redis.pcall('HSET', claim,
        'id', id,
        'artefact_id', ARGV[3 * i],
        'status', 'pending_review',
        'granted_review_agents', '[]',
        'granted_parallel_agents', '[]',
        'granted_exclusive_agent', '')
      if type(first) == 'table' and first.err then
        failed(first, claim, function(t) row('key_conflict', claim, t) end)
      else
        -- Refused only where Redis lets a write through and refuses the
        -- next (an ACL without SET or PUBLISH): answered as above, the
        -- claim left as a script of its own would leave it.
        local done = redis.pcall('SET', index, id)
        if not done.err then done = redis.pcall('PUBLISH', channel, ARGV[3 * i + 1]) end
        if type(done) == 'table' and done.err then
          row('refused', done.err)
        else
          row('created', id)
        end
      end
    end
  end
end
return out
