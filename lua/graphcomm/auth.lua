-- graphcomm.auth: credential providers. The request builder asks a provider
-- for a bearer token; providers know nothing of sessions.
--
--   local provider, err = auth.new(opts, deps)
--   provider:get([force_refresh]) -> token | nil, err   (err.kind == "auth")
--   provider:invalidate()                               -- after a 401 InvalidAuthenticationToken
--
-- opts: token (string, or function returning token[, expires_in]), or
-- tenant_id + client_id + client_secret | client_certificate [+ client_certificate_key]
-- against authority. deps = { send = transport send, now = clock in seconds }.

local type, tostring, tonumber, pcall, setmetatable, select =
      type, tostring, tonumber, pcall, setmetatable, select
local string_find, string_format = string.find, string.format

local M = {}

------------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------------

-- Errors come from graphcomm.errors when it is there (one error type for the
-- whole library), else from core.error, else a plain table that prints well.
local function load_optional(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  return nil
end

local fallback_mt = {
  __tostring = function(e) return "auth error: " .. tostring(e.message) end,
}

local function auth_error(message, fields)
  local e = { kind = "auth", message = message }
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  local errors = load_optional("graphcomm.errors")
  if errors and type(errors.auth) == "function" then
    return errors.auth(e)
  end
  local core = load_optional("graphcomm.core")
  if core and type(core.error) == "function" then
    return core.error(e)
  end
  return setmetatable(e, fallback_mt)
end
M.error = auth_error

------------------------------------------------------------------------------
-- Tokens
------------------------------------------------------------------------------

-- A token goes into an HTTP header: CR, LF or NUL would split or cut it.
local function check_token(token, where)
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

------------------------------------------------------------------------------
-- Provider: a fixed token string
------------------------------------------------------------------------------

local Static = {}
Static.__index = Static
Static.__tostring = function() return "graphcomm.auth (token)" end

function Static:get() return self._token() end
function Static:invalidate() end  -- nothing to renew: the 401 stands

local function new_static(token)
  local ok, err = check_token(token, "token")
  if not ok then return nil, err end
  -- Kept in a closure, not a field, so that dumping the provider shows no token.
  return setmetatable({ kind = "token", _token = function() return token end }, Static)
end

------------------------------------------------------------------------------
-- Provider: a function returning token[, expires_in]
------------------------------------------------------------------------------

local Func = {}
Func.__index = Func
Func.__tostring = function() return "graphcomm.auth (token function)" end

-- Renew 5 minutes before expiry, or at half-life for tokens shorter than 10 minutes.
local function refresh_margin(lifetime)
  if lifetime >= 600 then return 300 end
  return lifetime / 2
end
M.refresh_margin = refresh_margin

local function pack(...) return { n = select("#", ...), ... } end

-- Calls the user's function; whatever goes wrong becomes an auth error.
local function call_token_function(fn)
  local r = pack(pcall(fn))
  if not r[1] then
    return nil, auth_error("token function failed: " .. tostring(r[2]))
  end
  local token, extra = r[2], r[3]
  if token == nil or token == false then
    local msg = extra ~= nil and tostring(extra) or "no token"
    return nil, auth_error("token function: " .. msg)
  end
  local ok, err = check_token(token, "token from the token function")
  if not ok then return nil, err end
  local expires_in = nil
  if extra ~= nil then
    expires_in = tonumber(extra)
    if not expires_in or expires_in ~= expires_in then
      return nil, auth_error("token function: expires_in must be a number of seconds")
    end
  end
  return token, expires_in
end

function Func:get(force_refresh)
  local now = self._now()
  local c = self._cache
  if c and not force_refresh and now < c.refresh_at then
    return c.token
  end
  local token, expires_in = call_token_function(self._fn)
  if not token then return nil, expires_in end
  -- Without expires_in the function is asked every time: it does its own caching.
  if expires_in then
    self._cache = { token = token, refresh_at = now + expires_in - refresh_margin(expires_in) }
  else
    self._cache = nil
  end
  return token
end

function Func:invalidate() self._cache = nil end

local function new_function(fn, deps)
  return setmetatable({ kind = "token function", _fn = fn, _now = deps.now }, Func)
end

------------------------------------------------------------------------------
-- Construction
------------------------------------------------------------------------------

local function default_now() return os.time() end

function M.new(opts, deps)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'auth.new' (table expected, got " .. type(opts) .. ")", 2)
  end
  deps = deps or {}
  local d = { send = deps.send, now = deps.now or default_now, sleep = deps.sleep }
  local token = opts.token
  if type(token) == "function" then return new_function(token, d) end
  if token ~= nil then return new_static(token) end
  return nil, auth_error("no credentials: give token, or tenant_id + client_id + "
    .. "client_secret or client_certificate")
end

return M
