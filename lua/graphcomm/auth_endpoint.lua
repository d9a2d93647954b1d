-- graphcomm.auth_endpoint: one token request to an identity endpoint and the reading
-- of its answer (Entra ID's token endpoint, IMDS and App Service answer alike), and
-- the client-credentials flow built on it: a client secret, a signed certificate
-- assertion or a federated token sent as the client assertion.
--
--   endpoint.exchange(send, req, r, what, time) -> token, expires_in | nil, err
--   endpoint.config(opts) -> cfg | nil, err        tenant, client, authority, token_url, scope
--   endpoint.fetcher(cfg, assertion, send, r, time) -> function() -> token, expires_in | nil, err
--     assertion() -> { name, value, ... } (the form fields that prove the client) | nil, err

local type, tostring, tonumber, pcall, pairs = type, tostring, tonumber, pcall, pairs
local string_find, string_gsub, string_lower, string_match =
      string.find, string.gsub, string.lower, string.match

local util = require "graphcomm.auth_util"
local request = require "graphcomm.request"

local auth_error, cjson = util.error, util.cjson
local parse_url, is_loopback = request.parse_url, request.is_loopback

local M = {}

M.ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

------------------------------------------------------------------------------
-- The answer
------------------------------------------------------------------------------

local function text_field(body, ...)
  for i = 1, select("#", ...) do
    local v = body[select(i, ...)]
    if type(v) == "string" and v ~= "" then return v end
  end
  return nil
end

-- Seconds the token lives: expires_in (number or text), else expires_on (Unix
-- seconds, as IMDS, App Service and the Azure CLI give it) against the wall clock.
local function lifetime(body, time)
  local n = tonumber(body.expires_in)
  if n then return n end
  local on = tonumber(body.expires_on)
  if on then return on - time() end
  return 3600
end
M.lifetime = lifetime

-- The token, or an auth error carrying the endpoint's code and description (first
-- line: Entra ID appends trace lines). Every field is scrubbed of r's secrets.
function M.read(resp, r, what, time)
  local ok, body = pcall(cjson.decode, resp.body or "")
  if not ok or type(body) ~= "table" then body = {} end
  if resp.status == 200 and type(body.access_token) == "string" then
    local token, err = util.check_token(body.access_token, "access_token from the " .. what)
    if not token then return nil, err end
    return token, lifetime(body, time)
  end
  local description = text_field(body, "error_description", "message", "Message")
  local first = description and string_gsub(string_match(description, "^[^\r\n]*"),
    "%s*Trace ID:.*$", "") or ""
  local code = text_field(body, "error", "code", "ErrorCode")
  -- err.code and err.status are printed by the error's __tostring: the message needs neither.
  local message = what .. ": " .. (first ~= "" and first or code or ("HTTP " .. tostring(resp.status)))
  return nil, auth_error(message, {
    status = resp.status, code = code, description = description,
    aadsts = string_match(first, "^(AADSTS%d+)"),
    request_id = text_field(body, "trace_id"),
    correlation_id = text_field(body, "correlation_id", "correlationId"),
  }, r)
end

-- Sends req (marked sensitive: a transport's debug hook must not print it) and reads
-- the answer; a transport failure is an auth error naming the URL, without secrets.
function M.exchange(send, req, r, what, time)
  req.sensitive = true
  local resp, terr = send(req)
  if not resp then
    local msg = type(terr) == "table" and terr.message or terr
    return nil, auth_error(what .. " request to " .. req.url .. " failed: " .. tostring(msg),
      { cause = terr }, r)
  end
  return M.read(resp, r, what, time)
end

------------------------------------------------------------------------------
-- Where the client-credentials request goes
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

-- The Graph origin (it decides the scope and the managed identity resource), its
-- host and cloud.
function M.graph_origin(opts)
  local c = cloud(opts.environment)
  if not c then return nil, auth_error("unknown environment: " .. tostring(opts.environment)
    .. " (Global, USGov, USGovDoD or China)") end
  local base = opts.base_url or c.graph
  local scheme, host = parse_url(base)
  if not scheme then return nil, auth_error("base_url is not a URL: " .. tostring(base)) end
  return util.origin_of(base), host, c
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
function M.config(opts)
  local ok, err = check_id(opts.tenant_id, "tenant_id", "^[%w%.%-_]+$")
  if not ok then return nil, err end
  ok, err = check_id(opts.client_id, "client_id", "^[^%c]+$")
  if not ok then return nil, err end
  local origin, host, c = M.graph_origin(opts)
  if not origin then return nil, host end
  if opts.authority ~= nil and type(opts.authority) ~= "string" then
    return nil, auth_error("authority must be a string, got " .. type(opts.authority))
  end
  local authority = pick_authority(opts, host, c, origin)
  ok, err = util.check_https(authority, "authority")
  if not ok then return nil, err end
  return { tenant_id = opts.tenant_id, client_id = opts.client_id, authority = authority,
    token_url = authority .. "/" .. opts.tenant_id .. "/oauth2/v2.0/token",
    scope = opts.scope or (origin .. "/.default"), resource = origin,
    timeout = opts.timeout, connect_timeout = opts.connect_timeout }
end

------------------------------------------------------------------------------
-- The client-credentials grant
------------------------------------------------------------------------------

function M.fetcher(cfg, assertion, send, r, time)
  return function()
    local proof, err, once = assertion()
    if not proof then return nil, err end
    local fields = { "grant_type", "client_credentials", "client_id", cfg.client_id,
                     "scope", cfg.scope }
    for i = 1, #proof do fields[#fields + 1] = proof[i] end
    local req = { method = "POST", url = cfg.token_url, body = util.form_encode(fields),
      headers = { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
      timeout = cfg.timeout, connect_timeout = cfg.connect_timeout }
    return M.exchange(send, req, once and util.both(r, once) or r, "token endpoint", time)
  end
end

-- The proof for a client secret (registered with r by the caller).
function M.secret_proof(secret)
  return function() return { "client_secret", secret } end
end

-- The proof for a signed (or federated) assertion from make(), with a redaction set
-- of its own for this one request (a set per client would grow with every renewal).
function M.assertion_proof(make)
  return function()
    local jwt, err = make()
    if not jwt then return nil, err end
    return { "client_assertion_type", M.ASSERTION_TYPE, "client_assertion", jwt },
      nil, util.new_redact():add(jwt)
  end
end

return M
