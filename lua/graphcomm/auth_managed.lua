-- graphcomm.auth_managed: managed identity, used only when asked. Two flows:
--   App Service / Functions: GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...
--     with X-IDENTITY-HEADER: $IDENTITY_HEADER
--   IMDS (VMs, AKS pod identity): GET {host}/metadata/identity/oauth2/token
--     ?api-version=2018-02-01&resource=... with Metadata: true; host from
--     AZURE_POD_IDENTITY_AUTHORITY_HOST, or the VM address 169.254.169.254 only when
--     that default is allowed explicitly (managed_identity = { default_imds = true } or
--     GRAPHCOMM_MANAGED_IDENTITY=imds): graphcomm never probes it on its own.
-- A user-assigned identity is named by one of client_id, object_id, mi_res_id.
--
--   managed.settings(value, env) -> settings | nil, err      value: true | table
--   managed.fetcher(settings, resource, cfg, send, r, time [, sleep]) -> fetch
--
-- Retries (with sleep; without it, none): an answer the endpoint marks as passing
-- (Azure's IMDS guidance: 404 while an identity is being assigned, 410 while IMDS
-- updates, 429, 5xx; App Service: 429 and 5xx) is asked again up to RETRIES times,
-- RETRY_DELAY s doubling each time, or after its Retry-After (at most MAX_RETRY_WAIT
-- s). A connection failure is not retried: nothing listens, so this is not the host.

local type, tostring, pairs = type, tostring, pairs
local string_find, string_gsub = string.find, string.gsub

local util = require "graphcomm.auth_util"
local endpoint = require "graphcomm.auth_endpoint"
local request = require "graphcomm.request"
local retry = require "graphcomm.retry"

local auth_error = util.error

local M = {}

M.DEFAULT_IMDS = "http://169.254.169.254"
M.IMDS_PATH = "/metadata/identity/oauth2/token"
M.IMDS_API = "2018-02-01"
M.APP_SERVICE_API = "2019-08-01"
M.RETRIES = 5
M.RETRY_DELAY = 1
M.MAX_RETRY_WAIT = 60
local PASSING = { imds = { [404] = true, [410] = true, [429] = true }, ["app service"] = { [429] = true } }

local FIELDS = { client_id = true, object_id = true, mi_res_id = true, default_imds = true }

-- The one user-assigned identity named, or none.
local function pick_identity(t, out)
  local named = 0
  for _, k in pairs({ "client_id", "object_id", "mi_res_id" }) do
    local v, err = util.string_option(t[k], "managed_identity." .. k)
    if err then return nil, err end
    if v then
      if string_find(v, "[%c]") then
        return nil, auth_error("managed_identity." .. k .. " has control characters in it")
      end
      out[k], named = v, named + 1
    end
  end
  if named > 1 then
    return nil, auth_error("managed_identity: give one of client_id, object_id, mi_res_id")
  end
  return out
end

-- The IMDS host: configured, or the default address when allowed.
local function imds_host(env, allowed)
  local host = env.pod_identity_host
  if host then
    if not string_find(host, "://", 1, true) then host = "http://" .. host end
    return (string_gsub(host, "/+$", ""))
  end
  if allowed then return M.DEFAULT_IMDS end
  return nil, auth_error("managed identity: no endpoint configured (IDENTITY_ENDPOINT and"
    .. " IDENTITY_HEADER, or AZURE_POD_IDENTITY_AUTHORITY_HOST); the VM metadata address "
    .. M.DEFAULT_IMDS .. " is used only when allowed: managed_identity = { default_imds = true }"
    .. " or GRAPHCOMM_MANAGED_IDENTITY=imds")
end

local function check_imds_url(url)
  local scheme = request.parse_url(url)
  if scheme ~= "http" and scheme ~= "https" then
    return nil, auth_error("AZURE_POD_IDENTITY_AUTHORITY_HOST is not an http(s) URL: " .. url)
  end
  if string_find(url, "[%c ]") then
    return nil, auth_error("AZURE_POD_IDENTITY_AUTHORITY_HOST has spaces or control characters in it")
  end
  return true
