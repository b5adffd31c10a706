-- launch.lua: may this process create the claim's worker container now?
-- Only while the claim holds a slot and its launch record says 'launching'
-- (a create that never happened, or whose answer was lost: Docker's 409 on
-- the deterministic name stops a second container). Once 'created' or
-- 'ended', never again: exactly one worker per claim.
-- A claim that no longer waits for its worker before the container was
-- made (terminated meanwhile: a phase timeout while Docker was away, or an
-- agent the registry lost across restarts; complete; gone) gets none: its
-- slot is released as ended.lua would, and the queue moves on.
-- ARGV[5] the claim id, ARGV[6] the role.
local CID, ROLE = ARGV[5], ARGV[6]
if not valid_id(CID) then return { { 'invalid', 'worker claim id is not an id' } } end
-- A wrong-typed worker key: one key_conflict row, nothing written (the
-- engine logs it, and keeps an exited container for a later pass).
local junk, want = junk_worker_key(ROLE, CID)
if junk then return key_conflict({ junk, want }) end
if redis.call('SISMEMBER', slots_key(ROLE), CID) == 0 then return { { 'worker_gone', CID } } end
local state = redis.call('GET', record_key(CID))
if state and state ~= 'launching' then return { { 'worker_launched', CID, state } } end
if not waits_for_worker(load_claim(CID), ROLE) then
  redis.call('SREM', slots_key(ROLE), CID)
  redis.call('SET', record_key(CID), 'ended', 'EX', 604800)
  effect('worker_ended', CID, ROLE, 'not_launched', 0)
  resume_queue(ROLE)
  return EFFECTS
end
redis.call('SET', record_key(CID), 'launching')
return { { 'worker_launch', CID } }
