-- graphcomm.engine: one logical request, from credentials to the final answer.
--
-- Every request of the library goes through here: the single update, reads,
-- bulk (item by item and $batch) and every transport. The policy is one step
-- function, shared by the blocking loop (perform) and by bulk's many-in-flight loop:
--
--   e = engine.new(cfg, transport, auth, secrets)   (graphcomm.client does this)
--   x = e:exchange(spec [, inner])   one logical request's state (attempts, redirects...);
--                                    spec is the exchange's from then on (not copied)
--   req = e:build(x) | nil, err      the next attempt's request (credentials, headers)
--   e:step(x, resp, terr) -> "done", ok, info_or_err
--                          | "again", seconds, why     (why: redirect, renew,
--                                                       uncompressed, retry)
--   e:perform(spec) -> true, info | nil, err           build/send/step until done (spec
--                                                       handed over as to exchange)
--
-- The order of the step, written once (docs/design.md):
--   transport failure -> retry when the server cannot have acted, else a transport error
--   3xx with Location -> follow (at most redirect.MAX; a target that is not https, or
--                        http to loopback, without userinfo, is refused: kind redirect)
--   401               -> renew the token once per request, send again
--   400/415 on gzip   -> send again uncompressed
--   429/503/504       -> wait (Retry-After or backoff), send again
--   anything else     -> the result: info, or Graph's error
-- inner exchanges (requests inside a $batch) skip redirects and compression.
-- Every error leaving here is scrubbed of the client's secrets, in any encoding.

local type, pairs, tostring, setmetatable, getmetatable =
      type, pairs, tostring, setmetatable, getmetatable
local string_format = string.format

local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local retry = require "graphcomm.retry"
local response = require "graphcomm.response"
local redirect = require "graphcomm.redirect"
local show = require "graphcomm.debug"
local redact = require "graphcomm.redact"
local limiter = require "graphcomm.limiter"

local build, result = request.build, response.result
local controls = redact.controls

local M = {}
local Engine = {}
Engine.__index = Engine

function M.new(cfg, transport, auth, secrets)
  return setmetatable({ cfg = cfg, transport = transport, auth = auth,
    secrets = secrets or redact.new(), send = transport.send, sleep = transport.sleep,
    now = transport.now, own = transport.own == true, token = nil, authz = nil, force_renew = nil,
    limiter = cfg.limits and limiter.new(cfg.limits, transport.now) or nil }, Engine)
end

------------------------------------------------------------------------------
-- Secrets out of errors
------------------------------------------------------------------------------

-- Fields whose text a terminal shows: control characters escaped too.
local SHOWN = { message = true, code = true, description = true, request_id = true,
  client_request_id = true, date = true, location = true, path = true }

local function scrub_table(r, t, depth, seen)
  if depth > 4 or seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == "string" then
      v = r:scrub(v)
      if SHOWN[k] then v = controls(v) end
      t[k] = v
    elseif tv == "table" and getmetatable(v) == nil or (tv == "table" and errors.is(v)) then
      scrub_table(r, v, depth + 1, seen)
    end
  end
end

-- The error, with every known secret replaced and its shown text escaped.
function Engine:clean(err)
  if type(err) == "table" then scrub_table(self.secrets, err, 0, {}) end
  return err
end

function Engine:note(text)
  local d = self.cfg.debug
  if d then show.note(d, text, self.secrets) end
end

------------------------------------------------------------------------------
-- Credentials
------------------------------------------------------------------------------

-- The Authorization value for the current token (renewed after a stale-token 401),
-- built once per token.
function Engine:authorization()
  local token, err = self.auth:get(self.force_renew)
  if not token then return nil, err end
  if self.force_renew then self.force_renew = nil end
  if token ~= self.token then
    self.secrets:add(token)
    self.token, self.authz = token, "Bearer " .. token
  end
  return self.authz
end

