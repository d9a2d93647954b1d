-- bench/throttle.lua: a bulk fix against the emulator's throttling scaled down to
-- 30 requests per 2 s per app per tenant (Graph's 1,500 per 20 s, shorter), each
-- contender with 16 in flight and one update per session:
--   graphcomm            limits = the same numbers (the limiter), libcurl multi
--   graphcomm, $batch    the same, 20 updates per POST /$batch (each counted by Graph)
--   graphcomm, no limits limits = false: only 429 + Retry-After retries (max_retries 10)
--   JavaScript client    the official Microsoft Graph JS client, 16 concurrent promises,
--                        its RetryHandler (bench/js/throttle.js)
-- For each: updates/s, % of the allowed rate (30 / 2 s), time vs the least time the
-- limit allows, 429s the emulator answered, failures. One table for the emulator's short
-- token, then one for a 1,500-byte JWT-shaped one (common.tokens), all contenders sending it.
--   lua5.4 bench/throttle.lua [ITEMS]     (default 300; luajit works too)
-- Uses GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN when set, else starts emulator/start itself.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
  .. "/common.lua")
local here, sh, quote = common.here, common.sh, common.quote

local graphcomm = require "graphcomm"
local cjson = require "cjson"

local N, PER, CONCURRENCY = 30, 2, 16
local ITEMS = tonumber(arg[1]) or 300
local LEAST = math.floor((ITEMS - 1) / N) * PER        -- the last request's earliest start
local ALLOWED = N / PER

local base, token, finish = common.emulator()
local function control(path, json) return common.control(base, path, json) end
local function throttled()
  local http = require("graphcomm.core").http{}
  local resp = assert(http:send{ method = "GET", url = base .. "/_emulator/throttle" })
  http:close()
  return cjson.decode(resp.body).throttled
end

-- A fresh window for each contender (the emulator's counts start again).
local function arm()
  control("throttle", cjson.encode({ app_tenant = { requests = N, per = PER } }))
end

local function items(crid, sids)
  local list = {}
  for k = 1, ITEMS do list[k] = { crid, sids[k], { isTest = true } } end
  return list
end

local function run_graphcomm(tok, crid, sids, limits, batch)
  local client = assert(graphcomm.connect{ base_url = base, token = tok, limits = limits,
    max_retries = 10, max_retry_delay = 10 })
  arm()
  local s = client:update_sessions(items(crid, sids), { concurrency = not batch and CONCURRENCY
    or nil, batch = batch })
  client:close()
  return { ok = s.ok, failed = s.failed, seconds = s.elapsed, r429 = throttled() }
end

local function run_js(tok, crid, sids)
  if not io.open(here .. "/bench/node_modules/@microsoft/microsoft-graph-client/package.json") then
    return nil, "not installed (scripts/bench installs it)"
  end
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(cjson.encode(sids))
  f:close()
  arm()
  local out = sh("node " .. quote(here .. "/bench/js/throttle.js") .. " " .. quote(base) .. " "
    .. quote(tok) .. " " .. quote(crid) .. " " .. quote(file) .. " " .. ITEMS .. " "
    .. CONCURRENCY .. " 2>&1")
  os.remove(file)
  local r = cjson.decode(out:match("(%b{})%s*$") or "null")
  if type(r) ~= "table" then return nil, out end
  return { ok = r.ok, failed = r.failed, seconds = r.seconds, r429 = throttled() }
end

local function report(label, rows)
  print(label .. ":")
  print(("| %-32s | %9s | %9s | %9s | %7s | %6s | %6s |"):format("client", "updates/s",
    "% allowed", "time (s)", "vs least", "429s", "failed"))
  print("|" .. ("-"):rep(34) .. "|" .. ("-"):rep(11) .. "|" .. ("-"):rep(11) .. "|"
    .. ("-"):rep(11) .. "|" .. ("-"):rep(9) .. "|" .. ("-"):rep(8) .. "|" .. ("-"):rep(8) .. "|")
  for _, row in ipairs(rows) do
    local r = row[2]
    if type(r) == "table" then
      local rate = r.ok / r.seconds
      print(("| %-32s | %9.2f | %8.0f%% | %9.2f | %6.0f%% | %6d | %6d |"):format(row[1], rate,
        100 * rate / ALLOWED, r.seconds, 100 * r.seconds / LEAST, r.r429, r.failed))
    else
      print(("| %-32s | %s"):format(row[1], tostring(r):gsub("\n", " "):sub(1, 200)))
    end
  end
end

local ok, err = pcall(function()
  control("config", '{"log":false}')
  local rec = control("callRecords", '{"sessions":' .. ITEMS .. '}')
  local crid, sids = rec.id, rec.sessionIds
  local limits = { app_tenant = { requests = N, per = PER } }
  print(("Throttling benchmark: %d updates, %d in flight, emulator limit %d requests per %g s "
    .. "(allowed rate %.1f/s; least time %.0f s), %s"):format(ITEMS, CONCURRENCY, N, PER,
    ALLOWED, LEAST, _VERSION .. (rawget(_G, "jit") and " (LuaJIT)" or "")))
  for _, t in ipairs(common.tokens(base, token)) do
    local rows = {
      { "graphcomm (limiter on)", run_graphcomm(t.token, crid, sids, limits, false) },
      { "graphcomm, $batch (limiter on)", run_graphcomm(t.token, crid, sids, limits, true) },
      { "graphcomm, limits = false", run_graphcomm(t.token, crid, sids, false, false) },
    }
    local js, why = run_js(t.token, crid, sids)
    rows[#rows + 1] = { "Graph JS client + RetryHandler", js or why }
    report(t.label, rows)
  end
end)
control("config", '{"log":true}')
pcall(control, "reset", "{}")
finish()
if not ok then error(err, 0) end
