-- bench/bulk.lua: N session updates (default 20,000) with 16 in flight against the
-- emulator, compared in the same run with wrk -t1 -c16 (the ceiling) and the official
-- Microsoft Graph JavaScript client with 16 concurrent promises, all three PATCHing the
-- same URL with the same body (graphcomm with ordered = false: otherwise fixes of one
-- session wait for one another), graphcomm also in $batch; then graphcomm over 1,000
-- sessions (more work for the emulator per update than one session); then
-- the peak RSS of streaming 10,000 and 100,000 items through an iterator.
--   lua5.4 bench/bulk.lua [N]                 (luajit works too)
--   lua5.4 bench/bulk.lua --rss N             (one child run: prints "rss <kB>")
-- Uses GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN when set, else starts emulator/start itself.
-- The emulator's request log is switched off for the run.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
  .. "/common.lua")
local here, interpreter, sh, quote = common.here, common.interpreter, common.sh, common.quote

local graphcomm = require "graphcomm"

local CONCURRENCY = 16
local SESSIONS = 1000

local BODY = '{"modalities":["audio","video"],"endDateTime":"2024-05-01T10:15:00Z",'
  .. '"failureInfo":{"reason":"bench","stage":"midcall"}}'

-- A fresh body table per item, as a real stream of fixes would bring.
local function body()
  return { modalities = { "audio", "video" }, endDateTime = "2024-05-01T10:15:00Z",
    failureInfo = { reason = "bench", stage = "midcall" } }
end

