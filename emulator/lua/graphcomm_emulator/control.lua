-- graphcomm_emulator.control: the /_emulator endpoints specs use to steer the emulator.
-- Not logged, not subject to faults, no token needed. See the README section "The emulator".

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local store = require "graphcomm_emulator.store"
local reqlog = require "graphcomm_emulator.reqlog"
local faults = require "graphcomm_emulator.faults"
local throttle = require "graphcomm_emulator.throttle"

local ngx = ngx
local format, type, tostring, ipairs, pairs = string.format, type, tostring, ipairs, pairs

local M = {}
local JSON = { ["Content-Type"] = "application/json; charset=utf-8" }

local function app() return require "graphcomm_emulator.app" end

local function fail(rid, status, message)
  return status, JSON, util.error_body(status, nil, message, rid)
end

local function ok(value) return 200, JSON, json.encode(value) end

local function decode_body(body, rid)
  if not body or body == "" then return json.object({}, {}) end
  local v, err = json.decode(body)
  if v == nil then return nil, fail(rid, 400, "Control body is not JSON: " .. err) end
  return v
end

---------------------------------------------------------------- rules

local function rules(kind, method, body, rid)
  if method == "GET" then return 200, JSON, faults.list(kind) end
  if method == "DELETE" then faults.reset(kind); return ok({ reset = true }) end
  if method ~= "POST" then return fail(rid, 405, "Use GET, POST or DELETE.") end
  local v, s, h, b = decode_body(body, rid)
  if v == nil then return s, h, b end
  local list = json.is_array(v) and v or { v }
  local ids = {}
  for _, r in ipairs(list) do
    if type(r) ~= "table" or json.is_array(r) then return fail(rid, 400, "A rule is a JSON object.") end
    if r.clear == true then faults.reset(kind) end
    if r.match ~= nil and type(r.match) ~= "string" then return fail(rid, 400, "'match' must be a string.") end
    if kind == "redirects" and r.location == nil and r.clear ~= true then
      return fail(rid, 400, "A redirect needs a 'location'.")
    end
    local acts = r.status or r.drop or r.reset or r.delay_ms or r.location
    if acts then
      r.clear = nil
      ids[#ids + 1] = faults.add(kind, r)
    end
  end
  return ok(json.object({ ids = json.array(ids) }, { "ids" }))
end

---------------------------------------------------------------- clients and tokens

local function clients(method, body, rid)
  local d = ngx.shared.graphcomm_control
  if method == "DELETE" then
    for _, k in ipairs(d:get_keys(0)) do if k:find("^client:") then d:delete(k) end end
    return ok({ reset = true })
  end
  if method == "GET" then
    local out = {}
    for _, k in ipairs(d:get_keys(0)) do
      if k:find("^client:") then
        local c = json.decode(d:get(k))
        out[#out + 1] = json.object({ tenant = c.tenant, client_id = c.client_id,
          has_secret = c.client_secret ~= nil, x5t = c.x5t, expires_in = c.expires_in },
          { "tenant", "client_id", "has_secret", "x5t", "expires_in" })
      end
    end
    return ok(json.array(out))
  end
  if method ~= "POST" then return fail(rid, 405, "Use GET, POST or DELETE.") end
  local v, s, h, b = decode_body(body, rid)
  if v == nil then return s, h, b end
  if type(v.tenant) ~= "string" or type(v.client_id) ~= "string" then
    return fail(rid, 400, "A client needs 'tenant' and 'client_id' strings.")
  end
  if v.client_secret == nil and v.certificate == nil and v.federated == nil and v.trusted_root == nil
     and v.echo_form ~= true then
    return fail(rid, 400, "A client needs a 'client_secret', a 'certificate' (PEM), a 'trusted_root' (PEM),"
      .. " 'federated' = { issuer, subject } or 'echo_form' = true.")
  end
  local fed = v.federated
  if fed ~= nil and (type(fed) ~= "table" or type(fed.issuer) ~= "string" or type(fed.subject) ~= "string") then
    return fail(rid, 400, "'federated' needs 'issuer' and 'subject' strings (and may have 'audience', 'certificate').")
  end
  if v.trusted_root ~= nil then
    local crypto = require "graphcomm_emulator.crypto"
    if type(v.trusted_root) ~= "string" or not crypto.certificate_info(v.trusted_root) then
      return fail(rid, 400, "'trusted_root' must be a PEM RSA certificate.")
    end
  end
  local rec = { tenant = v.tenant, client_id = v.client_id, client_secret = v.client_secret,
    expires_in = json.number(v.expires_in) or 3599, roles = v.roles, federated = fed,
    trusted_root = v.trusted_root, subject = v.subject, echo_form = v.echo_form == true }
  if v.certificate ~= nil then
    local crypto = require "graphcomm_emulator.crypto"
    local info, err = crypto.certificate_info(v.certificate)
    if not info then return fail(rid, 400, "The certificate could not be read: " .. err) end
    rec.certificate, rec.x5t, rec.x5t_s256 = v.certificate, info.x5t, info.x5t_s256
  end
  d:set("client:" .. v.tenant .. "\31" .. v.client_id, json.encode(rec))
  return ok(json.object({ tenant = rec.tenant, client_id = rec.client_id, x5t = rec.x5t,
    ["x5t#S256"] = rec.x5t_s256, expires_in = rec.expires_in },
    { "tenant", "client_id", "x5t", "x5t#S256", "expires_in" }))
