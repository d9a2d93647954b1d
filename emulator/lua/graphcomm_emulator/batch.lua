-- graphcomm_emulator.batch: POST /$batch (JSON batching): at most 20 requests, run in
-- order through the same handlers as plain requests (faults included), `dependsOn`
-- honoured, 424 for a request whose dependency did not succeed.

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local graph = require "graphcomm_emulator.graph"
local faults = require "graphcomm_emulator.faults"
local reqlog = require "graphcomm_emulator.reqlog"
local throttle = require "graphcomm_emulator.throttle"

local format, match, type, ipairs, pairs, tostring, lower = string.format, string.match, type,
  ipairs, pairs, tostring, string.lower

local M = {}
M.MAX = 20

local function bad(ctx, msg) return graph.fail(ctx, 400, msg, "BadRequest") end

-- Checks the envelope; returns the list of requests or nil and an error triple.
local function requests_of(ctx)
  if not ctx.body or ctx.body == "" then return nil, { bad(ctx, "Empty Payload. JSON content expected.") } end
  local v, err = json.decode(ctx.body)
  if not json.is_object(v) then return nil, { bad(ctx, "Invalid batch payload: " .. (err or "not an object")) } end
  local reqs = v.requests
  if not json.is_array(reqs) then return nil, { bad(ctx, "Invalid batch payload: 'requests' must be an array.") } end
  if #reqs == 0 then return nil, { bad(ctx, "Invalid batch payload: 'requests' is empty.") } end
  if #reqs > M.MAX then
    return nil, { bad(ctx, format("Invalid batch payload: %d requests; the maximum is %d.", #reqs, M.MAX)) }
  end
  local seen = {}
  for i, r in ipairs(reqs) do
    if not json.is_object(r) then return nil, { bad(ctx, format("Request %d is not an object.", i)) } end
    if type(r.id) ~= "string" or r.id == "" then return nil, { bad(ctx, format("Request %d has no 'id' string.", i)) } end
    if seen[r.id] then return nil, { bad(ctx, format("Request id '%s' is used twice.", r.id)) } end
    if type(r.method) ~= "string" then return nil, { bad(ctx, format("Request '%s' has no 'method'.", r.id)) } end
    if type(r.url) ~= "string" or match(r.url, "^%a[%w+.-]*://") then
      return nil, { bad(ctx, format("Request '%s' needs a relative 'url'.", r.id)) }
    end
    if r.dependsOn ~= nil then
      if not json.is_array(r.dependsOn) then return nil, { bad(ctx, format("Request '%s': 'dependsOn' must be an array.", r.id)) } end
      for _, dep in ipairs(r.dependsOn) do
        if not seen[dep] then
          return nil, { bad(ctx, format("Request '%s' depends on '%s', which is not an earlier request in the batch.", r.id, tostring(dep))) }
        end
      end
    end
    if r.body ~= nil then
      local ct
      for k, hv in pairs(r.headers or {}) do if lower(k) == "content-type" then ct = hv end end
      if not ct then return nil, { bad(ctx, format("Request '%s' has a body but no Content-Type header.", r.id)) } end
    end
    seen[r.id] = true
  end
  return reqs
end

-- Runs one inner request: returns status, headers, body text.
local function run(ctx, r, outer_seq)
  local url = r.url
  if url:sub(1, 1) ~= "/" then url = "/" .. url end
  local path, query = match(url, "^([^?]*)%??(.*)$")
  local full = "/" .. ctx.version .. path .. (query ~= "" and ("?" .. query) or "")
  local headers = {}
  for k, v in pairs(r.headers or {}) do headers[lower(k)] = tostring(json.number(v) or v) end
  local ids = { request_id = util.guid(), client_request_id = headers["client-request-id"] or util.guid() }
  local inner = { method = r.method:upper(), version = ctx.version, args = util.parse_query(query),
    headers = headers, value = r.body, base = ctx.base, ids = ids, cfg = ctx.cfg, batch = true }
  if inner.value ~= nil and not json.is_object(inner.value) and inner.method == "PATCH" then
    inner.value = nil
    inner.body = type(r.body) == "string" and r.body or json.encode(r.body)
  end
  if ctx.cfg.log then
    reqlog.add(json.object({ method = inner.method, path = full, headers = headers,
      body = r.body ~= nil and json.encode(r.body) or json.null, batch = outer_seq or true, time = ngx.now() },
      { "seq", "method", "path", "headers", "body", "batch", "time" }))
  end
  local f = faults.pick("faults", inner.method, full)
  if f then
    local app = require "graphcomm_emulator.app"
    local status, fh, fb = app.apply_fault(f, ids)
    if status == "drop" or status == "cut" then
      return 504, { ["Content-Type"] = "application/json" },
        util.error_body(504, "GatewayTimeout", "The connection to the service was lost.", ids), ids
    end
    if status then return status, fh, fb, ids end
  end
  local ts, th, tb = throttle.check(inner.method, full, ids)   -- each request counts
  if ts then return ts, th, tb, ids end
  local segs = {}
  for seg in path:gmatch("[^/]+") do segs[#segs + 1] = util.unescape(seg) end
  inner.segs = segs
  local status, h, b = graph.route(inner)
  return status, throttle.decorate(h, th), b, ids
end

local function response(id, status, headers, body, ids)
  local h = json.object({}, {})
  for k, v in pairs(headers or {}) do h[k] = v end
  if ids then h["request-id"], h["client-request-id"] = ids.request_id, ids.client_request_id end
  return json.object({ id = id, status = status, headers = h, body = body and json.raw(body) or nil },
    { "id", "status", "headers", "body" })
end

function M.handle(ctx)
  if ctx.method ~= "POST" then
    return graph.fail(ctx, 405, "Use POST for $batch.", "MethodNotAllowed", nil, { Allow = "POST" })
  end
  local reqs, e = requests_of(ctx)
  if not reqs then return e[1], e[2], e[3] end
  local statuses, out = {}, {}
  for i, r in ipairs(reqs) do
    local failed_dep
    for _, dep in ipairs(r.dependsOn or {}) do
      local st = statuses[dep]
      if not st or st < 200 or st > 299 then failed_dep = dep; break end
    end
    local status, h, b, ids
    if failed_dep then
      status, h = 424, { ["Content-Type"] = "application/json" }
      b = util.error_body(424, "FailedDependency",
        format("The request was not run because request '%s' it depends on did not succeed.", failed_dep))
    else
      status, h, b, ids = run(ctx, r)
    end
    statuses[r.id] = status
    out[i] = response(r.id, status, h, b, ids)
  end
  return 200, { ["Content-Type"] = "application/json; charset=utf-8" },
    json.encode(json.object({ responses = json.array(out) }, { "responses" }))
end

return M