local function items(crid, sids, n)
  local i = 0
  return function()
    i = i + 1
    if i > n then return nil end
    return { crid, sids[(i - 1) % #sids + 1], body() }
  end
end

local function run_graphcomm(client, crid, sids, n, batch)
  local s = client:update_sessions(items(crid, sids, n), { concurrency = not batch and CONCURRENCY or nil,
    batch = batch, ordered = #sids > 1 })
  assert(s.ok == n, ("%d of %d updates failed"):format(s.failed, n))
  return n / s.elapsed
end

local function peak_rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

------------------------------------------------------------------------------
-- Child mode: stream N items, print the peak RSS.
------------------------------------------------------------------------------

if arg[1] == "--rss" then
  local n = tonumber(arg[2])
  local base, token, crid = os.getenv("GRAPHCOMM_BASE_URL"), os.getenv("GRAPHCOMM_TOKEN"), arg[3]
  local sids = {}
  for id in arg[4]:gmatch("[^,]+") do sids[#sids + 1] = id end
  local client = assert(graphcomm.connect{ base_url = base, token = token })
  run_graphcomm(client, crid, sids, n, false)
  collectgarbage()
  print("rss " .. peak_rss_kb() .. " lua_kb " .. math.floor(collectgarbage("count")))
  client:close()
  os.exit(0)
end

------------------------------------------------------------------------------
-- The comparison
------------------------------------------------------------------------------

local N = tonumber(arg[1]) or 20000

local base, token, finish = common.emulator()

local function control(path, json) return common.control(base, path, json) end

local function run_wrk(crid, sid, seconds, tok)
  local url = base .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid
  local out = sh("BENCH_TOKEN=" .. quote(tok or token) .. " BENCH_BODY=" .. quote(BODY)
    .. " wrk -t1 -c" .. CONCURRENCY .. " -d" .. seconds .. "s -s "
    .. quote(here .. "/bench/wrk_patch.lua") .. " " .. quote(url) .. " 2>&1")
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local non2xx = out:match("Non%-2xx or 3xx responses:%s*(%d+)")
  assert(rps and not non2xx, "wrk failed or got errors:\n" .. out)
  return rps
end

local function run_js(crid, sid, n)
  if not io.open(here .. "/bench/node_modules/@microsoft/microsoft-graph-client/package.json") then
    return nil, "not installed (scripts/bench installs it)"
  end
  local out = sh("node " .. quote(here .. "/bench/js/bulk.js") .. " " .. quote(base) .. " "
    .. quote(token) .. " " .. quote(crid) .. " " .. quote(sid) .. " "
    .. quote(BODY) .. " " .. n .. " " .. CONCURRENCY .. " 2>&1")
  local rps = tonumber(out:match('"rps":%s*([%d%.eE+-]+)'))
  local failed = tonumber(out:match('"failed":%s*(%d+)'))
  if not rps or failed ~= 0 then return nil, out end
  return rps
end

local function rss_child(crid, sids, n)
  local out = sh("GRAPHCOMM_BASE_URL=" .. quote(base) .. " GRAPHCOMM_TOKEN=" .. quote(token) .. " "
    .. interpreter .. " " .. quote(here .. "/bench/bulk.lua") .. " --rss " .. n .. " "
    .. quote(crid) .. " " .. quote(table.concat(sids, ",")) .. " 2>&1")
  local kb = tonumber(out:match("rss (%d+)"))
  assert(kb, "the --rss child failed:\n" .. out)
  return kb
end

local function best(a, b)
  if a == nil then return b end
  if b == nil then return a end
  return math.max(a, b)
end

local ok, err = pcall(function()
  control("config", '{"log":false}')
  local rec = control("callRecords", '{"sessions":' .. SESSIONS .. '}')
  local crid, sids = rec.id, rec.sessionIds
  local one = { sids[1] }
  local client = assert(graphcomm.connect{ base_url = base, token = token })
  run_graphcomm(client, crid, sids, 2000, false)                        -- warm-up
  -- A realistic bearer token (1,500 bytes, JWT-shaped) for a second pair of rows.
  local jwt = common.jwt(base)
  local jclient = assert(graphcomm.connect{ base_url = base, token = jwt })
  -- Two rounds, interleaved, best of each: the machine is shared.
  local r = {}
  for _ = 1, 2 do
    r.wrk = best(r.wrk, run_wrk(crid, sids[1], 3))
    r.multi = best(r.multi, run_graphcomm(client, crid, one, N, false))
    r.batch1 = best(r.batch1, run_graphcomm(client, crid, one, N, true))
    r.many = best(r.many, run_graphcomm(client, crid, sids, N, false))
    r.batch = best(r.batch, run_graphcomm(client, crid, sids, N, true))
    r.wrk_jwt = best(r.wrk_jwt, run_wrk(crid, sids[1], 3, jwt))
    r.multi_jwt = best(r.multi_jwt, run_graphcomm(jclient, crid, one, N, false))
  end
  client:close()
  jclient:close()
  local js, why = run_js(crid, sids[1], N)
  local small = rss_child(crid, sids, 10000)
  local large = rss_child(crid, sids, 100000)

  print(("Bulk benchmark: %d PATCH updates, %d in flight, against the emulator, best of 2 (%s)")
    :format(N, CONCURRENCY, rawget(_G, "jit") and jit.version or _VERSION))
  print(("%-54s %9s %8s %8s"):format("client", "updates/s", "vs wrk", "vs JS"))
  local function row(name, rps)
    print(("%-54s %9.0f %7.2fx %8s"):format(name, rps, rps / r.wrk,
      js and ("%.1fx"):format(rps / js) or "-"))
  end
  row("graphcomm update_sessions (16 in flight, libcurl multi)", r.multi)
  row("graphcomm update_sessions batch=true (4 x $batch of 20)", r.batch1)
  row("wrk -t1 -c16 (the ceiling of single requests)", r.wrk)
  if js then
    row("@microsoft/microsoft-graph-client, 16 promises (Node " .. sh("node --version"):gsub("%s+$", "") .. ")", js)
  else
    print("@microsoft/microsoft-graph-client: " .. tostring(why))
  end
  print(("With a %d-byte JWT-shaped token: graphcomm (16 in flight) %.0f updates/s, "
    .. "wrk -t1 -c16 %.0f: %.2fx"):format(#jwt, r.multi_jwt, r.wrk_jwt, r.multi_jwt / r.wrk_jwt))
  print(("%d sessions of one record (the emulator works harder per session than for one):")
    :format(SESSIONS))
  row("graphcomm update_sessions (16 in flight)", r.many)
  row("graphcomm update_sessions batch=true (4 x $batch of 20)", r.batch)
  print(("peak RSS streaming 10,000 items: %.1f MB; 100,000 items: %.1f MB (%+.1f%%)")
    :format(small / 1024, large / 1024, (large - small) * 100 / small))
end)
finish()
if not ok then error(err, 0) end
