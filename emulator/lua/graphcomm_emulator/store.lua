-- graphcomm_emulator.store: call records and sessions in the `graphcomm_state` shared dict.
-- A session is kept as one JSON text per top-level property, so a PATCH writes only
-- what it changes (no read, decode and re-encode of the stored session), and a GET
-- assembles the properties asked for in the reference's order.
--   records          JSON array of call record ids, in order
--   r:<crid>         the call record without its sessions (JSON object)
--   o:<crid>         JSON array of its session ids, in order
--   p:<crid>^_<sid>^_<name>   one property of one session (JSON text)
--   x:<crid>^_<sid>  JSON array of extra property names (only with allow_unknown)

local json = require "graphcomm_emulator.json"
local validate = require "graphcomm_emulator.validate"

local ngx = ngx
local concat = table.concat

local M = {}
local SEP = "\31"
local ORDER = validate.order("session")

local function dict() return ngx.shared.graphcomm_state end

local function skey(crid, sid) return crid .. SEP .. sid end

---------------------------------------------------------------- writing

local known = {}
for _, k in ipairs(ORDER) do known[k] = true end

-- Adds a call record (decoded, with its sessions) to the store.
function M.add_record(rec)
  local d = dict()
  local ids = {}
  local sessions = rec.sessions
  rec.sessions = nil
  for i, s in ipairs(sessions or {}) do
    local sid = s.id
    local base = "p:" .. skey(rec.id, sid) .. SEP
    local extras = {}
    for _, k in ipairs(json.keys(s) or {}) do
      if s[k] ~= nil and not string.find(k, "@", 1, true) then
        assert(d:set(base .. k, json.encode(s[k])))
        if not known[k] then extras[#extras + 1] = k end
      end
    end
    if #extras > 0 then d:set("x:" .. skey(rec.id, sid), json.encode(json.array(extras))) end
    ids[i] = sid
  end
  assert(d:set("r:" .. rec.id, json.encode(rec)))
  assert(d:set("o:" .. rec.id, json.encode(json.array(ids))))
  local list = json.decode(d:get("records") or "[]")
  list[#list + 1] = rec.id
  assert(d:set("records", json.encode(json.array(list))))
  rec.sessions = sessions
end

-- Empties the store and loads the fixture text (JSON with a "records" array).
function M.load(text)
  local data, err = json.decode(text)
  if not data then error("fixtures: " .. err) end
  local d = dict()
  d:flush_all()
  d:set("records", "[]")
  for _, rec in ipairs(data.records) do
    for i, s in ipairs(rec.sessions or {}) do
      local ok, errs = validate.check(s)
      if not ok then
        error(("fixtures: record %s session %d: %s: %s"):format(rec.id, i, errs[1].path, errs[1].message))
      end
    end
    M.add_record(rec)
  end
  M.snapshot = {}
  for _, k in ipairs(d:get_keys(0)) do M.snapshot[k] = d:get(k) end
  return #data.records
end

-- Back to the state load() left (fast: no JSON is read again).
function M.restore()
  local d = dict()
  d:flush_all()
  d:flush_expired()
  for k, v in pairs(M.snapshot) do assert(d:set(k, v)) end
end

-- Merges the top-level properties of a checked PATCH body into a stored session.
function M.patch_session(crid, sid, body)
  local d = dict()
  local base = "p:" .. skey(crid, sid) .. SEP
  local extras
  for _, k in ipairs(json.keys(body) or {}) do
    local v = body[k]
    if v ~= nil and not string.find(k, "@", 1, true) then
      d:set(base .. k, json.encode(v))
      if not known[k] then extras = extras or {}; extras[#extras + 1] = k end
    end
  end
  if extras then
    local xk = "x:" .. skey(crid, sid)
    local have = json.decode(d:get(xk) or "[]")
    local seen = {}
    for _, k in ipairs(have) do seen[k] = true end
    for _, k in ipairs(extras) do if not seen[k] then have[#have + 1] = k end end
    d:set(xk, json.encode(json.array(have)))
  end
end

---------------------------------------------------------------- reading

function M.record_ids()
  return json.decode(dict():get("records") or "[]")
end

-- The call record (decoded, no sessions) or nil.
function M.record(crid)
  local text = dict():get("r:" .. crid)
  return text and json.decode(text)
end

function M.session_ids(crid)
  local text = dict():get("o:" .. crid)
  return text and json.decode(text)
end

function M.has_session(crid, sid)
  return dict():get("p:" .. skey(crid, sid) .. SEP .. "id") ~= nil
end

-- The session as JSON text: `select` a set of names (nil: all but segments),
-- `segments` true to include them.
function M.session_json(crid, sid, select, segments, context)
  local d = dict()
  local base = "p:" .. skey(crid, sid) .. SEP
  local id = d:get(base .. "id")
  if not id then return nil end
  local out, n = { "{" }, 1
  if context then n = n + 1; out[n] = '"@odata.context":' .. json.quote(context) .. "," end
  local first = true
  local function emit(k)
    if k == "segments" then
      if not segments then return end       -- expanded navigation properties ignore $select
    elseif select and not select[k] and k ~= "id" then
      return
    end
    local v = d:get(base .. k)
    if v then
      if not first then n = n + 1; out[n] = "," end
      first = false
      n = n + 1; out[n] = json.quote(k) .. ":" .. v
    end
  end
  for i = 1, #ORDER do emit(ORDER[i]) end
  local xs = d:get("x:" .. skey(crid, sid))
  if xs then for _, k in ipairs(json.decode(xs)) do emit(k) end end
  n = n + 1; out[n] = "}"
  return concat(out, "", 1, n)
end

return M
