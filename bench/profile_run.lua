-- bench/profile_run.lua: a fixed number of graphcomm updates for bench/profile.sh, which
-- runs it under callgrind twice (COUNT and a longer COUNT) and divides the difference:
-- start-up, discovery and warm-up cancel out, what remains is the cost per update.
--   lua5.4 bench/profile_run.lua MODE TOKEN COUNT      (luajit works too)
-- MODE: table (a body table validated and encoded per call), session (a session
-- object), bulk (update_sessions, 16 in flight or BENCH_CONCURRENCY, over the record's
-- sessions). GRAPHCOMM_CA_FILE and BENCH_HTTP_VERSION ("1.1", "2tls") are passed to
-- connect (the TLS comparison in bench/PROFILE.md). With BENCH_REPORT set it prints
-- "cpu_s <CPU seconds of the updates alone> hwm_kb <peak RSS>" (bench/multi_syscalls.sh).
-- GRAPHCOMM_BASE_URL names the emulator (its short token is GRAPHCOMM_TOKEN; TOKEN may
-- be another one it accepts).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
  .. "/common.lua")
local _ = common
local graphcomm = require "graphcomm"
local cjson = require "cjson"

local mode, token, count = arg[1], arg[2], tonumber(arg[3])
assert(({ table = true, session = true, bulk = true })[mode] and token and count,
  "usage: profile_run.lua table|session|bulk TOKEN COUNT")
local base = assert(os.getenv("GRAPHCOMM_BASE_URL"), "GRAPHCOMM_BASE_URL is not set")
local client = assert(graphcomm.connect{ base_url = base, token = token,
  ca_file = os.getenv("GRAPHCOMM_CA_FILE"), http_version = os.getenv("BENCH_HTTP_VERSION") })

local records = cjson.decode(assert(client:request{ path = "/communications/callRecords" }).body)
local crid = records.value[1].id
local sessions = cjson.decode(assert(client:request{
  path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
local sid = sessions.value[1].id
local sids = {}
for i, s in ipairs(sessions.value) do sids[i] = s.id end

local function body()
  return { modalities = { "audio", "video" }, endDateTime = "2024-05-01T10:15:00Z",
    failureInfo = { reason = "bench", stage = "midcall" } }
end

local cpu0 = os.clock()
if mode == "bulk" then
  local i = 0
  local s = client:update_sessions(function()
    i = i + 1
    if i > count then return nil end
    return { crid, sids[(i - 1) % #sids + 1], body() }
  end, { concurrency = tonumber(os.getenv("BENCH_CONCURRENCY")) or 16, ordered = false })
  assert(s.ok == count, ("%d of %d updates failed"):format(s.failed, count))
else
  local b = mode == "table" and body() or assert(graphcomm.session(body()))
  for _ = 1, count do assert(client:update_session(crid, sid, b)) end
end
if os.getenv("BENCH_REPORT") then
  local cpu = os.clock() - cpu0
  local f = assert(io.open("/proc/self/status"))
  local hwm = f:read("*a"):match("VmHWM:%s*(%d+)")
  f:close()
  print(("cpu_s %.6f hwm_kb %s"):format(cpu, hwm))
end
client:close()
