-- graphcomm.diff: the smallest PATCH body that turns one session into another
-- (DESIGN.md section 4).
--
-- Both sides are compared as the core normalizes them (one spelling of each
-- name, instants in UTC, canonical enums and durations), so a value that only
-- looks different is no change. A top-level property that changed is sent
-- whole; one missing from `new` is left alone; graphcomm.null clears. OData
-- annotations (`@odata.context`, `segments@odata.nextLink`, ...) are read-only
-- metadata of a GET and are ignored; `@odata.type` is part of a value and kept.
-- Names the schema does not know are compared as plain JSON and come back
-- under AdditionalProperties, which is where the encoder takes them.
local core = require "graphcomm.core"

local type, pairs, next, getmetatable, setmetatable = type, pairs, next, getmetatable, setmetatable
local find, lower = string.find, string.lower

local M = {}

local normalize = core.normalize
local MAX_DEPTH = 66     -- past the core's 64: deeper (or cyclic) input is left for it to refuse

-- ---------------------------------------------------------------------------
-- Plain values
-- ---------------------------------------------------------------------------

-- An annotation is any name holding "@" except @odata.type (which selects a type).
local function is_annotation(k)
  return type(k) == "string" and find(k, "@", 1, true) ~= nil and lower(k) ~= "@odata.type"
end
M.is_annotation = is_annotation

-- A copy of v without annotations, at every depth.
local function strip(v, depth)
  if type(v) ~= "table" or depth > MAX_DEPTH then return v end
  local copy = {}
  for k, child in pairs(v) do
    if not is_annotation(k) then copy[k] = strip(child, depth + 1) end
  end
  return setmetatable(copy, getmetatable(v))
end

function M.strip_annotations(v)
  return strip(v, 0)
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Deep equality of JSON-like values (null is one value; metatables do not matter).
local function equal(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or depth > MAX_DEPTH then return false end
  for k, av in pairs(a) do
    local bv = b[k]
    if bv == nil or not equal(av, bv, depth + 1) then return false end
  end
  return count(a) == count(b)
end

-- ---------------------------------------------------------------------------
-- Schema names
-- ---------------------------------------------------------------------------

local ADDPROPS = "additionalproperties"

-- Whether the session schema knows `name` (in any spelling). The encoder refuses a
-- schema name inside AdditionalProperties and takes anything else there.
local function known(name)
  if lower(name) == "@odata.type" then return true end
  return normalize({ AdditionalProperties = { [name] = true } }) == nil
end

-- Splits a (stripped) session table into schema properties and other names.
-- Entries of an AdditionalProperties table count as other names.
local function split(t)
  local props, others = {}, {}
  for k, v in pairs(t) do
    if type(k) == "string" and lower(k) == ADDPROPS and type(v) == "table" then
      for name, extra in pairs(v) do others[name] = extra end
    elseif type(k) == "string" and known(k) then
      props[k] = v
    else
      others[k] = v
    end
  end
  return props, others
end

-- Normalizes the old side whatever it holds: a property the core refuses is
-- kept as it came (it then differs from any valid new value).
local function normalize_old(props)
  local all = normalize(props, { allow_unknown = true })
  if all then return all end
  local out = {}
  for k, v in pairs(props) do
    local one = normalize({ [k] = v }, { allow_unknown = true })
    if one then
      local nk, nv = next(one)
      if nk ~= nil then out[nk] = nv end
    else
      out[k] = v
    end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- The diff
-- ---------------------------------------------------------------------------

function M.diff(old, new)
  if type(old) ~= "table" then error("bad argument #1 to 'diff' (table expected, got " .. type(old) .. ")", 2) end
  if type(new) ~= "table" then error("bad argument #2 to 'diff' (table expected, got " .. type(new) .. ")", 2) end
  local new_props, new_others = split(strip(new, 0))
  local want, err = normalize(new_props)
  if not want then return nil, err end
  local old_props, old_others = split(strip(old, 0))
  local have = normalize_old(old_props)

  local body = {}
  for k, v in pairs(want) do
    if lower(k) ~= "@odata.type" and not equal(v, have[k], 0) then body[k] = v end
  end
  local extra
  for k, v in pairs(new_others) do
    if not equal(v, old_others[k], 0) then
      extra = extra or {}
      extra[k] = v
    end
  end
  body.AdditionalProperties = extra
  return body
end

return M
