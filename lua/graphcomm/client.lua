-- graphcomm.client: the client and every one of its methods.
--
--   client.connect(opts) -> client | nil, err           (graphcomm.connect)
--   client:request(spec) -> info | nil, err             one logical request (graphcomm.engine)
--   client:update_session(...) -> true, info | nil, err the cmdlet's parameter sets
--   client:get_session(crid, sid [, query])             graphcomm.read
--   client:get_call_record(crid [, query])              graphcomm.read
--   client:sessions(crid [, query]) -> iterator         graphcomm.read
--   client:call_records([query]) -> iterator           graphcomm.read
--   client:update_sessions(items [, opts]) -> summary   graphcomm.bulk
--   client:run_rule(rule [, opts]) -> summary           graphcomm.rules
--   client:subscribe{...}, client:renew_subscription(id [, s]), client:unsubscribe(id),
--   client:subscriptions()                              graphcomm.subscriptions
--   client:close()                                      = __gc = __close, idempotent
--
-- A client is a "graphcomm.client" userdata (csrc/lua/handle.c) whose uservalue holds
-- its engine, the only keeper of its configuration, transport and credentials.
-- Options are read by graphcomm.options, the parameter sets by graphcomm.params;
-- read and bulk are given the engine, never the client's state.

local type, pairs, ipairs, error, select = type, pairs, ipairs, error, select
local string_lower = string.lower

local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local auth = require "graphcomm.auth"
local options = require "graphcomm.options"
local params = require "graphcomm.params"
local transport = require "graphcomm.transport"
local engine = require "graphcomm.engine"
local redact = require "graphcomm.redact"
local debug_lines = require "graphcomm.debug"
local read = require "graphcomm.read"
local bulk = require "graphcomm.bulk"
local subscriptions = require "graphcomm.subscriptions"
local rules = require "graphcomm.rules"

local M = {}
local methods = {}

local function on_close(st)
  local e = st.engine
  st.engine = nil
  if e then e:close() end
end

-- Set at the end, once methods is complete (core.handle_class copies it).
local new_client, state

-- state(self).engine is written out in every method, first: csrc/lua/handle.c names
-- the method that called state() in its "bad argument" and "closed client" errors,
-- and it is what refuses a closed client (the lookup finds the method either way).

------------------------------------------------------------------------------
-- connect
------------------------------------------------------------------------------

-- Credentials and credential-bearing headers the client will never show.
local SECRET_OPTIONS = { "token", "client_secret", "client_assertion", "client_certificate_key",
  "client_certificate_password" }
local SECRET_HEADERS = { cookie = true, ["proxy-authorization"] = true, authorization = true }

local function add_header_secrets(r, headers)
  if type(headers) ~= "table" then return end
  for k, v in pairs(headers) do
    if type(k) == "string" and SECRET_HEADERS[string_lower(k)] and type(v) == "string" then
      r:add(v)
    end
  end
end

local function secrets_of(opts)
  local r = redact.new()
  for _, name in pairs(SECRET_OPTIONS) do
    if type(opts[name]) == "string" then r:add(opts[name]) end
  end
  add_header_secrets(r, opts.headers)
  return r
end


-- thread_pool and thread_vm_pool_size are graphcomm.ngx's alone: the libcurl
-- transports refuse names they do not take.
local function make_transport(opts, cfg)
  local extra = opts.transport == "ngx" and
    { thread_pool = opts.thread_pool, thread_vm_pool_size = opts.thread_vm_pool_size } or nil
  local t, why = transport.new(opts.transport, transport.options(cfg, extra))
  if not t then
    return nil, errors.validation("option transport " .. why,
      { errors = { { path = "transport", message = why } } })
  end
  return t
end

function M.connect(opts)
  opts = options.check(opts, options.CONNECT, "connect", 1)
  local cfg, err = options.config(opts, opts.getenv)
  if not cfg then return nil, err end
  local secrets = secrets_of(opts)
  local t
  t, err = make_transport(opts, cfg)
  if not t then return nil, err end
  local aopts = {}
  for k, v in pairs(opts) do aopts[k] = v end
  aopts.base_url = cfg.base_url
  aopts.timeout, aopts.connect_timeout = cfg.timeout, cfg.connect_timeout
  local resolved = auth.resolve(aopts, opts.getenv)
  for _, name in pairs(SECRET_OPTIONS) do
    if type(resolved[name]) == "string" then secrets:add(resolved[name]) end
  end
  local provider
  provider, err = auth.new(resolved, { send = t.send, now = t.now, sleep = t.sleep, redact = secrets })
  if not provider then
    t.close()
    return nil, err
  end
  if cfg.debug then
    for _, w in ipairs(cfg.warnings or {}) do debug_lines.note(cfg.debug, "warning: " .. w, secrets) end
  end
  return new_client({ engine = engine.new(cfg, t, provider, secrets) })
