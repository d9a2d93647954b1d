-- graphcomm.json: reading Graph's JSON answers (lua-cjson) and printing JSON for people.
--
-- decode(text) -> value | nil, err [, "number" when valid JSON holds an inexact integer]
--   lua-cjson's decoder (a private cjson.new() instance, so settings made by
--   others on the shared `cjson` module do not leak in or out). Debian's
--   lua-cjson 2.1.0 has no decode_array_with_array_mt, so `[]` and `{}` would
--   both come back as an empty table: empty arrays are marked here with
--   `array_mt` (cjson's empty_array_mt when it has one, else the core's
--   array_mt, which the encoder also honours), so that printing and
--   re-encoding keep them arrays. Integers are exact whatever their size: those past
--   2^53 (where a double would round them) come back as Lua integers on 5.3+ and
--   int64 cdata on LuaJIT, and on Lua 5.1 as { "digits" } with the metatable
--   int64_mt (core.int64_mt); the encoder takes all three. One outside the 64-bit
--   range is an error rather than a rounded number. Numbers
--   with a fraction or an exponent are doubles, as JSON is usually read.
-- pretty(value) -> string
--   two-space indented JSON with object keys sorted (stable output for a
--   terminal or a diff tool).
local cjson = require "cjson"
local core = require "graphcomm.core"

local type, pairs, next, tostring, tonumber = type, pairs, next, tostring, tonumber
local concat, sort = table.concat, table.sort
local format, byte, find, sub, rep = string.format, string.byte, string.find, string.sub, string.rep
local getmetatable, setmetatable = getmetatable, setmetatable

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(1000)

M.null = cjson.null
M.array_mt = cjson.empty_array_mt or core.array_mt
-- Lua 5.1's exact integers past 2^53: { "digits" } with this metatable (the encoder's).
M.int64_mt = core.int64_mt
if rawget(M.int64_mt, "__tostring") == nil then
  rawset(M.int64_mt, "__tostring", function(t) return t[1] end)
end

-- ---------------------------------------------------------------------------
-- Decoding
-- ---------------------------------------------------------------------------

-- What stands in for `[]` and for a long integer while cjson decodes: strings
-- that start with a mark made afresh for this process (so no answer can hold it).
local MARK = "\0graphcomm:" .. core.uuid4() .. ":"
local EMPTY = MARK .. "[]"
local EMPTY_JSON = '["\\u0000' .. MARK:sub(2) .. '[]"]'
local INT_JSON = '"\\u0000' .. MARK:sub(2)       -- .. digits .. '"'
local INT_AT = #MARK + 1

-- Integers of 16 digits or more may lie past 2^53, where a double rounds them: they
-- are read from their digits: a Lua integer on 5.3+, int64 cdata on LuaJIT, a marked
-- { "digits" } on 5.1.
local INT64_MAX, INT64_MIN, TWO53 = "9223372036854775807", "9223372036854775808",
  "9007199254740992"

-- digits (no sign, no leading zero) <= limit, both decimal texts.
local function at_most(digits, limit)
  return #digits < #limit or (#digits == #limit and digits <= limit)
end

local exact_integer
local math_type = math.type
local ok_ffi, ffi = pcall(require, "ffi")
if math_type then
  exact_integer = function(text) return math.tointeger(tonumber(text)) end
elseif ok_ffi and type(ffi) == "table" and ffi.new then
  local zero = ffi.new("int64_t", 0)
  exact_integer = function(text)                 -- accumulated towards the sign: INT64_MIN fits
    local neg = text:sub(1, 1) == "-"
    local v = zero
    for k = neg and 2 or 1, #text do
      local d = byte(text, k) - 48
      v = neg and v * 10 - d or v * 10 + d
    end
    return v
  end
else                                             -- Lua 5.1: the digits, marked for the encoder
  exact_integer = function(text) return setmetatable({ text }, core.int64_mt) end
end

