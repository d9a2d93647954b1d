-- graphcomm_emulator.throttle: Graph's call-record throttling limits, enforced when
-- switched on (POST /_emulator/throttle, or `emulator/start --throttle`).
--
-- Scopes (Microsoft Graph throttling limits, cloud communications): per app across
-- tenants 130,000 requests per 10 s; per tenant 10,000 per 20 s; per app per tenant
-- 1,500 per 20 s; per call record (reads) 10 per 20 s for the first page and 50 per
-- 5 minutes for later pages. The emulator has one tenant and one app: every request
-- counts against app, tenant and app_tenant; a GET of a call record (or of its
-- sessions) against that record's first-page scope, and with $skiptoken/$skip against
-- its later-pages scope. Each request inside a $batch counts, the $batch itself not.
--
-- Counting: a sliding window per scope, in SLOTS slots per window (a request is
-- refused when the slots that touch the last `per` seconds already hold `requests`:
-- strict by at most one slot). Admission is an incr, then a check, undone when over:
-- never more than `requests` admitted, whatever the number of workers. Refused
-- requests are not counted. A 429 carries a Graph error body, Retry-After (whole
-- seconds, or decimal with "decimal_retry_after": true), x-ms-throttle-scope
-- ("Tenant_Application/ReadWrite/<app>/<tenant>"), x-ms-throttle-limit-percentage
-- (the use of the limit, 0.8 to 1.8) and x-ms-throttle-information; an admitted
-- request gets the percentage and scope once a scope is 80% used.
--
-- Control: POST {"limits": "documented"} or {"app_tenant": {"requests": 30, "per": 2},
--   ...} (named scopes only; others off) [, "decimal_retry_after": true]; GET shows the
--   configuration and the counts ({"admitted": n, "throttled": n}); DELETE switches it off.

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"

local ngx = ngx
local format, match, floor, ceil, min, max = string.format, string.match, math.floor,
  math.ceil, math.min, math.max
local pairs, ipairs, type, tostring = pairs, ipairs, type, tostring

local M = {}

M.SLOTS = 100
M.APP, M.TENANT = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000e1"

M.DOCUMENTED = {
  app = { requests = 130000, per = 10 }, tenant = { requests = 10000, per = 20 },
  app_tenant = { requests = 1500, per = 20 }, record_first = { requests = 10, per = 20 },
  record_pages = { requests = 50, per = 300 },
}
local ORDER = { "app", "tenant", "app_tenant", "record_first", "record_pages" }
local HEADER_NAME = { app = "Application", tenant = "Tenant", app_tenant = "Tenant_Application",
  record_first = "CallRecord", record_pages = "CallRecord" }

local function dict() return ngx.shared.graphcomm_throttle end

-- Worker-local decoded configuration, refreshed when the stored text changes.
local cache = { text = false, cfg = nil }

local function load(text)
  local v = json.decode(text)
  local cfg = { scopes = {}, decimal = v.decimal == true }
  for name, sc in pairs(v.scopes) do
    cfg.scopes[name] = { requests = json.number(sc.requests), per = json.number(sc.per) }
  end
  return cfg
end

local function config()
  local text = dict():get("config")
  if text ~= cache.text then
    cache.text, cache.cfg = text, text and load(text) or nil
  end
  return cache.cfg
end

---------------------------------------------------------------- control

local function bad(message) return nil, message end

-- A control body -> the configuration table, or nil, message.
function M.parse(v)
  if type(v) ~= "table" or json.is_array(v) then return bad("The body is a JSON object.") end
  local cfg = { scopes = {}, decimal = false }
  for k, val in pairs(v) do
    if k == "limits" then
      if val ~= "documented" then return bad("'limits' takes \"documented\".") end
      for name, d in pairs(M.DOCUMENTED) do cfg.scopes[name] = { requests = d.requests, per = d.per } end
    elseif k == "decimal_retry_after" then
      if type(val) ~= "boolean" then return bad("'decimal_retry_after' is true or false.") end
      cfg.decimal = val
    elseif M.DOCUMENTED[k] then
      local n, w = type(val) == "table" and json.number(val.requests), type(val) == "table" and json.number(val.per)
      if not n or n ~= floor(n) or n < 1 or n > 1e9 or not w or not (w > 0) or w > 86400 then
        return bad(format("'%s' takes {\"requests\": 1..1e9, \"per\": seconds above 0 up to 86400}.", k))
      end
      cfg.scopes[k] = { requests = n, per = w }
    else
      return bad(format("Unknown throttle setting '%s' (limits, decimal_retry_after, %s).",
        tostring(k), table.concat(ORDER, ", ")))
    end
  end
  if next(cfg.scopes) == nil then return bad("Name at least one scope, or \"limits\": \"documented\".") end
  return cfg
end

