-- bids.lua: is bidding on a claim complete, and if so, what is granted?
-- Complete when every registered name has a field in the bids hash, or when
-- the bid timeout has passed since the claim was created (missing agents then
-- count as 'ignore'). The snapshot has exactly the registered names; invalid
-- values count as 'ignore'; unknown names are left out (contract section 4).
-- KEYS[1] the claim hash, KEYS[2] its bids hash.
-- ARGV[5] the claim id, ARGV[6] the bid timeout in ms (0: wait for ever),
-- ARGV[7] how many fields the bids hash had when the orchestrator looked
-- just before this call (its HLEN), or '' (it did not look).
local CID, TIMEOUT, SEEN = ARGV[5], tonumber(ARGV[6]) or 0, tonumber(ARGV[7])
local VALID = { review = true, claim = true, exclusive = true, ignore = true }

-- The bidding set's type is proven by this read (an error: the set is junk);
-- the active and dormant sets' are checked before the first write, so the paths that
-- write nothing (not bidding, still waiting) spend no TYPE call.
-- Without a timeout only membership counts: ZRANK answers an integer where
-- ZSCORE's double is formatted by printf (about 3,600 instructions).
local since = redis.pcall(TIMEOUT > 0 and 'ZSCORE' or 'ZRANK', BIDDING, CID)
if type(since) == 'table' and since.err then return key_conflict({ BIDDING, 'zset' }) end
if not since then return { { 'not_bidding', CID } } end
-- Only the two fields judged here are read (a grant writes by the id alone).
local h = read('HMGET', claim_key(CID), 'status', 'phase_state')
if not h or h[1] ~= 'pending_review' or (h[2] or '') ~= '' then
  redis.call('ZREM', BIDDING, CID)
  return { { 'not_bidding', CID } }
end

-- The bids hash, read whole only when it is small: a hash swollen by junk
-- fields is read for the registered names only, and its other fields counted.
-- Small when the orchestrator just saw it so (no HLEN here); one that grew
-- swollen since is judged from what was read as a swollen one is.
local SMALL = #AGENTS + 32
local size = SEEN
if not size or size > SMALL then size = read('HLEN', KEYS[2]) or 0 end
-- read_whole: how many fields the small hash held, when read whole.
local bids, others, read_whole = {}, 0, nil
if size <= SMALL then
  local flat = read('HGETALL', KEYS[2]) or {}
  if #flat <= 2 * SMALL then
    for i = 1, #flat, 2 do bids[flat[i]] = flat[i + 1] end
    read_whole = #flat / 2
  else
    local present = 0
    for i = 1, #flat, 2 do
      if ROLE_OF[flat[i]] then
        bids[flat[i]] = flat[i + 1]
        present = present + 1
      end
    end
    others = #flat / 2 - present
  end
else
  -- Swollen: the registered names only (agents_hmget reads in chunks).
  local present = 0
  for i, bid in ipairs(agents_hmget(KEYS[2])) do
    if bid then
      bids[AGENTS[i]] = bid
      present = present + 1
    end
  end
  others = size - present
end
local missing = {}
for i = 1, #AGENTS do
  local name = AGENTS[i]
  if bids[name] == nil then missing[#missing + 1] = name end
end
if #missing > 0 and not (TIMEOUT > 0 and NOW >= tonumber(since) + TIMEOUT) then
  return { { 'waiting', CID, #missing } }
end

local snapshot = {}
for i = 1, #AGENTS do
  local name = AGENTS[i]
  local bid = bids[name]
  if bid == nil then
    snapshot[name] = 'ignore'
  elseif VALID[bid] then
    snapshot[name] = bid
  else
    snapshot[name] = 'ignore'
    effect('invalid_bid', CID, name, cut(bid, 64))
  end
end
if #missing > 0 then effect('bid_timeout', CID, missing) end
-- Names bid that are not registered: none when the small hash read whole
-- held exactly the registered names that bid (hash fields are unique).
if not (read_whole and read_whole == #AGENTS - #missing) then
  local unknown = {}
  for name in pairs(bids) do
    if not ROLE_OF[name] then unknown[#unknown + 1] = name end
  end
  for _, name in ipairs(sorted(unknown)) do effect('unknown_bidder', CID, cut(name, 64)) end
end
if others > 0 then effect('unknown_bidders', CID, others) end
-- The one set it writes besides the bidding set (the active one for a
-- grant, the dormant one else) is its first write, and its own check: a set
-- of another type refuses the ZADD and nothing is written (key_conflict).
local phase = initial_phase(snapshot)
local into = phase and ACTIVE or DORMANT
local added = redis.pcall('ZADD', into, now_text(), CID)
if type(added) == 'table' then
  -- Refused for another reason (OOM as a script…): that error is the answer.
  return key_conflict({ into, 'zset' }) or added
end
redis.call('ZREM', BIDDING, CID)
if phase then
  -- The snapshot holds every registered name: its keys in order are AGENTS.
  grant({ key_id = CID }, phase, snapshot, AGENTS, true)
else
  -- Held in the dormant set: a late bid can still start it (late_bid.lua),
  -- and adoption (adopt.lua) leaves it alone.
  effect('dormant', CID)
end
return EFFECTS
