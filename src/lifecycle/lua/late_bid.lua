-- late_bid.lua: bids that arrived after bidding on their claim was decided
-- (SETT_BID_TIMEOUT counted their agents as 'ignore'). A late bid is never
-- lost (docs/lifecycle.md, "Busy agents"):
--  - a dormant claim starts the phase the late bids ask for;
--  - a claim in a phase earlier than the one asked for keeps the bid for it
--    (a late 'exclusive' bid on a claim in review or parallel joins the
--    exclusive phase, a late 'claim' bid during review the parallel phase);
--  - a late 'review' or 'claim' bid during that very phase joins it now;
--  - otherwise (that phase is passed, or the claim ended) it is reported
--    once ('late_bid'), remembered in orchestrator:late:<claim>.
-- A bid is late when the decision's snapshot (phase_state.all_bids, or every
-- name for a dormant claim) has 'ignore' or nothing for its agent and the
-- bids hash now holds review, claim or exclusive. Honoured bids enter the
-- snapshot, so a replay or a second replica finds nothing late.
-- KEYS[1] the claim hash, KEYS[2] its bids hash.
-- ARGV[5] the claim id.
local CID = ARGV[5]
local LATE = P .. 'orchestrator:late:' .. CID
local PHASE_OF_BID = { review = 'review', claim = 'parallel', exclusive = 'exclusive' }
local RANK = { review = 1, parallel = 2, exclusive = 3 }
local GRANTED_FIELD = { review = 'granted_review_agents', parallel = 'granted_parallel_agents' }

if read('ZSCORE', BIDDING, CID) then return { { 'not_late', CID } } end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return { { 'not_late', CID } } end
local conflict = key_conflict({ ACTIVE, 'zset', DORMANT, 'zset', LATE, 'set' })
if conflict then return conflict end
local c = load_claim(CID)
local ps = dec_phase_state(c.phase_state)
-- (A missing member reads as false, not nil.)
local dormant = c.status == 'pending_review' and c.phase_state == ''
  and read('ZSCORE', DORMANT, CID) and true
if not dormant and not ps then return { { 'not_late', CID } } end

-- The late bids, in name order.
local got = agents_hmget(KEYS[2])
local late = {}
for i, name in ipairs(AGENTS) do
  local bid, was = got[i], nil
  if not dormant then was = ps.all_bids[name] end
  if PHASE_OF_BID[bid] and (was == nil or was == 'ignore')
      and redis.call('SISMEMBER', LATE, name) == 0 then
    late[#late + 1] = { name = name, bid = bid }
  end
end
if #late == 0 then return { { 'not_late', CID } } end

if dormant then
  local snapshot = {}
  for i, name in ipairs(AGENTS) do
    snapshot[name] = PHASE_OF_BID[got[i]] and got[i] or 'ignore'
  end
  local phase = initial_phase(snapshot)
  redis.call('ZREM', DORMANT, CID)
  for _, l in ipairs(late) do effect('late_bid_honoured', CID, l.name, l.bid, PHASE_OF_BID[l.bid]) end
  grant(c, phase, snapshot)
  return EFFECTS
end

local current = PHASE_STATUS[ps.current] == c.status and ps.current or nil
local changed, joined = false, {}
for _, l in ipairs(late) do
  local wants = PHASE_OF_BID[l.bid]
  if current and RANK[wants] > RANK[current] then
    ps.all_bids[l.name] = l.bid
    changed = true
    effect('late_bid_honoured', CID, l.name, l.bid, wants)
  elseif current and wants == current and current ~= 'exclusive' then
    ps.all_bids[l.name] = l.bid
    ps.granted_agents[#ps.granted_agents + 1] = l.name
    joined[#joined + 1] = l.name
    changed = true
    effect('late_bid_honoured', CID, l.name, l.bid, wants)
  else
    redis.call('SADD', LATE, l.name)
    effect('late_bid', CID, l.name, l.bid, current or c.status or '')
  end
end
if changed then
  local fields = { 'phase_state', enc_phase_state(ps) }
  if #joined > 0 then
    fields[3], fields[4] = GRANTED_FIELD[current], enc_list(ps.granted_agents)
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  for _, name in ipairs(joined) do publish_grant(CID, name, current) end
end
return EFFECTS
