-- grants.lua: granting a phase (contract section 5) and choosing the next one.

local GRANT_TYPE = { review = 'review', parallel = 'claim', exclusive = 'exclusive' }
local BID_FOR = { review = 'review', parallel = 'claim', exclusive = 'exclusive' }

local function has_bid(all_bids, kind)
  for _, v in pairs(all_bids) do
    if v == kind then return true end
  end
  return false
end

-- Names that bid `kind`, bytewise sorted (`keys`: sorted_keys(all_bids)).
local function bidders(all_bids, kind, keys)
  local names = {}
  for i = 1, #keys do
    local name = keys[i]
    if all_bids[name] == kind then names[#names + 1] = name end
  end
  return names
end

-- The first phase of a bid snapshot, or nil (dormant): any `review` bid,
-- else any `claim`, else any `exclusive` (one pass over the snapshot).
local function initial_phase(all_bids)
  local claim, exclusive = false, false
  for _, v in next, all_bids do
    if v == 'review' then return 'review' end
    if v == 'claim' then
      claim = true
    elseif v == 'exclusive' then
      exclusive = true
    end
  end
  if claim then return 'parallel' end
  if exclusive then return 'exclusive' end
  return nil
end

-- The phase after `current`, or nil (the claim is complete).
local function next_phase(current, all_bids)
  if current == 'review' and has_bid(all_bids, 'claim') then return 'parallel' end
  if current ~= 'exclusive' and has_bid(all_bids, 'exclusive') then return 'exclusive' end
  return nil
end

-- Tells agent `name` it is granted `phase` of claim `cid`: its grant, then
-- the claim_granted event.
local function publish_grant(cid, name, phase)
  local claim_json, kind = enc_id(cid), GRANT_TYPE[phase]
  redis.call('PUBLISH', P .. 'agent:' .. name .. ':events',
    '{"claim_id":' .. claim_json .. ',"claim_type":"' .. kind .. '","event_type":"grant"}')
  local image = read('HGET', P .. 'agent_images', name) or ''
  publish_workflow('claim_granted', '{"agent_image_id":' .. enc_str(image) .. ',"agent_name":' .. enc_str(name)
    .. ',"claim_id":' .. claim_json .. ',"grant_type":"' .. kind .. '"}')
end

-- Writes the claim first (agents accept a grant only once they read their
-- name in it), then publishes, per granted agent in name order, the agent's
-- grant and the claim_granted event. Exactly once: callers have checked the
-- claim's state in this same script. `keys`: all_bids' keys in bytewise
-- order when the caller has them (a bid snapshot of the registry: AGENTS);
-- `active`: the caller has put the claim in the active set already.
local function grant(c, phase, all_bids, keys, active)
  -- Sorted once, for the grantees and the phase_state's all_bids.
  keys = keys or sorted_keys(all_bids)
  local names = bidders(all_bids, BID_FOR[phase], keys)
  if phase == 'exclusive' then names = { names[1] } end
  local ps = { current = phase, granted_agents = names, received = {}, all_bids = all_bids, start_time_ms = NOW,
    all_bids_keys = keys }
  if phase == 'exclusive' and WORKER_OF[names[1]] then
    -- A controller's grant starts a worker (workers/lua/grant.lua).
    if not active then redis.call('ZADD', ACTIVE, now_text(), c.key_id) end
    grant_worker(c, names[1], 'pending_exclusive', ps)
    return effect('granted', c.key_id, phase, names)
  end
  local granted_field, granted_value
  if phase == 'review' then
    granted_field, granted_value = 'granted_review_agents', enc_list(names)
  elseif phase == 'parallel' then
    granted_field, granted_value = 'granted_parallel_agents', enc_list(names)
  else
    granted_field, granted_value = 'granted_exclusive_agent', names[1]
  end
  redis.call('HSET', claim_key(c.key_id), 'status', PHASE_STATUS[phase], granted_field, granted_value,
    'phase_state', enc_phase_state(ps))
  if not active then redis.call('ZADD', ACTIVE, now_text(), c.key_id) end
  for i = 1, #names do publish_grant(c.key_id, names[i], phase) end
  effect('granted', c.key_id, phase, names)
end
