-- bench/profile_run.lua: a fixed number of graphcomm updates for bench/profile.sh, which
-- runs it under callgrind twice (COUNT and a longer COUNT) and divides the difference:
-- start-up, discovery and warm-up cancel out, what remains is the cost per update.
--   lua5.4 bench/profile_run.lua MODE TOKEN COUNT      (luajit works too)
-- MODE: table (a body table validated and encoded per call), session (a session
-- object), bulk (update_sessions, 16 in flight or BENCH_CONCURRENCY, over the record's
-- sessions), transport (core.http alone: a prebuilt update, a fresh id line per
-- request; no validation, engine or result). GRAPHCOMM_CA_FILE and BENCH_HTTP_VERSION ("1.1", "2tls") are passed to
-- connect (the TLS comparison in bench/PROFILE.md). With BENCH_REPORT set it prints
-- "cpu_s <CPU seconds of the updates alone> hwm_kb <peak RSS>" (bench/multi_syscalls.sh).
-- GRAPHCOMM_BASE_URL names the emulator (its short token is GRAPHCOMM_TOKEN; TOKEN may
-- be another one it accepts). BENCH_LIMITS=1 turns the limiter on (connect{ limits =
-- true }: the documented numbers; off by default on loopback, on for every other host).
-- BENCH_TRANSPORT=instant needs no emulator: a caller's transport answers every request
-- at once on a virtual clock that each request advances by BENCH_STEP seconds (default
-- 0.01: 100 requests a second, past app_tenant's 1,500 per 20 s, so that the window is
-- full and its 50 slots are all in use; the limiter's waits advance the clock too).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
  .. "/common.lua")
local _ = common
local graphcomm = require "graphcomm"
local cjson = require "cjson"

local mode, token, count = arg[1], arg[2], tonumber(arg[3])
assert(({ table = true, session = true, bulk = true, transport = true })[mode] and token and count,
  "usage: profile_run.lua table|session|bulk|transport TOKEN COUNT")
local limits = os.getenv("BENCH_LIMITS") == "1" or nil

-- The instant transport: 204 at once, BENCH_STEP virtual seconds a request.
local function instant()
  local t, step = 1000, tonumber(os.getenv("BENCH_STEP")) or 0.01
  local id = "5f1c6b0e-6b3c-4c55-9c1e-2a0e0b6f9a11"
  local resp = { status = 204, headers = { ["request-id"] = id, ["client-request-id"] = id,
    date = "Wed, 01 May 2024 10:15:00 GMT", ["content-length"] = "0" }, body = "",
    request_id = id, client_request_id = id, http_version = 2 }
  return { send = function() t = t + step; return resp end,
    now = function() return t end, sleep = function(s) t = t + s end }
end

local client, crid, sid, sids
if os.getenv("BENCH_TRANSPORT") == "instant" then
  client = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = token,
    transport = instant(), limits = limits })
  crid, sid = "2f1a7c3e-8b4d-4e6f-9a0b-1c2d3e4f5a6b", "9c5acea0-7347-40ed-9b56-8257ee533a25"
  sids = { sid }
else
  local base = assert(os.getenv("GRAPHCOMM_BASE_URL"), "GRAPHCOMM_BASE_URL is not set")
  client = assert(graphcomm.connect{ base_url = base, token = token, limits = limits,
    ca_file = os.getenv("GRAPHCOMM_CA_FILE"), http_version = os.getenv("BENCH_HTTP_VERSION") })
  local records = cjson.decode(assert(client:request{ path = "/communications/callRecords" }).body)
  crid = records.value[1].id
  local sessions = cjson.decode(assert(client:request{
    path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
  sid = sessions.value[1].id
  sids = {}
  for i, s in ipairs(sessions.value) do sids[i] = s.id end
end

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
elseif mode == "transport" then
  -- graphcomm's libcurl transport alone, without the layer above it: the request an
  -- update sends, built once but for its client-request-id line (each request needs
  -- its own), sent through core.http as the client's own transport sends it.
  local request = require "graphcomm.request"
  local core = require "graphcomm.core"
  local http, uuid4 = core.http{ head = false }, core.uuid4
  local cfg = assert(request.prepare{ base_url = os.getenv("GRAPHCOMM_BASE_URL"), api_version = "v1.0" })
  local req = assert(request.build(cfg, { method = "PATCH", body = assert(graphcomm.session(body())):json(),
    path = assert(request.session_path(crid, sid)) }, "Bearer " .. token))
  local lines = req.headers   -- request.lua's own lines, the id line last
  for _ = 1, count do
    local _, line = uuid4("client-request-id: ")
    lines[#lines] = line
    local resp = http:send{ method = req.method, url = req.url, headers = lines, body = req.body }
    assert(resp.status == 204, resp.status)
  end
  http:close()
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
