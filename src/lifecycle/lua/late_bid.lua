-- late_bid.lua: bids that arrived after bidding on their claim was decided
-- (SETT_BID_TIMEOUT counted their agents as 'ignore'), and claims granted to
-- an agent the registry no longer has. For a batch of claims, each decided
-- on its own (docs/lifecycle.md, "Busy agents" and "Adoption"):
--  - a claim in a phase whose granted agent is not in the registry and whose
--    role has not delivered (or a feedback claim assigned to such an agent)
--    can never progress: it is terminated (stranded(), claims.lua), as
--    Holt's recovery terminates it;
--  - late bids (with or without a bid timeout now: the claim may have been
--    decided by an earlier orchestrator's). A late bid is never lost:
--    - a dormant claim starts the phase the late bids ask for;
--    - a claim in a phase earlier than the one asked for keeps the bid for
--      it (a late 'exclusive' bid on a claim in review or parallel joins the
--      exclusive phase, a late 'claim' bid during review the parallel phase);
--    - a late 'review' or 'claim' bid during that very phase joins it now;
--    - otherwise (that phase is passed, or the claim ended) it is reported
--      once ('late_bid'), remembered in orchestrator:late:<claim>.
-- A bid is late when the decision's snapshot (phase_state.all_bids, or every
-- name for a dormant claim) has 'ignore' or nothing for its agent and the
-- bids hash now holds review, claim or exclusive. Honoured bids enter the
-- snapshot, so a replay or a second replica finds nothing late.
-- Run for bid events on claims no longer collecting bids, and by the
-- catch-up over the active and dormant sets (bids written while no
-- orchestrator listened). Each claim's rows come together; a claim with
-- nothing to do answers 'not_late'.
-- ARGV[5] n, the number of claim ids that follow in ARGV[6..5+n] (checked
-- by the orchestrator: ClaimId::parse, the valid_id forms; the registry
-- comes after them).
local PHASE_OF_BID = { review = 'review', claim = 'parallel', exclusive = 'exclusive' }
local RANK = { review = 1, parallel = 2, exclusive = 3 }
local GRANTED_FIELD = { review = 'granted_review_agents', parallel = 'granted_parallel_agents' }

-- The sets a decision here may write (a grant, an end). The dormant set is
-- read, and left, only for a claim that may be in it (recheck): one of
-- another type holds up those claims alone.
local conflict = key_conflict({ ACTIVE, 'zset', BIDDING, 'zset' })
if conflict then return conflict end

local function late_bids(cid, c, ps, dormant)
  local LATE = P .. 'orchestrator:late:' .. cid
  local conflict = key_conflict({ LATE, 'set' })
  if conflict then
    EFFECTS[#EFFECTS + 1] = conflict[1]
    return
  end
  -- The late bids, in name order.
  local got = agents_hmget(claim_key(cid) .. ':bids')
  local late = {}
  for i, name in ipairs(AGENTS) do
    local bid, was = got[i], nil
    if not dormant then was = ps.all_bids[name] end
    if PHASE_OF_BID[bid] and (was == nil or was == 'ignore')
        and redis.call('SISMEMBER', LATE, name) == 0 then
      late[#late + 1] = { name = name, bid = bid }
    end
  end
  if #late == 0 then return effect('not_late', cid) end

  if dormant then
    local snapshot = {}
    for i, name in ipairs(AGENTS) do
      snapshot[name] = PHASE_OF_BID[got[i]] and got[i] or 'ignore'
    end
    local phase = initial_phase(snapshot)
    redis.call('ZREM', DORMANT, cid)
    for _, l in ipairs(late) do effect('late_bid_honoured', cid, l.name, l.bid, PHASE_OF_BID[l.bid]) end
    return grant(c, phase, snapshot)
  end

  local current = PHASE_STATUS[ps.current] == c.status and ps.current or nil
  local changed, joined = false, {}
  for _, l in ipairs(late) do
    local wants = PHASE_OF_BID[l.bid]
    if current and RANK[wants] > RANK[current] then
      ps.all_bids[l.name] = l.bid
      changed = true
      effect('late_bid_honoured', cid, l.name, l.bid, wants)
    elseif current and wants == current and current ~= 'exclusive' then
      ps.all_bids[l.name] = l.bid
      ps.granted_agents[#ps.granted_agents + 1] = l.name
      joined[#joined + 1] = l.name
      changed = true
      effect('late_bid_honoured', cid, l.name, l.bid, wants)
    else
      redis.call('SADD', LATE, l.name)
      effect('late_bid', cid, l.name, l.bid, current or c.status or '')
    end
  end
  if changed then
    -- Grant arrays are sorted bytewise, a joiner's name included.
    if #joined > 0 then sorted(ps.granted_agents) end
    local fields = { 'phase_state', enc_phase_state(ps) }
    if #joined > 0 then
      fields[3], fields[4] = GRANTED_FIELD[current], enc_list(ps.granted_agents)
    end
    redis.call('HSET', claim_key(cid), unpack(fields))
    for _, name in ipairs(joined) do publish_grant(cid, name, current) end
  end
end

local function recheck(cid)
  if read('ZSCORE', BIDDING, cid) then return effect('not_late', cid) end
  if redis.call('TYPE', claim_key(cid))['ok'] ~= 'hash' then return effect('not_late', cid) end
  local c = load_claim(cid)
  local ps = dec_phase_state(c.phase_state)
  -- A stranded claim is ended only when a set of ours holds it (a claim
  -- someone else made is adoption's, adopt.lua). A missing member reads as
  -- false, not nil.
  if c.status ~= 'complete' and c.status ~= 'terminated' and read('ZSCORE', ACTIVE, cid) then
    local why = stranded(c, ps)
    if why then return finish(c, 'terminated', why, 'missing_agent') end
  end
  local dormant = false
  if c.status == 'pending_review' and c.phase_state == '' then
    local score, conflict = dormant_score(cid)
    if conflict then
      EFFECTS[#EFFECTS + 1] = conflict
      return
    end
    dormant = score and true or false
  end
  if not dormant and not ps then return effect('not_late', cid) end
  late_bids(cid, c, ps, dormant)
end

local seen = {}
for i = 6, 5 + (tonumber(ARGV[5]) or 0) do
  local cid = ARGV[i]
  if not seen[cid] then
    seen[cid] = true
    recheck(cid)
  end
end
return EFFECTS
