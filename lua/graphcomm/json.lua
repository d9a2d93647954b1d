-- graphcomm.json: reading Graph's JSON answers (lua-cjson) and printing JSON for people.
--
-- decode(text) -> value | nil, err
--   lua-cjson's decoder (a private cjson.new() instance, so settings made by
--   others on the shared `cjson` module do not leak in or out). Debian's
--   lua-cjson 2.1.0 has no decode_array_with_array_mt, so `[]` and `{}` would
--   both come back as an empty table: empty arrays are marked here with
--   `array_mt` (cjson's empty_array_mt when it has one, else the core's
--   array_mt, which the encoder also honours), so that printing and
--   re-encoding keep them arrays.
-- pretty(value) -> string
--   two-space indented JSON with object keys sorted (stable output for a
--   terminal or a diff tool).
local cjson = require "cjson"

local type, pairs, next, tostring, tonumber = type, pairs, next, tostring, tonumber
local concat, sort = table.concat, table.sort
local format, byte, find, sub, rep = string.format, string.byte, string.find, string.sub, string.rep
local getmetatable, setmetatable = getmetatable, setmetatable

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(1000)

M.null = cjson.null
M.array_mt = cjson.empty_array_mt or require("graphcomm.core").array_mt

-- ---------------------------------------------------------------------------
-- Decoding
-- ---------------------------------------------------------------------------

-- What stands in for `[]` while cjson decodes: a string no Graph answer holds.
local EMPTY = "\0graphcomm:empty-array\0"
local EMPTY_JSON = '["\\u0000graphcomm:empty-array\\u0000"]'

-- Positions of every `[` that opens an empty array, outside string literals.
local function empty_arrays(text)
  local found, pos = nil, 1
  while true do
    local i, _, c = find(text, '(["%[])', pos)
    if not i then return found end
    if c == '"' then
      local j = i + 1
      while true do                                  -- skip to the closing quote
        local k, _, q = find(text, '(["\\])', j)
        if not k then return found end               -- unterminated: cjson will say so
        if q == '"' then pos = k + 1; break end
        j = k + 2
      end
    else
      local _, e = find(text, "^%[%s*%]", i)
      if e then
        found = found or {}
        found[#found + 1] = i
        found[#found + 1] = e
        pos = e + 1
      else
        pos = i + 1
      end
    end
  end
end

local function substitute(text, spans)
  local out, last = {}, 1
  for n = 1, #spans, 2 do
    out[#out + 1] = sub(text, last, spans[n] - 1)
    out[#out + 1] = EMPTY_JSON
    last = spans[n + 1] + 1
  end
  out[#out + 1] = sub(text, last)
  return concat(out)
end

-- Puts the marked empty arrays back; returns the (possibly replaced) value.
local function restore(v)
  if type(v) ~= "table" then return v end
  if v[1] == EMPTY and next(v, 1) == nil then return setmetatable({}, M.array_mt) end
  for k, child in pairs(v) do
    if type(child) == "table" then v[k] = restore(child) end
  end
  return v
end

function M.decode(text)
  if type(text) ~= "string" then return nil, "JSON text expected, got " .. type(text) end
  local spans = find(text, "%[%s*%]") and empty_arrays(text)
  local ok, v = pcall(decoder.decode, spans and substitute(text, spans) or text)
  if not ok then return nil, (tostring(v):gsub("^.-:%d+: ", "")) end
  if spans then v = restore(v) end
  return v
end

-- ---------------------------------------------------------------------------
-- Pretty printing
-- ---------------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape_char(c)
  return escapes[c] or format("\\u%04x", byte(c))
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

-- Shortest text that reads back to the same double; integers without ".0".
local math_type = math.type
local function number(n)
  if math_type and math_type(n) == "integer" then return format("%d", n) end
  if n ~= n or n == 1 / 0 or n == -1 / 0 then return "null" end
  if n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then return format("%.0f", n) end
  for digits = 15, 17 do
    local s = format("%." .. digits .. "g", n)
    if tonumber(s) == n then return s end
  end
  return format("%.17g", n)
end

local function is_array(t)
  return t[1] ~= nil or (next(t) == nil and getmetatable(t) == M.array_mt)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  return keys
end

local write

local function write_array(t, out, indent, depth)
  if #t == 0 then out[#out + 1] = "[]"; return end
  local inner = rep(indent, depth + 1)
  out[#out + 1] = "[\n"
  for i = 1, #t do
    out[#out + 1] = inner
    write(t[i], out, indent, depth + 1)
    out[#out + 1] = i < #t and ",\n" or "\n"
  end
  out[#out + 1] = rep(indent, depth) .. "]"
end

local function write_object(t, out, indent, depth)
  local keys = sorted_keys(t)
  if #keys == 0 then out[#out + 1] = "{}"; return end
  local inner = rep(indent, depth + 1)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end          -- a numeric key, printed as its text
    out[#out + 1] = inner .. quote(k) .. ": "
    write(v, out, indent, depth + 1)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = rep(indent, depth) .. "}"
end

function write(v, out, indent, depth)
  local t = type(v)
  if t == "table" then
    if depth > 200 then error("JSON nested too deep (a cycle?)", 0) end
    if is_array(v) then write_array(v, out, indent, depth) else write_object(v, out, indent, depth) end
  elseif t == "string" then out[#out + 1] = quote(v)
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif v == nil or v == M.null then out[#out + 1] = "null"
  elseif t == "cdata" then out[#out + 1] = (tostring(v):gsub("U?LL$", ""))  -- LuaJIT int64
  else error("cannot write a " .. t .. " as JSON", 0) end
end

function M.pretty(v, indent)
  local out = {}
  write(v, out, indent or "  ", 0)
  return concat(out)
end

return M