end

local function expire_tokens()
  local d = ngx.shared.graphcomm_tokens
  local n = 0
  for _, k in ipairs(d:get_keys(0)) do
    d:set(k, 0, 3600); n = n + 1
  end
  return ok({ expired = n })
end

---------------------------------------------------------------- configuration, reset, generated records

local SWITCHES = { log = true, read_only = true, allow_unknown = true }

-- A JWT-shaped token of about v.bytes bytes (100 to 16,384), accepted like an issued one:
-- benchmarks measure the per-byte header cost of a realistic (1-2.5 KB) Graph token.
local function sized_token(body, rid)
  local v, s, h, b = decode_body(body, rid)
  if v == nil then return s, h, b end
  local want = json.number(v.bytes)
  if type(want) ~= "number" or want ~= math.floor(want) or want < 100 or want > 16384 then
    return fail(rid, 400, "bytes must be a whole number from 100 to 16384.")
  end
  local oauth = require "graphcomm_emulator.oauth"
  local roles = { "CallRecords.ReadWrite.All" }
  local base = #oauth.mint("bench", "bench", 3599, json.array(roles))
  -- Base64url turns 3 bytes into 4; a role entry adds its quotes and comma.
  roles[2] = string.rep("x", math.max(0, math.floor((want - base) * 3 / 4) - 3))
  return ok({ access_token = oauth.mint("bench", "bench", 3599, json.array(roles)) })
end

local function configure(method, body, rid)
  if method == "POST" then
    local v, s, h, b = decode_body(body, rid)
    if v == nil then return s, h, b end
    for k, val in pairs(v) do
      local n = json.number(val)
      if k == "log_max" and n and n >= 1 and n <= 1000000 and n == math.floor(n) then
        ngx.shared.graphcomm_control:set("cfg:log_max", n)
      elseif not SWITCHES[k] or type(val) ~= "boolean" then
        return fail(rid, 400, format("Unknown switch '%s' (log, read_only, allow_unknown take true or false; log_max a count).", tostring(k)))
      else
        ngx.shared.graphcomm_control:set("cfg:" .. k, val)
      end
    end
  elseif method ~= "GET" then
    return fail(rid, 405, "Use GET or POST.")
  end
  local cfg = app().config()
  return ok(json.object({ log = cfg.log, read_only = cfg.read_only, allow_unknown = cfg.allow_unknown,
    log_max = reqlog.max() }, { "log", "log_max", "read_only", "allow_unknown" }))
end

local function reset()
  store.restore()
  faults.reset("faults")
  faults.reset("redirects")
  reqlog.clear()
  local d = ngx.shared.graphcomm_control
  local ro = app().settings().read_only and true or false
  d:set("cfg:read_only", ro)
  d:set("cfg:log", true)
  d:set("cfg:allow_unknown", false)
  d:delete("cfg:log_max")
  require("graphcomm_emulator.subscriptions").reset()
  if app().settings().throttle then throttle.enable(throttle.parse({ limits = "documented" }))
  else throttle.disable() end
  return ok({ reset = true })
end

