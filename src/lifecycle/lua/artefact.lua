-- artefact.lua: an artefact arrived (event or catch-up). One atomic decision:
--  1. it counts for the claims of its source artefacts (phases.lua), and
--  2. unless it is Terminal, Failure or Review, it gets its own claim, which
--     then collects bids (it joins the bidding set).
-- KEYS[1] the artefact hash, KEYS[2] its claim_by_artefact index key.
-- ARGV[5] the artefact id as written, ARGV[6] a fresh claim id, ARGV[7]
-- 'replay' when a catch-up pass runs it (else '': a live event).
local AID, CID, REPLAY = ARGV[5], ARGV[6], ARGV[7] == 'replay'

-- TYPE only when the read says nothing (no key, or not a hash: an error).
-- (logical_id and version only a rework needs: feedback.lua reads them.)
local a
if REPLAY then
  a = redis.pcall('HMGET', KEYS[1], 'structural_type', 'type', 'source_artefacts', 'produced_by_role', 'created_at_ms')
else
  a = redis.pcall('HMGET', KEYS[1], 'structural_type', 'type', 'source_artefacts', 'produced_by_role')
end
if a.err or not (a[1] or a[2] or a[3] or a[4]) then
  local kind = redis.call('TYPE', KEYS[1])['ok']
  if kind == 'none' then return { { 'not_found' } } end
  if kind ~= 'hash' then return { { 'invalid', 'artefact key is a ' .. kind .. ', not a hash' } } end
end
local structural_type = a[1]
if not structural_type or structural_type == '' then
  return { { 'invalid', 'artefact hash has no structural_type' } }
end
-- A hash still being written (fields in several HSETs) is judged again later
-- (the orchestrator retries it): claiming it now would lose what it delivers.
if not a[3] then return { { 'invalid', 'artefact hash has no source_artefacts' } } end
if not a[4] then return { { 'invalid', 'artefact hash has no produced_by_role' } } end

-- The claims it counts for, read and their counted sets probed first, so
-- that every key a delivery may write is checked before the first write.
local claims, conflict = delivery_claims(structural_type, a[3])
if not claims then return conflict end
local checks = {}
-- A delivery may write both sets (a grant, an end); a new claim joins the
-- bidding set. An artefact that does neither checks nothing.
local claimable = structural_type ~= 'Terminal' and structural_type ~= 'Failure' and structural_type ~= 'Review'
if #claims > 0 then
  checks[#checks + 1] = ACTIVE
  checks[#checks + 1] = 'zset'
end
if #claims > 0 or claimable then
  checks[#checks + 1] = BIDDING
  checks[#checks + 1] = 'zset'
end
conflict = key_conflict(checks)
if conflict then return conflict end
if #claims > 0 then
  local art = { id = AID, structural_type = structural_type, role = a[4] or '' }
  -- Replayed for a claim adopted from someone else (the recount set: Holt's
  -- Go orchestrator counted its earlier phases in memory only), it carries
  -- its written time, as adoption's replay does: one written before the
  -- claim's phase began is an earlier phase's and does not count
  -- (phases.lua, not_counted).
  local written = REPLAY and written_ms(a[5])
  local old = written and { id = AID, structural_type = structural_type, role = art.role, written = written }
  local recount = old and P .. 'orchestrator:recount'
  for i = 1, #claims do
    deliver(claims[i], old and read('ZSCORE', recount, claims[i].key_id) and old or art)
  end
end

if not claimable then
  effect('skipped', structural_type, a[2] or '')
  -- A Phase-1 orchestrator claims Reviews and Failures too; the pass closes its claim.
  local existing = read('GET', KEYS[2])
  if existing then foreign(existing) end
else
  -- A wrong-typed index key is reported and left alone (raising here, after
  -- the deliveries above were written, would break exactly-once). Read
  -- here and written after the claim hash (not SET NX first): a claim hash
  -- that cannot be written leaves no index naming it.
  local existing = read('GET', KEYS[2])
  if existing == nil then
    effect('index_conflict', redis.call('TYPE', KEYS[2])['ok'])
  elseif existing then
    effect('duplicate', existing)
    foreign(existing)
  else
    write_claim(CID, AID, 'pending_review', '', '[]')
    redis.call('SET', KEYS[2], CID)
    redis.call('ZADD', BIDDING, now_text(), CID)
    redis.call('PUBLISH', P .. 'claim_events', claim_event(CID, AID, 'pending_review', '', '[]'))
    effect('created', CID)
  end
end
return EFFECTS
