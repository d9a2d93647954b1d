-- graphcomm_emulator.app: the nginx entry points (init, handle, nginx_error) and the
-- path every request takes: ids -> request log -> redirect rules -> fault rules ->
-- bearer token -> the Graph handlers (graph.lua, batch.lua), the token endpoint
-- (oauth.lua), the managed identity endpoints (identity.lua) or the control endpoints
-- under /_emulator (control.lua).

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local store = require "graphcomm_emulator.store"
local reqlog = require "graphcomm_emulator.reqlog"
local faults = require "graphcomm_emulator.faults"
local graph = require "graphcomm_emulator.graph"
local throttle = require "graphcomm_emulator.throttle"

local ngx = ngx
local find, sub, match, gsub, format, lower = string.find, string.sub, string.match, string.gsub,
  string.format, string.lower
local pairs, type, tostring, tonumber, xpcall, traceback = pairs, type, tostring, tonumber, xpcall, debug.traceback
local unpack = unpack or table.unpack

local M = {}
local settings = {}        -- from init: prefix, token, read_only, tls
local control, batch, oauth, identity  -- loaded in init (after the module table exists)

---------------------------------------------------------------- configuration

local function ctl() return ngx.shared.graphcomm_control end

-- Live switches (POST /_emulator/config): log, read_only, allow_unknown.
local function config()
  local d = ctl()
  return {
    log = d:get("cfg:log") ~= false,
    read_only = d:get("cfg:read_only") == true,
    allow_unknown = d:get("cfg:allow_unknown") == true,
  }
end
M.config = config

function M.settings() return settings end

-- Loads the fixtures into a fresh state (init, and POST /_emulator/reset).
function M.load_fixtures()
  local f = assert(io.open(settings.prefix .. "/fixtures/callrecords.json", "rb"))
  local text = f:read("*a")
  f:close()
  return store.load(text)
end

-- init_by_lua: remember the settings, load every module and the fixtures.
function M.init(opts)
  settings = opts
  control = require "graphcomm_emulator.control"
  batch = require "graphcomm_emulator.batch"
  oauth = require "graphcomm_emulator.oauth"
  identity = require "graphcomm_emulator.identity"
  require "graphcomm_emulator.crypto"
  M.load_fixtures()
  local d = ctl()
  d:flush_all()
  d:set("cfg:read_only", opts.read_only and true or false)
  d:set("cfg:log", true)
  d:set("cfg:allow_unknown", false)
  if opts.throttle then throttle.enable(throttle.parse({ limits = "documented" })) else throttle.disable() end
  collectgarbage("collect")   -- the workers fork from here: leave them no garbage to walk
end

function M.init_worker()
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
end

---------------------------------------------------------------- answering

local function ids()
  local crid = ngx.var.http_client_request_id
  return { request_id = util.guid(ngx.var.request_id), client_request_id = crid or util.guid() }
end

local function send(rid, status, headers, body)
  ngx.status = status
  local h = ngx.header
  h["request-id"] = rid.request_id
  h["client-request-id"] = rid.client_request_id
  h["x-ms-ags-diagnostic"] = '{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graphcomm-emulator"}}'
  h["Cache-Control"] = "no-store"
  if status ~= 204 then h["OData-Version"] = "4.0" end
  for k, v in pairs(headers or {}) do h[k] = v end
  if body and status ~= 204 and ngx.req.get_method() ~= "HEAD" then
    h["Content-Length"] = #body
    ngx.print(body)
  elseif status ~= 204 then
    h["Content-Length"] = body and #body or 0
  end
end
M.send = send

local function fault_response(r, rid, ctx)
  local status = json.number(r.status)
  local headers = { ["Content-Type"] = "application/json; charset=utf-8" }
  local ra = faults.retry_after(r)
  if ra then headers["Retry-After"] = ra end
  if r.headers then for k, v in pairs(r.headers) do headers[k] = tostring(json.number(v) or v) end end
  local body = type(r.body) == "string" and r.body
    or util.error_body(status, r.code, r.message, rid)
  return status, headers, body
end

-- Applies a fault rule: a delay, then a drop or an answer. Returns status, headers, body
-- when it answers, nil when the request should carry on, "drop" to close the connection,
-- "cut" to send the status line and headers and close the connection inside the body.
function M.apply_fault(r, rid)
  local delay = json.number(r.delay_ms)
  if delay and delay > 0 then ngx.sleep(delay / 1000) end
  if r.drop == true or r.reset == true then return "drop" end
  if r.cut == true then return "cut" end
  if r.status then return fault_response(r, rid) end
  return nil
end

---------------------------------------------------------------- authentication

local function bearer(headers)
  local a = headers["authorization"]
  if type(a) == "table" then a = a[1] end
  if not a then return nil end
  return match(a, "^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$") or ""
end

-- nil when the token is good, else the message of the 401.
function M.token_problem(headers)
  local tok = bearer(headers)
  if tok == nil or tok == "" then return "Access token is empty." end
  if tok == settings.token then return nil end
  local exp = ngx.shared.graphcomm_tokens:get(tok)
  if exp == nil then return "Invalid access token: the signature could not be verified (unknown token)." end
  if exp <= ngx.now() then return "Lifetime validation failed, the token is expired." end
  return nil
end

---------------------------------------------------------------- the request path

M.MAX_BODY = 16 * 1024 * 1024

