-- workers/grant.lua: a shared part (after claims.lua, before grants.lua) for
-- controller agents (workers-contract sections 3, 4 and 8): the exclusive
-- grant to a controller starts a worker container instead of notifying the
-- agent, within `max_concurrent` counted here, in Redis, so the limit holds
-- across replicas and restarts; a claim over the limit waits in the FIFO
-- grant queue. The orchestrator launches the container after the script
-- (the 'worker_granted' row), guarded by the claim's launch record.
--
-- Orchestrator-owned keys (other programs ignore keys they do not know):
--   {p}orchestrator:workers:{role}   set: claims holding a worker slot
--   {p}orchestrator:worker:{claim}   string: launching | created | ended
--   {p}grant_queue:{role}            zset: queued claims by paused_at_ms (Holt's key)

local function slots_key(role) return P .. 'orchestrator:workers:' .. role end
local function record_key(id) return P .. 'orchestrator:worker:' .. id end
local function queue_key(role) return P .. 'grant_queue:' .. role end

-- True when `key` is absent or of type `kind`.
local function key_is(key, kind)
  local t = redis.call('TYPE', key)['ok']
  return t == 'none' or t == kind
end

-- The wrong-typed key among a role's and a claim's worker keys and the
-- type it should have, or nil.
local function junk_worker_key(role, id)
  if not key_is(slots_key(role), 'set') then return slots_key(role), 'set' end
  if not key_is(queue_key(role), 'zset') then return queue_key(role), 'zset' end
  if id and not key_is(record_key(id), 'string') then return record_key(id), 'string' end
  return nil
end

-- The claim takes a slot: its fields as Holt writes them, the launch record,
-- claim_granted once (with the worker image's id), and the row the engine
-- launches the container from. No notification on the agent's channel.
local function start_worker(c, name, role, status, ps, resumed)
  local w = WORKER_OF[name]
  local fields = { 'status', status, 'granted_exclusive_agent', name, 'grant_queue', '',
    'granted_agent_image_id', w.image }
  if ps then
    fields[#fields + 1] = 'phase_state'
    fields[#fields + 1] = enc_phase_state(ps)
  end
  redis.call('HSET', claim_key(c.key_id), unpack(fields))
  redis.call('SADD', slots_key(role), c.key_id)
  redis.call('SET', record_key(c.key_id), 'launching', 'NX')
  publish_workflow('claim_granted', '{"agent_image_id":' .. enc_str(w.image) .. ',"agent_name":' .. enc_str(name)
    .. ',"claim_id":' .. enc_str(c.key_id) .. ',"grant_type":"exclusive"}')
  effect('worker_granted', c.key_id, role, name, resumed and 1 or 0)
end

-- The claim waits for a slot: ZADD with a score after every queued one (ties
-- in one millisecond keep their order), and the claim's grant_queue field.
local function queue_worker(c, name, role, status, ps)
  local q = queue_key(role)
  local score = NOW
  local last = redis.call('ZRANGE', q, -1, -1, 'WITHSCORES')
  if #last == 2 and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
  redis.call('ZADD', q, string.format('%d', score), c.key_id)
  local agent = name
  if status == 'pending_exclusive' then agent = '' end
  local fields = { 'status', status, 'granted_exclusive_agent', agent,
    'grant_queue', '{"paused_at_ms":' .. string.format('%d', score) .. ',"agent_name":' .. enc_str(role) .. ',"position":0}' }
  if ps then
    fields[#fields + 1] = 'phase_state'
    fields[#fields + 1] = enc_phase_state(ps)
  end
  redis.call('HSET', claim_key(c.key_id), unpack(fields))
  effect('worker_queued', c.key_id, role, redis.call('ZCARD', q))
end

-- A controller `name` is granted claim c (exclusive phase `ps`, or a feedback
-- claim when ps is nil): a worker starts now, or the claim queues (also when
-- others already wait: first in, first out).
local function grant_worker(c, name, status, ps)
  local role = role_of(name)
  local junk = junk_worker_key(role, c.key_id)
  if junk then
    return finish(c, 'terminated', 'Failed to launch worker: key ' .. junk .. ' is not ours', 'worker_launch')
  end
  if redis.call('SCARD', slots_key(role)) < WORKER_OF[name].max and redis.call('ZCARD', queue_key(role)) == 0 then
    start_worker(c, name, role, status, ps, false)
  else
    queue_worker(c, name, role, status, ps)
  end
end

-- Does claim c (or nil: gone) still wait for a worker of `role`: pending,
-- granted to an agent of that role (an unregistered name's role is the
-- name)? A terminated or complete claim, or one given to another, does not.
local function waits_for_worker(c, role)
  return c and (c.status == 'pending_exclusive' or c.status == 'pending_assignment')
    and role_of(c.granted_exclusive_agent or '') == role
end

-- Is a queued claim still waiting for its worker?
local function still_queued(c)
  if c.status == 'pending_exclusive' then return (c.granted_exclusive_agent or '') == '' end
  return c.status == 'pending_assignment' and (c.grant_queue or '') ~= ''
end

-- Grants free slots of `role` to the oldest queued claims.
local function resume_queue(role)
  local name = AGENT_FOR_ROLE[role]
  if not name or not WORKER_OF[name] or junk_worker_key(role, nil) then return end
  local q = queue_key(role)
  while redis.call('SCARD', slots_key(role)) < WORKER_OF[name].max do
    local head = redis.call('ZRANGE', q, 0, 0)
    if #head == 0 then return end
    local id = head[1]
    redis.call('ZREM', q, id)
    local c = valid_id(id) and key_is(record_key(id), 'string') and load_claim(id)
    if c and still_queued(c) then start_worker(c, name, role, c.status, nil, true) end
  end
end