-- Positions of every `[` that opens an empty array and of every long integer, outside
-- string literals: { first, last, kind, ... } (kind "[" or "0"), or nil.
local function spans_of(text)
  local found, pos = nil, 1
  while true do
    local i, _, c = find(text, '(["%[%-%d])', pos)
    if not i then return found end
    if c == '"' then
      local j = i + 1
      while true do                                  -- skip to the closing quote
        local k, _, q = find(text, '(["\\])', j)
        if not k then return found end               -- unterminated: cjson will say so
        if q == '"' then pos = k + 1; break end
        j = k + 2
      end
    elseif c == "[" then
      local _, e = find(text, "^%[%s*%]", i)
      if e then
        found = found or {}
        found[#found + 1], found[#found + 2], found[#found + 3] = i, e, "["
        pos = e + 1
      else
        pos = i + 1
      end
    else
      local _, e = find(text, "^%-?%d+", i)
      e = e or i                                     -- a lone "-": cjson's to refuse
      local after = sub(text, e + 1, e + 1)
      if after == "." or after == "e" or after == "E" then
        _, e = find(text, "^%.?%d*[eE]?[%+%-]?%d*", e + 1)   -- a float: cjson's to read
      elseif e - i >= 15 and (c ~= "-" or e - i >= 16)
          and not find(text, "^%-?0", i) then       -- a leading zero: cjson's to refuse
        found = found or {}
        found[#found + 1], found[#found + 2], found[#found + 3] = i, e, "0"
      end
      pos = e + 1
    end
  end
end

local function substitute(text, spans)
  local out, last = {}, 1
  for n = 1, #spans, 3 do
    out[#out + 1] = sub(text, last, spans[n] - 1)
    if spans[n + 2] == "[" then
      out[#out + 1] = EMPTY_JSON
    else
      out[#out + 1] = INT_JSON .. sub(text, spans[n], spans[n + 1]) .. '"'
    end
    last = spans[n + 1] + 1
  end
  out[#out + 1] = sub(text, last)
  return concat(out)
end

-- The exact value of a long integer's digits, or raises (caught by decode).
local function integer_of(text)
  local neg = text:sub(1, 1) == "-"
  local digits = (neg and text:sub(2) or text):gsub("^0+", "")
  if at_most(digits, TWO53) then return tonumber(text) end     -- a double holds it
  if not at_most(digits, neg and INT64_MIN or INT64_MAX) then
    error("integer " .. text .. " is outside the 64-bit range and cannot be kept exactly", 0)
  end
  return exact_integer(text)
end

-- Puts the marked values back; returns the (possibly replaced) value.
local function restore(v)
  local t = type(v)
  if t == "string" then
    if sub(v, 1, INT_AT - 1) == MARK and sub(v, INT_AT, INT_AT + 1) ~= "[]" then
      return integer_of(sub(v, INT_AT))
    end
    return v
  end
  if t ~= "table" then return v end
  if v[1] == EMPTY and next(v, 1) == nil then return setmetatable({}, M.array_mt) end
  for k, child in pairs(v) do
    local tc = type(child)
    if tc == "table" or tc == "string" then v[k] = restore(child) end
  end
  return v
end

-- A quick look first: most answers have neither `[]` nor 16 digits in a row.
local LONG = "%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d"

function M.decode(text)
  if type(text) ~= "string" then return nil, "JSON text expected, got " .. type(text) end
  local spans = (find(text, "%[%s*%]") or find(text, LONG)) and spans_of(text)
  local ok, v = pcall(decoder.decode, spans and substitute(text, spans) or text)
  if not ok then return nil, (tostring(v):gsub("^.-:%d+: ", "")) end
  if spans then
    ok, v = pcall(restore, v)
    if not ok then return nil, v, "number" end
  end
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
  if t == "table" and getmetatable(v) == M.int64_mt then out[#out + 1] = v[1]
  elseif t == "table" then
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
