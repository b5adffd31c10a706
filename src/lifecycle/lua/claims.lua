-- claims.lua: reading and writing claim hashes, their phase_state, and ending them.

local PHASE_STATUS = { review = 'pending_review', parallel = 'pending_parallel', exclusive = 'pending_exclusive' }

local function load_claim(id)
  local flat = read('HGETALL', claim_key(id))
  if not flat or #flat == 0 then return nil end
  local c = { key_id = id }
  for i = 1, #flat, 2 do c[flat[i]] = flat[i + 1] end
  return c
end

-- Claim `id` with only the fields a delivery reads (deliver, deliver_rework,
-- complete_phase, reject and the grants and ends they make), or nil where
-- load_claim gives nil (no hash, or not a hash). HMGET of five fields costs
-- Redis about a third of HGETALL of fourteen with the table built from them
-- (docs/performance.md). Absent fields are nil, as in load_claim.
local function load_delivery(id)
  local key = claim_key(id)
  local f = read('HMGET', key, 'status', 'phase_state', 'granted_exclusive_agent', 'additional_context_ids',
    'artefact_id')
  if not f then return nil end
  if not (f[1] or f[2] or f[3] or f[4] or f[5]) and redis.call('EXISTS', key) == 0 then return nil end
  return { key_id = id, status = f[1] or nil, phase_state = f[2] or nil, granted_exclusive_agent = f[3] or nil,
    additional_context_ids = f[4] or nil, artefact_id = f[5] or nil }
end

-- phase_state as the Go struct writes it: current, granted_agents, received,
-- all_bids, start_time_ms (ps.all_bids_keys: all_bids' sorted keys, when the
-- caller has them).
local function enc_phase_state(ps)
  return '{"current":' .. enc_str(ps.current)
    .. ',"granted_agents":' .. enc_list(ps.granted_agents)
    .. ',"received":' .. enc_map(ps.received)
    .. ',"all_bids":' .. enc_map(ps.all_bids, ps.all_bids_keys)
    .. ',"start_time_ms":' .. (ps.start_time_ms == NOW and now_text() or string.format('%d', ps.start_time_ms)) .. '}'
end

-- The strings of decoded JSON array t in order (others left out), or {}.
-- t itself when it holds only those: a table built anew costs Redis more
-- than checking the one cjson built.
local function string_list(t)
  if type(t) ~= 'table' then return {} end
  local n, clean = 0, true
  for _, x in ipairs(t) do
    n = n + 1
    if type(x) ~= 'string' then clean = false end
  end
  if clean then
    for _ in pairs(t) do n = n - 1 end
    if n == 0 then return t end
  end
  local out = {}
  for _, x in ipairs(t) do
    if type(x) == 'string' then out[#out + 1] = x end
  end
  return out
end

-- The string-to-string entries of decoded JSON object t, or {}; t itself
-- when it holds only those.
local function string_map(t)
  if type(t) ~= 'table' then return {} end
  local clean = true
  for k, x in pairs(t) do
    if type(k) ~= 'string' or type(x) ~= 'string' then
      clean = false
      break
    end
  end
  if clean then return t end
  local out = {}
  for k, x in pairs(t) do
    if type(k) == 'string' and type(x) == 'string' then out[k] = x end
  end
  return out
end

-- The stored phase_state, or nil when it is empty or not what we wrote.
local function dec_phase_state(text)
  if type(text) ~= 'string' or text == '' then return nil end
  local ok, v = pcall(cjson.decode, text)
  -- (PHASE_STATUS has only string keys: no other current is one of them.)
  if not ok or type(v) ~= 'table' or not PHASE_STATUS[v.current] then
    return nil
  end
  -- start_time_ms: absent or null is 0 (as Go decodes it); else it must be an
  -- integer JSON number, as Go's int64 requires (a string, a fraction or
  -- 2^53 and more: the phase_state is junk and the claim is left alone).
  local start = v.start_time_ms
  if start == nil or start == cjson.null then
    start = 0
  elseif type(start) ~= 'number' or start % 1 ~= 0 or start >= 2 ^ 53 or start <= -2 ^ 53 then
    -- (start % 1 is NaN for NaN and the infinities: not 0.)
    return nil
  end
  return { current = v.current, granted_agents = string_list(v.granted_agents), received = string_map(v.received),
    all_bids = string_map(v.all_bids), start_time_ms = start }
end

-- A new claim with all 14 fields (contract section 3).
local function write_claim(id, artefact_id, status, exclusive_agent, context_json)
  redis.call('HSET', claim_key(id),
    'id', id,
    'artefact_id', artefact_id,
    'status', status,
    'granted_review_agents', '[]',
    'granted_parallel_agents', '[]',
    'granted_exclusive_agent', exclusive_agent,
    'additional_context_ids', context_json,
    'termination_reason', '',
    'phase_state', '',
    'grant_queue', '',
    'last_grant_agent', '',
    'last_grant_time', '0',
    'artefact_expected', '0',
    'granted_agent_image_id', '')
