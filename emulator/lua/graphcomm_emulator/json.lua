-- graphcomm_emulator.json: the emulator's JSON reader and writer.
-- Numbers keep the text they arrived with (an Int64 survives a PATCH and a GET
-- byte for byte, which a double cannot promise), objects keep their key order,
-- and arrays and objects stay apart even when empty. Runs on LuaJIT and Lua 5.1-5.4.

local byte, sub, find, char, gsub, format = string.byte, string.sub, string.find, string.char,
  string.gsub, string.format
local concat, sort, floor, huge = table.concat, table.sort, math.floor, math.huge
local setmetatable, getmetatable, type, pairs, tostring, tonumber, error, pcall =
  setmetatable, getmetatable, type, pairs, tostring, tonumber, error, pcall

local M = {}

local NUM = { __name = "json.number" }       -- boxed numbers: { raw = "text", value = n }
local ARRAY = { __name = "json.array" }
local OBJECT = { __name = "json.object" }
local keys_of = setmetatable({}, { __mode = "k" })   -- object -> its keys in arrival order

M.null = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })
M.NUM, M.ARRAY, M.OBJECT = NUM, ARRAY, OBJECT

---------------------------------------------------------------- constructors

function M.array(t) return setmetatable(t or {}, ARRAY) end

-- An object whose keys are written in the order given (other keys follow, sorted).
function M.object(t, keys)
  t = setmetatable(t or {}, OBJECT)
  keys_of[t] = keys or {}
  return t
end

function M.keys(obj) return keys_of[obj] end
function M.is_array(v) return getmetatable(v) == ARRAY end
function M.is_object(v) return type(v) == "table" and getmetatable(v) == OBJECT end
function M.is_number(v) return type(v) == "number" or getmetatable(v) == NUM end

-- The numeric value of a boxed or plain number; nil for anything else.
function M.number(v)
  if type(v) == "number" then return v end
  if getmetatable(v) == NUM then return v.value end
end

---------------------------------------------------------------- reader

local decode_value
local MAX_DEPTH = 200

local ESCAPES = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f",
  [110] = "\n", [114] = "\r", [116] = "\t" }

local function fail(s, i, msg)
  error({ json = true, msg = format("%s at byte %d", msg, i) }, 0)
end

local function skip(s, i)
  local _, e = find(s, "^[ \t\r\n]*", i)
  return e + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
    0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end
