-- timeout.lua: terminate a claim whose phase (or feedback rework) has waited
-- longer than SETT_PHASE_TIMEOUT (contract section 12, item 9).
-- KEYS[1] the claim hash.
-- ARGV[5] the claim id, ARGV[6] the timeout in ms, ARGV[7] it as text ('2s').
local CID, LIMIT, SHOWN = ARGV[5], tonumber(ARGV[6]), ARGV[7]

local conflict = key_conflict({ ACTIVE, 'zset', BIDDING, 'zset' })
if conflict then return conflict end
local since = redis.call('ZSCORE', ACTIVE, CID)
if not since then return { { 'not_active', CID } } end
local c = load_claim(CID)
local ps = c and dec_phase_state(c.phase_state)
local phase, start, waiting = nil, tonumber(since), {}
if c and c.status == 'pending_assignment' then
  phase = 'assignment'
  waiting[1] = role_of(c.granted_exclusive_agent or '')
elseif ps and PHASE_STATUS[ps.current] == c.status then
  phase, start = ps.current, ps.start_time_ms
  local seen = {}
  for _, name in ipairs(ps.granted_agents) do
    local role = role_of(name)
    if not ps.received[role] and not seen[role] then
      seen[role] = true
      waiting[#waiting + 1] = role
    end
  end
  sorted(waiting)
else
  redis.call('ZREM', ACTIVE, CID)
  return { { 'not_active', CID } }
end
if NOW < start + LIMIT then return { { 'running', CID } } end
finish(c, 'terminated', "Phase '" .. phase .. "' timed out after " .. SHOWN .. ': no artefact from '
  .. table.concat(waiting, ', '), 'phase_timeout')
return EFFECTS
