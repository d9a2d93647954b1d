-- graphcomm_emulator.subscriptions: Graph's change notifications for call records.
--   /v1.0/subscriptions        GET (list), POST (create: validation handshake first)
--   /v1.0/subscriptions/{id}   GET, PATCH (renew: handshake again), DELETE
-- and the notifications themselves: changed(crid, changeType) POSTs a
-- changeNotificationCollection to every live subscription that asked for that change,
-- from an ngx.timer, with the acknowledgement budget (3 s), bounded retries, then the
-- delivery is marked failed. Every delivery is logged (GET /_emulator/notifications).
-- Only loopback URLs are ever contacted (http1.loopback); others are refused at POST.
-- State lives in the `graphcomm_subs` shared dict:
--   ids            JSON array of subscription ids, in order
--   s:<id>         the subscription (JSON object, Graph's names)
--   d:<seq>        one delivery log entry (JSON), "dn" counts them, "dcleared" marks DELETE
--   cfg:<name>     timings (POST /_emulator/notifications/config); paused = 1 logs changes
--                  as "missed" instead of sending them (a lost notification, for gap reads)

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local http1 = require "graphcomm_emulator.http1"

local ngx = ngx
local format, match, lower, gsub, find = string.format, string.match, string.lower, string.gsub,
  string.find
local concat, ipairs, pairs, type, tostring, tonumber = table.concat, ipairs, pairs, type,
  tostring, tonumber

local M = {}

M.TENANT = "6e6e6e6e-0000-4000-8000-00000000e3e3"
M.RESOURCE = "/communications/callRecords"
M.MAX_MINUTES = 4230
M.MAX_CLIENT_STATE = 128
M.DEFAULTS = { validation_timeout_ms = 10000, ack_timeout_ms = 3000, slow_ms = 2900,
  retries = 3, retry_delay_ms = 200, paused = 0 }

local JSON = { ["Content-Type"] = "application/json; charset=utf-8" }
local ORDER = { "@odata.context", "id", "resource", "applicationId", "changeType", "clientState",
  "notificationUrl", "notificationQueryOptions", "lifecycleNotificationUrl", "expirationDateTime",
  "creatorId", "includeResourceData", "latestSupportedTlsVersion", "encryptionCertificate",
  "encryptionCertificateId", "notificationUrlAppId" }
local KNOWN = {}
for _, k in ipairs(ORDER) do KNOWN[k] = true end
KNOWN["@odata.type"] = true

local function dict() return ngx.shared.graphcomm_subs end

local function setting(name)
  return dict():get("cfg:" .. name) or M.DEFAULTS[name]
end

local function now()
  ngx.update_time()
  return ngx.now()
end

local function fail(ids, status, message, code)
  return status, JSON, util.error_body(status, code, message, ids)
end

---------------------------------------------------------------- times

local function days_from_civil(y, m, d)   -- days since 1970-01-01 (proleptic Gregorian)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- "2026-12-03T10:00:00.123Z" / "...+01:00" -> epoch seconds, or nil.
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, zone = match(s,
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, oh, om = match(zone, "^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "-" and -1 or 1)
  end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac ~= "" and frac ~= "." then t = t + tonumber("0" .. frac) end
  return t
end

local function format_time(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. "Z"
end
M.format_time = format_time

---------------------------------------------------------------- storage

local function ids_list() return json.decode(dict():get("ids") or "[]") end

local function save_ids(list) dict():set("ids", json.encode(json.array(list))) end

local function load(id)
  local text = dict():get("s:" .. id)
  return text and json.decode(text)
end

local function live(sub)
  return sub and (M.parse_time(sub.expirationDateTime) or 0) > now()
end

local function save(sub)
  dict():set("s:" .. sub.id, json.encode(json.object(sub, ORDER)))
end

local function remove(id)
  dict():delete("s:" .. id)
  local kept = {}
  for _, x in ipairs(ids_list()) do if x ~= id then kept[#kept + 1] = x end end
  save_ids(kept)
end

function M.reset()
  dict():flush_all()
end

---------------------------------------------------------------- the delivery log

local function log_entry(entry)
  local d = dict()
  local seq = d:incr("dn", 1, 0)
  entry.seq = seq
  d:set("d:" .. seq, json.encode(json.object(entry, { "seq", "kind", "id", "subscriptionId",
    "changeType", "lifecycleEvent", "resourceId", "outcome", "attempts", "status", "ms", "slow",
    "error", "url" })))
  return seq
end

local function log_json(since)
  local d = dict()
  local out = {}
  for seq = math.max(d:get("dcleared") or 0, since or 0) + 1, d:get("dn") or 0 do
    out[#out + 1] = d:get("d:" .. seq)
  end
  return "[" .. concat(out, ",") .. "]"
end

---------------------------------------------------------------- the validation handshake

-- POST url?validationToken=...: 200, text/plain, the token itself, within the budget.
local function handshake(url)
  local token = "Validation: Testing client application reachability for subscription Request-Id: "
    .. util.guid()
  local sep = find(url, "?", 1, true) and "&" or "?"
  local resp, err, ms = http1.request{ url = url .. sep .. "validationToken=" .. util.escape(token),
    method = "POST", headers = { ["Content-Type"] = "text/plain; charset=utf-8" },
    timeout_ms = setting("validation_timeout_ms") }
  local entry = { kind = "validation", url = url, attempts = 1, ms = ms }
  local why
  if not resp then
    why = "the validation request failed (" .. tostring(err) .. ")"
  elseif resp.status ~= 200 then
    why = format("the endpoint answered the validation request with HTTP %d, not 200", resp.status)
  elseif not find(lower(resp.headers["content-type"] or ""), "^%s*text/plain") then
    why = "the validation answer's Content-Type is not text/plain"
  elseif resp.body ~= token then
    why = "the validation answer's body is not the validationToken"
  elseif ms > setting("validation_timeout_ms") then
    why = "the validation answer took longer than the budget"
  end
  entry.status = resp and resp.status or nil
  entry.outcome = why and "refused" or "validated"
  entry.error = why
  log_entry(entry)
  return why == nil, why
end

local function validate_endpoints(sub)
  for _, name in ipairs({ "notificationUrl", "lifecycleNotificationUrl" }) do
    local url = sub[name]
    if url ~= nil then
      local ok, why = handshake(url)
      if not ok then
        return format("Subscription validation request failed for %s: %s.", name, why)
      end
    end
  end
  return nil
end

---------------------------------------------------------------- checks of a body

local CHANGES = { created = true, updated = true }

local function check_change_type(v)
  if type(v) ~= "string" or v == "" then return "changeType is required (created, updated)." end
  for item in (v .. ","):gmatch("([^,]*),") do
    item = gsub(item, "^%s*(.-)%s*$", "%1")
    if not CHANGES[item] then
      return format("changeType '%s' is not supported for %s (created, updated).", item, M.RESOURCE)
    end
  end
  return nil
end

local function check_url(name, v, required)
  if v == nil or v == json.null then
    return required and (name .. " is required.") or nil
  end
  if type(v) ~= "string" then return name .. " must be a string." end
  local ok, why = http1.loopback(v)
  if not ok then return format("%s '%s' is refused: %s.", name, v, why) end
  return nil
end

local function check_expiry(v)
  local t = M.parse_time(v)
  if not t then return nil, "expirationDateTime must be a DateTimeOffset (e.g. 2026-12-03T10:00:00Z)." end
  local n = now()
  if t <= n then return nil, "Subscription expiration must be in the future." end
  if t > n + M.MAX_MINUTES * 60 + 1 then
    return nil, format("Subscription expiration can only be %d minutes in the future.", M.MAX_MINUTES)
  end
  return t
end

local function check_create(v)
  for k in pairs(v) do
    if not KNOWN[k] then return format("Invalid property '%s' for a subscription.", tostring(k)) end
  end
  local r = type(v.resource) == "string" and gsub(v.resource, "^/?", "/") or nil
  if r == nil or lower(r) ~= lower(M.RESOURCE) then
    return format("The resource '%s' is not supported by the emulator (only %s).",
      tostring(v.resource), M.RESOURCE)
  end
  local why = check_change_type(v.changeType) or check_url("notificationUrl", v.notificationUrl, true)
    or check_url("lifecycleNotificationUrl", v.lifecycleNotificationUrl, false)
  if why then return why end
  local cs = v.clientState
  if cs ~= nil and cs ~= json.null and (type(cs) ~= "string" or #gsub(cs, "[\128-\191]", "") > M.MAX_CLIENT_STATE) then
    return format("clientState must be a string of at most %d characters.", M.MAX_CLIENT_STATE)
  end
  local _, err = check_expiry(v.expirationDateTime)
  return err
end

---------------------------------------------------------------- the handlers

local function decode(ctx)
  local v = ctx.value
  if v == nil then
    if not ctx.body or ctx.body == "" then return nil, "Empty Payload. JSON content expected." end
    local err
    v, err = json.decode(ctx.body)
    if v == nil then return nil, "Unable to read JSON request payload (" .. tostring(err) .. ")." end
  end
  if not json.is_object(v) then return nil, "The payload must be a JSON object." end
  return v
end

local function answer(ctx, status, sub)
  local out = {}
  for k, v in pairs(sub) do out[k] = v end
  out["@odata.context"] = format("%s/%s/$metadata#subscriptions/$entity", ctx.base, ctx.version)
  return status, JSON, json.encode(json.object(out, ORDER))
end

local function create(ctx)
  local v, err = decode(ctx)
  if not v then return fail(ctx.ids, 400, err, "BadRequest") end
  err = check_create(v)
  if err then return fail(ctx.ids, 400, err, "InvalidRequest") end
  local sub = { id = util.guid(), resource = M.RESOURCE, applicationId = util.guid(),
    changeType = v.changeType, clientState = v.clientState ~= json.null and v.clientState or nil,
    notificationUrl = v.notificationUrl, lifecycleNotificationUrl = v.lifecycleNotificationUrl,
    expirationDateTime = format_time(M.parse_time(v.expirationDateTime)),
    creatorId = util.guid(), includeResourceData = false, latestSupportedTlsVersion = "v1_2",
    notificationUrlAppId = json.null, encryptionCertificate = json.null,
    encryptionCertificateId = json.null, notificationQueryOptions = json.null }
  if sub.lifecycleNotificationUrl == json.null then sub.lifecycleNotificationUrl = nil end
  err = validate_endpoints(sub)
  if err then return fail(ctx.ids, 400, err, "ValidationError") end
  save(sub)
  local list = ids_list()
  list[#list + 1] = sub.id
  save_ids(list)
  return answer(ctx, 201, sub)
end

local RENEWABLE = { expirationDateTime = true, notificationUrl = true, lifecycleNotificationUrl = true,
  ["@odata.type"] = true }

local function renew(ctx, sub)
  local v, err = decode(ctx)
  if not v then return fail(ctx.ids, 400, err, "BadRequest") end
  for k in pairs(v) do
    if not RENEWABLE[k] then
      return fail(ctx.ids, 400, format("The property '%s' cannot be changed on a subscription.", tostring(k)), "InvalidRequest")
    end
  end
  local t
  t, err = check_expiry(v.expirationDateTime)
  err = err or check_url("notificationUrl", v.notificationUrl, false)
    or check_url("lifecycleNotificationUrl", v.lifecycleNotificationUrl, false)
  if err then return fail(ctx.ids, 400, err, "InvalidRequest") end
  local next = {}
  for k, val in pairs(sub) do next[k] = val end
  next.expirationDateTime = format_time(t)
  next.notificationUrl = v.notificationUrl or sub.notificationUrl
  next.lifecycleNotificationUrl = v.lifecycleNotificationUrl or sub.lifecycleNotificationUrl
  err = validate_endpoints(next)
  if err then return fail(ctx.ids, 400, err, "ValidationError") end
  save(next)
  return answer(ctx, 200, next)
end

local function list_all(ctx)
  local out = {}
  for _, id in ipairs(ids_list()) do
    local sub = load(id)
    if live(sub) then out[#out + 1] = json.raw(json.encode(json.object(sub, ORDER))) end
  end
  return 200, JSON, json.encode(json.object({
    ["@odata.context"] = format("%s/%s/$metadata#subscriptions", ctx.base, ctx.version),
    value = json.array(out) }, { "@odata.context", "value" }))
end

local function not_allowed(ctx, allow)
  local status, h, b = fail(ctx.ids, 405, format("The HTTP method '%s' is not allowed for this resource.",
    ctx.method), "MethodNotAllowed")
  h = { ["Content-Type"] = h["Content-Type"], Allow = allow }
  return status, h, b
end

-- ctx.segs = { "subscriptions" [, id] }
function M.route(ctx)
  local s, m = ctx.segs, ctx.method
  if #s == 1 then
    if m == "GET" then return list_all(ctx) end
    if m == "POST" then return create(ctx) end
    return not_allowed(ctx, "GET, POST")
  elseif #s == 2 then
    local sub = load(s[2])
    if not live(sub) then
      return fail(ctx.ids, 404, format("The subscription '%s' was not found.", s[2]), "ResourceNotFound")
    end
    if m == "GET" then return answer(ctx, 200, sub) end
    if m == "PATCH" then return renew(ctx, sub) end
    if m == "DELETE" then remove(sub.id); return 204, {}, nil end
    return not_allowed(ctx, "GET, PATCH, DELETE")
  end
  return fail(ctx.ids, 404, "Resource not found for the segment '" .. tostring(s[#s]) .. "'.", "NotFound")
end

---------------------------------------------------------------- delivery

-- One POST after another until a 2xx within the budget, or the tries are used up.
local function deliver(premature, url, body, entry)
  if premature then return end
  local budget, slow_ms = setting("ack_timeout_ms"), setting("slow_ms")
  local tries = 1 + setting("retries")
  entry.slow = 0
  for attempt = 1, tries do
    local resp, err, ms = http1.request{ url = url, method = "POST", body = body,
      headers = { ["Content-Type"] = "application/json; charset=utf-8" }, timeout_ms = budget }
    entry.attempts, entry.ms = attempt, ms
    entry.status = resp and resp.status or json.null
    if ms > slow_ms then entry.slow = entry.slow + 1 end
    if resp and resp.status >= 200 and resp.status < 300 and ms <= budget then
      entry.outcome, entry.error = "acknowledged", nil
      return log_entry(entry)
    end
    entry.error = resp and format("HTTP %d in %d ms", resp.status, ms) or tostring(err)
    if attempt < tries then ngx.sleep(setting("retry_delay_ms") / 1000) end
  end
  entry.outcome = "failed"
  return log_entry(entry)
end

local function send_later(url, value, entry)
  local body = json.encode(json.object({ value = json.array({ value }) }, { "value" }))
  local ok, err = ngx.timer.at(0, deliver, url, body, entry)
  if not ok then
    entry.outcome, entry.error = "failed", "no timer: " .. tostring(err)
    log_entry(entry)
  end
end

local function change_notification(sub, crid, change_type, id)
  local path = "communications/callRecords/" .. crid
  return json.object({ id = id, subscriptionId = sub.id,
    subscriptionExpirationDateTime = sub.expirationDateTime, changeType = change_type,
    resource = path, clientState = sub.clientState or json.null, tenantId = M.TENANT,
    resourceData = json.object({ ["@odata.type"] = "#microsoft.graph.callrecord",
      ["@odata.id"] = path, id = crid }, { "@odata.type", "@odata.id", "id" }) },
    { "id", "subscriptionId", "subscriptionExpirationDateTime", "changeType", "resource",
      "resourceData", "clientState", "tenantId" })
end

local function wants(sub, change_type)
  for item in (sub.changeType .. ","):gmatch("%s*([^,]-)%s*,") do
    if item == change_type then return true end
  end
  return false
end

-- A call record was created or updated: tell every live subscription that asked.
-- copies > 1 sends the same notification (same id) again: a redelivery.
function M.changed(crid, change_type, copies)
  local n = 0
  for _, id in ipairs(ids_list()) do
    local sub = load(id)
    if live(sub) and wants(sub, change_type) then
      local nid = util.guid()
      for _ = 1, copies or 1 do
        if setting("paused") ~= 0 then   -- as if Graph lost it: logged, never sent
          log_entry({ kind = "change", id = nid, subscriptionId = sub.id, changeType = change_type,
            resourceId = crid, outcome = "missed" })
        else
          send_later(sub.notificationUrl, change_notification(sub, crid, change_type, nid),
            { kind = "change", id = nid, subscriptionId = sub.id, changeType = change_type,
              resourceId = crid })
          n = n + 1
        end
      end
    end
  end
  return n
end

local EVENTS = { reauthorizationRequired = true, subscriptionRemoved = true, missed = true }

local function lifecycle(body, rid)
  local v = body and body ~= "" and json.decode(body) or nil
  if type(v) ~= "table" or type(v.subscriptionId) ~= "string" or not EVENTS[v.event] then
    return fail(rid, 400, "Send { subscriptionId, event = reauthorizationRequired | subscriptionRemoved | missed }.")
  end
  local sub = load(v.subscriptionId)
  if not live(sub) then return fail(rid, 404, "No live subscription '" .. v.subscriptionId .. "'.") end
  if not sub.lifecycleNotificationUrl then
    return fail(rid, 400, "The subscription has no lifecycleNotificationUrl.")
  end
  local nid = util.guid()
  send_later(sub.lifecycleNotificationUrl, json.object({ id = nid, subscriptionId = sub.id,
    subscriptionExpirationDateTime = sub.expirationDateTime, lifecycleEvent = v.event,
    resource = "communications/callRecords", clientState = sub.clientState or json.null,
    tenantId = M.TENANT }, { "id", "subscriptionId", "subscriptionExpirationDateTime",
    "lifecycleEvent", "resource", "clientState", "tenantId" }),
    { kind = "lifecycle", id = nid, subscriptionId = sub.id, lifecycleEvent = v.event })
  if v.event == "subscriptionRemoved" then remove(sub.id) end
  return 200, JSON, json.encode(json.object({ id = nid }, { "id" }))
end

---------------------------------------------------------------- control (/_emulator/notifications)

local function configure(method, body, rid)
  if method == "POST" then
    local v = body and body ~= "" and json.decode(body) or nil
    if type(v) ~= "table" then return fail(rid, 400, "Send a JSON object of timings.") end
    for k, val in pairs(v) do
      local n = json.number(val)
      if M.DEFAULTS[k] == nil or not n or n < 0 or n > 600000 or n ~= math.floor(n) then
        return fail(rid, 400, format("Unknown or bad setting '%s' (validation_timeout_ms, ack_timeout_ms, slow_ms, retries, retry_delay_ms, paused: whole numbers).", tostring(k)))
      end
      dict():set("cfg:" .. k, n)
    end
  elseif method ~= "GET" then
    return fail(rid, 405, "Use GET or POST.")
  end
  local out, keys = {}, {}
  for k in pairs(M.DEFAULTS) do out[k] = setting(k); keys[#keys + 1] = k end
  table.sort(keys)
  return 200, JSON, json.encode(json.object(out, keys))
end

local function send_change(body, rid, store)
  local v = body and body ~= "" and json.decode(body) or nil
  if type(v) ~= "table" or type(v.callRecordId) ~= "string" or not CHANGES[v.changeType] then
    return fail(rid, 400, "Send { callRecordId, changeType = created | updated [, copies] }.")
  end
  if not store.record(v.callRecordId) then return fail(rid, 404, "No call record '" .. v.callRecordId .. "'.") end
  local copies = json.number(v.copies) or 1
  if copies < 1 or copies > 10 or copies ~= math.floor(copies) then return fail(rid, 400, "'copies' must be 1..10.") end
  local n = M.changed(v.callRecordId, v.changeType, copies)
  return 200, JSON, json.encode(json.object({ sent = n }, { "sent" }))
end

-- A receiver for specs of the emulator itself: /_emulator/notifications/sink?token=echo|wrong|none
-- &status=N&delay_ms=N&fail_first=N answers validation requests and notifications as told,
-- and keeps what it received (GET lists it, DELETE forgets it).
local function sink(method, args, body, rid)
  local d = dict()
  if method == "GET" then
    local out = {}
    for i = (d:get("kcleared") or 0) + 1, d:get("kn") or 0 do out[#out + 1] = d:get("k:" .. i) end
    return 200, JSON, "[" .. concat(out, ",") .. "]"
  end
  if method == "DELETE" then d:set("kcleared", d:get("kn") or 0); return 200, JSON, '{"cleared":true}' end
  if method ~= "POST" then return fail(rid, 405, "Use GET, POST or DELETE.") end
  local delay = tonumber(args.delay_ms) or 0
  if delay > 0 then ngx.sleep(math.min(delay, 20000) / 1000) end
  local token = args.validationToken
  if token then
    local mode = args.token or "echo"
    if mode == "none" then return 404, JSON, "{}" end
    return 200, { ["Content-Type"] = "text/plain; charset=utf-8" }, mode == "wrong" and "nope" or token
  end
  local n = d:incr("kn", 1, 0)
  d:set("k:" .. n, json.decode(body or "") and body or json.encode(body or json.null))
  if n - (d:get("kcleared") or 0) <= (tonumber(args.fail_first) or 0) then
    return 500, JSON, "{}"
  end
  return tonumber(args.status) or 202, {}, nil
end

-- segs = { "_emulator", "notifications" [, what] }
function M.control(method, segs, args, body, rid, store)
  local what = segs[3]
  if what == nil then
    if method == "GET" then return 200, JSON, log_json(tonumber(args.since)) end
    if method == "DELETE" then
      dict():set("dcleared", dict():get("dn") or 0)
      return 200, JSON, '{"cleared":true}'
    end
    return fail(rid, 405, "Use GET or DELETE.")
  end
  if what == "config" then return configure(method, body, rid) end
  if what == "lifecycle" and method == "POST" then return lifecycle(body, rid) end
  if what == "send" and method == "POST" then return send_change(body, rid, store) end
  if what == "sink" then return sink(method, args, body, rid) end
  return fail(rid, 404, "No control endpoint /_emulator/notifications/" .. tostring(what) .. ".")
end

return M
