-- graphcomm.auth_util: what every credential module shares: auth errors with every
-- registered secret scrubbed from every field, token checks, form encoding, the
-- https policy for identity endpoints, and reading JWT claims.

local type, tostring, pairs, pcall, setmetatable =
      type, tostring, pairs, pcall, setmetatable
local string_find, string_format, string_gsub, string_lower, string_match, string_byte =
      string.find, string.format, string.gsub, string.lower, string.match, string.byte
local concat = table.concat

local M = {}

local function load_optional(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  return nil
end
M.load_optional = load_optional

local core = load_optional("graphcomm.core")
local cjson = load_optional("cjson")
local request = require "graphcomm.request"
local redact = require "graphcomm.redact"
M.core, M.cjson = core, cjson

------------------------------------------------------------------------------
-- Errors, scrubbed
------------------------------------------------------------------------------

local fallback_mt = {
  __tostring = function(e) return "auth error: " .. tostring(e.message) end,
}

-- Every string in t (and in tables under it, a few levels down) through r:scrub.
local function scrub_fields(t, r, depth, seen)
  if depth > 4 or seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    if type(v) == "string" then
      t[k] = r:scrub(v)
    elseif type(v) == "table" then
      scrub_fields(v, r, depth + 1, seen)
    end
  end
end

-- The secrets a provider handles are registered with r (a graphcomm.redact set);
-- an error built or passed through here holds none of them in any field.
local function scrub(e, r)
  if r and type(e) == "table" then scrub_fields(e, r, 1, {}) end
  return e
end
M.scrub = scrub

-- Errors come from graphcomm.errors when it is there (one error type for the
-- whole library), else from core.error, else a plain table that prints well.
local function auth_error(message, fields, r)
  local e = { kind = "auth", message = message }
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  scrub(e, r)
  local errors = load_optional("graphcomm.errors")
  if errors and type(errors.auth) == "function" then
    return errors.auth(e)
  end
  if core and type(core.error) == "function" then
    return core.error(e)
  end
  return setmetatable(e, fallback_mt)
end
M.error = auth_error

M.new_redact = redact.new

-- A redaction set that scrubs with a, then b.
function M.both(a, b)
  return { scrub = function(_, s) return b:scrub(a:scrub(s)) end }
end

------------------------------------------------------------------------------
-- Small helpers
------------------------------------------------------------------------------

-- A token goes into an HTTP header: CR, LF or NUL would split or cut it.
function M.check_token(token, where)
  if type(token) ~= "string" then
    return nil, auth_error(where .. " must be a string, got " .. type(token))
  end
  if token == "" then
    return nil, auth_error(where .. " is empty")
  end
  if string_find(token, "[\r\n%z]") then
    return nil, auth_error(where .. " contains CR, LF or NUL")
  end
  return token
end

function M.pack(...) return { n = select("#", ...), ... } end

-- application/x-www-form-urlencoded, every byte outside RFC 3986's unreserved set escaped.
local function form_escape(s)
  return (string_gsub(s, "[^%w%-%._~]", function(c)
    return string_format("%%%02X", string_byte(c))
  end))
end
M.escape = form_escape

-- fields = { name, value, name, value, ... } (order kept).
function M.form_encode(fields)
  local out = {}
  for i = 1, #fields, 2 do
    out[#out + 1] = form_escape(fields[i]) .. "=" .. form_escape(fields[i + 1])
  end
  return concat(out, "&")
end

-- The origin "scheme://host[:port]" of an absolute URL, as written (lower case).
function M.origin_of(url)
  local origin = string_match(url, "^%a[%w+.-]*://[^/?#]+")
  return origin and string_lower(origin)
end

-- https only, except to loopback (the emulator): a secret never goes out in clear text.
-- The policy is request.check_url's; the errors are auth errors.
function M.check_https(url, what)
  if type(url) ~= "string" then
    return nil, auth_error(what .. " must be a URL string, got " .. type(url))
  end
  if string_find(url, "[%c ]") then
    return nil, auth_error(what .. " has spaces or control characters in it")
  end
  if request.check_url(url) then return true end
  if request.parse_url(url) == "http" then
    return nil, auth_error(what .. " must use https (plain http only to loopback): " .. url)
  end
  return nil, auth_error(what .. " is not an http(s) URL: " .. tostring(url))
end

function M.uuid4()
  return core.uuid4()
end

-- The whole file, or nil and an auth error naming `what`.
function M.read_file(path, what)
  if type(path) ~= "string" or path == "" then
    return nil, auth_error(what .. " must be a file path")
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, auth_error("cannot open " .. what .. ": " .. tostring(err)) end
  local text = f:read("*a")
  f:close()
  if not text then return nil, auth_error("cannot read " .. what .. ": " .. path) end
  return text
end

-- The claims of a compact JWT (not verified: only its exp is read), or nil.
function M.jwt_claims(jwt)
  local p64 = type(jwt) == "string" and string_match(jwt, "^[%w_-]+%.([%w_-]+)%.[%w_-]*$")
  if not p64 or not (core and core.base64url_decode and cjson) then return nil end
  local text = core.base64url_decode(p64)
  if not text then return nil end
  local ok, claims = pcall(cjson.decode, text)
  if ok and type(claims) == "table" then return claims end
  return nil
end

-- A non-empty string option, or nil (absent); an auth error for any other type.
function M.string_option(v, name)
  if v == nil then return nil end
  if type(v) ~= "string" or v == "" then
    return nil, auth_error(name .. " must be a non-empty string, got " .. (v == "" and "\"\"" or type(v)))
  end
  return v
end

return M
