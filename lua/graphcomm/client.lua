-- graphcomm.client: clients and the update call (docs/contract.md section 3).
--
--   client.connect(opts) -> client | nil, err      (graphcomm.connect)
--   client:request(spec) -> info | nil, err        one logical request: auth, retries,
--                                                  redirects, error mapping (HACKING.md)
--   client:update_session(...)                     the cmdlet's four parameter sets
--   client:close()                                 = __gc = __close, idempotent
--
-- A client is a "graphcomm.client" userdata (csrc/handle.c) whose uservalue is its
-- state table { cfg, transport, auth, sleep, now }. Other modules add methods to
-- client.methods and reach the state with client.state(self), which raises on a
-- closed client or a wrong argument.

local type, pairs, ipairs, tostring, error, getmetatable, setmetatable, rawget, os_getenv =
      type, pairs, ipairs, tostring, error, getmetatable, setmetatable, rawget, os.getenv
local string_lower, string_gsub, string_format, string_find =
      string.lower, string.gsub, string.format, string.find

local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local retry = require "graphcomm.retry"
local response = require "graphcomm.response"
local auth = require "graphcomm.auth"
local redirect = require "graphcomm.redirect"

local build, result, retry_delay = request.build, response.result, retry.delay
local encode = core.encode

local M = {}
local methods = {}
M.methods = methods

local function on_close(st)
  local t = st.transport
  st.transport = nil
  if t ~= nil and t.close then t:close() end
end

-- Methods other modules provide, loaded on first use: each module's install(methods)
-- adds its methods to this table.
local LAZY = { get_session = "graphcomm.read", get_call_record = "graphcomm.read",
  sessions = "graphcomm.read", update_sessions = "graphcomm.bulk" }
M.LAZY = LAZY

setmetatable(methods, { __index = function(t, name)
  local mod = LAZY[name]
  if not mod then return nil end
  require(mod).install(t)
  return rawget(t, name)
end })

local new_client, state, is_closed = core.handle_class("graphcomm.client", methods, on_close)
M.state, M.is_closed = state, is_closed

------------------------------------------------------------------------------
-- Options
------------------------------------------------------------------------------

M.DEFAULTS = { api_version = "v1.0", timeout = 100, connect_timeout = 10, max_retries = 3,
  max_retry_delay = 180, max_response_bytes = 16 * 1024 * 1024, compress_min = 1024 }

local function bad_option(name, message)
  return nil, errors.validation("option " .. name .. " " .. message,
    { errors = { { path = name, message = message } } })
end

local function env(getenv, name)
  local v = getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

local function cloud(name)
  for k, v in pairs(auth.clouds) do
    if string_lower(k) == string_lower(name) then return v end
  end
  return nil
end

local function number_option(cfg, opts, name, min, max)
  local v = opts[name]
  if v == nil then v = M.DEFAULTS[name] end
  if type(v) ~= "number" or v ~= v or v < min or (max and v > max) then
    return bad_option(name, "must be a number" .. (max and string_format(" from %g to %g", min, max)
      or string_format(" >= %g", min)) .. ", got " .. tostring(opts[name]))
  end
  cfg[name] = v
  return true
end

local function base_url(opts, getenv)
  if opts.base_url ~= nil then
    if type(opts.base_url) ~= "string" then return bad_option("base_url", "must be a string") end
    return opts.base_url
  end
  if opts.environment ~= nil then
    local c = type(opts.environment) == "string" and cloud(opts.environment)
    if not c then
      return bad_option("environment", "must be Global, USGov, USGovDoD or China, got "
        .. tostring(opts.environment))
    end
    return c.graph
  end
  return env(getenv, "GRAPHCOMM_BASE_URL") or auth.clouds.Global.graph
end

local function http_version(v)
  if v == nil then return nil end
  if v == 2 then return "2" end
  if v == 1.1 then return "1.1" end
  if v == 1 or v == 1.0 then return "1.0" end
  local known = { ["1.0"] = true, ["1.1"] = true, ["2"] = true, ["2tls"] = true,
    ["2-prior-knowledge"] = true }
  if known[v] then return v end
  return nil, true
