-- lock.lua: the instance lock {p}:{i}:lock (contract section 7), refreshed
-- and released only by the process that holds it. Its value is
-- 'orchestrator:<unix seconds>:<token>': `holt up` reads the number after
-- 'orchestrator:' (the suffix does not disturb it); the token is this
-- process's own, so one replica never refreshes nor deletes another's lock.
-- KEYS[1] the lock. ARGV[1] 'refresh' or 'release', ARGV[2] our token,
-- ARGV[3] (refresh) the unix seconds to write, ARGV[4] the expiry in seconds.
-- Answers 1: done; 0: another process holds it (left alone); -1: the key
-- is not a string (left alone).
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then return -1 end
local mine = v and string.sub(v, -(#ARGV[2] + 1)) == ':' .. ARGV[2]
if ARGV[1] == 'release' then
  if mine then redis.call('DEL', KEYS[1]) return 1 end
  return 0
end
if v and not mine then return 0 end
redis.call('SET', KEYS[1], 'orchestrator:' .. ARGV[3] .. ':' .. ARGV[2], 'EX', ARGV[4])
return 1