M.utf8_char = utf8_char   -- (csdl.lua's character references too)

-- \uXXXX at i (pointing at the 'u'); returns the UTF-8 text and the next index.
local function unicode_escape(s, i)
  local hex = sub(s, i + 1, i + 4)
  if not find(hex, "^%x%x%x%x$") then fail(s, i, "bad \\u escape") end
  local cp = tonumber(hex, 16)
  if cp >= 0xD800 and cp <= 0xDBFF then
    local lo = sub(s, i + 5, i + 10)
    if not find(lo, "^\\u[dD][c-fC-F]%x%x$") then fail(s, i, "lone surrogate in \\u escape") end
    cp = 0x10000 + (cp - 0xD800) * 1024 + (tonumber(sub(lo, 3), 16) - 0xDC00)
    return utf8_char(cp), i + 11
  elseif cp >= 0xDC00 and cp <= 0xDFFF then
    fail(s, i, "lone surrogate in \\u escape")
  end
  return utf8_char(cp), i + 5
end

local function decode_string(s, i)
  local j, parts, n = i + 1, nil, 0
  while true do
    local a = find(s, '[%z\1-\31"\\]', j)
    if not a then fail(s, i, "unterminated string") end
    local c = byte(s, a)
    if c == 34 then
      if not parts then return sub(s, i + 1, a - 1), a + 1 end
      n = n + 1; parts[n] = sub(s, j, a - 1)
      return concat(parts), a + 1
    elseif c == 92 then
      parts = parts or {}
      n = n + 1; parts[n] = sub(s, j, a - 1)
      local e = byte(s, a + 1)
      if e == 117 then
        n = n + 1; parts[n], j = unicode_escape(s, a + 1)
      elseif ESCAPES[e] then
        n = n + 1; parts[n] = ESCAPES[e]; j = a + 2
      else
        fail(s, a, "bad escape in string")
      end
    else
      fail(s, a, "control character in string")
    end
  end
end

local function decode_number(s, i)
  local _, e = find(s, "^-?%d+", i)
  if not e then fail(s, i, "unexpected character") end
  if find(s, "^-?0%d", i) then fail(s, i, "leading zero in number") end
  local _, f = find(s, "^%.%d+", e + 1)
  if f then e = f elseif byte(s, e + 1) == 46 then fail(s, e + 1, "bad fraction") end
  local _, x = find(s, "^[eE][-+]?%d+", e + 1)
  if x then e = x elseif find(s, "^[eE]", e + 1) then fail(s, e + 1, "bad exponent") end
  local raw = sub(s, i, e)
  return setmetatable({ raw = raw, value = tonumber(raw) }, NUM), e + 1
end

local function decode_array(s, i, depth)
  local t, n = setmetatable({}, ARRAY), 0
  i = skip(s, i + 1)
  if byte(s, i) == 93 then return t, i + 1 end
  while true do
    local v
    v, i = decode_value(s, i, depth)
    n = n + 1; t[n] = v
    i = skip(s, i)
    local c = byte(s, i)
    if c == 93 then return t, i + 1 end
    if c ~= 44 then fail(s, i, "expected ',' or ']'") end
    i = skip(s, i + 1)
  end
end

local function decode_object(s, i, depth)
  local t, keys, n = setmetatable({}, OBJECT), {}, 0
  keys_of[t] = keys
  i = skip(s, i + 1)
  if byte(s, i) == 125 then return t, i + 1 end
  while true do
    if byte(s, i) ~= 34 then fail(s, i, "expected a member name") end
    local k, v
    k, i = decode_string(s, i)
    i = skip(s, i)
    if byte(s, i) ~= 58 then fail(s, i, "expected ':'") end
    v, i = decode_value(s, skip(s, i + 1), depth)
    if t[k] == nil then n = n + 1; keys[n] = k end
    t[k] = v
    i = skip(s, i)
    local c = byte(s, i)
    if c == 125 then return t, i + 1 end
    if c ~= 44 then fail(s, i, "expected ',' or '}'") end
    i = skip(s, i + 1)
  end
end

decode_value = function(s, i, depth)
  local c = byte(s, i)
  if c == 123 or c == 91 then
    if depth >= MAX_DEPTH then fail(s, i, "nesting too deep") end
    if c == 123 then return decode_object(s, i, depth + 1) end
    return decode_array(s, i, depth + 1)
  elseif c == 34 then return decode_string(s, i)
  elseif c == 116 and sub(s, i, i + 3) == "true" then return true, i + 4
  elseif c == 102 and sub(s, i, i + 4) == "false" then return false, i + 5
  elseif c == 110 and sub(s, i, i + 3) == "null" then return M.null, i + 4
  elseif c == nil then fail(s, i, "unexpected end of input")
  end
  return decode_number(s, i)
end

-- Is s well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF)?
function M.valid_utf8(s)
  if not find(s, "[\128-\255]") then return true end
  local i, n = 1, #s
  while i <= n do
    local a = find(s, "[\128-\255]", i)
    if not a then return true end
    local c = byte(s, a)
    local len, lo, hi = 0, 0x80, 0xBF
    if c >= 0xC2 and c <= 0xDF then len = 1
    elseif c >= 0xE0 and c <= 0xEF then
      len = 2
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 3
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    else
      return false, a
    end
    for k = 1, len do
      local d = byte(s, a + k)
      if not d or d < (k == 1 and lo or 0x80) or d > (k == 1 and hi or 0xBF) then return false, a end
    end
    i = a + len + 1
  end
  return true
