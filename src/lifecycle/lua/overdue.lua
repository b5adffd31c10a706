-- overdue.lua: claims that have waited longer than SETT_BID_OVERDUE for
-- bids get one 'bids_overdue' row each, naming the agents that have not bid
-- (at most MAX_NAMES, and how many more), then again at most once per
-- SETT_BID_OVERDUE while they keep waiting. The mark that rate-limits it,
-- orchestrator:overdue:<claim>, expires by itself, and is set in the same
-- script that decides to warn: one warning across replicas.
-- ARGV[5] the threshold in ms, ARGV[6] how many warnings at most.
local LIMIT, MAX = tonumber(ARGV[5]), tonumber(ARGV[6])
local MAX_NAMES, LOOK_AT = 10, 1000

if redis.call('TYPE', BIDDING)['ok'] ~= 'zset' then return {} end
local due = redis.call('ZRANGEBYSCORE', BIDDING, '-inf', NOW - LIMIT, 'WITHSCORES', 'LIMIT', 0, LOOK_AT)
local warned = 0
for i = 1, #due, 2 do
  local cid, since = due[i], tonumber(due[i + 1])
  if warned >= MAX then break end
  local mark = P .. 'orchestrator:overdue:' .. cid
  if valid_id(cid) and redis.call('TYPE', mark)['ok'] == 'none' then
    local got = agents_hmget(claim_key(cid) .. ':bids')
    local missing, more = {}, 0
    for j, name in ipairs(AGENTS) do
      if not got[j] then
        if #missing < MAX_NAMES then missing[#missing + 1] = name else more = more + 1 end
      end
    end
    redis.call('SET', mark, '1', 'PX', LIMIT)
    effect('bids_overdue', cid, NOW - since, missing, more)
    warned = warned + 1
  end
end
return EFFECTS
