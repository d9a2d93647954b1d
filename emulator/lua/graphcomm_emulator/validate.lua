-- graphcomm_emulator.validate: checks a decoded PATCH body against the schema the
-- way Graph's OData reader would, collecting every problem with its path
-- ("segments[1].media[2].streams[1].averageJitter", 1-based, JSON names).
-- Independent of the C encoder on purpose: each checks the other. The schema itself
-- (schema.lua) is read from Microsoft's metadata, the core's is held against the same.

local json = require "graphcomm_emulator.json"
local schema = require "graphcomm_emulator.schema"
local metadata = require "graphcomm_emulator.metadata"

local type, pairs, ipairs, tostring, tonumber, getmetatable = type, pairs, ipairs, tostring,
  tonumber, getmetatable
local find, lower, sub, format, byte, match = string.find, string.lower, string.sub,
  string.format, string.byte, string.match
local huge, min = math.huge, math.min

local NUM, ARRAY, null = json.NUM, json.ARRAY, json.null
local TYPES, ENUMS = schema.types, schema.enums
local SCALARS = { String = true, Boolean = true, Int32 = true, Int64 = true, Single = true,
  Double = true, DateTime = true, TimeSpan = true }

local M = {}

---------------------------------------------------------------- scalar formats

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end

-- RFC 3339 date-time (what Edm.DateTimeOffset reads): nil or a reason.
function M.datetime_problem(s)
  local y, mo, d, h, mi, sec, frac, zone =
    match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return "is not an ISO 8601 date and time such as 2026-11-27T13:40:00Z" end
  if frac ~= "" and (#frac < 2 or #frac > 8) then return "has a fraction of more than 7 digits or none" end
  if not (zone == "Z" or zone == "z" or find(zone, "^[+-]%d%d:%d%d$")) then
    return "needs a UTC designator Z or an offset such as +01:00"
  end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if y < 1 or mo < 1 or mo > 12 then return "has no such month" end
  local dim = (mo == 2 and leap(y)) and 29 or DAYS[mo]
  if d < 1 or d > dim then return "has no such day" end
  if h > 23 or mi > 59 or sec > 59 then return "has no such time of day" end
  if zone ~= "Z" and zone ~= "z" then
    local oh, om = tonumber(sub(zone, 2, 3)), tonumber(sub(zone, 5, 6))
    if oh > 14 or om > 59 then return "has an offset out of range" end
  end
  return nil
end

-- ISO 8601 duration as XmlConvert reads a TimeSpan (days and smaller; no years or months).
function M.timespan_problem(s)
  local sign, rest = match(s, "^(%-?)P(.*)$")
  if not sign then return "is not an ISO 8601 duration such as PT0.015S" end
  local days, t = match(rest, "^(%d+)D(.*)$")
  if not days then days, t = "", rest end
  if t == "" then
    if days == "" then return "is an empty duration" end
    return nil
  end
  if sub(t, 1, 1) ~= "T" then return "is not an ISO 8601 duration such as PT0.015S (years, months and weeks have no fixed length)" end
  local rest, any = sub(t, 2), false
  local h, r = match(rest, "^(%d+)H(.*)$")
  if h then rest, any = r, true end
  local m
  m, r = match(rest, "^(%d+)M(.*)$")
  if m then rest, any = r, true end
  local sec = match(rest, "^(%d+%.?%d*)S$")
  if sec then rest, any = "", true end
  if rest ~= "" or (sec and sub(sec, -1) == ".") then return "is not an ISO 8601 duration such as PT0.015S" end
  if not any then return "has a T with no time after it" end
  sec = sec or ""
  local f = match(sec, "%.(%d+)$")
  if f and #f > 7 then return "has more than 7 fractional digits" end
  return nil
end

local INT64_MAX, INT64_MIN = "9223372036854775807", "9223372036854775808"

-- Does the integer text fit? Compared as text: a double cannot tell 2^63-1 from 2^63.
local function int_fits(raw, bits)
  local neg, digits = match(raw, "^(%-?)0*(%d+)$")
  if not digits then return false end
  if bits == 32 then
    local v = tonumber(raw)
    return v >= -2147483648 and v <= 2147483647
  end
  local limit = neg == "-" and INT64_MIN or INT64_MAX
  if #digits ~= #limit then return #digits < #limit end
  return digits <= limit
end

local FLOAT_MAX = 3.4028234663852886e38

---------------------------------------------------------------- the walk

local did_you_mean

local function add(errs, path, msg, code)
  errs[#errs + 1] = { path = path, message = msg, code = code or "BadRequest" }
end

local function join(path, name) return path == "" and name or (path .. "." .. name) end

local function describe(v)
  if v == null then return "null" end
  local mt = getmetatable(v)
  if mt == NUM or type(v) == "number" then return "a number" end
  if mt == ARRAY then return "an array" end
  if type(v) == "table" then return "an object" end
  return "a " .. type(v)
end

local check_object

local function check_scalar(kind, v, path, errs)
  local raw
  if getmetatable(v) == NUM then raw = v.raw; v = v.value
  elseif type(v) == "number" then raw = json.number_text(v) end
  if kind == "String" or kind == "DateTime" or kind == "TimeSpan" then
    if type(v) ~= "string" then return add(errs, path, format("expects a string (%s), got %s", kind, describe(v))) end
    local why = (kind == "DateTime" and M.datetime_problem(v)) or (kind == "TimeSpan" and M.timespan_problem(v))
    if why then add(errs, path, format("'%s' %s", v, why)) end
  elseif kind == "Boolean" then
    if type(v) ~= "boolean" then add(errs, path, "expects true or false, got " .. describe(v)) end
  elseif not raw then
    add(errs, path, format("expects a number (%s), got %s", kind, describe(v)))
  elseif kind == "Int32" or kind == "Int64" then
    if not int_fits(raw, kind == "Int32" and 32 or 64) then
      add(errs, path, format("%s is not an integer in the %s range", raw, kind))
    end
  elseif v ~= v or v == huge or v == -huge or (kind == "Single" and (v > FLOAT_MAX or v < -FLOAT_MAX)) then
    add(errs, path, format("%s is out of the %s range", raw, kind))
  end
end

-- One value of the property's kind (an item, for a collection).
local function check_single(p, v, path, errs, opts)
  if SCALARS[p.kind] then return check_scalar(p.kind, v, path, errs) end
  if p.kind == "enum" then
    local e = ENUMS[p.enum]
    if type(v) ~= "string" then return add(errs, path, format("expects a %s value (a string), got %s", e.name, describe(v))) end
    if not e.set[v] then
      add(errs, path, format("'%s' is not a valid %s value%s", v, e.name, did_you_mean(v, e.set)))
    end
    return
  end
  check_object(TYPES[p.type], v, path, errs, opts)
end

local function check_value(p, v, path, errs, opts)
  if v == null then
    if not p.nullable then add(errs, path, "cannot be null") end
    return
  end
  if not p.collection then return check_single(p, v, path, errs, opts) end
  if getmetatable(v) ~= ARRAY and not (type(v) == "table" and v[1] ~= nil and getmetatable(v) == nil) then
    return add(errs, path, "expects an array, got " .. describe(v))
  end
  for i = 1, #v do
    local item, ipath = v[i], path .. "[" .. i .. "]"
    if item == null then add(errs, ipath, "cannot be null")
    else check_single(p, item, ipath, errs, opts) end
  end
end

-- The type an object declares with @odata.type, when it may: its own or one derived from
-- it at any depth, as OData reads it. An abstract type needs a concrete one named.
local function resolve_type(t, v, path, errs)
  local odata = v["@odata.type"]
  if odata == nil then
    if t.abstract then add(errs, path, format("%s is abstract: name a derived type in @odata.type", t.odata)) end
    return t
  end
  if type(odata) ~= "string" then add(errs, join(path, "@odata.type"), "expects a string"); return t end
  if odata == t.odata and not t.abstract then return t end
  for _, d in ipairs(t.derived) do
    if TYPES[d].odata == odata and not TYPES[d].abstract then return TYPES[d] end
  end
  add(errs, join(path, "@odata.type"), format("'%s' is not %s or a type derived from it", odata, t.odata))
  return t
end

check_object = function(t, v, path, errs, opts)
  if type(v) ~= "table" or getmetatable(v) == ARRAY or getmetatable(v) == NUM or v == null
     or (getmetatable(v) == nil and v[1] ~= nil) then
    return add(errs, path, format("expects an object (%s), got %s", t.odata:gsub("^#", ""), describe(v)))
  end
  t = resolve_type(t, v, path, errs)
  local keys = json.keys(v)
  if not keys then
    keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  end
  for _, k in ipairs(keys) do
    local val = v[k]
    if type(k) ~= "string" then add(errs, path, "has a key that is not a string")
    elseif val == nil or find(k, "@", 1, true) then -- annotations (and @odata.type, checked above)
    else
      local p = t.props_by_name[k]
      if p then check_value(p, val, join(path, k), errs, opts)
      elseif t.open == "any" then -- a dynamic property of an open type: any JSON value
      elseif t.open then check_scalar(t.open, val, join(path, k), errs)
      elseif not opts.allow_unknown then
        add(errs, join(path, k), format("The property '%s' does not exist on type '%s'.%s", k,
          t.odata:gsub("^#", ""), did_you_mean(k, t.props_by_name)))
      end
    end
  end
end

---------------------------------------------------------------- hints

local function distance(a, b)
  if math.abs(#a - #b) > 2 then return 3 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = byte(a, i) == byte(b, j) and 0 or 1
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

did_you_mean = function(word, set)
  local best, bestd, lw = nil, 3, lower(word)
  for cand in pairs(set) do
    if type(cand) == "string" then
      local d = lower(cand) == lw and 0 or distance(lw, lower(cand))
      if d < bestd or (d == bestd and best and cand < best) then best, bestd = cand, d end
    end
  end
  if best and bestd <= 2 then return format(" Did you mean '%s'?", best) end
  return ""
end

---------------------------------------------------------------- entry points

local function type_named(name)
  local t = metadata.find(schema, name or schema.root)
  if not (t and TYPES[t.qname]) then error("validate: no type " .. tostring(name), 2) end
  return t
end

-- Checks a decoded session body. Returns true, or nil and a list of { path, message }.
-- opts.allow_unknown accepts names the schema does not know; opts.type names another type
-- ("media", "callRecords.userIdentity" or a qualified name).
function M.check(body, opts)
  opts = opts or {}
  local errs = {}
  check_object(type_named(opts.type), body, "", errs, opts)
  if #errs == 0 then return true end
  return nil, errs
end

-- The top-level properties of a type in the reference's order.
function M.order(tname) return type_named(tname).order end

return M
