-- feedback.lua: what a rejection sets off (contract section 6): a feedback
-- claim for the target's author, or a Failure artefact when the loop must
-- stop; and the rework that completes a feedback claim.

-- A Failure artefact written like any producer's: the hash, then the event.
local function write_failure(c, target, kind, payload)
  local id, logical = new_uuid(), new_uuid()
  local sources = '[' .. enc_str(target) .. ']'
  redis.call('HSET', artefact_key(id),
    'id', id,
    'logical_id', logical,
    'version', '1',
    'structural_type', 'Failure',
    'type', kind,
    'payload', payload,
    'source_artefacts', sources,
    'produced_by_role', 'orchestrator',
    'created_at_ms', now_text())
  redis.call('PUBLISH', P .. 'artefact_events', '{"id":' .. enc_str(id) .. ',"logical_id":' .. enc_str(logical)
    .. ',"version":1,"structural_type":"Failure","type":' .. enc_str(kind) .. ',"payload":' .. enc_str(payload)
    .. ',"source_artefacts":' .. sources .. ',"produced_by_role":"orchestrator","created_at_ms":' .. now_text() .. '}')
  effect('failure_artefact', c.key_id, id, kind)
end

local function create_feedback_claim(c, target, agent, role, review_ids, version)
  local id = new_uuid()
  local context = enc_list(review_ids)
  write_claim(id, target, 'pending_assignment', agent, context)
  redis.call('SET', index_key(target), id)
  redis.call('ZADD', ACTIVE, now_text(), id)
  redis.call('PUBLISH', P .. 'claim_events', claim_event(id, target, 'pending_assignment', agent, context))
  publish_workflow('feedback_claim_created', '{"feedback_claim_id":' .. enc_id(id)
    .. ',"iteration":' .. string.format('%d', version) .. ',"original_claim_id":' .. enc_id(c.key_id)
    .. ',"target_agent_role":' .. enc_str(role) .. '}')
  effect('feedback_claim', c.key_id, id, agent, version)
  -- A controller's rework is done by a worker (workers/lua/grant.lua).
  if WORKER_OF[agent] then grant_worker(load_claim(id), agent, 'pending_assignment', nil) end
end

-- The target's version: decimal digits, as producers write it; anything else
-- counts as 1 (the contract is silent; tonumber alone would read '0x10',
-- ' 2', '2.5', '-1', 'inf' and 'nan'). 15 digits stay exact in a Lua number.
local function is_version(text)
  return type(text) == 'string' and #text <= 15 and string.find(text, '^%d+$') ~= nil
end
local function version_of(text)
  if is_version(text) then return tonumber(text) end
  return 1
end

-- The review phase of claim c ended with rejections (review ids, sorted).
local function reject(c, review_ids)
  local target = c.artefact_id
  local t = read('HMGET', artefact_key(target), 'version', 'produced_by_role') or {}
  local version, role = version_of(t[1]), t[2] or ''
  local iteration = version - 1
  local MAX_ITER = max_iter()
  if MAX_ITER > 0 and iteration >= MAX_ITER then
    write_failure(c, target, 'MaxIterationsExceeded', 'Max review iterations (' .. MAX_ITER .. ') reached for artefact '
      .. target .. ' (version ' .. string.format('%d', version) .. '). Review feedback loop terminated.')
    return finish(c, 'terminated', 'Terminated after reaching max review iterations (' .. MAX_ITER .. ').', 'max_iterations')
  end
  local agent = AGENT_FOR_ROLE[role]
  if not agent then
    write_failure(c, target, 'MissingAgentConfiguration', "Cannot create feedback claim: agent with role '" .. role
      .. "' no longer exists in configuration.")
    return finish(c, 'terminated', 'Terminated due to missing agent configuration (role: ' .. role .. ').', 'missing_agent')
  end
  finish(c, 'terminated', 'Terminated due to negative review feedback. See artefacts: ['
    .. table.concat(review_ids, ' ') .. ']', 'review_rejected')
  create_feedback_claim(c, target, agent, role, review_ids, version)
end

-- An artefact sourced from a feedback claim's target, from the assigned
-- agent's role: its Failure terminates the claim; its rework completes it.
-- A rework is the target's next version, as Holt's agent runner writes it:
-- the target's logical_id, and version = the target's version + 1 (any
-- structural type but Review, Terminal and Failure: the runner writes its
-- tool's answer to a feedback claim so, a Question included, and is then
-- done with the claim). Anything else the author writes from the target (a
-- Question or an Answer of its own thread, new work, its own review) leaves
-- the claim waiting.
local function deliver_rework(c, art)
  local agent = c.granted_exclusive_agent or ''
  if agent == '' or role_of(agent) ~= art.role or art.structural_type == 'Review' then return end
  for _, id in ipairs(decode_list(c.additional_context_ids) or {}) do
    if id == art.id then return end
  end
  if art.structural_type == 'Failure' then return fail(c, art) end
  local t = read('HMGET', artefact_key(c.artefact_id), 'logical_id', 'version') or {}
  -- The rework's own logical_id and version: read here when its decision
  -- (artefact.lua) did not (false where absent, as HMGET answers).
  if art.version == nil then
    local f = read('HMGET', artefact_key(art.id), 'logical_id', 'version') or {}
    art.logical_id, art.version = f[1] or false, f[2] or false
  end
  if not t[1] or t[1] ~= art.logical_id or not is_version(art.version)
    or tonumber(art.version) ~= version_of(t[2]) + 1 then
    return
  end
  effect('reworked', c.key_id, art.id)
  finish(c, 'complete')
end
