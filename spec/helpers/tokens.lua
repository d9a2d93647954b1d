-- Spec helper for the credential specs: talks to the emulator's control endpoints
-- (clients, token expiry, the request log) over the library's own libcurl transport.
--
--   local tokens = require "helpers.tokens"
--   local ctl = tokens.new(base_url)
--   ctl.send(req)                      the transport's send (for auth.new's deps)
--   ctl.register{ tenant=, client_id=, client_secret= | certificate=, expires_in= }
--   ctl.expire()                       every issued token expires now
--   ctl.log(match) -> { entries }      requests whose path contains match
--   ctl.generate(n) -> crid, { sids }  a fresh call record with n sessions
--   ctl.secret_app() -> app            a fresh tenant and client with a secret, registered
--   ctl.graph_status(token) -> status  a Graph GET with that bearer token
--   tokens.env(vars)                   a getenv reading only vars
--   tokens.unique(prefix)              a name no other spec uses
--   tokens.form(body) -> { name = value }
--   tokens.token_path(tenant)          the tenant's token endpoint path (for ctl.log)
--   local server, ctl, kit = tokens.start()   a private emulator, its ctl, a cert kit
--   tokens.stop(server, kit)           (setup/teardown of the credential specs)
local core = require "graphcomm.core"
local cjson = require "cjson"

local M = {}

function M.env(vars) return function(name) return vars[name] end end

function M.token_path(tenant) return "/" .. tenant .. "/oauth2/v2.0/token" end

local counter = 0
function M.unique(prefix)
  counter = counter + 1
  return ("%s-%d-%d"):format(prefix, os.time() % 100000, counter) .. core.uuid4():sub(1, 8)
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.form(body)
  local out = {}
  for pair in (body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    out[unescape(k)] = unescape(v)
  end
  return out
end

function M.new(base_url)
  local http = core.http({})
  local ctl = {}

  function ctl.send(req) return http:send(req) end

  local function call(method, path, body)
    local resp, err = http:send({ method = method, url = base_url .. path,
      headers = { "Content-Type: application/json", "Accept: application/json" },
      body = body and cjson.encode(body) or nil })
    assert(resp, tostring(err))
    assert(resp.status == 200, method .. " " .. path .. ": " .. resp.status .. " " .. tostring(resp.body))
    return cjson.decode(resp.body)
  end
  ctl.call = call

  function ctl.register(client) return call("POST", "/_emulator/clients", client) end
  function ctl.expire() return call("POST", "/_emulator/tokens/expire") end

  function ctl.log(match)
    local q = match and ("?match=" .. match:gsub("[^%w%-%._~/]", function(c)
      return ("%%%02X"):format(c:byte())
    end)) or ""
    return call("GET", "/_emulator/requests" .. q)
  end

  function ctl.secret_app()
    local app = { tenant = M.unique("t"), client_id = M.unique("app"), client_secret = "s-" .. M.unique("s") }
    ctl.register(app)
    return app
  end

  function ctl.graph_status(token)
    local crid = ctl.generate(1)
    local resp = assert(http:send({ method = "GET",
      url = base_url .. "/v1.0/communications/callRecords/" .. crid,
      headers = { "Authorization: Bearer " .. token } }))
    return resp.status
  end

  function ctl.generate(n)
    local r = call("POST", "/_emulator/callRecords", { sessions = n or 2 })
    return r.id, r.sessionIds
  end

  return ctl
end

function M.start()
  local server = require("helpers.emulator").start {}
  return server, M.new(server.base_url), require("helpers.certs").make()
end

function M.stop(server, kit)
  if kit then kit.cleanup() end
  if server then server.stop() end
end

return M