end

-- Text -> value, or nil and a message.
function M.decode(s)
  if type(s) ~= "string" then return nil, "no JSON text" end
  local ok, bad = M.valid_utf8(s)
  if not ok then return nil, format("invalid UTF-8 at byte %d", bad) end
  local ok2, v, i = pcall(function()
    local v, i = decode_value(s, skip(s, 1), 0)
    return v, skip(s, i)
  end)
  if not ok2 then
    if type(v) == "table" and v.json then return nil, v.msg end
    error(v, 0)
  end
  if i <= #s then return nil, format("trailing characters at byte %d", i) end
  return v
end

---------------------------------------------------------------- writer

local ESC = {}
for c = 0, 31 do ESC[char(c)] = format("\\u%04x", c) end
ESC["\b"], ESC["\f"], ESC["\n"], ESC["\r"], ESC["\t"] = "\\b", "\\f", "\\n", "\\r", "\\t"
ESC['"'], ESC["\\"] = '\\"', "\\\\"

local function quote(s) return '"' .. gsub(s, '[%z\1-\31"\\]', ESC) .. '"' end
M.quote = quote

-- Shortest text that reads back to the same double; integers without a fraction.
local function number_text(x)
  if x ~= x or x == huge or x == -huge then error("cannot write NaN or infinity as JSON", 0) end
  if x == floor(x) and x > -2^53 and x < 2^53 then return format("%.0f", x) end
  for p = 14, 17 do
    local s = format("%." .. p .. "g", x)
    if tonumber(s) == x then return s end
  end
end
M.number_text = number_text

local encode

local function encode_object(t, out, n, keys)
  local seen, first = {}, true
  n = n + 1; out[n] = "{"
  local function member(k)
    local v = t[k]
    if v == nil or seen[k] then return end
    seen[k] = true
    if not first then n = n + 1; out[n] = "," end
    first = false
    n = n + 1; out[n] = quote(k)
    n = n + 1; out[n] = ":"
    n = encode(v, out, n)
  end
  if keys then for i = 1, #keys do member(keys[i]) end end
  local rest = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("object key is not a string", 0) end
    if not seen[k] then rest[#rest + 1] = k end
  end
  sort(rest)
  for i = 1, #rest do member(rest[i]) end
  n = n + 1; out[n] = "}"
  return n
end

local function encode_array(t, out, n)
  n = n + 1; out[n] = "["
  for i = 1, #t do
    if i > 1 then n = n + 1; out[n] = "," end
    n = encode(t[i], out, n)
  end
  n = n + 1; out[n] = "]"
  return n
end

encode = function(v, out, n)
  local tv = type(v)
  if tv == "string" then n = n + 1; out[n] = quote(v); return n end
  if tv == "number" then n = n + 1; out[n] = number_text(v); return n end
  if tv == "boolean" then n = n + 1; out[n] = v and "true" or "false"; return n end
  if v == M.null or v == nil then n = n + 1; out[n] = "null"; return n end
  if tv ~= "table" then error("cannot write a " .. tv .. " as JSON", 0) end
  local mt = getmetatable(v)
  if mt == NUM then n = n + 1; out[n] = v.raw; return n end
  if mt == ARRAY then return encode_array(v, out, n) end
  if mt == OBJECT then return encode_object(v, out, n, keys_of[v]) end
  if mt and mt.__json then n = n + 1; out[n] = mt.__json(v); return n end
  if v[1] ~= nil then return encode_array(v, out, n) end
  return encode_object(v, out, n, nil)
end

-- Value -> compact JSON text. Plain tables: a sequence is an array, anything else an object.
function M.encode(v)
  local out = {}
  local n = encode(v, out, 0)
  return concat(out, "", 1, n)
end

-- A value that is written as the JSON text given (already encoded).
local RAW = { __json = function(r) return r.text end }
function M.raw(text) return setmetatable({ text = text }, RAW) end

return M
