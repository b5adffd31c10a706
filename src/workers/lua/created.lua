-- created.lua: the claim's worker container exists; it is never created again.
-- ARGV[5] the claim id, ARGV[6] the role.
local CID, ROLE = ARGV[5], ARGV[6]
if not valid_id(CID) then return { { 'invalid', 'worker claim id is not an id' } } end
-- A wrong-typed worker key: one key_conflict row, nothing written (the
-- engine logs it, and keeps an exited container for a later pass).
local junk, want = junk_worker_key(ROLE, CID)
if junk then return key_conflict({ junk, want }) end
if redis.call('SISMEMBER', slots_key(ROLE), CID) == 0 then return { { 'worker_gone', CID } } end
redis.call('SET', record_key(CID), 'created')
return { { 'worker_launched', CID, 'created' } }