end

------------------------------------------------------------------------------
-- Methods
------------------------------------------------------------------------------

-- client:request(spec) -> info | nil, err   (info = { status, headers, body, request_id, ... })
-- The caller's fields of a request spec (the engine's own, gzip or retry_attempt, are not).
local REQUEST = { method = "string", path = "string", url = "string", query = "table",
  body = "string", headers = "table", client_request_id = "string" }

-- The field of spec libcurl would read as a C string up to a NUL (the path, in the URL,
-- and the method; a url is request.check_url's), if it holds CR, LF or NUL.
local function bad_field(spec)
  if spec.path and request.bad_value(spec.path) then return "path" end
  if spec.method and request.bad_value(spec.method) then return "method" end
  return nil
end

function methods.request(self, spec)
  local e = state(self).engine
  if type(spec) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(spec) .. ")", 2)
  end
  spec = options.check(spec, REQUEST, "request", 1)
  local bad = bad_field(spec)
  if bad then
    return nil, e:clean(errors.validation(bad .. " contains CR, LF or NUL",
      { errors = { { path = bad, message = "contains CR, LF or NUL" } } }))
  end
  add_header_secrets(e.secrets, spec.headers)
  local ok, info = e:perform(spec)
  if ok == nil then return nil, info end
  return info
end

function methods.update_session(self, a, b, c, d)
  local e = state(self).engine
  local crid, sid, body, opts, err = params.update(a, b, c, d)
  if err then return nil, e:clean(err) end
  local path
  path, err = request.session_path(crid, sid)
  if not path then return nil, e:clean(err) end
  local json
  json, err = params.body_json(body, opts.allow_unknown)
  if not json then return nil, err end
  local headers = opts.headers
  if headers ~= nil then add_header_secrets(e.secrets, headers) end
  local spec = { method = "PATCH", path = path, body = json, headers = headers,
    client_request_id = opts.client_request_id }
  local confirm = opts.confirm
  if opts.what_if or (confirm ~= nil and confirm ~= false) then
    local shown, id = e:preview(spec)
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
  return e:perform(spec)
end

-- Not tail calls: the modules raise misuse errors at the caller's level, one frame up.
function methods.get_session(self, crid, sid, query)
  local v, info = read.get_session(state(self).engine, crid, sid, query)
  return v, info
end

function methods.get_call_record(self, crid, query)
  local v, info = read.get_call_record(state(self).engine, crid, query)
  return v, info
end

function methods.sessions(self, crid, query)
  local iter, err = read.sessions(state(self).engine, crid, query)
  return iter, err
end

function methods.update_sessions(self, items, opts)
  local summary, err = bulk.run(state(self).engine, items, opts)
  return summary, err
end

-- Over the client's own methods (listing, reads, update_sessions): no engine needed.
function methods.run_rule(self, rule, opts)
  state(self)
  local summary, err = rules.run(self, rule, opts)
  return summary, err
end

function methods.call_records(self, query)
  local iter, err = read.call_records(state(self).engine, query)
  return iter, err
end

function methods.subscribe(self, opts)
  local sub, info = subscriptions.subscribe(state(self).engine, opts)
  return sub, info
end

function methods.renew_subscription(self, id, expires_in)
  local sub, info = subscriptions.renew(state(self).engine, id, expires_in)
  return sub, info
end

function methods.unsubscribe(self, id)
  local ok, info = subscriptions.unsubscribe(state(self).engine, id)
  return ok, info
end

function methods.subscriptions(self, ...)
  local e = state(self).engine
  if select("#", ...) > 0 then   -- a filter or options table would be ignored: say so
    error("bad argument #1 to 'subscriptions' (no argument expected, got " .. type((...)) .. ")", 2)
  end
  local list, err = subscriptions.list(e)
  return list, err
end

new_client, state, M.is_closed = core.handle_class("graphcomm.client", methods, on_close)

return M
