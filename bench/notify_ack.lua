-- bench/notify_ack.lua: how many change notifications one nginx worker of the notify example
-- (examples/openresty/notify) acknowledges per second, and the p99 acknowledgement
-- latency, while the fixes (a read and a PATCH per record, through the emulator) run behind.
--   luajit bench/notify_ack.lua [NOTIFICATIONS] [CONNECTIONS]    (defaults: 2000, 32)
-- Each notification names a different call record (with one session to fix), POSTed by
-- curl --parallel with the example's clientState; an answer other than 202, or slower
-- than Graph's 3 s, counts as a failure. Two rounds, each with its own example and call
-- records: the example's GRAPHCOMM_TOKEN the emulator's short token, then a 1,500-byte
-- JWT-shaped one (common.tokens). Starts and stops its own emulator and examples.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local sh, quote = common.sh, common.quote
local cjson = require "cjson"
local core = require "graphcomm.core"

local n = tonumber(arg[1]) or 2000
local conns = tonumber(arg[2]) or 32
local state = "bench-" .. core.uuid4()

local base, token, finish = common.emulator()
local run = quote(common.here .. "/examples/openresty/notify/run")
local dir               -- the running example's prefix
local function stop_example()
  if not dir then return end
  sh("GRAPHCOMM_NOTIFY_DIR=" .. quote(dir) .. " " .. run .. " stop >/dev/null 2>&1; rm -rf " .. quote(dir))
  dir = nil
end

-- One round: n new call records, the example started with bearer token tok, the
-- notifications posted, the fixes waited for; prints one line, headed by label.
local function round(tok, label)
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "w"))
  for i = 1, n do
    f:write(('%surl = "%s/_emulator/callRecords"\ndata = "{\\"sessions\\":1,\\"open_sessions\\":1}"\n'
      .. 'output = "/dev/null"\n'):format(i > 1 and "next\n" or "", base))
  end
  f:close()
  local _, made = sh("curl -sS --no-progress-meter --parallel --parallel-max 16 -K " .. quote(cfg))
  assert(made, "creating the call records failed")
  local first = common.control(base, "callRecords", '{"sessions":0}').id
  local serial = tonumber(first:sub(-12), 16)        -- the generated ids count up to this one
  local port = 20000 + math.random(0, 9999)
  dir = sh("mktemp -d"):match("%S+")
  local out, started = sh("GRAPHCOMM_NOTIFY_DIR=" .. quote(dir) .. " GRAPHCOMM_TOKEN=" .. quote(tok)
    .. " NOTIFY_CLIENT_STATE=" .. quote(state) .. " " .. run .. " start " .. quote(base)
    .. " --port " .. port .. " 2>&1")
  assert(started, out)
  local url = out:match("URL=(%S+)") .. "/notify"
  f = assert(io.open(cfg, "w"))
  for i = serial - n, serial - 1 do
    if i > serial - n then f:write("next\n") end
    local crid = ("6e6e0000-0000-4000-8000-%012x"):format(i)
    local body = cjson.encode({ value = { { subscriptionId = "bench", changeType = "created",
      clientState = state, resource = "communications/callRecords/" .. crid,
      resourceData = { id = crid }, tenantId = "t" } } })
    f:write(('url = "%s"\ndata = %s\nheader = "Content-Type: application/json"\n'
      .. 'output = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\n'):format(url,
      cjson.encode(body)))
  end
  f:close()
  local t0 = core.now()
  local lines = sh("curl -sS --no-progress-meter --parallel --parallel-max " .. conns .. " -K " .. quote(cfg))
  local wall = core.now() - t0
  os.remove(cfg)
  local times, failures = {}, 0
  for code, t in lines:gmatch("(%d+) ([%d.]+)") do
    t = tonumber(t)
    if code ~= "202" or t > 3 then failures = failures + 1 end
    times[#times + 1] = t
  end
  assert(#times == n, ("curl made %d of %d requests"):format(#times, n))
  table.sort(times)
  local p99 = times[math.max(1, math.ceil(#times * 0.99))]
  -- The fixes behind: bounded wait until the queue is empty.
  local status
  for _ = 1, 1200 do
    status = cjson.decode((sh("curl -sS " .. quote((url:gsub("/notify$", "/status"))))))
    if status.queue == 0 and status.done + status.failed >= n then break end
    core.sleep(0.05)
  end
  local fixing = core.now() - t0
  print(("notify example (1 worker, %d connections), %s: %d notifications, %.0f acknowledged/s, "
    .. "p50 %.1f ms, p99 %.1f ms, %d failures (non-202 or > 3 s); fixes done %d of %d (%d sessions fixed) after %.1f s "
    .. "(%.0f records/s)"):format(conns, label, n, n / wall, times[math.ceil(#times / 2)] * 1000, p99 * 1000,
    failures, status.done, n, status.fixed, fixing, status.done / fixing))
  stop_example()
end

local ok, err = pcall(function()
  common.control(base, "config", '{"log":false}')
  for _, t in ipairs(common.tokens(base, token)) do round(t.token, t.label) end
end)
stop_example()
finish()
if not ok then io.stderr:write("bench/notify_ack.lua: ", tostring(err), "\n"); os.exit(1) end
