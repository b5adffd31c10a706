-- ended.lua: a claim's worker ended (workers-contract section 5), recorded
-- once: the slot is released, the launch record says 'ended', and
--  - exit 0: nothing else (the worker's artefact moves the claim on);
--  - exit N while the claim still waits for the worker: one Failure
--    artefact WorkerFailure from the role, and the claim is terminated (a
--    worker stopped for its terminated claim, or exiting after its claim
--    completed, writes nothing);
--  - launch failed: the claim is terminated with the reason.
-- Then the oldest queued claims of the role get the free slots.
-- ARGV[5] claim id, ARGV[6] role, ARGV[7] 'exit' | 'launch_failed',
-- ARGV[8] exit code (decimal), ARGV[9] the logs' text or the reason.
local CID, ROLE, KIND, CODE, TEXT = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if not valid_id(CID) then return { { 'invalid', 'worker claim id is not an id' } } end
-- A wrong-typed worker key: one key_conflict row, nothing written (the
-- engine logs it, and keeps an exited container for a later pass).
local junk, want = junk_worker_key(ROLE, CID)
if junk then return key_conflict({ junk, want }) end
if redis.call('SISMEMBER', slots_key(ROLE), CID) == 0 then return { { 'worker_gone', CID } } end
local c = load_claim(CID)
local waiting = waits_for_worker(c, ROLE)
-- Ending the claim (finish) writes the active and bidding sets: checked
-- before the first write. A wrong-typed one records nothing (the engine
-- keeps the container, and the next pass records its end once repaired).
if waiting and (KIND == 'launch_failed' or (KIND == 'exit' and CODE ~= '0')) then
  local conflict = key_conflict({ ACTIVE, 'zset', BIDDING, 'zset' })
  if conflict then return conflict end
end
redis.call('SREM', slots_key(ROLE), CID)
redis.call('SET', record_key(CID), 'ended', 'EX', 604800)
if KIND == 'exit' and CODE ~= '0' and waiting then
  local id, logical = new_uuid(), new_uuid()
  local payload = 'Worker container exited with code ' .. CODE .. '\n\nLogs:\n' .. TEXT
  redis.call('HSET', artefact_key(id), 'id', id, 'logical_id', logical, 'version', '1',
    'structural_type', 'Failure', 'type', 'WorkerFailure', 'payload', payload,
    'source_artefacts', '[]', 'produced_by_role', ROLE, 'created_at_ms', now_text())
  redis.call('PUBLISH', P .. 'artefact_events', '{"id":' .. enc_str(id) .. ',"logical_id":' .. enc_str(logical)
    .. ',"version":1,"structural_type":"Failure","type":"WorkerFailure","payload":' .. enc_str(payload)
    .. ',"source_artefacts":[],"produced_by_role":' .. enc_str(ROLE) .. ',"created_at_ms":' .. now_text() .. '}')
  effect('failure_artefact', CID, id, 'WorkerFailure')
  if waiting then finish(c, 'terminated', 'Worker failed with exit code ' .. CODE, 'worker_failed') end
elseif KIND == 'launch_failed' and waiting then
  finish(c, 'terminated', 'Failed to launch worker: ' .. TEXT, 'worker_launch')
end
effect('worker_ended', CID, ROLE, KIND, tonumber(CODE) or 0)
resume_queue(ROLE)
return EFFECTS
