-- graphcomm.auth: credential providers. The request builder asks a provider
-- for a bearer token; providers know nothing of sessions.
--
--   local opts2 = auth.resolve(opts [, getenv])         -- environment fallbacks, precedence
--   local provider, err = auth.new(opts2, deps)
--   provider:get([force_refresh]) -> token | nil, err   (err.kind == "auth")
--   provider:invalidate()                               -- after a 401 InvalidAuthenticationToken
--   provider.renewable                                  -- false for a fixed token string
--
-- opts: token (string, or function returning token[, expires_in]), or
-- tenant_id + client_id + client_secret | client_certificate [+ client_certificate_key,
-- client_certificate_password] against authority (default by environment / base_url).
-- deps = { send = transport send, now = clock in seconds, sleep = optional, lets a
-- coroutine wait for another's token request (OpenResty) }.

local type, tostring, tonumber, pcall, setmetatable, select, pairs, error =
      type, tostring, tonumber, pcall, setmetatable, select, pairs, error
local string_find, string_format, string_gsub, string_lower, string_match, string_byte =
      string.find, string.format, string.gsub, string.lower, string.match, string.byte
local co_running = coroutine.running
local concat = table.concat

local M = {}

local function load_optional(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  return nil
end

local core = load_optional("graphcomm.core")
local cjson = load_optional("cjson")
local request = require "graphcomm.request"

local parse_url, is_loopback, check_url = request.parse_url, request.is_loopback, request.check_url

------------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------------

local fallback_mt = {
  __tostring = function(e) return "auth error: " .. tostring(e.message) end,
}

-- Errors come from graphcomm.errors when it is there (one error type for the
-- whole library), else from core.error, else a plain table that prints well.
local function auth_error(message, fields)
  local e = { kind = "auth", message = message }
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
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

-- Plain-text replacement of every secret in s (gsub would read them as patterns).
local function redact(s, secrets)
  if type(s) ~= "string" then return s end
  for i = 1, #secrets do
    local secret = secrets[i]
    if type(secret) == "string" and #secret >= 4 then
      local from, to = string_find(s, secret, 1, true)
      while from do
        s = s:sub(1, from - 1) .. "<redacted>" .. s:sub(to + 1)
        from, to = string_find(s, secret, from + 10, true)
      end
    end
  end
  return s
end
M.redact = redact

------------------------------------------------------------------------------
-- Small helpers
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

local function pack(...) return { n = select("#", ...), ... } end

-- application/x-www-form-urlencoded, every byte outside RFC 3986's unreserved set escaped.
local function form_escape(s)
  return (string_gsub(s, "[^%w%-%._~]", function(c)
    return string_format("%%%02X", string_byte(c))
  end))
end

local function form_encode(fields)
  local out = {}
  for i = 1, #fields, 2 do
    out[#out + 1] = form_escape(fields[i]) .. "=" .. form_escape(fields[i + 1])
  end
  return concat(out, "&")
end
M.form_encode = form_encode

-- The origin "scheme://host[:port]" of an absolute URL, as written (lower case).
local function origin_of(url)
  local origin = string_match(url, "^%a[%w+.-]*://[^/?#]+")
  return origin and string_lower(origin)
end

-- https only, except to loopback (the emulator): a secret never goes out in clear text.
-- The policy is request.check_url's; the errors are auth errors.
local function check_https(url, what)
  if check_url(url) then return true end
  if parse_url(url) == "http" then
    return nil, auth_error(what .. " must use https (plain http only to loopback): " .. url)
  end
  return nil, auth_error(what .. " is not an http(s) URL: " .. tostring(url))
end

local function uuid4()
  if core and core.uuid4 then return core.uuid4() end
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(16)
  if f then f:close() end
  if not b or #b < 16 then
    b = {}
    for i = 1, 16 do b[i] = string.char(math.random(0, 255)) end
    b = concat(b)
  end
  local h = string_gsub(b, ".", function(c) return string_format("%02x", string_byte(c)) end)
  local y = string_format("%x", 8 + string_byte(b, 9) % 4)
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-" .. y
    .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

------------------------------------------------------------------------------
-- Clouds
------------------------------------------------------------------------------

local CLOUDS = {
  Global   = { graph = "https://graph.microsoft.com", login = "https://login.microsoftonline.com" },
  USGov    = { graph = "https://graph.microsoft.us", login = "https://login.microsoftonline.us" },
  USGovDoD = { graph = "https://dod-graph.microsoft.us", login = "https://login.microsoftonline.us" },
  China    = { graph = "https://microsoftgraph.chinacloudapi.cn", login = "https://login.chinacloudapi.cn" },
}
M.clouds = CLOUDS

local function cloud(name)
  if name == nil then return CLOUDS.Global end
  if type(name) == "string" then
    for k, v in pairs(CLOUDS) do
      if string_lower(k) == string_lower(name) then return v end
    end
  end
  return nil
end

-- The Graph origin decides the scope; a known Graph host also picks its login host.
local function graph_origin(opts)
  local c = cloud(opts.environment)
  if not c then return nil, auth_error("unknown environment: " .. tostring(opts.environment)
    .. " (Global, USGov, USGovDoD or China)") end
  local base = opts.base_url or c.graph
  local scheme, host = parse_url(base)
  if not scheme then return nil, auth_error("base_url is not a URL: " .. tostring(base)) end
  return origin_of(base), host, c
end

-- authority: explicit (opts.authority, AZURE_AUTHORITY_HOST via resolve) > a loopback
-- base_url (the emulator serves its own token endpoint) > the Graph host's cloud > environment.
local function pick_authority(opts, host, c, origin)
  local a = opts.authority
  if a == nil or a == "" then
    if is_loopback(host) then return origin end
    for _, v in pairs(CLOUDS) do
      local _, h = parse_url(v.graph)
      if h == host then return v.login end
    end
    return c.login
  end
  if not string_find(a, "://", 1, true) then a = "https://" .. a end
  return (string_gsub(a, "/+$", ""))
end

------------------------------------------------------------------------------
-- Caching providers (token function, client credentials)
------------------------------------------------------------------------------

-- Renew 5 minutes before expiry, or at half-life for tokens shorter than 10 minutes.
local function refresh_margin(lifetime)
  if lifetime >= 600 then return 300 end
  return lifetime / 2
end
M.refresh_margin = refresh_margin

local MAIN = {}          -- stands for the main thread where coroutine.running() is nil (5.1)
local WAIT_STEP = 0.01   -- seconds between looks at another coroutine's token request
local WAIT_LIMIT = 120   -- after this, a request still "in flight" was abandoned (a killed coroutine)

local Cached = {}
Cached.__index = Cached
Cached.__tostring = function(self) return "graphcomm.auth (" .. self.kind .. ")" end

-- Waits while another coroutine fetches; false when waiting is impossible.
local function wait_turn(self, me)
  if self._busy == me or not self._sleep then return false end
  local waited = 0
  while self._busy and waited < WAIT_LIMIT do
    self._sleep(WAIT_STEP)
    waited = waited + WAIT_STEP
  end
  self._busy = nil
  return true
end

-- Plain Lua 5.1 cannot yield across pcall, and a transport inside a coroutine
-- (OpenResty-style) yields: there a raised error leaves the in-flight mark to time out.
local guarded_call = pcall
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  guarded_call = function(f, ...) return true, f(...) end
end

-- One fetch, with the in-flight mark cleared whatever happens.
local function fetch(self, me)
  self._busy = me
  local r = pack(guarded_call(self._fetch, self))
  self._busy = nil
  if not r[1] then return nil, auth_error("token request failed: " .. tostring(r[2])) end
  return r[2], r[3]
end

function Cached:get(force_refresh)
  local now = self._now()
  local c = self._cache
  if c and not force_refresh and now < c.refresh_at then return c.token end
  local me = co_running() or MAIN
  if self._busy then
    if not wait_turn(self, me) then
      return nil, auth_error("a token request is already in progress")
    end
    -- The other coroutine's fresh token serves this caller too, even a forced one.
    if self._cache and self._cache ~= c then return self._cache.token end
  end
  local token, expires_in = fetch(self, me)
  if not token then
    -- A failed early renewal keeps the token that is still valid.
    if c and not force_refresh and now < c.expires_at and self._cache == c then return c.token end
    return nil, expires_in
  end
  if expires_in and expires_in > 0 then
    self._cache = { token = token, expires_at = now + expires_in,
                    refresh_at = now + expires_in - refresh_margin(expires_in) }
  else
    self._cache = nil
  end
  return token
end

function Cached:invalidate() self._cache = nil end

local function new_cached(kind, fetcher, deps, fields)
  local p = setmetatable({ kind = kind, renewable = true, _fetch = fetcher,
    _now = deps.now, _sleep = deps.sleep }, Cached)
  for k, v in pairs(fields or {}) do p[k] = v end
  return p
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
  return setmetatable({ kind = "token", renewable = false,
    _token = function() return token end }, Static)
end

------------------------------------------------------------------------------
-- Provider: a function returning token[, expires_in]
------------------------------------------------------------------------------

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
  -- Without expires_in the function is asked every time: it does its own caching.
  return token, expires_in
end

local function new_function(fn, deps)
  return new_cached("token function", function() return call_token_function(fn) end, deps)
end

------------------------------------------------------------------------------
-- Provider: client credentials (secret or certificate) against the identity platform
------------------------------------------------------------------------------

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

-- Reads the token endpoint's answer: the token, or an auth error carrying the
-- endpoint's code and description (first line: AAD appends trace lines).
local function read_token_response(resp, secrets)
  local ok, body = pcall(cjson.decode, resp.body or "")
  if not ok or type(body) ~= "table" then body = {} end
  if resp.status == 200 and type(body.access_token) == "string" then
    local token, err = check_token(body.access_token, "access_token from the token endpoint")
    if not token then return nil, err end
    return token, tonumber(body.expires_in) or 3600
  end
  local description = type(body.error_description) == "string" and body.error_description or nil
  -- The first line, without the trace lines AAD appends (on one line or several).
  local first = description and string_gsub(string_match(description, "^[^\r\n]*"),
    "%s*Trace ID:.*$", "") or ""
  local code = type(body.error) == "string" and body.error or nil
  -- err.code and err.status are printed by the error's __tostring: the message needs neither.
  local message = "token endpoint: " .. (first ~= "" and first
    or code or ("HTTP " .. tostring(resp.status)))
  return nil, auth_error(redact(message, secrets), {
    status = resp.status, code = code, description = redact(description, secrets),
    aadsts = string_match(first, "^(AADSTS%d+)"),
    request_id = type(body.trace_id) == "string" and body.trace_id or nil,
    correlation_id = type(body.correlation_id) == "string" and body.correlation_id or nil,
  })
end

-- The signed client assertion: RS256 over header (x5t thumbprints) and claims.
local function client_assertion(cert, client_id, token_url)
  local now = os.time()
  local header = cjson.encode({ alg = "RS256", typ = "JWT", x5t = cert.x5t, ["x5t#S256"] = cert.x5t256 })
  local claims = cjson.encode({ aud = token_url, iss = client_id, sub = client_id,
    jti = uuid4(), nbf = now, iat = now, exp = now + 600 })
  local jwt, err = core.jwt_rs256(header, claims, cert.key(), cert.password())
  if not jwt then return nil, auth_error("cannot sign the client assertion: " .. tostring(err)) end
  return jwt
end
M.client_assertion = client_assertion

local function credential_fetcher(cfg, secret, cert, send)
  return function()
    local fields = { "grant_type", "client_credentials", "client_id", cfg.client_id,
                     "scope", cfg.scope }
    local secrets = { secret }
    if cert then
      local jwt, err = client_assertion(cert, cfg.client_id, cfg.token_url)
      if not jwt then return nil, err end
      fields[#fields + 1], fields[#fields + 2] = "client_assertion_type", ASSERTION_TYPE
      fields[#fields + 1], fields[#fields + 2] = "client_assertion", jwt
      secrets[#secrets + 1] = jwt
    else
      fields[#fields + 1], fields[#fields + 2] = "client_secret", secret
    end
    local req = { method = "POST", url = cfg.token_url, body = form_encode(fields),
      headers = { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
      timeout = cfg.timeout, connect_timeout = cfg.connect_timeout,
      sensitive = true }  -- the body holds a secret: a transport's debug hook must not print it
    local resp, terr = send(req)
    if not resp then
      local msg = type(terr) == "table" and terr.message or terr
      return nil, auth_error(redact("token request to " .. cfg.token_url .. " failed: "
        .. tostring(msg), secrets), { cause = terr })
    end
    return read_token_response(resp, secrets)
  end
end

local function read_file(path, what)
  if type(path) ~= "string" or path == "" then
    return nil, auth_error(what .. " must be a file path")
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, auth_error("cannot open " .. what .. ": " .. tostring(err)) end
  local text = f:read("*a")
  f:close()
  return text
end

-- Loads certificate and key once, at connect time, so that a bad file says so early.
local function load_certificate(opts)
  if not (core and core.jwt_rs256) then
    return nil, auth_error("graphcomm.core was built without RS256 support")
  end
  local cert_pem, err = read_file(opts.client_certificate, "client_certificate")
  if not cert_pem then return nil, err end
  local key_pem = cert_pem
  if opts.client_certificate_key then
    key_pem, err = read_file(opts.client_certificate_key, "client_certificate_key")
    if not key_pem then return nil, err end
  end
  local password = opts.client_certificate_password
  local x5t, x5t256 = core.cert_thumbprints(cert_pem)
  if not x5t then return nil, auth_error("client_certificate: " .. tostring(x5t256)) end
  local ok, merr = core.key_matches_cert(key_pem, cert_pem, password)
  if not ok then return nil, auth_error("client_certificate: " .. tostring(merr)) end
  return { x5t = x5t, x5t256 = x5t256,
    key = function() return key_pem end, password = function() return password end }
end

local function check_id(value, name, pattern)
  if type(value) ~= "string" or value == "" then
    return nil, auth_error(name .. " is required for client credentials")
  end
  if not string_find(value, pattern) then
    return nil, auth_error(name .. " has characters it cannot have: " .. value)
  end
  return value
end

-- Everything the credential flow needs that is not secret.
local function credential_config(opts)
  local ok, err = check_id(opts.tenant_id, "tenant_id", "^[%w%.%-_]+$")
  if not ok then return nil, err end
  ok, err = check_id(opts.client_id, "client_id", "^[^%c]+$")
  if not ok then return nil, err end
  local origin, host, c = graph_origin(opts)
  if not origin then return nil, host end
  if opts.authority ~= nil and type(opts.authority) ~= "string" then
    return nil, auth_error("authority must be a string, got " .. type(opts.authority))
  end
  local authority = pick_authority(opts, host, c, origin)
  ok, err = check_https(authority, "authority")
  if not ok then return nil, err end
  return { tenant_id = opts.tenant_id, client_id = opts.client_id, authority = authority,
    token_url = authority .. "/" .. opts.tenant_id .. "/oauth2/v2.0/token",
    scope = opts.scope or (origin .. "/.default"),
    timeout = opts.timeout, connect_timeout = opts.connect_timeout }
end

local function new_credentials(opts, deps)
  if not cjson then return nil, auth_error("client credentials need lua-cjson") end
  if type(deps.send) ~= "function" then
    error("auth.new: client credentials need deps.send (a transport's send)", 3)
  end
  local cfg, err = credential_config(opts)
  if not cfg then return nil, err end
  local secret, cert = opts.client_secret, nil
  if secret ~= nil then
    if type(secret) ~= "string" or secret == "" then
      return nil, auth_error("client_secret must be a non-empty string")
    end
  else
    cert, err = load_certificate(opts)
    if not cert then return nil, err end
  end
  local kind = cert and "client certificate" or "client secret"
  local send = deps.send
  return new_cached(kind, credential_fetcher(cfg, secret, cert, function(req) return send(req) end),
    deps, { tenant_id = cfg.tenant_id, client_id = cfg.client_id, authority = cfg.authority,
            token_url = cfg.token_url, scope = cfg.scope })
end

------------------------------------------------------------------------------
-- Options and the environment
------------------------------------------------------------------------------

local CREDENTIAL_KEYS = { "token", "client_secret", "client_certificate" }

local function nonempty(v)
  if v == nil or v == "" then return nil end
  return v
end

-- Fills unset credential options from the environment. Explicit options win;
-- among the variables GRAPHCOMM_TOKEN wins over the AZURE_* credentials, and a
-- secret over a certificate (as Azure's EnvironmentCredential). Returns a copy.
function M.resolve(opts, getenv)
  getenv = getenv or os.getenv
  local out = {}
  for k, v in pairs(opts or {}) do out[k] = v end
  local env = function(name) return nonempty(getenv(name)) end
  local explicit = false
  for _, k in pairs(CREDENTIAL_KEYS) do
    if out[k] ~= nil then explicit = true end
  end
  out.authority = nonempty(out.authority) or env("AZURE_AUTHORITY_HOST")
  out.tenant_id = out.tenant_id or env("AZURE_TENANT_ID")
  out.client_id = out.client_id or env("AZURE_CLIENT_ID")
  if explicit then return out end
  local token = env("GRAPHCOMM_TOKEN")
  if token then
    out.token = token
  elseif env("AZURE_CLIENT_SECRET") then
    out.client_secret = env("AZURE_CLIENT_SECRET")
  elseif env("AZURE_CLIENT_CERTIFICATE_PATH") then
    out.client_certificate = env("AZURE_CLIENT_CERTIFICATE_PATH")
    out.client_certificate_password = out.client_certificate_password
      or env("AZURE_CLIENT_CERTIFICATE_PASSWORD")
  end
  return out
end

------------------------------------------------------------------------------
-- Construction
------------------------------------------------------------------------------

local function default_now()
  if core and core.now then return core.now() end
  return os.time()
end

-- The provider for opts (already resolved: see auth.resolve). A token wins
-- over client credentials given alongside it.
function M.new(opts, deps)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'auth.new' (table expected, got " .. type(opts) .. ")", 2)
  end
  deps = deps or {}
  local d = { send = deps.send, now = deps.now or default_now, sleep = deps.sleep }
  local token = opts.token
  if type(token) == "function" then return new_function(token, d) end
  if token ~= nil then return new_static(token) end
  if opts.client_secret ~= nil or opts.client_certificate ~= nil then
    return new_credentials(opts, d)
  end
  return nil, auth_error("no credentials: give token, or tenant_id + client_id + "
    .. "client_secret or client_certificate (or set GRAPHCOMM_TOKEN or AZURE_*)")
end

return M
