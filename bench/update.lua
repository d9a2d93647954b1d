-- bench/update.lua: sequential session updates over one client against the emulator,
-- compared in the same run with wrk -t1 -c1 (same URL, headers and body: the ceiling
-- of one connection) and with the official Microsoft Graph JavaScript client on Node.
--   lua5.4 bench/update.lua [SECONDS]      (luajit works too)
-- Uses GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN when set, else starts emulator/start itself.
-- The emulator's request log is switched off for the run.
local here = debug.getinfo(1, "S").source:match("^@(.*)/bench/[^/]*$") or "."
local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
package.path = here .. "/lua/?.lua;" .. package.path
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or (here .. "/build/" .. flavour)) .. "/?.so;"
  .. package.cpath

local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local cjson = require "cjson"

local seconds = tonumber(arg[1]) or 5

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The emulator: the one named by the environment, or our own for the run.
local base, token = os.getenv("GRAPHCOMM_BASE_URL"), os.getenv("GRAPHCOMM_TOKEN")
local started = false
if not (base and token) then
  local out = sh(quote(here .. "/emulator/start") .. " 2>&1")
  base = out:match("GRAPHCOMM_BASE_URL='?([^'\n]+)")
  token = out:match("GRAPHCOMM_TOKEN='?([^'\n]+)")
  started = out:match("GRAPHCOMM_EMULATOR_DIR='?([^'\n]+)")
  assert(base and token and started, "emulator/start failed:\n" .. out)
end

local function finish()
  if started then sh(quote(here .. "/emulator/stop") .. " " .. quote(started) .. " >/dev/null 2>&1") end
end

local client = assert(graphcomm.connect{ base_url = base, token = token })

-- The emulator's own switches and sample ids (no graphcomm method needed for these).
local http = core.http{}
http:send{ method = "POST", url = base .. "/_emulator/config", body = '{"log":false}',
  headers = { "Content-Type: application/json" } }
local records = cjson.decode(assert(client:request{ path = "/communications/callRecords" }).body)
local crid = records.value[1].id
local sessions = cjson.decode(assert(client:request{
  path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
local sid = sessions.value[1].id

local body = { modalities = { "audio", "video" }, endDateTime = "2024-05-01T10:15:00Z",
  failureInfo = { reason = "bench", stage = "midcall" } }
local json = assert(core.encode(body))
local session = assert(graphcomm.session(body))

local now = core.now

local function run_graphcomm(b)
  for _ = 1, 200 do assert(client:update_session(crid, sid, b)) end   -- warm-up
  local n, t0 = 0, now()
  local stop = t0 + seconds
  repeat
    for _ = 1, 100 do
      local ok, err = client:update_session(crid, sid, b)
      if not ok then error(tostring(err)) end
    end
    n = n + 100
  until now() >= stop
  return n / (now() - t0)
end

local function run_wrk()
  local url = base .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid
  local out = sh("BENCH_TOKEN=" .. quote(token) .. " BENCH_BODY=" .. quote(json)
    .. " wrk -t1 -c1 -d" .. seconds .. "s -s " .. quote(here .. "/bench/wrk_patch.lua")
    .. " " .. quote(url) .. " 2>&1")
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local non2xx = out:match("Non%-2xx or 3xx responses:%s*(%d+)")
  assert(rps and not non2xx, "wrk failed or got errors:\n" .. out)
  return rps
end

local function run_js()
  if not io.open(here .. "/bench/node_modules/@microsoft/microsoft-graph-client/package.json") then
    return nil, "not installed (scripts/bench installs it)"
  end
  local out = sh("node " .. quote(here .. "/bench/js/update.js") .. " " .. quote(base) .. " "
    .. quote(token) .. " " .. quote(crid) .. " " .. quote(sid) .. " " .. quote(json) .. " "
    .. seconds .. " 2>&1")
  local rps = tonumber(out:match('"rps":%s*([%d%.eE+-]+)'))
  if not rps then return nil, out end
  return rps
end

-- Two rounds, interleaved, best of each: the machine is shared, and a burst of someone
-- else's work should not decide a ratio.
local function best(a, b)
  if a == nil then return b end
  if b == nil then return a end
  return math.max(a, b)
end

local ok, err = pcall(function()
  local results, js, why = {}, nil, nil
  for _ = 1, 2 do
    results.wrk = best(results.wrk, run_wrk())
    results.table = best(results.table, run_graphcomm(body))
    results.session = best(results.session, run_graphcomm(session))
    local r
    r, why = run_js()
    js = best(js, r)
  end
  results.js = js
  print(string.format("Update benchmark: sequential PATCH of one session, one connection, best of 2 x %d s (%s)",
    seconds, rawget(_G, "jit") and jit.version or _VERSION))
  print(string.format("%-50s %10s %9s %9s", "client", "req/s", "vs wrk", "vs JS"))
  local function row(name, rps)
    print(string.format("%-50s %10.0f %8.2fx %9s", name, rps, rps / results.wrk,
      js and string.format("%.1fx", rps / js) or "-"))
  end
  row("graphcomm update_session (table body)", results.table)
  row("graphcomm update_session (session object)", results.session)
  row("wrk -t1 -c1 (ceiling)", results.wrk)
  if js then row("@microsoft/microsoft-graph-client (Node " .. sh("node --version"):gsub("%s+$", "") .. ")", js)
  else print("@microsoft/microsoft-graph-client: " .. tostring(why)) end
end)
client:close()
finish()
if not ok then error(err, 0) end
