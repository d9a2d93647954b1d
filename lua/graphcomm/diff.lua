-- graphcomm.diff: the smallest PATCH body that turns one session into another
-- (docs/contract.md section 4).
--
-- Both sides are compared as the core normalizes them (one spelling of each
-- name, instants in UTC, canonical enums and durations), so a value that only
-- looks different is no change. A top-level property that changed is sent
-- whole; one missing from `new` is left alone; graphcomm.null clears. OData
-- annotations (`@odata.context`, `segments@odata.nextLink`, ...) are read-only
-- metadata of a GET and are ignored; `@odata.type` is part of a value and kept.
-- Names the schema does not know (at any depth: the core normalizes them into
-- their object's AdditionalProperties) are compared as plain JSON and come
-- back there, which is where the encoder takes them; so a misspelt name is
-- not an error here but shows in the result's AdditionalProperties. An
-- invalid value in `new` is `nil, err`, the error graphcomm.session gives.
local core = require "graphcomm.core"

local type, pairs, getmetatable, setmetatable = type, pairs, getmetatable, setmetatable
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
-- Normalizing
-- ---------------------------------------------------------------------------

local ADDPROPS = "AdditionalProperties"
local TOLERANT = { allow_unknown = true }   -- unknown names land under AdditionalProperties

-- Merges one normalized piece into out (AdditionalProperties entries one by one).
local function merge(out, piece)
  for k, v in pairs(piece) do
    if k == ADDPROPS then
      out[ADDPROPS] = out[ADDPROPS] or {}
      for name, extra in pairs(v) do out[ADDPROPS][name] = extra end
    else
      out[k] = v
    end
  end
end

-- The old side, whatever it holds: a property the core refuses is kept as it
-- came (it then differs from any valid new value).
local function normalize_old(old)
  local all = normalize(old, TOLERANT)
  if all then return all end
  local out = {}
  for k, v in pairs(old) do
    local one = normalize({ [k] = v }, TOLERANT)
    if one then merge(out, one) else out[k] = v end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- The diff
-- ---------------------------------------------------------------------------

function M.diff(old, new)
  if type(old) ~= "table" then error("bad argument #1 to 'diff' (table expected, got " .. type(old) .. ")", 2) end
  if type(new) ~= "table" then error("bad argument #2 to 'diff' (table expected, got " .. type(new) .. ")", 2) end
  local want, err = normalize(strip(new, 0), TOLERANT)
  if not want then return nil, err end
  local have = normalize_old(strip(old, 0))
  local body = {}
  for k, v in pairs(want) do
    if k == ADDPROPS then
      local had = type(have[ADDPROPS]) == "table" and have[ADDPROPS] or {}
      for name, extra in pairs(v) do
        if not equal(extra, had[name], 0) then
          body[ADDPROPS] = body[ADDPROPS] or {}
          body[ADDPROPS][name] = extra
        end
      end
    elseif lower(k) ~= "@odata.type" and not equal(v, have[k], 0) then
      body[k] = v
    end
  end
  return body
end

return M