end

-- env = { identity_endpoint, identity_header, pod_identity_host, client_id, default_imds }
-- (from auth.resolve). The App Service flow wins when both of its variables are set.
function M.settings(value, env)
  env = env or {}
  if value ~= true and type(value) ~= "table" then
    return nil, auth_error("managed_identity must be true or a table { client_id = | object_id = | "
      .. "mi_res_id = , default_imds = }, got " .. type(value))
  end
  local t = value == true and {} or value
  for k in pairs(t) do
    if not FIELDS[k] then
      return nil, auth_error("managed_identity: unknown field " .. tostring(k)
        .. " (client_id, object_id, mi_res_id, default_imds)")
    end
  end
  if t.default_imds ~= nil and type(t.default_imds) ~= "boolean" then
    return nil, auth_error("managed_identity.default_imds must be true or false")
  end
  local s, err = pick_identity(t, {})
  if not s then return nil, err end
  if not (s.client_id or s.object_id or s.mi_res_id) then s.client_id = env.client_id end
  if env.identity_endpoint and env.identity_header then
    local ok, herr = util.check_https(env.identity_endpoint, "IDENTITY_ENDPOINT")
    if not ok then return nil, herr end
    ok, herr = util.check_token(env.identity_header, "IDENTITY_HEADER")
    if not ok then return nil, herr end
    s.flow, s.url, s.header = "app service", env.identity_endpoint, env.identity_header
    return s
  end
  local host
  host, err = imds_host(env, t.default_imds or env.default_imds)
  if not host then return nil, err end
  local ok, uerr = check_imds_url(host)
  if not ok then return nil, uerr end
  s.flow, s.url = "imds", host .. M.IMDS_PATH
  return s
end

-- The request for one token.
local function build(s, resource, cfg)
  local q, headers
  if s.flow == "imds" then
    q = { "api-version", M.IMDS_API, "resource", resource }
    headers = { "Metadata: true", "Accept: application/json" }
  else
    q = { "api-version", M.APP_SERVICE_API, "resource", resource }
    headers = { "X-IDENTITY-HEADER: " .. s.header, "Accept: application/json" }
  end
  if s.client_id then q[#q + 1], q[#q + 2] = "client_id", s.client_id end
  if s.object_id then q[#q + 1], q[#q + 2] = "object_id", s.object_id end
  -- IMDS names the resource id msi_res_id, App Service mi_res_id.
  if s.mi_res_id then
    q[#q + 1], q[#q + 2] = s.flow == "imds" and "msi_res_id" or "mi_res_id", s.mi_res_id
  end
  local sep = string_find(s.url, "?", 1, true) and "&" or "?"
  return { method = "GET", url = s.url .. sep .. util.form_encode(q), headers = headers,
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout }
end

local function passing(flow, status)
  return PASSING[flow][status] or (status >= 500 and status <= 599)
end

-- Seconds before try n + 1 of an answer that asks for one.
local function retry_wait(resp, n)
  local h = resp.headers
  local given = h and retry.retry_after(h["retry-after"])
  local wait = given or M.RETRY_DELAY * 2 ^ (n - 1)
  return wait > M.MAX_RETRY_WAIT and M.MAX_RETRY_WAIT or wait
end

function M.fetcher(s, resource, cfg, send, r, time, sleep)
  r:add(s.header)
  local what = "managed identity (" .. s.flow .. ")"
  local function ask(req)
    local resp, terr = send(req)
    for n = 1, sleep and M.RETRIES or 0 do
      if not resp or not passing(s.flow, resp.status) then break end
      sleep(retry_wait(resp, n))
      resp, terr = send(req)
    end
    return resp, terr
  end
  return function()
    return endpoint.exchange(ask, build(s, resource, cfg), r, what, time)
  end
end

return M
