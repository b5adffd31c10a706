-- phases.lua: an artefact made for a claim counts towards its current phase
-- (contract section 6); the last one completes the phase.

-- Go's test: the payload is the JSON value {} or [] (whitespace allowed).
local function approves(payload)
  return string.find(payload, '^[ \t\n\r]*{[ \t\n\r]*}[ \t\n\r]*$') ~= nil
    or string.find(payload, '^[ \t\n\r]*%[[ \t\n\r]*%][ \t\n\r]*$') ~= nil
end

-- The longest review payload read whole. The verdict needs no more: an
-- approving payload is '{}' or '[]' with whitespace, and the feedback quotes
-- 200 bytes. A longer payload is rejected unread (HSTRLEN only), its feedback
-- saying so (docs/lifecycle.md).
local MAX_REVIEW_PAYLOAD = 65536

-- A review's payload for the verdict: the text, or nil when it is longer
-- than MAX_REVIEW_PAYLOAD (then also its length).
local function review_payload(review)
  if not valid_id(review) then return '' end
  local key = artefact_key(review)
  local n = read('HSTRLEN', key, 'payload') or 0
  if n > MAX_REVIEW_PAYLOAD then return nil, n end
  return read('HGET', key, 'payload') or ''
end

-- Publishes each reviewer's verdict, in role order; returns the rejecting
-- reviews' ids, sorted.
local function judge_reviews(c, ps)
  local rejected = {}
  local original = enc_str(c.artefact_id)
  for _, role in ipairs(sorted_keys(ps.received)) do
    local review = ps.received[role]
    local payload, size = review_payload(review)
    if payload == nil then
      payload = 'review payload of ' .. string.format('%d', size) .. ' bytes not read (over '
        .. MAX_REVIEW_PAYLOAD .. '): rejected'
    end
    if approves(payload) then
      publish_workflow('review_approved', '{"original_artefact_id":' .. original .. ',"reviewer_role":' .. enc_str(role) .. '}')
      effect('review_approved', c.key_id, role, review)
    else
      publish_workflow('review_rejected', '{"feedback":' .. enc_str(cut(payload, 200)) .. ',"original_artefact_id":'
        .. original .. ',"reviewer_role":' .. enc_str(role) .. '}')
      effect('review_rejected', c.key_id, role, review)
      rejected[#rejected + 1] = review
    end
  end
  return sorted(rejected)
end

local function complete_phase(c, ps)
  if ps.current == 'review' then
    local rejected = judge_reviews(c, ps)
    if #rejected > 0 then return reject(c, rejected) end
  end
  local nxt = next_phase(ps.current, ps.all_bids)
  if nxt then return grant(c, nxt, ps.all_bids) end
  finish(c, 'complete')
end

-- An exclusive phase with nothing received yet, its phase_state in the
-- bytes enc_phase_state writes (Go's too) for one plainly spelt agent, a
-- snapshot of exactly the registry's names in order (each plainly spelt)
-- with the four bids, and a start time as %d writes it: the text before
-- and after `received`'s `{}`, the agent, and the start (text). Read with
-- patterns: decoding it with cjson, checking it and encoding it again cost
-- Redis about 87,000 instructions a delivery (docs/performance.md).
-- Anything else: nil (the full path).
local EXCLUSIVE_UNRECEIVED = '^({"current":"exclusive","granted_agents":%["([^"]+)"%],"received":){}'
  .. '(,"all_bids":{([^}]*)},"start_time_ms":(%d+)})$'
local BID_ENTRY = '(,?)"([^"]*)":"([^"]*)"'
local BIDS = { review = true, claim = true, exclusive = true, ignore = true }
-- Whether every name of the registry table PLAIN_OF is plainly spelt.
local PLAIN_OF, PLAIN

local function plain(s) return enc_str(s) == '"' .. s .. '"' end

local function exclusive_unreceived(text)
  if type(text) ~= 'string' then return nil end
  local head, agent, tail, bids, start = string.match(text, EXCLUSIVE_UNRECEIVED)
  -- (At most 15 digits: below 2^53; no leading zero: as %d writes it.)
  if not head or #start > 15 or (#start > 1 and string.byte(start, 1) == 48) or not plain(agent) then
    return nil
  end
  if PLAIN_OF ~= AGENTS then
    PLAIN_OF, PLAIN = AGENTS, true
    for i = 1, #AGENTS do
      if not plain(AGENTS[i]) then PLAIN = false end
    end
  end
  if not PLAIN then return nil end
  local i, length = 0, 0
  for comma, name, bid in string.gmatch(bids, BID_ENTRY) do
    i = i + 1
    if name ~= AGENTS[i] or not BIDS[bid] or (comma == '') ~= (i == 1) then return nil end
    length = length + #comma + #name + #bid + 5
  end
  if i ~= #AGENTS or length ~= #bids then return nil end
  return head, agent, tail, start
end

-- When an artefact was written (its created_at_ms): decimal Unix ms from
-- 2001 on (10^12), else nil. Sett-era writers omit it, and a value that is
-- no such time (0, junk) is taken as absent: it then counts in the phase
-- under way, as a live event would.
local function written_ms(text)
  local written = is_version(text) and tonumber(text) or nil
  if written and written < 1e12 then return nil end
  return written
end

-- An artefact replayed for a claim someone else ran (art.written) and
-- written before the phase began (an earlier phase's): not counted, and the
-- answer says so, unless it would not have counted anyway (counted already,
-- e.g. live in an earlier phase; `received`: its role has delivered in this
-- phase, and it is no Failure). It joins the claim's counted set, so that
-- no later replay counts it in this phase or a later one (a phase granting
-- the same role again). delivery_claims checked that set's type.
local function not_counted(c, phase, art, received)
  if counted_already(c, art) then return end
  redis.call('SADD', counted_key(c.key_id), art.id)
  if NO_COUNTED then NO_COUNTED[c.key_id] = nil end
  if received then return end
  effect('not_counted', c.key_id, phase, art.role, art.id)
end

-- deliver() for a claim whose phase_state exclusive_unreceived reads:
-- the same steps, and the same writes, without the decoded tables. False
-- when it does not apply.
local function deliver_exclusive(c, art)
  local head, agent, tail, start = exclusive_unreceived(c.phase_state)
  if not head then return false end
  if role_of(agent) ~= art.role then return true end
  if art.written and art.written < tonumber(start) then
    not_counted(c, 'exclusive', art, false)
    return true
  end
  if counted_already(c, art) then return true end
  if art.structural_type == 'Failure' then
    fail(c, art)
    return true
  end
  -- The agent's role delivered: the phase, and the claim, are complete.
  effect('delivered', c.key_id, 'exclusive', art.role, art.id)
  finish(c, 'complete', nil, nil, head .. '{' .. enc_str(art.role) .. ':' .. enc_id(art.id) .. '}' .. tail)
  return true
end

-- art: { id, structural_type, role } of an artefact whose source_artefacts
-- hold c's artefact. Counts once (the counted set survives phase changes, so
-- a replayed artefact cannot count again in a later phase).
local function deliver(c, art)
  if c.status == 'pending_assignment' then return deliver_rework(c, art) end
  if c.status == 'pending_exclusive' and deliver_exclusive(c, art) then return end
  local ps = dec_phase_state(c.phase_state)
  if not ps or PHASE_STATUS[ps.current] ~= c.status then return end
  local granted, names = false, ps.granted_agents
  for i = 1, #names do
    if role_of(names[i]) == art.role then granted = true end
  end
  if not granted then return end
  -- Replayed by adoption (art.written: its created_at_ms): one written
  -- before this phase began was an earlier phase's, which Holt's Go
  -- orchestrator counted in memory only; it is not counted again here,
  -- and the operator is told so.
  if art.written and art.written < ps.start_time_ms then
    return not_counted(c, ps.current, art, art.structural_type ~= 'Failure' and ps.received[art.role])
  end
  if counted_already(c, art) then return end
  if art.structural_type == 'Failure' then return fail(c, art) end
  if ps.received[art.role] then return end
  ps.received[art.role] = art.id
  local done = true
  for i = 1, #names do
    if not ps.received[role_of(names[i])] then
      done = false
      break
    end
  end
  if done and ps.current ~= 'review' and not next_phase(ps.current, ps.all_bids) then
    -- The claim completes with this delivery: its phase_state goes with its
    -- status (finish, one HSET), and its counted set, which finish deletes,
    -- is not added to first. What it leaves is what the steps below leave.
    effect('delivered', c.key_id, ps.current, art.role, art.id)
    return finish(c, 'complete', nil, nil, enc_phase_state(ps))
  end
  redis.call('SADD', counted_key(c.key_id), art.id)
  if NO_COUNTED then NO_COUNTED[c.key_id] = nil end
  redis.call('HSET', claim_key(c.key_id), 'phase_state', enc_phase_state(ps))
  effect('delivered', c.key_id, ps.current, art.role, art.id)
  if done then complete_phase(c, ps) end
end

-- The claims an artefact (its structural_type and source_artefacts as
-- stored) counts for, loaded for deliver, with each one's counted set
-- probed as key_conflict would: one found empty needs no SISMEMBER and no
-- DEL (NO_COUNTED). Reads only: nil and the key_conflict answer when a
-- counted key is of another type. The artefact decision (artefact.lua)
-- and adoption (adopt.lua, for an artefact someone else claimed) count an
-- artefact by one rule. `keep` (optional): only the claim ids it answers
-- true for are kept, before their hashes are read and their counted sets
-- probed.
local function delivery_claims(structural_type, source_text, keep)
  local claims = {}
  if structural_type == 'Terminal' or source_text == '[]' then return claims end
  local seen = {}
  local sources = decode_list(source_text) or {}
  for i = 1, #sources do
    local source = sources[i]
    if valid_id(source) and not seen[source] then
      seen[source] = true
      -- The index value becomes a key only when it is an id; a wrong-typed
      -- index key reads as absent. The claim counts only when it is the
      -- claim of that artefact (its artefact_id is `source`): a hash with
      -- no artefact_id, or another's, is junk and left alone (a verdict
      -- quotes the artefact id, a rework reads the artefact).
      local claim_id = read('GET', index_key(source))
      local c = claim_id and valid_id(claim_id) and (not keep or keep(claim_id)) and load_delivery(claim_id)
      if c and c.artefact_id == source then
        claims[#claims + 1] = c
        -- (A rejection also SETs the index of the claim's artefact: that is
        -- index_key(source), just read as a string.)
      end
    end
  end
  for i = 1, #claims do
    local c = claims[i]
    local n = redis.pcall('SCARD', counted_key(c.key_id))
    if type(n) == 'table' then
      local conflict = key_conflict({ counted_key(c.key_id), 'set' })
      if conflict then return nil, conflict end
    elseif n == 0 then
      NO_COUNTED = NO_COUNTED or {}
      NO_COUNTED[c.key_id] = true
    end
  end
  return claims
end