end

-- opts (and the environment through getenv) -> cfg for request.prepare and the transport.
function M.config(opts, getenv)
  getenv = getenv or os_getenv
  local cfg, ok, err = {}, nil, nil
  cfg.base_url, err = base_url(opts, getenv)
  if not cfg.base_url then return nil, err end
  local v = opts.api_version or M.DEFAULTS.api_version
  if v ~= "v1.0" and v ~= "beta" then return bad_option("api_version", "must be v1.0 or beta") end
  cfg.api_version = v
  for _, spec in ipairs({ { "timeout", 0 }, { "connect_timeout", 0 },
      { "max_retries", 0, retry.MAX_RETRIES }, { "max_retry_delay", 0 },
      { "max_response_bytes", 1 } }) do
    ok, err = number_option(cfg, opts, spec[1], spec[2], spec[3])
    if not ok then return nil, err end
  end
  cfg.max_retries = math.floor(cfg.max_retries)
  cfg.ca_file = opts.ca_file or env(getenv, "GRAPHCOMM_CA_FILE")
  cfg.proxy = opts.proxy
  for _, name in ipairs({ "ca_file", "proxy", "user_agent" }) do
    local s = name == "user_agent" and opts.user_agent or cfg[name]
    if s ~= nil and (type(s) ~= "string" or string_find(s, "[\r\n%z]")) then
      return bad_option(name, "must be a string without CR, LF or NUL")
    end
  end
  cfg.user_agent = opts.user_agent
  local hv, bad = http_version(opts.http_version)
  if bad then return bad_option("http_version", "must be 1.0, 1.1, 2, 2tls or 2-prior-knowledge") end
  cfg.http_version = hv
  if opts.headers ~= nil and type(opts.headers) ~= "table" then
    return bad_option("headers", "must be a table of name = value")
  end
  cfg.headers = opts.headers
  local c = opts.compress
  if c ~= nil and c ~= false and c ~= true and (type(c) ~= "number" or not (c >= 0)) then
    return bad_option("compress", "must be a boolean or a minimum body size in bytes")
  end
  cfg.compress_min = (c == true and M.DEFAULTS.compress_min) or (type(c) == "number" and c) or nil
  if opts.debug ~= nil and type(opts.debug) ~= "function" then
    return bad_option("debug", "must be a function receiving one line")
  end
  cfg.debug = opts.debug
  cfg.random = opts.random          -- jitter source, for tests
  return request.prepare(cfg)
end

------------------------------------------------------------------------------
-- Transport and credentials
------------------------------------------------------------------------------

local function transport_options(opts, cfg)
  return { ca_file = cfg.ca_file, proxy = cfg.proxy, http_version = cfg.http_version,
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout,
    max_body = cfg.max_response_bytes,
    thread_pool = opts.thread_pool, thread_vm_pool_size = opts.thread_vm_pool_size }
end

-- The libcurl easy transport (a userdata: send is a method), the ngx transport, or a
-- caller's table { send = function(req), sleep =, now = } (send a plain function).
local function make_transport(opts, cfg)
  local t = opts.transport
  if t == nil or t == "curl" then
    return core.http(transport_options(opts, cfg))
  elseif t == "ngx" then
    return require("graphcomm.ngx").new(transport_options(opts, cfg))
  elseif type(t) == "table" and type(t.send) == "function" then
    return t
  end
  return bad_option("transport", "must be \"curl\", \"ngx\" or a table with send(req)")
end

-- st.send, st.sleep, st.now: from the transport (ngx.sleep inside nginx) or the core.
local function bind_transport(st, t)
  if type(t) == "table" then
    st.send, st.sleep, st.now = t.send, t.sleep or core.sleep, t.now or core.now
  else
    st.send = function(req) return t:send(req) end
    st.sleep, st.now = core.sleep, core.now
  end
end