local function session_template(crid, sid, i, open)
  local t0 = 1795251600 + i * 7   -- 2026-11-21T09:00:00Z onwards
  local function ts(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end
  local endpoint = json.object({
    ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint",
    name = "Surface Laptop 4",
    userAgent = json.object({ ["@odata.type"] = "#microsoft.graph.callRecords.clientUserAgent",
      headerValue = "Teams/24295.605.3225.8804", platform = "windows", productFamily = "teams" },
      { "@odata.type", "headerValue", "platform", "productFamily" }),
  }, { "@odata.type", "name", "userAgent" })
  local seg = json.object({ id = sid, startDateTime = ts(t0), endDateTime = ts(t0 + 600),
    caller = endpoint, callee = endpoint, media = json.array({}) },
    { "id", "startDateTime", "endDateTime", "caller", "callee", "media" })
  return json.object({ id = sid, modalities = json.array({ "audio" }), startDateTime = ts(t0),
    endDateTime = not open and ts(t0 + 600) or nil, isTest = false, caller = endpoint, callee = endpoint,
    segments = json.array({ seg }) },
    { "id", "modalities", "startDateTime", "endDateTime", "isTest", "caller", "callee", "segments" })
end

local function generate(body, rid)
  local v, s, h, b = decode_body(body, rid)
  if v == nil then return s, h, b end
  local n = json.number(v.sessions) or 100
  if n < 0 or n > 100000 or n ~= math.floor(n) then return fail(rid, 400, "'sessions' must be 0..100000.") end
  local serial = ngx.shared.graphcomm_control:incr("generated", 1, 0)
  local crid = type(v.id) == "string" and v.id or format("6e6e0000-0000-4000-8000-%012x", serial)
  if store.record(crid) then return fail(rid, 409, format("Call record '%s' exists.", crid)) end
  local sessions, ids = {}, {}
  for i = 1, n do
    local sid = format("%08x-%04x-4000-8000-%012x", serial, math.floor(i / 65536) % 65536, i)
    sessions[i], ids[i] = session_template(crid, sid, i, i <= (json.number(v.open_sessions) or 0)), sid
  end
  store.add_record(json.object({ id = crid, version = 1, type = "groupCall",
    modalities = json.array({ "audio" }), startDateTime = "2026-11-21T09:00:00Z",
    endDateTime = "2026-11-21T10:00:00Z", sessions = json.array(sessions),
    lastModifiedDateTime = os.date("!%Y-%m-%dT%H:%M:%SZ", ngx.time()) },
    { "id", "version", "type", "modalities", "lastModifiedDateTime", "startDateTime", "endDateTime", "sessions" }))
  require("graphcomm_emulator.subscriptions").changed(crid, "created")
  return ok(json.object({ id = crid, sessionIds = json.array(ids) }, { "id", "sessionIds" }))
end

---------------------------------------------------------------- throttling

local function throttling(method, body, rid)
  if method == "DELETE" then throttle.disable()
  elseif method == "POST" then
    local v, s, h, b = decode_body(body, rid)
    if v == nil then return s, h, b end
    local cfg, why = throttle.parse(v)
    if not cfg then return fail(rid, 400, why) end
    throttle.enable(cfg)
  elseif method ~= "GET" then
    return fail(rid, 405, "Use GET, POST or DELETE.")
  end
  return 200, JSON, json.encode(throttle.describe())
end

---------------------------------------------------------------- routing

function M.handle(method, segs, args, body, rid)
  local what, sub1 = segs[2], segs[3]
  if what == "health" then return ok({ ok = true }) end
  if what == "requests" then
    if method == "DELETE" then reqlog.clear(); return ok({ cleared = true }) end
    if method ~= "GET" then return fail(rid, 405, "Use GET or DELETE.") end
    return 200, JSON, reqlog.json(tonumber(args.since), args.match, tonumber(args.limit))
  end
  if what == "faults" or what == "redirects" then return rules(what, method, body, rid) end
  if what == "clients" then return clients(method, body, rid) end
  if what == "identities" then
    local v, s, h, b = decode_body(body, rid)
    if v == nil then return s, h, b end
    return require("graphcomm_emulator.identity").control(method, v, rid)
  end
  if what == "tokens" and sub1 == "expire" and method == "POST" then return expire_tokens() end
  if what == "tokens" and sub1 == nil and method == "POST" then return sized_token(body, rid) end
  if what == "config" then return configure(method, body, rid) end
  if what == "throttle" then return throttling(method, body, rid) end
  if what == "reset" and method == "POST" then return reset() end
  if what == "callRecords" and method == "POST" then return generate(body, rid) end
  if what == "notifications" then
    return require("graphcomm_emulator.subscriptions").control(method, segs, args, body, rid, store)
  end
  return fail(rid, 404, format("No control endpoint /_emulator/%s.", tostring(what or "")))
end

return M
