-- bench/update.lua: sequential session updates over one client against the emulator,
-- compared in the same run with wrk -t1 -c1 (same URL, headers and body: the ceiling
-- of one connection), with bench/curl_loop.c (the same PATCH from a bare C libcurl
-- loop: the floor of any libcurl-based client) and with the official Microsoft Graph
-- JavaScript client on Node.
--   lua5.4 bench/update.lua [SECONDS [ROUNDS]]      (luajit works too)
-- Contestants take turns, ROUNDS times (default 3); the table shows medians: the
-- machine is shared, and someone else's burst should not decide a ratio. CPU is the
-- contestant's own user + system time per request (for wrk: its process, start-up
-- included; for the JavaScript client: not measured).
-- Uses GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN when set, else starts emulator/start itself.
-- The emulator's request log is switched off for the run.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
  .. "/common.lua")
local here, sh, quote = common.here, common.sh, common.quote

local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local cjson = require "cjson"

local seconds = tonumber(arg[1]) or 5
local rounds = tonumber(arg[2]) or 3

-- The emulator: the one named by the environment, or our own for the run.
local base, token, finish = common.emulator()

local client = assert(graphcomm.connect{ base_url = base, token = token })

-- The emulator's own switches and sample ids (no graphcomm method needed for these).
common.control(base, "config", '{"log":false}')
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

-- req/s and CPU microseconds per request of update_session(crid, sid, b).
local function run_graphcomm(b)
  for _ = 1, 200 do assert(client:update_session(crid, sid, b)) end   -- warm-up
  local n, t0, c0 = 0, now(), os.clock()
  local stop = t0 + seconds
  repeat
    for _ = 1, 100 do
      local ok, err = client:update_session(crid, sid, b)
      if not ok then error(tostring(err)) end
    end
    n = n + 100
  until now() >= stop
  return n / (now() - t0), (os.clock() - c0) * 1e6 / n
end

local url = base .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid

local function run_wrk()
  local out = sh("BENCH_TOKEN=" .. quote(token) .. " BENCH_BODY=" .. quote(json)
    .. " bash -c " .. quote("TIMEFORMAT='cpu %3U %3S'; time wrk -t1 -c1 -d" .. seconds
    .. "s -s " .. quote(here .. "/bench/wrk_patch.lua") .. " " .. quote(url)) .. " 2>&1")
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local n = tonumber(out:match("(%d+) requests in"))
  local user, sys = out:match("cpu ([%d%.]+) ([%d%.]+)")
  local non2xx = out:match("Non%-2xx or 3xx responses:%s*(%d+)")
  assert(rps and n and user and not non2xx, "wrk failed or got errors:\n" .. out)
  return rps, (tonumber(user) + tonumber(sys)) * 1e6 / n
end

-- The C libcurl loop, compiled once a run (from the current source) into the build folder.
local curl_loop, compiled = here .. "/build/bench/curl_loop", nil
local function run_curl()
  if compiled == nil then
    local _, ok = sh("mkdir -p " .. quote(here .. "/build/bench") .. " && cc -std=c99 -O2 "
      .. "-D_POSIX_C_SOURCE=200809L -o " .. quote(curl_loop) .. " " .. quote(here .. "/bench/curl_loop.c")
      .. " $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl) 2>&1")
    compiled = ok and true or false
  end
  if not compiled then return nil, "bench/curl_loop.c did not compile" end
  local out = sh(quote(curl_loop) .. " " .. quote(url) .. " " .. quote(token) .. " " .. quote(json)
    .. " " .. seconds .. " 2>&1")
  local rps, cpu = out:match('"rps":%s*([%d%.]+), "cpu_us":%s*([%d%.]+)')
  if not rps then return nil, out end
  return tonumber(rps), tonumber(cpu)
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

local function median(list)
  if #list == 0 then return nil end
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  table.sort(t)
  local m = (#t + 1) / 2
  return (t[math.floor(m)] + t[math.ceil(m)]) / 2
end

local NAMES = { "table", "session", "curl", "wrk", "js" }
local LABEL = {
  table = "graphcomm update_session (table body)",
  session = "graphcomm update_session (session object)",
  curl = "libcurl easy loop in C (bench/curl_loop.c)",
  wrk = "wrk -t1 -c1 (ceiling)",
}

local ok, err = pcall(function()
  local rps, cpu, why = {}, {}, {}
  for _, k in ipairs(NAMES) do rps[k], cpu[k] = {}, {} end
  local function record(k, r, c)
    if r == nil then why[k] = c return end
    rps[k][#rps[k] + 1], cpu[k][#cpu[k] + 1] = r, c
  end
  -- Per round ratios: each contestant against the wrk and JavaScript runs of its own round.
  local vs_wrk, vs_js = {}, {}
  for _, k in ipairs(NAMES) do vs_wrk[k], vs_js[k] = {}, {} end
  for _ = 1, rounds do
    local before = {}
    for _, k in ipairs(NAMES) do before[k] = #rps[k] end
    record("wrk", run_wrk())
    record("curl", run_curl())
    record("table", run_graphcomm(body))
    record("session", run_graphcomm(session))
    record("js", run_js())
    local w = #rps.wrk > before.wrk and rps.wrk[#rps.wrk]
    local j = #rps.js > before.js and rps.js[#rps.js]
    for _, k in ipairs(NAMES) do
      if #rps[k] > before[k] then
        local r = rps[k][#rps[k]]
        if w then vs_wrk[k][#vs_wrk[k] + 1] = r / w end
        if j then vs_js[k][#vs_js[k] + 1] = r / j end
      end
    end
  end
  print(string.format("Update benchmark: sequential PATCH of one session, one connection, "
    .. "median of %d interleaved rounds x %d s (%s)", rounds, seconds,
    rawget(_G, "jit") and jit.version or _VERSION))
  print(string.format("%-50s %9s %8s %8s %12s", "client", "req/s", "vs wrk", "vs JS", "CPU us/req"))
  for _, k in ipairs(NAMES) do
    local label = LABEL[k] or ("@microsoft/microsoft-graph-client (Node "
      .. sh("node --version"):gsub("%s+$", "") .. ")")
    if #rps[k] == 0 then
      print(label .. ": " .. tostring(why[k]))
    else
      local r, c, w, j = median(rps[k]), median(cpu[k]), median(vs_wrk[k]), median(vs_js[k])
      print(string.format("%-50s %9.0f %7s %8s %12s", label, r,
        w and string.format("%.2fx", w) or "-", j and string.format("%.1fx", j) or "-",
        c and string.format("%.1f", c) or "-"))
    end
  end
end)
client:close()
finish()
if not ok then error(err, 0) end