function M.enable(cfg)
  local d = dict()
  d:flush_all()
  local scopes = json.object({}, {})
  for name, sc in pairs(cfg.scopes) do
    scopes[name] = json.object({ requests = sc.requests, per = sc.per }, { "requests", "per" })
  end
  d:set("config", json.encode(json.object({ scopes = scopes, decimal = cfg.decimal },
    { "scopes", "decimal" })))
end

function M.disable() dict():flush_all() end

function M.describe()
  local d = dict()
  local text = d:get("config")
  return json.object({ enabled = text ~= nil, config = text and json.raw(text) or json.null,
    admitted = d:get("n:admitted") or 0, throttled = d:get("n:throttled") or 0 },
    { "enabled", "config", "admitted", "throttled" })
end

---------------------------------------------------------------- counting

-- The scope instances a request counts against: { name, key } pairs.
local function scopes_of(cfg, method, uri)
  local list = {}
  for _, name in ipairs({ "app", "tenant", "app_tenant" }) do
    if cfg.scopes[name] then list[#list + 1] = { name, name } end
  end
  if method == "GET" then
    local crid = match(uri, "/communications/callRecords/([^/?]+)")
    if crid then
      local later = match(uri, "[?&]%$?skiptoken=") or match(uri, "[?&]%$?skip=")
      local name = later and "record_pages" or "record_first"
      if cfg.scopes[name] then list[#list + 1] = { name, name .. ":" .. util.unescape(crid) } end
    end
  end
  return list
end

local function slot_key(key, i) return format("w:%s:%d", key, i) end

-- Requests in the window of `key` at slot i, and the slot counts oldest first.
local function window(d, key, i)
  local total, counts = 0, {}
  for j = i - M.SLOTS, i do
    local c = d:get(slot_key(key, j)) or 0
    counts[#counts + 1] = c
    total = total + c
  end
  return total, counts
end

-- Seconds until one more request fits: the oldest slots leave the window.
local function retry_after(sc, counts, total, i, now)
  local s = sc.per / M.SLOTS
  local drop = total - sc.requests + 1
  for k, c in ipairs(counts) do
    drop = drop - c
    if drop <= 0 then
      local j = i - M.SLOTS + k - 1
      return max(0.001, (j + M.SLOTS + 1) * s - now)
    end
  end
  return sc.per
end

local function refuse(cfg, sc, name, counts, total, i, now, ids)
  local secs = retry_after(sc, counts, total, i, now)
  local ra = cfg.decimal and format("%.3f", secs) or format("%d", max(1, ceil(secs)))
  local pct = min(1.8, total / sc.requests)
  local headers = {
    ["Content-Type"] = "application/json; charset=utf-8",
    ["Retry-After"] = ra,
    ["x-ms-throttle-scope"] = format("%s/ReadWrite/%s/%s", HEADER_NAME[name], M.APP, M.TENANT),
    ["x-ms-throttle-limit-percentage"] = format("%.2f", pct),
    ["x-ms-throttle-information"] = format("CallRecordsRequestLimitExceeded: %s allows %d requests per %g s",
      name, sc.requests, sc.per),
  }
  dict():incr("n:throttled", 1, 0)
  return 429, headers, util.error_body(429, "TooManyRequests", format(
    "Too many requests: the %s limit is %d requests per %g seconds. Retry after %s seconds.",
    name, sc.requests, sc.per, ra), ids)
end

-- nil, extra headers (or nil) when the request may go on; else 429, headers, body.
function M.check(method, uri, ids)
  local cfg = config()
  if not cfg then return nil end
  local d = dict()
  ngx.update_time()
  local now = ngx.now()
  local list = scopes_of(cfg, method, uri)
  local slots = {}
  for k, s in ipairs(list) do
    local sc = cfg.scopes[s[1]]
    slots[k] = floor(now * M.SLOTS / sc.per)
    d:incr(slot_key(s[2], slots[k]), 1, 0, ceil(2 * sc.per) + 1)
  end
  local best, best_pct
  for k, s in ipairs(list) do
    local sc = cfg.scopes[s[1]]
    local total, counts = window(d, s[2], slots[k])
    if total > sc.requests then
      for j, u in ipairs(list) do d:incr(slot_key(u[2], slots[j]), -1, 0) end
      return refuse(cfg, sc, s[1], counts, total - 1, slots[k], now, ids)
    end
    local pct = total / sc.requests
    if not best_pct or pct > best_pct then best, best_pct = s[1], pct end
  end
  d:incr("n:admitted", 1, 0)
  if best_pct and best_pct >= 0.8 then
    return nil, { ["x-ms-throttle-limit-percentage"] = format("%.2f", best_pct),
      ["x-ms-throttle-scope"] = format("%s/ReadWrite/%s/%s", HEADER_NAME[best], M.APP, M.TENANT) }
  end
  return nil
end

-- Adds check's extra headers to an answer's headers.
function M.decorate(headers, extra)
  if extra and headers then for k, v in pairs(extra) do headers[k] = v end end
  return headers
end

return M
