-- graphcomm.cli.setpath: `--set path=value` read against the call-records schema
-- (core.schema), and the body the assignments make.

local type, ipairs, pairs = type, ipairs, pairs
local concat = table.concat

local M = {}

-- "caller.userAgent.@odata.type" -> { "caller", "userAgent", "@odata.type" }
local function split_path(path)
  local parts = {}
  for seg in (path .. "."):gmatch("([^.]*)%.") do
    local last = parts[#parts]
    if last and last:sub(1, 1) == "@" and not last:find(".", 1, true) then
      parts[#parts] = last .. "." .. seg
    else
      if seg == "" then return nil end
      parts[#parts + 1] = seg
    end
  end
  return parts
end

local function put(t, parts, value)
  for i = 1, #parts - 1 do
    local child = t[parts[i]]
    if child == nil then
      child = {}
      t[parts[i]] = child
    elseif type(child) ~= "table" then
      return nil, concat(parts, ".", 1, i) .. " is already set to a value"
    end
    t = child
  end
  t[parts[#parts]] = value
  return true
end

local function trial(parts, value)
  local t = {}
  put(t, parts, value)
  return require("graphcomm.core").normalize(t)
end

-- The schema's description of the property at parts (core.schema), or nil when the
-- path leaves the schema (a derived type's property, a name it does not know).
local function property_at(parts)
  local schema, typename, prop = require("graphcomm.core").schema, "session", nil
  for _, name in ipairs(parts) do
    if not typename then return nil end
    prop = nil
    for _, p in ipairs(schema(typename).properties) do
      if p.name:lower() == name:lower() then prop = p end
    end
    if not prop then return nil end
    typename = prop.type
  end
  return prop
end

local function comma_list(raw)
  local list = {}
  for item in (raw .. ","):gmatch("([^,]*),") do list[#list + 1] = item end
  return list
end

-- The value a --set means: the first reading the schema accepts at that path
-- (JSON, the plain string, a comma-separated list). When none is, the list for an
-- array property (its errors then name the bad items), else the first reading.
local function set_value(parts, raw)
  local list = comma_list(raw)
  local readings = {}
  local decoded, why, kind = require("graphcomm.json").decode(raw)
  if kind == "number" then return nil, why end       -- JSON, but not to be rounded
  if decoded ~= nil then readings[#readings + 1] = decoded end
  readings[#readings + 1] = raw
  readings[#readings + 1] = list
  for _, v in ipairs(readings) do
    if trial(parts, v) then return v end
  end
  local prop = property_at(parts)
  return (prop and prop.array) and list or readings[1]
end

-- The --set assignments as { parts, value, text } | nil, message.
function M.assignments(list_of_text)
  local list = {}
  for _, assignment in ipairs(list_of_text) do
    local path, raw = assignment:match("^([^=]+)=(.*)$")
    local parts = path and split_path(path)
    if not parts then return nil, "--set " .. assignment .. ": expected path=value" end
    local value, why = set_value(parts, raw)
    if value == nil then return nil, "--set " .. assignment .. ": " .. why end
    list[#list + 1] = { parts = parts, value = value, text = assignment }
  end
  return list
end

-- The top-level properties a --set goes inside (failureInfo for failureInfo.reason):
-- PATCH replaces such a property whole, so its current value is read and merged.
function M.merged_tops(sets)
  local tops, seen = {}, {}
  for _, a in ipairs(sets) do
    local top = a.parts[1]
    if #a.parts > 1 and not seen[top] then
      seen[top] = true
      tops[#tops + 1] = top
    end
  end
  return tops
end

-- The body from --set: the current values of the merged properties, then each --set.
function M.body(sets, current)
  local body = {}
  for name, v in pairs(current or {}) do body[name] = v end
  for _, a in ipairs(sets) do
    local ok, err = put(body, a.parts, a.value)
    if not ok then return nil, "--set " .. a.text .. ": " .. err end
  end
  return body
end

return M
