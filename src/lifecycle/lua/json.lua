-- json.lua: the text the decisions write, as Go writes it: JSON strings,
-- lists and maps byte for byte as Go's encoding/json encodes them (the
-- lifecycle contract's phase_state, grant_queue and messages), the
-- workflow_events message, a text cut on a UTF-8 boundary, and a stored
-- JSON list read back. Shared by every decision that writes JSON; it comes
-- right after lib.lua (src/lifecycle/library.rs, SHARED) and uses its state.

-- JSON as Go's encoding/json writes it: '<', '>', '&', U+2028 and U+2029
-- escaped; \b \f \n \r \t short; other control characters as \u00XX; invalid
-- UTF-8 replaced by \ufffd; DEL (0x7f) left as it is.
local SHORT = { [8] = '\\b', [9] = '\\t', [10] = '\\n', [12] = '\\f', [13] = '\\r', [34] = '\\"', [92] = '\\\\' }

local function continuation(s, i)
  local c = string.byte(s, i)
  return c ~= nil and c >= 0x80 and c <= 0xBF
end

-- Length of the valid UTF-8 sequence at i (2, 3 or 4), or 0.
local function utf8_len(s, i)
  local b, c = string.byte(s, i), string.byte(s, i + 1)
  if c == nil then return 0 end
  if b >= 0xC2 and b <= 0xDF then
    return (c >= 0x80 and c <= 0xBF) and 2 or 0
  end
  local lo, hi = 0x80, 0xBF
  if b >= 0xE0 and b <= 0xEF then
    if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F end
    return (c >= lo and c <= hi and continuation(s, i + 2)) and 3 or 0
  end
  if b >= 0xF0 and b <= 0xF4 then
    if b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
    return (c >= lo and c <= hi and continuation(s, i + 2) and continuation(s, i + 3)) and 4 or 0
  end
  return 0
end

local function escaped(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local b = string.byte(s, i)
    if b < 128 then
      local short = SHORT[b]
      if short then
        out[#out + 1] = short
      elseif b < 32 or b == 60 or b == 62 or b == 38 then
        out[#out + 1] = string.format('\\u%04x', b)
      else
        out[#out + 1] = string.char(b)
      end
      i = i + 1
    else
      local len = utf8_len(s, i)
      if len == 0 then
        out[#out + 1] = '\\ufffd'
        i = i + 1
      else
        local ch = string.sub(s, i, i + len - 1)
        if ch == '\226\128\168' then
          out[#out + 1] = '\\u2028'
        elseif ch == '\226\128\169' then
          out[#out + 1] = '\\u2029'
        else
          out[#out + 1] = ch
        end
        i = i + len
      end
    end
  end
  return '"' .. table.concat(out) .. '"'
end

-- enc_str's answers for short strings (ids, names, words), kept across calls
-- in the library (as a script, for the call): the same agent names and
-- phase words (and some ids: most go through enc_id, below) are encoded
-- many times a claim, and a table look-up
-- costs Redis about 400 instructions where encoding a 36-byte id cost about
-- 15,700 (docs/performance.md). A pure function of its argument, so what is
-- kept changes no answer; emptied when it holds ENCODED_MAX strings. Few:
-- what is kept is marked and swept by every cycle of Lua's garbage
-- collector, which Redis steps every 50 calls, and 4,096 strings (here and
-- in PAIRS) cost Redis more in collection than they saved in encoding
-- (docs/performance.md, "The kept encodings").
local ENCODED, encoded_n, ENCODED_MAX = {}, 0, 256

local function enc_str(s)
  local e = ENCODED[s]
  if e then return e end
  -- Letters, digits and - _ . : / and space need no escape: one anchored
  -- pass (an unanchored search for a character to escape tries every
  -- position), else the whole encoder. Explicit ranges, not %w: no locale.
  if string.find(s, '^[0-9a-zA-Z_.:/ %-]*$') then e = '"' .. s .. '"' else e = escaped(s) end
  if #e <= 66 then
    if encoded_n >= ENCODED_MAX then ENCODED, encoded_n = {}, 0 end
    ENCODED[s] = e
    encoded_n = encoded_n + 1
  end
  return e
end

-- An id's JSON: the claim and artefact ids the decisions write are of the
-- valid_id forms (checked by the orchestrator before the call, by valid_id,
-- or minted here), whose characters (hex digits, '-', '{', '}', ':' and
-- the letters of 'urn:uuid:') Go's encoder leaves as they are: the id
-- quoted, which is enc_str's answer. Not kept in ENCODED: a burst's ids,
-- each written once or twice, emptied it every 256 and pushed out the
-- names and words that repeat on every claim (Redis spent 3.3% fewer
-- instructions a lifecycle claim without them, docs/performance.md).
local function enc_id(id) return '"' .. id .. '"' end

local function enc_list(list)
  -- No list, one string (the usual grant): no table built.
  if list[1] == nil then return '[]' end
  if list[2] == nil then return '[' .. enc_str(list[1]) .. ']' end
  local out = {}
  for i = 1, #list do out[i] = enc_str(list[i]) end
  return '[' .. table.concat(out, ',') .. ']'
end

-- A map entry's JSON, kept as enc_str's answers are (a bid snapshot's
-- entries, name and bid, repeat on every claim): PAIRS[k][v].
local PAIRS, pairs_n = {}, 0

local function enc_pair(k, v)
  local of_k = PAIRS[k]
  local e = of_k and of_k[v]
  if e then return e end
  e = enc_str(k) .. ':' .. enc_str(v)
  if #e <= 140 then
    if pairs_n >= ENCODED_MAX then PAIRS, pairs_n, of_k = {}, 0, nil end
    if not of_k then
      of_k = {}
      PAIRS[k] = of_k
    end
    of_k[v] = e
    pairs_n = pairs_n + 1
  end
  return e
end

-- A Go map[string]string: keys in bytewise order (`keys`: sorted_keys(map)
-- when the caller has them already).
local function enc_map(map, keys)
  local first = next(map)
  if first == nil then return '{}' end
  -- One entry (a phase's received map, mostly): no order to find.
  if next(map, first) == nil then return '{' .. enc_pair(first, map[first]) .. '}' end
  local out = {}
  keys = keys or sorted_keys(map)
  for i = 1, #keys do
    local k = keys[i]
    out[i] = enc_pair(k, map[k])
  end
  return '{' .. table.concat(out, ',') .. '}'
end

local function publish_workflow(event, data_json)
  redis.call('PUBLISH', P .. 'workflow_events', '{"event":"' .. event .. '","data":' .. data_json .. '}')
end

-- Cut to at most max bytes on a UTF-8 boundary, '...' added when cut.
local function cut(s, max)
  if #s <= max then return s end
  local k = max
  while k > 0 and continuation(s, k + 1) do k = k - 1 end
  return string.sub(s, 1, k) .. '...'
end

-- A JSON array of strings stored as text, or nil; never raises.
local function decode_list(text)
  if type(text) ~= 'string' or text == '' then return nil end
  -- No source, or one id (as producers write source_artefacts): what cjson
  -- would answer, without it (a string of these characters decodes to itself).
  if text == '[]' then return {} end
  local one = string.match(text, '^%["([0-9a-zA-Z{}:%-]*)"%]$')
  if one then return { one } end
  local ok, v = pcall(cjson.decode, text)
  if not ok or type(v) ~= 'table' then return nil end
  local out = {}
  for _, s in ipairs(v) do
    if type(s) == 'string' then out[#out + 1] = s end
  end
  return out
end