local function read_body()
  local len = tonumber(ngx.var.http_content_length)
  if len and len > M.MAX_BODY then ngx.req.discard_body(); return nil, "too large" end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local file = ngx.req.get_body_file()
  if not file then return nil end
  local f = io.open(file, "rb")
  if not f then return nil end
  body = f:read("*a")
  f:close()
  if #body > M.MAX_BODY then return nil, "too large" end
  return body
end

local function split_path(raw)
  local segs = {}
  for seg in string.gmatch(raw, "[^/]+") do segs[#segs + 1] = util.unescape(seg) end
  return segs
end

local function base_url()
  local host = ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port)
  return ngx.var.scheme .. "://" .. host
end
M.base_url = base_url

local function dispatch()
  local method = ngx.req.get_method()
  local uri = ngx.var.request_uri
  local raw_path, query = match(uri, "^([^?]*)%??(.*)$")
  local segs = split_path(raw_path)
  local rid = ids()

  if segs[1] == "_emulator" then
    local status, headers, body = control.handle(method, segs, util.parse_query(query), read_body(), rid)
    return send(rid, status, headers, body)
  end

  local headers = ngx.req.get_headers(200)
  local body, too_large = read_body()
  if too_large then
    return send(rid, 413, { ["Content-Type"] = "application/json; charset=utf-8" }, util.error_body(413,
      "RequestEntityTooLarge", format("The request body is larger than %d bytes.", M.MAX_BODY), rid))
  end
  local cfg = config()
  if cfg.log then
    local copy = {}     -- a plain table: ngx's header table has a metatable of its own
    for k, v in pairs(headers) do copy[k] = v end
    reqlog.add(json.object({ method = method, path = uri, headers = copy, body = body or json.null,
      http_version = format("%.1f", ngx.req.http_version() or 1.1), time = ngx.now() },
      { "seq", "method", "path", "headers", "body", "http_version", "time" }))
  end

  local redirect = faults.pick("redirects", method, uri)
  if redirect then
    local loc = gsub(redirect.location or "/", "{path}", function() return uri end)
    return send(rid, json.number(redirect.status) or 307, { Location = loc }, nil)
  end

  local fault = faults.pick("faults", method, uri)
  if fault then
    local status, fh, fb = M.apply_fault(fault, rid)
    if status == "drop" then return ngx.exit(444) end
    if status == "cut" then       -- a status line and headers, then the body cut short
      ngx.status = json.number(fault.status) or 200
      ngx.header["Content-Type"] = "application/json"
      ngx.header["Content-Length"] = 1000
      ngx.print('{"id":')
      ngx.flush(true)
      return ngx.exit(444)
    end
    if status then return send(rid, status, fh, fb) end
  end

  local ctx = { method = method, args = util.parse_query(query), headers = headers, body = body,
    base = base_url(), ids = rid, cfg = cfg, query = query, uri = uri }

  if #segs == 4 and segs[2] == "oauth2" and segs[3] == "v2.0" and segs[4] == "token" then
    ctx.tenant = segs[1]
    return send(rid, oauth.token(ctx))
  end
  local identity_flow = identity.which(segs)
  if identity_flow then return send(rid, identity.handle(ctx, identity_flow)) end

  local version = segs[1]
  if version ~= "v1.0" and version ~= "beta" then
    return send(rid, graph.fail(ctx, 404, format("Resource not found for the segment '%s'. Paths start with /v1.0 or /beta.",
      tostring(version or "")), "NotFound"))
  end
  ctx.version = version
  ctx.segs = { unpack(segs, 2) }

  local problem = M.token_problem(headers)
  if problem then
    return send(rid, graph.fail(ctx, 401, problem, "InvalidAuthenticationToken", nil, {
      ["WWW-Authenticate"] = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
    }))
  end

  if #ctx.segs == 1 and ctx.segs[1] == "$batch" then
    return send(rid, batch.handle(ctx))       -- its requests are counted one by one
  end
  local ts, th, tb = throttle.check(method, uri, rid)   -- Graph's limits, when switched on
  if ts then return send(rid, ts, th, tb) end
  local status, h, b = graph.route(ctx)
  return send(rid, status, throttle.decorate(h, th), b)
end

-- content_by_lua: any Lua error becomes a Graph-shaped 500, never a stack trace.
function M.handle()
  local ok, err = xpcall(dispatch, traceback)
  if not ok then
    ngx.log(ngx.ERR, "graphcomm emulator: ", err)
    if not ngx.headers_sent then
      ngx.status = 500
      ngx.header["Content-Type"] = "application/json; charset=utf-8"
      ngx.print(util.error_body(500, "InternalServerError", "The emulator failed: " ..
        gsub(tostring(err), "\n.*", "")))
    end
  end
end

-- error_page target: nginx's own errors (413, 400, ...) as Graph error bodies.
function M.nginx_error()
  local status = tonumber(ngx.var.status) or ngx.status
  if not status or status < 400 then status = 500 end
  ngx.status = status
  ngx.header["Content-Type"] = "application/json; charset=utf-8"
  local rid = { request_id = util.guid(ngx.var.request_id), client_request_id = util.guid() }
  ngx.header["request-id"] = rid.request_id
  ngx.header["client-request-id"] = rid.client_request_id
  ngx.print(util.error_body(status, nil, format("The request was refused by the server (HTTP %d).", status), rid))
end

return M
