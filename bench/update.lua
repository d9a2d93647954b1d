-- bench/update.lua: sequential session updates over one client against the emulator,
-- compared in the same run with wrk -t1 -c1 (same URL, headers and body: the ceiling
-- of one connection), with bench/naive_loop.lua (the loop a Lua user writes by hand:
-- lua-curl + lua-cjson, on LuaJIT), with bench/curl_loop.c (the same PATCH from a careful
-- C libcurl loop: the floor of any libcurl-based client) and with the official Microsoft
-- Graph JavaScript client on Node when installed.
--   lua5.4 bench/update.lua [SECONDS [ROUNDS]]      (luajit works too)
-- Two tables: the emulator's short token, then a 1,500-byte JWT-shaped one (libcurl's
-- cost per header byte makes token size matter). Contestants take turns, ROUNDS times
-- (default 3); the table shows medians, and each ratio is the median of the rounds' own
-- ratios: the machine is shared, and someone else's burst should not decide a ratio.
-- CPU is the contestant's own user + system time per request (for wrk: its process,
-- start-up included). Uses GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN when set, else starts
-- emulator/start itself. The emulator's request log is switched off for the run.
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
local tokens = common.tokens(base, token)

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
local function run_graphcomm(b, tok)
  local client = tok == token and client
    or assert(graphcomm.connect{ base_url = base, token = tok })
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
  local rps, cpu = n / (now() - t0), (os.clock() - c0) * 1e6 / n
  if tok ~= token then client:close() end
  return rps, cpu
end

local url = base .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid

local function run_wrk(tok)
  local out = sh("BENCH_TOKEN=" .. quote(tok) .. " BENCH_BODY=" .. quote(json)
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
local function run_curl(tok)
  if compiled == nil then
    local _, ok = sh("mkdir -p " .. quote(here .. "/build/bench") .. " && cc -std=c99 -O2 "
      .. "-D_POSIX_C_SOURCE=200809L -o " .. quote(curl_loop) .. " " .. quote(here .. "/bench/curl_loop.c")
      .. " $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl) 2>&1")
    compiled = ok and true or false
  end
  if not compiled then return nil, "bench/curl_loop.c did not compile" end
  local out = sh(quote(curl_loop) .. " " .. quote(url) .. " " .. quote(tok) .. " " .. quote(json)
    .. " " .. seconds .. " 2>&1")
  local rps, cpu = out:match('"rps":%s*([%d%.]+), "cpu_us":%s*([%d%.]+)')
  if not rps then return nil, out end
  return tonumber(rps), tonumber(cpu)
end

-- The hand-written loop (bench/naive_loop.lua: lua-curl + lua-cjson), on LuaJIT, where
-- Debian's lua-curl loads (it is built for Lua 5.1 and 5.2 only).
local function run_naive(tok)
  local out = sh("luajit " .. quote(here .. "/bench/naive_loop.lua") .. " " .. quote(url) .. " "
    .. quote(tok) .. " " .. seconds .. " 2>&1")
  local rps, cpu = out:match('"rps":%s*([%d%.]+), "cpu_us":%s*([%d%.]+)')
  if not rps then return nil, "lua-curl loop failed (scripts/deps bench installs lua-curl): " .. out end
  return tonumber(rps), tonumber(cpu)
end

local function run_js(tok)
  if not io.open(here .. "/bench/node_modules/@microsoft/microsoft-graph-client/package.json") then
    return nil, "not installed (scripts/bench installs it)"
  end
  local out = sh("node " .. quote(here .. "/bench/js/update.js") .. " " .. quote(base) .. " "
    .. quote(tok) .. " " .. quote(crid) .. " " .. quote(sid) .. " " .. quote(json) .. " "
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

local NAMES = { "table", "session", "naive", "curl", "wrk", "js" }
local LABEL = {
  table = "graphcomm update_session (table body)",
  session = "graphcomm update_session (session object)",
  naive = "lua-curl + lua-cjson by hand (LuaJIT)",
  curl = "libcurl easy loop in C (bench/curl_loop.c)",
  wrk = "wrk -t1 -c1 (ceiling)",
}
-- The contestants' order in a round (interleaved: every round runs each once).
local RUN = {
  wrk = run_wrk, curl = run_curl, naive = run_naive, js = run_js,
  table = function(tok) return run_graphcomm(body, tok) end,
  session = function(tok) return run_graphcomm(session, tok) end,
}
local ORDER = { "wrk", "naive", "curl", "table", "session", "js" }
local BASES = { "wrk", "naive", "curl" }

local function fmt_ratio(list)
  local m = median(list)
  return m and string.format("%.2fx", m) or "-"
end

-- One table for one token: medians over the rounds; a ratio is the median of each
-- round's own ratio (contestant / base of the same round).
local function bench(tok, what)
  local rps, cpu, why, vs = {}, {}, {}, {}
  for _, k in ipairs(NAMES) do
    rps[k], cpu[k], vs[k] = {}, {}, {}
    for _, b in ipairs(BASES) do vs[k][b] = {} end
  end
  for _ = 1, rounds do
    local got = {}
    for _, k in ipairs(ORDER) do
      local r, c = RUN[k](tok)
      if r == nil then why[k] = c else
        got[k] = r
        rps[k][#rps[k] + 1], cpu[k][#cpu[k] + 1] = r, c
      end
    end
    for _, k in ipairs(NAMES) do
      for _, b in ipairs(BASES) do
        if got[k] and got[b] then vs[k][b][#vs[k][b] + 1] = got[k] / got[b] end
      end
    end
  end
  print(string.format("Update benchmark, %s: sequential PATCH of one session, one connection, "
    .. "median of %d interleaved rounds x %d s (%s)", what, rounds, seconds,
    rawget(_G, "jit") and jit.version or _VERSION))
  print(string.format("%-46s %8s %8s %8s %8s %10s", "client", "req/s", "vs wrk", "vs naive",
    "vs C", "CPU us/req"))
  for _, k in ipairs(NAMES) do
    local label = LABEL[k] or "@microsoft/microsoft-graph-client (Node)"
    if #rps[k] == 0 then
      print(label .. ": " .. tostring(why[k]))
    else
      local c = median(cpu[k])         -- none for the JS client (bench/js/update.js)
      print(string.format("%-46s %8.0f %8s %8s %8s %10s", label, median(rps[k]),
        fmt_ratio(vs[k].wrk), fmt_ratio(vs[k].naive), fmt_ratio(vs[k].curl),
        c and string.format("%.1f", c) or "-"))
    end
  end
end

local ok, err = pcall(function()
  for _, t in ipairs(tokens) do bench(t.token, t.label) end
end)
client:close()
finish()
if not ok then error(err, 0) end
