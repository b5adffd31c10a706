-- claim.lua: the Phase-1 claim decision (no agent registry). An artefact that
-- is not Terminal gets exactly one claim, announced once; the check and the
-- writes are one script, so racing replicas make one claim.
-- KEYS[1] the artefact hash, KEYS[2] its claim_by_artefact index, KEYS[3] the
-- new claim hash. ARGV[1] the claim id, ARGV[2] the artefact id (as written),
-- ARGV[3] the claim_events channel, ARGV[4] the claim event JSON.
-- Answers one row (src/blackboard/effects.rs); the protocol version stated
-- below is checked against the decoder's before the script loads.
local PROTOCOL = 7

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return { { 'not_found' } } end
if kind ~= 'hash' then return { { 'invalid', 'artefact key is a ' .. kind .. ', not a hash' } } end
local fields = redis.call('HMGET', KEYS[1], 'structural_type', 'type')
local structural_type = fields[1]
if not structural_type or structural_type == '' then
  return { { 'invalid', 'artefact hash has no structural_type' } }
end
if structural_type == 'Terminal' then return { { 'skipped', 'Terminal', fields[2] or '' } } end
-- Every key is checked before the first write, so the decision writes all or
-- nothing: the index must be absent (a string is a duplicate, another type a
-- conflict); the claim key is new (a random v4 id): of another type, the
-- decision writes nothing and answers key_conflict.
local existing = redis.pcall('GET', KEYS[2])
if type(existing) == 'table' and existing.err then
  return { { 'index_conflict', redis.call('TYPE', KEYS[2])['ok'] } }
end
if existing then return { { 'duplicate', existing } } end
-- The claim hash is the first write, so it is its own type check (no extra
-- TYPE call on the hot path): if it fails, nothing has been written.
local first = redis.pcall('HSET', KEYS[3],
  'id', ARGV[1],
  'artefact_id', ARGV[2],
  'status', 'pending_review',
  'granted_review_agents', '[]',
  'granted_parallel_agents', '[]',
  'granted_exclusive_agent', '')
if type(first) == 'table' and first.err then
  -- Only a wrong type is a conflict; any other refusal (OOM, MISCONF,
  -- READONLY after a failover...) is Redis's error, answered as such.
  if string.find(first.err, 'WRONGTYPE', 1, true) then
    return { { 'key_conflict', KEYS[3], redis.call('TYPE', KEYS[3])['ok'] } }
  end
  return redis.error_reply(first.err)
end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return { { 'created', ARGV[1] } }
