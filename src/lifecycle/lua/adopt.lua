-- adopt.lua: claims someone else made (docs/lifecycle.md, "Adoption"). For
-- each claim id given, in a non-final status and held by none of our sets
-- (bidding, active, dormant):
--  - a Phase-1 claim (no phase_state field: six fields, made by Phase 1 of
--    this binary or by Sett's Phase-1 orchestrator) gets the lifecycle's
--    missing fields. If its artefact is one the lifecycle gives no claim
--    (Review, Failure, Terminal) it is closed (terminated, with the reason);
--    else it joins bidding (agents bid on it as they did under Phase 1: the
--    claim_events message is not sent again);
--  - a claim with phase_state '' in pending_review (Holt's Go orchestrator
--    made it and had not granted it yet; or a dormant claim from before the
--    dormant set) joins bidding;
--  - a claim whose phase_state (as Go's PhaseState writes it) matches its
--    status joins its phase (the active set); when every granted role has
--    delivered already, the phase completes now;
--  - a feedback claim (pending_assignment) joins the active set;
--  - but a claim in a phase granted to an agent the registry no longer has
--    (whose role has not delivered), or a feedback claim assigned to one, is
--    terminated (stranded, claims.lua): nobody would ever do that part.
-- And the adopted claim's own artefact counts for its sources' claims, as
-- the artefact decision counts an artefact (prepare, below): a deliverable
-- or a Review someone else claimed is counted for the claim in a phase it
-- was made for. What was delivered to an adopted claim while nobody
-- listened and has no claim is replayed by the catch-up pass that follows
-- an adoption into a phase. Every check is made again here, in
-- one script: with replicas each claim is adopted once.
-- And, in a replaying pass (ARGV[5] 'replay'; else 'adopt'): the artefact
-- of a claim someone else finished (complete or terminated) counts too,
-- when it has a written time (recount, below).
-- ARGV[6] n, ARGV[7..6+n] claim ids, ARGV[7+n..6+2n] the artefact id of each
-- claim's index entry (a batch; the registry comes after them).
-- The answer names the Phase-1 claims that joined bidding in one row
-- ('adopted_claims', 'phase1', {ids}): a row per claim cost Redis about a
-- sixth of an adoption (docs/performance.md, "Issue 15: adopting Phase-1
-- claims"); every other adoption is a row of its own.
local FILL = { 'additional_context_ids', '[]', 'termination_reason', '', 'phase_state', '', 'grant_queue', '',
  'last_grant_agent', '', 'last_grant_time', '0', 'artefact_expected', '0', 'granted_agent_image_id', '' }
local NO_CLAIM = { Review = true, Failure = true, Terminal = true }
-- Why a claim in a live status is left alone as junk (a not_adopted row).
local NOT_ITS_ARTEFACT = 'its artefact_id is not the artefact whose index names it'
local NOT_A_PHASE = 'its phase_state does not read as a phase of its status'
local NO_AGENT = 'its phase grants no agent'

-- The sets every adoption may write. The dormant set it only reads (held,
-- below), for the claims that need it: one of another type holds up those
-- claims alone.
local conflict = key_conflict({ BIDDING, 'zset', ACTIVE, 'zset' })
if conflict then return conflict end
-- Claims adopted into a phase or awaiting rework, by when: the replaying
-- passes recount for them (recount), and a replaying pass that completes
-- removes those adopted before it began (src/lifecycle/adopt.rs).
local RECOUNT = P .. 'orchestrator:recount'

-- Whether one of our sets holds the claim; nil and the key_conflict row
-- when the dormant set is of another type (the claim is then left as it is).
local function held(cid)
  if redis.call('ZSCORE', BIDDING, cid) or redis.call('ZSCORE', ACTIVE, cid) then return true end
  return dormant_score(cid)
end

-- Claims that join bidding, as ZADD arguments: one ZADD for the batch (the
-- score as text, made once: a Lua number is formatted on every use), and
-- their ids, for the answer.
local JOIN, JOINED, SCORE = {}, {}, now_text()

-- The artefact of a claim someone else made counts for its sources' claims
-- now, as artefact.lua counts a new artefact: whoever claimed it may have
-- counted nothing (a Phase-1 orchestrator counts no delivery; Holt's Go
-- orchestrator keeps a phase's deliveries in memory), so a Review or a
-- deliverable claimed while no lifecycle orchestrator listened would leave
-- its source's claim waiting for ever. Counted once (deliver's counted set
-- and received map): one the artefact decision counted already is not
-- counted again. Only for the artefact whose index entry named the claim
-- (the claim's own artefact_id). prepare() reads, before the claim's first
-- write; false and the key_conflict row when a key a delivery would write
-- is of another type (the claim is then left as it is, to a later pass).
local NONE = {}

local function prepare(cid, aid, kind, sources, keep)
  if not kind or kind == '' or not sources or sources == '[]' then return NONE end
  local found, conflict = delivery_claims(kind, sources, keep)
  if not found then return false, conflict[1] end
  -- Not the adopted claim itself (an artefact listed in its own sources:
  -- junk): adoption writes that claim before the replay.
  local claims = {}
  for i = 1, #found do
    if found[i].key_id ~= cid then claims[#claims + 1] = found[i] end
  end
  if #claims == 0 then return NONE end
  local f = read('HMGET', artefact_key(aid), 'produced_by_role', 'logical_id', 'version', 'created_at_ms')
  -- No produced_by_role: artefact.lua would refuse it as invalid.
  if not f or not f[1] then return NONE end
  claims.art = { id = aid, structural_type = kind, role = f[1], logical_id = f[2], version = f[3],
    written = written_ms(f[4]) }
  return claims
end

-- prepare()'s claims for `cid`, or nil once its key_conflict row is the
-- answer's (the claim is then left as it is).
local function prepared(cid, aid, kind, sources, keep)
  local claims, conflict = prepare(cid, aid, kind, sources, keep)
  if not claims then EFFECTS[#EFFECTS + 1] = conflict end
  return claims or nil
end

local function replay(claims)
  for i = 1, #claims do deliver(claims[i], claims.art) end
end

-- The artefact's structural_type and source_artefacts (false where absent).
local NO_FIELDS = { false, false }
local function kind_and_sources(aid)
  return read('HMGET', artefact_key(aid), 'structural_type', 'source_artefacts') or NO_FIELDS
end

-- A claim with no phase_state field: Phase 1 wrote its six fields; the eight
-- the lifecycle adds are written with their initial values. `artefact`: the
-- claim's own, the one its index entry names (the orchestrator checked it:
-- ArtefactId).
local function adopt_phase1(cid, key, artefact)
  local f = kind_and_sources(artefact)
  local kind = f[1]
  local claims = prepared(cid, artefact, kind, f[2])
  if not claims then return end
  if kind and NO_CLAIM[kind] then
    local fill = { unpack(FILL) }
    fill[#fill + 1], fill[#fill + 2] = 'status', 'terminated'
    fill[#fill + 1], fill[#fill + 2] = 'termination_reason',
      kind .. ' artefacts get no claim in lifecycle mode (claim made by Phase 1)'
    redis.call('HSET', key, unpack(fill))
    effect('adopted', cid, 'closed')
    return replay(claims)
  end
  redis.call('HSET', key, unpack(FILL))
  JOIN[#JOIN + 1], JOIN[#JOIN + 2] = SCORE, cid
  JOINED[#JOINED + 1] = cid
  replay(claims)
end

local function join(cid, key, status, phase_state, indexed)
  if status == 'pending_review' and phase_state == '' then
    redis.call('ZADD', BIDDING, NOW, cid)
    effect('adopted', cid, 'bidding')
    return true
  end
  local ps = dec_phase_state(phase_state)
  if status ~= 'pending_assignment' and (not ps or PHASE_STATUS[ps.current] ~= status) then
    -- Junk, or a form no orchestrator writes: left alone, and said (every
    -- pass, rate-limited: only a hand can repair it).
    return effect('not_adopted', cid, NOT_A_PHASE)
  end
  -- A phase that grants nobody (an empty list, or not a list of names)
  -- would wait for ever: junk too.
  if status ~= 'pending_assignment' and #ps.granted_agents == 0 then
    return effect('not_adopted', cid, NO_AGENT)
  end
  -- Granted to (or assigned to) an agent the registry no longer has: it
  -- would wait for ever; terminated instead (claims.lua, stranded).
  local c = load_claim(cid)
  local why = stranded(c, ps)
  if why then
    finish(c, 'terminated', why, 'missing_agent')
    return true
  end
  -- It joins the recount set with the active one: the replaying passes
  -- count for it the artefacts of claims someone else finished (recount).
  -- What the phase received already (Holt's Go orchestrator counted it)
  -- joins its counted set: once the phase completes, no replay counts it
  -- again in a later phase granting the same role (docs/lifecycle.md,
  -- "Once."). A set of another type refuses this claim only, before its
  -- first write.
  local received = {}
  for _, id in pairs(ps and ps.received or NONE) do
    if type(id) == 'string' then received[#received + 1] = id end
  end
  local checks = { RECOUNT, 'zset' }
  if #received > 0 then checks[3], checks[4] = counted_key(cid), 'set' end
  local conflict = key_conflict(checks)
  if conflict then
    EFFECTS[#EFFECTS + 1] = conflict[1]
    return
  end
  -- Written with the sets, once every check (this and the index's below) passed.
  local function count_received()
    if #received == 0 then return end
    -- In chunks: Lua unpacks some 8,000 values at most, and a junk map may
    -- hold more (raising here would leave the batch half written).
    for from = 1, #received, 1000 do
      redis.call('SADD', counted_key(cid), unpack(received, from, math.min(from + 999, #received)))
    end
    if NO_COUNTED then NO_COUNTED[cid] = nil end
  end
  if status == 'pending_assignment' then
    count_received()
    redis.call('ZADD', ACTIVE, NOW, cid)
    redis.call('ZADD', RECOUNT, now_text(), cid)
    effect('adopted', cid, 'assignment')
    return true
  end
  local done = #ps.granted_agents > 0
  for _, name in ipairs(ps.granted_agents) do
    if not ps.received[role_of(name)] then done = false end
  end
  -- A review phase that completes now may reject: its verdicts quote the
  -- claim's artefact and a feedback claim SETs that artefact's index
  -- (feedback.lua). So, before the first write: the claim is the claim of
  -- the artefact whose index named it (else junk, left alone, as
  -- artefact.lua leaves it), and that index is a string.
  if done and ps.current == 'review' then
    if c.artefact_id ~= indexed then return end
    local conflict = key_conflict({ index_key(indexed), 'string' })
    if conflict then
      EFFECTS[#EFFECTS + 1] = conflict[1]
      return
    end
  end
  count_received()
  redis.call('ZADD', ACTIVE, NOW, cid)
  redis.call('ZADD', RECOUNT, now_text(), cid)
  effect('adopted', cid, ps.current)
  if done then complete_phase(c, ps) end
  return true
end

-- A claim with a phase_state field (Holt's Go orchestrator made it, or one
-- of ours from before a set held it), in none of our sets: it joins (join),
-- and its artefact counts (prepare).
local function adopt_ours(cid, key, status, phase_state, artefact)
  local ours, conflict = held(cid)
  if conflict then
    EFFECTS[#EFFECTS + 1] = conflict
    return
  end
  if ours then return end
  local f = kind_and_sources(artefact)
  local claims = prepared(cid, artefact, f[1], f[2])
  if not claims then return end
  if join(cid, key, status, phase_state, artefact) then replay(claims) end
end

-- A finished claim's artefact, in a replaying pass: whoever finished the
-- claim may have counted its artefact in memory only (Holt's Go
-- orchestrator does), so a claim adopted into the phase it was made for
-- would wait for ever. It counts as an adopted claim's artefact does
-- (prepare), and only for the claims in the recount set (adopted into a
-- phase, or awaiting rework, by a pass that began no later than this one:
-- never for a claim this orchestrator ran from its start, whose
-- deliveries it judged live), and only with a written time: deliver()
-- then leaves out what was written before the phase began. Without one
-- (Sett-era writers) it is left out, unread further.
local FINISHED = { complete = true, terminated = true }
local REPLAYING = ARGV[5] == 'replay'
-- The sources' claims in the recount set are kept before their hashes are
-- read and their counted sets probed: a claim of ours, or a junk key of
-- one, costs an index read and a ZSCORE. One whose counted key is of another
-- type refuses the recount (its key_conflict row); the claims kept are
-- scored again, now, so that they stay in the set past this pass, and a
-- pass after the key is repaired counts the artefact.
local function recount(cid, artefact)
  local f = read('HMGET', artefact_key(artefact), 'structural_type', 'source_artefacts', 'created_at_ms')
  if not f or not written_ms(f[3]) then return end
  local kept = {}
  local function adopted(id)
    if not read('ZSCORE', RECOUNT, id) then return false end
    kept[#kept + 1] = id
    return true
  end
  local claims = prepared(cid, artefact, f[1], f[2], adopted)
  if claims then return replay(claims) end
  for i = 1, #kept do redis.call('ZADD', RECOUNT, now_text(), kept[i]) end
end

local seen = {}
local n = tonumber(ARGV[6]) or 0
for i = 7, 6 + n do
  -- Claim ids the orchestrator checked (ClaimId::parse: the valid_id forms).
  local cid, indexed = ARGV[i], ARGV[i + n]
  local key = claim_key(cid)
  -- One read per claim (a key of another type reads as nil: left alone;
  -- read()'s test written out here, per claim of a batch).
  local got = not seen[cid] and redis.pcall('HMGET', key, 'status', 'phase_state', 'artefact_id')
  if got and got.err then got = nil end
  -- Only the claim of the artefact whose index entry named it: a hash with
  -- no artefact_id, or another's, is junk (every orchestrator writes the
  -- claim's own artefact there), left alone (docs/lifecycle.md, "A claim
  -- hash that is not its artefact's claim"); its own entry, later in the
  -- batch, still adopts it.
  if got and got[3] ~= indexed then
    -- Said when no set of ours holds it (one we run is no junk, whatever
    -- a stray index entry says).
    if LIVE[got[1] or ''] and held(cid) == false then
      effect('not_adopted', cid, NOT_ITS_ARTEFACT)
    end
    got = nil
  end
  if got then seen[cid] = true end
  if got and LIVE[got[1] or ''] then
    if got[2] then
      adopt_ours(cid, key, got[1], got[2], indexed)
    elseif got[1] == 'pending_review' then
      -- No phase_state field: a Phase-1 claim, in none of our sets (every
      -- claim we hold has all 14 fields).
      adopt_phase1(cid, key, indexed)
    elseif held(cid) == false then
      -- In a phase, or awaiting rework, with no phase_state field: no
      -- orchestrator writes that.
      effect('not_adopted', cid, NOT_A_PHASE)
    end
  elseif got and REPLAYING and FINISHED[got[1] or ''] then
    recount(cid, indexed)
  end
end
if #JOIN > 0 then
  redis.call('ZADD', BIDDING, unpack(JOIN))
  effect('adopted_claims', 'phase1', JOINED)
end
return EFFECTS