function M.connect(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("bad argument #1 to 'connect' (table expected, got " .. type(opts) .. ")", 2)
  end
  local cfg, err = M.config(opts, opts.getenv)
  if not cfg then return nil, err end
  local transport
  transport, err = make_transport(opts, cfg)
  if not transport then return nil, err end
  local st = { cfg = cfg, transport = transport }
  bind_transport(st, transport)
  local aopts = {}
  for k, v in pairs(opts) do aopts[k] = v end
  aopts.base_url = cfg.base_url
  aopts.timeout, aopts.connect_timeout = cfg.timeout, cfg.connect_timeout
  st.auth, err = auth.new(auth.resolve(aopts, opts.getenv),
    { send = st.send, now = st.now, sleep = st.sleep })
  if not st.auth then
    on_close(st)
    return nil, err
  end
  return new_client(st)
end

------------------------------------------------------------------------------
-- Debug output (redacted)
------------------------------------------------------------------------------

local function debug_request(d, req)
  d("> " .. req.method .. " " .. req.url)
  for _, line in ipairs(req.headers) do
    if string_find(string_lower(line), "^authorization:") then
      line = "Authorization: Bearer <redacted>"
    end
    d("> " .. line)
  end
  if req.body then
    if string_find(req.body, "^\31\139") then
      d("> [" .. #req.body .. " bytes, gzip]")
    else
      d("> " .. req.body)
    end
  end
end

M.debug_request = debug_request

local function debug_response(d, resp)
  d("< HTTP/" .. tostring(resp.http_version) .. " " .. tostring(resp.status))
  local names = {}
  for k in pairs(resp.headers) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = resp.headers[k]
    if k == "set-cookie" then v = "<redacted>" end
    d("< " .. k .. ": " .. v)
  end
  if resp.body ~= "" then d("< " .. resp.body) end
end
M.debug_response = debug_response

------------------------------------------------------------------------------
-- One logical request
------------------------------------------------------------------------------

local MAX_REDIRECTS = redirect.MAX

-- A mutable copy of spec for the next attempt, pinned to the id already sent.
local function next_spec(spec, req)
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.client_request_id = req.client_request_id
  return s
end

-- The Authorization value for st's current token (renewed when force), kept in
-- st.token/st.authz so that a value is built once per token; bulk uses it too.
local function authorization(st, force)
  local token, err = st.auth:get(force)
  if not token then return nil, err end
  if token ~= st.token then
    st.token, st.authz = token, "Bearer " .. token
  end
  return st.authz
end
M.authorization = authorization

local function wait(st, seconds, why, attempt)
  local d = st.cfg.debug
  if d then d(string_format("* retry %d in %.3f s (%s)", attempt, seconds, why)) end
  st.sleep(seconds)
end

local function transport_failure(terr, req)
  if type(terr) ~= "table" then terr = { message = tostring(terr), code = "transport" } end
  terr.client_request_id = req.client_request_id
  return errors.transport(terr)
end

-- 401 InvalidAuthenticationToken (or a bare 401): worth one renewal.
local function stale_token(resp)
  local e = response.graph_error(resp)
  return e == nil or e.code == nil or e.code == "InvalidAuthenticationToken"
end
M.stale_token = stale_token

-- Decides what follows a response: nil to finish, or the spec of the next attempt.
local function follow_up(st, spec, req, resp, n)
  local status = resp.status
  local url = redirect.location(req, resp)
  if url then
    n.redirects = n.redirects + 1
    if n.redirects > MAX_REDIRECTS then return nil end
    return redirect.retarget(next_spec(spec, req), req, url, status)
  end
  if status == 401 and not n.renewed and not spec.cross_origin and st.auth.renewable ~= false
     and stale_token(resp) then
    n.renewed = true
    st.auth:invalidate()
    n.force = true
    return next_spec(spec, req)
  end
  if (status == 400 or status == 415) and spec.gzip then
    local s = next_spec(spec, req)
    s.gzip = nil
    return s
  end
  if retry.RETRY_STATUS[status] then
    local secs = retry_delay(st.cfg, n.attempt + 1, status, resp.headers)
    if secs then
      n.attempt = n.attempt + 1
      wait(st, secs, "status " .. status, n.attempt)
      local s = next_spec(spec, req)
      s.retry_attempt = n.attempt
      return s
    end
  end
  return nil
end

local function too_many_redirects(resp, req)
  return errors.http("more than " .. MAX_REDIRECTS .. " redirects", { status = resp.status,
    code = "TooManyRedirects", headers = resp.headers, client_request_id = req.client_request_id })
end

local function perform(st, spec)
  local cfg, send, d = st.cfg, st.send, st.cfg.debug
  local n = { attempt = 0, redirects = 0 }
  if cfg.compress_min and spec.body and #spec.body >= cfg.compress_min then
    spec = next_spec(spec, spec)
    spec.gzip = true
  end
  while true do
    local authz, err
    if not spec.cross_origin then
      authz, err = authorization(st, n.force)
      if not authz then return nil, err end
      n.force = nil
    end
    local req
    req, err = build(cfg, spec, authz)
    if not req then return nil, err end
    if d then debug_request(d, req) end
    local resp, terr = send(req)
    if not resp then
      if d then d("* " .. tostring(type(terr) == "table" and terr.message or terr)) end
      local secs = retry_delay(cfg, n.attempt + 1, nil, nil, terr)
      if not secs then return nil, transport_failure(terr, req) end
      n.attempt = n.attempt + 1
      wait(st, secs, "connection failure", n.attempt)
      spec = next_spec(spec, req)
      spec.retry_attempt = n.attempt
    else
      if d then debug_response(d, resp) end
      local next = follow_up(st, spec, req, resp, n)
      if not next then
        if n.redirects > MAX_REDIRECTS then return nil, too_many_redirects(resp, req) end
        return result(resp, req)
      end
      spec = next
    end
  end
end
M.perform = perform

-- client:request(spec) -> info | nil, err   (info = { status, headers, body, request_id, ... })
function methods.request(self, spec)
  local st = state(self)
  if type(spec) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(spec) .. ")", 2)
  end
  local ok, info = perform(st, spec)
  if ok == nil then return nil, info end
  return info
end

------------------------------------------------------------------------------
-- The update call: the cmdlet's parameter sets
------------------------------------------------------------------------------

-- "CallRecordId", "callRecordId", "call_record_id" -> "callrecordid"
local function norm(k)
  if type(k) ~= "string" then return nil end
  return (string_gsub(string_lower(k), "[_%-]", ""))
end

local function identity(t)
  local crid, sid
  for k, v in pairs(t) do
    local nk = norm(k)
    if nk == "callrecordid" then crid = v elseif nk == "sessionid" then sid = v end
  end
  return crid, sid
end

local CONTROL = { whatif = "what_if", confirm = "confirm", passthru = "pass_thru",
  headers = "headers", clientrequestid = "client_request_id", allowunknown = "allow_unknown" }

local function combined(names)
  local list = {}
  for i, name in ipairs(names) do
    list[i] = { path = name, message = "cannot be combined with BodyParameter" }
  end
  return nil, nil, nil, nil, errors.validation("BodyParameter cannot be combined with expanded properties ("
    .. table.concat(names, ", ") .. ")", { errors = list })
end

-- The single-table form: { CallRecordId, SessionId | InputObject, BodyParameter | expanded
-- properties, WhatIf, Confirm, PassThru }. Returns crid, sid, body, opts [, err].
local function cmdlet_form(t)
  local crid, sid, input, bodyparam
  local opts, expanded, names = {}, nil, {}
  for k, v in pairs(t) do
    local nk = norm(k)
    if nk == "callrecordid" then crid = v
    elseif nk == "sessionid" then sid = v
    elseif nk == "inputobject" then input = v
    elseif nk == "bodyparameter" then bodyparam = v
    elseif CONTROL[nk] then opts[CONTROL[nk]] = v
    else
      expanded = expanded or {}
      expanded[k] = v
      names[#names + 1] = tostring(k)
    end
  end
  if input ~= nil then
    if type(input) ~= "table" then
      error("bad argument #1 to 'update_session' (InputObject must be a table, got "
        .. type(input) .. ")", 4)
    end
    if crid ~= nil or sid ~= nil then
      return nil, nil, nil, nil,
        errors.validation("InputObject cannot be combined with CallRecordId or SessionId")
    end
    crid, sid = identity(input)
  end
  if bodyparam ~= nil and expanded then
    table.sort(names)
    return combined(names)
  end
  return crid, sid, bodyparam or expanded or {}, opts
end

local function is_session(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return type(mt) == "table" and mt.__name == "graphcomm.session"
end

local function check_body(body, argn)
  if type(body) ~= "table" and not is_session(body) then
    error(string_format("bad argument #%d to 'update_session' (table or graphcomm.session "
      .. "expected, got %s)", argn, body == nil and "no value" or type(body)), 4)
  end
end

-- Shared by every call without options (read, never written): no table per call.
local NO_OPTS = {}

local function check_opts(opts, argn)
  if opts ~= nil and type(opts) ~= "table" then
    error(string_format("bad argument #%d to 'update_session' (table expected, got %s)",
      argn, type(opts)), 4)
  end
  return opts or NO_OPTS
end

-- Sorts out which parameter set the arguments are: crid, sid, body, opts [, err];
-- err (bad input, not a wrong type) comes fifth, the others then nil.
local function parameter_set(a, b, c, d)
  local ta = type(a)
  if ta == "string" or ta == "number" then                       -- Update(Expanded)
    check_body(c, 3)
    return a, b, c, check_opts(d, 4)
  elseif ta == "table" and b ~= nil then                        -- UpdateViaIdentity
    local crid, sid = identity(a)
    check_body(b, 2)
    return crid, sid, b, check_opts(c, 3)
  elseif ta == "table" then                                     -- cmdlet single table
    local crid, sid, body, opts, err = cmdlet_form(a)
    if err then return nil, nil, nil, nil, err end
    check_body(body, 1)
    return crid, sid, body, opts
  end
  error("bad argument #1 to 'update_session' (string or table expected, got "
    .. (a == nil and "no value" or ta) .. ")", 3)
end

-- The request a what-if shows and a confirm function is asked about: exactly
-- { method, url, headers, body } (docs/contract.md section 3); its client-request-id comes second.
local function preview(st, spec)
  local req, err = build(st.cfg, spec, "Bearer <redacted>")
  if not req then return nil, err end
  return { method = req.method, url = req.url, headers = request.header_map(req), body = spec.body },
    req.client_request_id
end

local ALLOW_UNKNOWN = { allow_unknown = true }

-- The JSON text of a body (update_session and update_sessions alike): a session
-- object's as it is, a table validated and encoded.
local function body_json(body, allow_unknown)
  if is_session(body) then return body:json() end
  return encode(body, allow_unknown and ALLOW_UNKNOWN or nil)
end
M.is_session, M.body_json = is_session, body_json

function methods.update_session(self, a, b, c, d)
  local st = state(self)
  local crid, sid, body, opts, err = parameter_set(a, b, c, d)
  if err then return nil, err end
  local path
  path, err = request.session_path(crid, sid)
  if not path then return nil, err end
  local json
  json, err = body_json(body, opts.allow_unknown)
  if not json then return nil, err end
  local spec = { method = "PATCH", path = path, body = json, headers = opts.headers,
    client_request_id = opts.client_request_id }
  local confirm = opts.confirm
  if opts.what_if or (confirm ~= nil and confirm ~= false) then
    local shown, id = preview(st, spec)
    if not shown then return nil, id end
    if opts.what_if then return shown end
    if type(confirm) ~= "function" then
      error("bad argument to 'update_session' (confirm must be a function, got "
        .. type(confirm) .. ")", 2)
    end
    if confirm(shown) ~= true then
      return nil, errors.declined("the update was declined by the confirm function",
        { client_request_id = id })
    end
    spec.client_request_id = id
  end
  return perform(st, spec)
end

M.parameter_set = parameter_set

return M