-- 401 InvalidAuthenticationToken (or a bare 401): worth one renewal per request.
-- Many requests in flight with the same stale token renew it once.
function Engine:renew(x, resp)
  if x.renewed or x.spec.cross_origin or self.auth.renewable == false then return false end
  local e = response.graph_error(resp)
  if e ~= nil and e.code ~= nil and e.code ~= "InvalidAuthenticationToken" then return false end
  x.renewed = true
  if x.token == self.token then
    self.auth:invalidate()
    self.force_renew = true
  end
  return true
end

------------------------------------------------------------------------------
-- Exchanges
------------------------------------------------------------------------------

-- The exchange owns spec from here on: a redirect retargets it, the engine marks
-- it (gzip, retry_attempt, client_request_id). Every caller hands over a table of
-- its own (client:request's is options.check's copy of the caller's).
-- The exchange is the spec itself, its state in fields a spec never has (x.spec is x):
-- one table less per request, which on Lua 5.4 is a tenth of the Lua layer's cost.
-- redirects and waited start as nil (0); req and token as false.
function Engine:exchange(spec, inner)
  local cm = self.cfg.compress_min
  local body = spec.body
  if not inner and cm and body and #body >= cm then spec.gzip = true end
  spec.spec, spec.attempt, spec.req, spec.token = spec, 0, false, false
  if inner then spec.inner = inner end
  return spec
end

function Engine:build(x)
  local spec, authz, err = x.spec, nil, nil
  if not spec.cross_origin then
    authz, err = self:authorization()
    if not authz then return nil, self:clean(err) end
    x.token = self.token
  end
  if x.attempt > 0 then spec.retry_attempt = x.attempt end   -- attempt only grows
  local req
  req, err = build(self.cfg, spec, authz)
  if not req then return nil, self:clean(err) end
  spec.client_request_id = req.client_request_id   -- kept across attempts
  x.req = req
  local d = self.cfg.debug
  if d then show.request(d, req, self.secrets) end
  return req
end

------------------------------------------------------------------------------
-- The step
------------------------------------------------------------------------------

-- seconds before the next attempt | nil (no retry left, or not worth one).
-- connect{ on_retry = fn } hears of each wait: fn(seconds, { attempt, status | code, url }).
function Engine:retry_wait(x, status, headers, terr)
  local secs = retry.delay(self.cfg, x.attempt + 1, status, headers, terr)
  if not secs then return nil end
  x.attempt = x.attempt + 1
  x.waited = (x.waited or 0) + secs
  local on_retry = self.cfg.on_retry
  if on_retry then
    on_retry(secs, { attempt = x.attempt, status = status,
      code = type(terr) == "table" and terr.code or nil,
      url = x.req and self.secrets:scrub(x.req.url) or nil })
  end
  return secs
end

local function attempts(x)
  local n = x.attempt + 1
  return n == 1 and "1 attempt" or (n .. " attempts")
end

function Engine:transport_error(x, terr)
  local e = {}
  if type(terr) == "table" then
    for k, v in pairs(terr) do e[k] = v end
  else
    e.message, e.code = tostring(terr), "transport"
  end
  e.message = string_format("%s (%s%s)", tostring(e.message or "transport failure"),
    attempts(x), x.attempt > 0 and string_format(", %.1f s of waits", x.waited) or "")
  e.attempts = x.attempt + 1
  e.client_request_id = x.req and x.req.client_request_id
  return self:clean(errors.transport(e))
end

function Engine:http_error(x, resp)
  local _, err = result(resp, x.req)
  if x.attempt > 0 then err.attempts = x.attempt + 1 end
  return self:clean(err)
end

local function too_many_redirects(resp, req)
  return errors.redirect("more than " .. redirect.MAX .. " redirects", { status = resp.status,
    code = "TooManyRedirects", request_id = resp.headers["request-id"],
    client_request_id = req.client_request_id })
end

local function follow(self, x, resp)
  local req = x.req
  local url = redirect.location(req, resp)
  if not url then return nil end
  x.redirects = (x.redirects or 0) + 1
  if x.redirects > redirect.MAX then return "done", nil, self:clean(too_many_redirects(resp, req)) end
  local ok, err = redirect.check(url, req, resp)
  if not ok then return "done", nil, self:clean(err) end
  redirect.retarget(x.spec, req, url, resp.status)
  return "again", 0, "redirect"
end

-- The debug lines of an answer (or of its absence).
function Engine:show(resp, terr)
  local d = self.cfg.debug
  if not d then return end
  if resp then show.response(d, resp, self.secrets)
  else self:note(tostring(type(terr) == "table" and terr.message or terr)) end
end

function Engine:step(x, resp, terr)
  if self.cfg.debug and not x.inner then self:show(resp, terr) end
  if self.limiter then   -- Graph's limits (a $batch's items were counted with the batch)
    self.limiter:answered(x.spec, resp, x.limited_at, x.inner)
  end
  if not resp then
    local secs = self:retry_wait(x, nil, nil, terr)
    if secs then return "again", secs, "retry" end
    return "done", nil, self:transport_error(x, terr)
  end
  local status = resp.status
  if status >= 200 and status < 300 then   -- an item of a $batch is bulk's table, not own
    return "done", result(resp, x.req, self.own and not x.inner)
  end
  if not x.inner then
    local action, a, b = follow(self, x, resp)
    if action then return action, a, b end
  end
  if status == 401 and self:renew(x, resp) then return "again", 0, "renew" end
  if (status == 400 or status == 415) and x.spec.gzip then
    x.spec.gzip = nil
    return "again", 0, "uncompressed"
  end
  if retry.RETRY_STATUS[status] then
    local secs = self:retry_wait(x, status, resp.headers)
    if secs then return "again", secs, "retry" end
  end
  return "done", nil, self:http_error(x, resp)
