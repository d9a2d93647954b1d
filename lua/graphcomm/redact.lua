-- graphcomm.redact: keep secrets and terminal controls out of anything shown.
--
--   local r = redact.new()      -- one set of secrets (per client)
--   r:add(secret)               -- registers the value in every form it may travel in
--   r:scrub(text) -> text       -- each known form replaced by "<redacted>"
--   redact.controls(text)       -- control bytes and ESC shown escaped
--
-- Pure Lua (no graphcomm.core): the credential and CLI code use it too.
local string_byte, string_format = string.byte, string.format
local string_find, string_sub, string_gsub = string.find, string.sub, string.gsub
local table_concat, table_sort = table.concat, table.sort
local floor = math.floor

local M = {}

local MARK = "<redacted>"
local MIN = 4          -- shorter values would blank ordinary words
local CORE_MIN = 12    -- base64 of a value inside a longer one: only for long values

-- Percent-encoding of everything but RFC 3986 unreserved characters.
local function percent(s, fmt, space)
  return (string_gsub(s, "[^%w%-%._~]", function(c)
    if c == " " and space then return space end
    return string_format(fmt, string_byte(c))
  end))
end

local JSON_ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json(s, slash)
  s = string_gsub(s, '[%c"\\]', function(c)
    return JSON_ESC[c] or string_format("\\u%04x", string_byte(c))
  end)
  if slash then s = string_gsub(s, "/", "\\/") end
  return s
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Standard base64 with padding (arithmetic only: Lua 5.1 has no bit operators).
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = string_byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { floor(n / 262144) % 64, floor(n / 4096) % 64, floor(n / 64) % 64, n % 64 }
    local keep = c and 4 or (b and 3 or 2)
    for k = 1, 4 do
      out[#out + 1] = k <= keep and string_sub(B64, q[k] + 1, q[k] + 1) or "="
    end
  end
  return table_concat(out)
end

local function url_safe(b)
  return (string_gsub(string_gsub(b, "+", "-"), "/", "_"))
end

-- The characters of base64(prefix .. s .. suffix) that depend on s alone, for
-- each of the three alignments s can start at (e.g. "user:secret" in Basic auth).
local function base64_cores(s)
  local cores = {}
  for shift = 0, 2 do
    local b = base64(string.rep("\0", shift) .. s)
    local from = shift == 0 and 1 or (shift == 1 and 3 or 4)
    local usable = floor((shift + #s) / 3) * 4   -- complete groups only
    cores[#cores + 1] = string_sub(b, from, usable)
  end
  return cores
end

local methods = {}
methods.__index = methods

function M.new()
  return setmetatable({ forms = {}, seen = {} }, methods)
end

local function put(self, form)
  if type(form) == "string" and #form >= MIN and not self.seen[form] then
    self.seen[form] = true
    self.forms[#self.forms + 1] = form
  end
end

-- Longest first, so that a form containing another is replaced whole.
local function by_length(a, b)
  if #a ~= #b then return #a > #b end
  return a < b
end

function methods:add(secret)
  if type(secret) ~= "string" or #secret < MIN then return self end
  local candidates = {
    secret,
    percent(secret, "%%%02X"), percent(secret, "%%%02x"),
    percent(secret, "%%%02X", "+"), percent(secret, "%%%02x", "+"),
    json(secret), json(secret, true),
  }
  local b = base64(secret)
  candidates[#candidates + 1] = b
  candidates[#candidates + 1] = (string_gsub(b, "=+$", ""))
  candidates[#candidates + 1] = url_safe(b)
  candidates[#candidates + 1] = (string_gsub(url_safe(b), "=+$", ""))
  if #secret >= CORE_MIN then
    for _, core in ipairs(base64_cores(secret)) do
      candidates[#candidates + 1] = core
      candidates[#candidates + 1] = url_safe(core)
    end
  end
  for _, c in ipairs(candidates) do put(self, c) end
  table_sort(self.forms, by_length)
  return self
end

local function replace_all(text, form)
  local out, pos = {}, 1
  while true do
    local from, to = string_find(text, form, pos, true)
    if not from then break end
    out[#out + 1] = string_sub(text, pos, from - 1)
    out[#out + 1] = MARK
    pos = to + 1
  end
  if pos == 1 then return text end
  out[#out + 1] = string_sub(text, pos)
  return table_concat(out)
end

function methods:scrub(text)
  if type(text) ~= "string" then return text end
  local forms = self.forms
  for i = 1, #forms do text = replace_all(text, forms[i]) end
  return text
end

-- Whether text holds any known form (for specs and callers that refuse rather than scrub).
function methods:finds(text)
  return type(text) == "string" and self:scrub(text) ~= text
end

local SHOWN = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function show_byte(c)
  return SHOWN[c] or string_format("\\x%02x", string_byte(c))
end

-- Control bytes (C0, DEL, and C1 encoded as UTF-8) shown as escapes, so that
-- server text cannot move the cursor, recolour or retitle a terminal.
function M.controls(text)
  if type(text) ~= "string" then return text end
  text = string_gsub(text, "\194[\128-\159]", function(seq)
    return "\\xc2" .. show_byte(string_sub(seq, 2))
  end)
  return (string_gsub(text, "[%z\1-\31\127]", show_byte))
end

M.MARK = MARK
M.base64 = base64
-- A string a caller gave where a word was expected, as an error may show it: a short
-- word itself (quoted), anything longer or with controls by its size only (it may be a
-- token given to the wrong option). -> text, whether it shows s itself
function M.shown(s)
  if #s <= 32 and not s:find("%c") then return "'" .. s .. "'", true end
  return "a string of " .. #s .. " bytes", false
end

M.percent = function(s) return percent(s, "%%%02X") end

return M