end

-- The claim_events message for a new claim: the Phase 1 fields, then
-- additional_context_ids only when it is not empty.
local function claim_event(id, artefact_id, status, exclusive_agent, context_json)
  local json = '{"id":' .. enc_id(id) .. ',"artefact_id":' .. enc_id(artefact_id)
    .. ',"status":"' .. status .. '","granted_review_agents":[],"granted_parallel_agents":[]'
    .. ',"granted_exclusive_agent":' .. enc_str(exclusive_agent)
  if context_json ~= '[]' then json = json .. ',"additional_context_ids":' .. context_json end
  return json .. '}'
end

-- complete or terminated: the claim leaves every orchestrator set. Nothing is
-- published (as the Go orchestrator); the effect becomes a log line.
-- phase_state: the text a completing delivery leaves (phases.lua's deliver),
-- written with the status.
local function finish(c, status, reason, cause, phase_state)
  if status == 'terminated' then
    redis.call('HSET', claim_key(c.key_id), 'status', 'terminated', 'termination_reason', reason)
    effect('terminated', c.key_id, cause, reason)
  elseif phase_state then
    redis.call('HSET', claim_key(c.key_id), 'phase_state', phase_state, 'status', 'complete')
    effect('complete', c.key_id)
  else
    redis.call('HSET', claim_key(c.key_id), 'status', 'complete')
    effect('complete', c.key_id)
  end
  redis.call('ZREM', ACTIVE, c.key_id)
  redis.call('ZREM', BIDDING, c.key_id)
  if not (NO_COUNTED and NO_COUNTED[c.key_id]) then redis.call('DEL', counted_key(c.key_id)) end
end

-- A Failure artefact `art` from the agent working claim c ends it.
local function fail(c, art)
  finish(c, 'terminated', "Agent '" .. art.role .. "' reported failure: see artefact " .. art.id, 'agent_failure')
end

-- Whether `art` has counted for claim c already (its counted set; none
-- when delivery_claims found the set empty: NO_COUNTED).
local function counted_already(c, art)
  return not (NO_COUNTED and NO_COUNTED[c.key_id]) and redis.call('SISMEMBER', counted_key(c.key_id), art.id) == 1
end

-- Why claim c (with its decoded phase_state ps) can never progress, or nil:
-- an agent granted its current phase that the registry no longer has, whose
-- role has not delivered (an unregistered name's role is the name), or a
-- feedback claim assigned to such an agent. Nobody would do that part; the
-- reason is Holt's recovery's, which terminates such a claim at start-up.
local function stranded(c, ps)
  if c.status == 'pending_assignment' then
    local agent = c.granted_exclusive_agent or ''
    if agent ~= '' and not ROLE_OF[agent] then
      return "Recovery failed: assigned agent '" .. cut(agent, 64) .. "' no longer in config"
    end
    return nil
  end
  if not ps or PHASE_STATUS[ps.current] ~= c.status then return nil end
  for _, name in ipairs(ps.granted_agents) do
    if not ROLE_OF[name] and not ps.received[name] then
      return "Recovery failed: granted agent '" .. cut(name, 64) .. "' no longer in config"
    end
  end
  return nil
end

-- Claim `cid`'s score in the dormant set (false: not in it), or nil and the
-- key_conflict row when that set is of another type: it holds up only the
-- decisions that read it for a claim. Any other refusal is raised.
local function dormant_score(cid)
  local score = redis.pcall('ZSCORE', DORMANT, cid)
  if type(score) == 'table' and score.err then
    local conflict = key_conflict({ DORMANT, 'zset' })
    if conflict then return nil, conflict[1] end
    error(score.err)
  end
  return score
end

-- The statuses of a claim still under way (neither complete nor terminated).
local LIVE = { pending_review = true, pending_parallel = true, pending_exclusive = true, pending_assignment = true }

-- Claim `cid`, named by an artefact's index entry, is someone else's (a
-- Phase-1 replica's, Holt's Go orchestrator's) when it is in a live status
-- and none of our sets: the artefact decision answers 'foreign', which asks
-- for the catch-up pass that adopts it (docs/lifecycle.md, "Which passes
-- adopt"). Reads only; a key of another type reads as absent.
local function foreign(cid)
  if valid_id(cid) and not (read('ZSCORE', BIDDING, cid) or read('ZSCORE', ACTIVE, cid)
      or read('ZSCORE', DORMANT, cid)) and LIVE[read('HGET', claim_key(cid), 'status') or ''] then
    effect('foreign', cid)
  end
end