end

------------------------------------------------------------------------------
-- The blocking loop
------------------------------------------------------------------------------

function Engine:wait(x, seconds, why)
  self:note(string_format("retry %d in %.3f s (%s)", x.attempt, seconds, why))
  self.sleep(seconds)
end

-- One attempt: build, admit, send, step -> step's three values and the answer.
function Engine:send_once(x)
  local req, err = self:build(x)   -- first: a token fetch is not time the request is counted
  if not req then return "done", nil, err end
  local lim = self.limiter
  if lim then   -- Graph's limits
    lim:admit(x, self.sleep, self.cfg.max_retry_delay)
    x.limited_at = lim.taken_at
  end
  local resp, terr = self.send(req)
  local action, a, b = self:step(x, resp, terr)
  return action, a, b, resp
end

-- The loop is entered only for a second attempt: LuaJIT aborts a trace that meets a
-- loop inside it, so a `while true` here kept every update out of compiled code.
function Engine:perform(spec)
  local x = self:exchange(spec)
  local action, a, b, resp = self:send_once(x)
  while action ~= "done" do
    if a > 0 then self:wait(x, a, resp and ("status " .. resp.status) or "connection failure") end
    action, a, b, resp = self:send_once(x)
  end
  return a, b
end

-- The request a what-if shows and a confirm function is asked about: exactly
-- { method, url, headers, body }; its client-request-id comes second.
function Engine:preview(spec)
  local req, err = build(self.cfg, spec, "Bearer <redacted>")
  if not req then return nil, self:clean(err) end
  local headers = request.header_map(req)
  for k, v in pairs(headers) do headers[k] = self.secrets:scrub(v) end
  return { method = req.method, url = req.url, headers = headers,
    body = spec.body and self.secrets:scrub(spec.body) }, req.client_request_id
end

-- The full URL of a Graph path ("/communications/...").
function Engine:url(path)
  return self.cfg.prefix .. path
end

-- Whether a link may be followed with this client's credentials (its own origin).
function Engine:own_origin(url)
  return request.same_origin(url, self.cfg.prefix)
end

function Engine:close()
  if self.limiter then self.limiter:close() end
  local t = self.transport
  self.transport = nil
  if t ~= nil and t.close then t.close() end
end

return M
