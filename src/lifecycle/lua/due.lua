-- due.lua: claims of an orchestrator set (bidding or active) older than an
-- age, by the server's clock, so every replica agrees on what is due.
-- KEYS[1] the set. ARGV[5] the age in ms, ARGV[6] how many at most.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW - tonumber(ARGV[5]), 'LIMIT', 0, tonumber(ARGV[6]))
