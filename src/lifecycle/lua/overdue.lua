-- overdue.lua: claims that have waited longer than SETT_BID_OVERDUE for
-- bids get one 'bids_overdue' row each, naming the agents that have not bid
-- (at most MAX_NAMES, and how many more), then again at most once per
-- SETT_BID_OVERDUE while they keep waiting. The mark that rate-limits it,
-- orchestrator:overdue:<claim>, expires by itself, and is set in the same
-- script that decides to warn: one warning across replicas.
-- A call looks at LOOK_AT overdue claims at most, oldest first from rank
-- ARGV[7] among them, and answers where the next call starts
-- ('overdue_next', 0 after the last): the calls go round every overdue
-- claim, so a claim behind a thousand older ones that are marked is warned
-- too (it was never looked at before). Claims leaving bidding shift the
-- ranks: a claim may then be looked at a round late, never warned twice
-- in a period (the mark).
-- ARGV[5] the threshold in ms, ARGV[6] how many warnings at most, ARGV[7]
-- the rank to start from.
local LIMIT, MAX, FROM = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]) or 0
local MAX_NAMES, LOOK_AT = 10, 1000

if redis.call('TYPE', BIDDING)['ok'] ~= 'zset' then return { { 'overdue_next', 0 } } end
local due = redis.call('ZRANGEBYSCORE', BIDDING, '-inf', NOW - LIMIT, 'WITHSCORES', 'LIMIT', FROM, LOOK_AT)
if #due == 0 and FROM > 0 then
  FROM = 0
  due = redis.call('ZRANGEBYSCORE', BIDDING, '-inf', NOW - LIMIT, 'WITHSCORES', 'LIMIT', 0, LOOK_AT)
end
local warned, looked = 0, 0
for i = 1, #due, 2 do
  local cid, since = due[i], tonumber(due[i + 1])
  if warned >= MAX then break end
  looked = looked + 1
  local mark = P .. 'orchestrator:overdue:' .. cid
  if valid_id(cid) and redis.call('TYPE', mark)['ok'] == 'none' then
    local got = agents_hmget(claim_key(cid) .. ':bids')
    local missing, more = {}, 0
    for j, name in ipairs(AGENTS) do
      if not got[j] then
        if #missing < MAX_NAMES then missing[#missing + 1] = name else more = more + 1 end
      end
    end
    -- Every agent has bid: the claim waits for its decision (a bid event
    -- still queued, the sweep's walk), not for bids. No warning, no mark.
    if #missing > 0 then
      redis.call('SET', mark, '1', 'PX', LIMIT)
      effect('bids_overdue', cid, NOW - since, missing, more)
      warned = warned + 1
    end
  end
end
-- Past the end of the overdue claims: the next call starts again at 0.
local resume_at = FROM + looked
if looked == #due / 2 and #due < 2 * LOOK_AT then resume_at = 0 end
effect('overdue_next', resume_at)
return EFFECTS
