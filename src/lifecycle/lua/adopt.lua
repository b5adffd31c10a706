-- adopt.lua: claims someone else made (docs/lifecycle.md, "Adoption"). For
-- each claim id given, in a non-final status and held by none of our sets
-- (bidding, active, dormant):
--  - a Phase-1 claim (no phase_state field: six fields, made by Phase 1 of
--    this binary or by Sett's Phase-1 orchestrator) gets the lifecycle's
--    missing fields. If its artefact is one the lifecycle gives no claim
--    (Review, Failure, Terminal) it is closed (terminated, with the reason);
--    else it joins bidding and its claim_events message is published again,
--    so agents that never saw it can bid;
--  - a claim with phase_state '' in pending_review (Holt's Go orchestrator
--    made it and had not granted it yet; or a dormant claim from before the
--    dormant set) joins bidding;
--  - a claim whose phase_state (as Go's PhaseState writes it) matches its
--    status joins its phase (the active set); when every granted role has
--    delivered already, the phase completes now;
--  - a feedback claim (pending_assignment) joins the active set.
-- What was delivered while nobody listened is replayed by the catch-up pass
-- that follows an adoption into a phase. Every check is made again here, in
-- one script: with replicas each claim is adopted once.
-- ARGV[5..] claim ids (a batch).
local FILL = { 'additional_context_ids', '[]', 'termination_reason', '', 'phase_state', '', 'grant_queue', '',
  'last_grant_agent', '', 'last_grant_time', '0', 'artefact_expected', '0', 'granted_agent_image_id', '' }
local NO_CLAIM = { Review = true, Failure = true, Terminal = true }
local LIVE = { pending_review = true, pending_parallel = true, pending_exclusive = true, pending_assignment = true }

for _, check in ipairs({ { BIDDING, 'zset' }, { ACTIVE, 'zset' }, { DORMANT, 'zset' } }) do
  local conflict = key_conflict(check[1], check[2])
  if conflict then return { conflict } end
end

local function held(cid)
  return redis.call('ZSCORE', BIDDING, cid) or redis.call('ZSCORE', ACTIVE, cid)
    or redis.call('ZSCORE', DORMANT, cid)
end

-- The missing lifecycle fields of a Phase-1 claim, as HSET arguments.
local function missing_fields(key)
  local names = {}
  for i = 1, #FILL, 2 do names[#names + 1] = FILL[i] end
  local got = redis.call('HMGET', key, unpack(names))
  local out = {}
  for i = 1, #FILL, 2 do
    if not got[(i + 1) / 2] then
      out[#out + 1] = FILL[i]
      out[#out + 1] = FILL[i + 1]
    end
  end
  return out
end

local function adopt_phase1(c, key)
  local fill = missing_fields(key)
  local kind = valid_id(c.artefact_id) and read('HGET', artefact_key(c.artefact_id), 'structural_type')
  if kind and NO_CLAIM[kind] then
    fill[#fill + 1], fill[#fill + 2] = 'status', 'terminated'
    fill[#fill + 1], fill[#fill + 2] = 'termination_reason',
      kind .. ' artefacts get no claim in lifecycle mode (claim made by Phase 1)'
    redis.call('HSET', key, unpack(fill))
    return effect('adopted', c.key_id, 'closed')
  end
  if #fill > 0 then redis.call('HSET', key, unpack(fill)) end
  redis.call('ZADD', BIDDING, NOW, c.key_id)
  redis.call('PUBLISH', P .. 'claim_events', claim_event(c.key_id, c.artefact_id or '', 'pending_review',
    c.granted_exclusive_agent or '', '[]'))
  effect('adopted', c.key_id, 'phase1')
end

for i = 5, #ARGV do
  local cid = ARGV[i]
  local key = claim_key(cid)
  -- The status first: most claims on a lived-in blackboard are final, and
  -- cost this one read (a key of another type reads as nil: left alone).
  if valid_id(cid) and LIVE[read('HGET', key, 'status') or ''] and not held(cid) then
    local c = load_claim(cid)
    do
      local ps = dec_phase_state(c.phase_state)
      if c.phase_state == nil then
        if c.status == 'pending_review' then adopt_phase1(c, key) end
      elseif c.status == 'pending_assignment' then
        redis.call('ZADD', ACTIVE, NOW, cid)
        effect('adopted', cid, 'assignment')
      elseif c.status == 'pending_review' and c.phase_state == '' then
        redis.call('ZADD', BIDDING, NOW, cid)
        effect('adopted', cid, 'bidding')
      elseif ps and PHASE_STATUS[ps.current] == c.status then
        redis.call('ZADD', ACTIVE, NOW, cid)
        effect('adopted', cid, ps.current)
        local done = #ps.granted_agents > 0
        for _, name in ipairs(ps.granted_agents) do
          if not ps.received[role_of(name)] then done = false end
        end
        if done then complete_phase(c, ps) end
      end
    end
  end
end
return EFFECTS
