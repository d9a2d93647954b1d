-- bench/encode.lua: the same realistic session table (about 1.5 KB of JSON)
-- encoded by graphcomm (validating against the schema), lua-cjson (no
-- validation) and dkjson, and made into a session object (graphcomm.session,
-- and its :json()), in one process; prints ns per call and the ratios
-- issue 14 sets targets for.
-- Usage: lua5.4 bench/encode.lua [SECONDS [ROUNDS]]   (seconds per contender,
-- default 0.5, in ROUNDS rounds, default 15; from the repository root, or
-- through `make bench` / scripts/bench).
--   lua5.4 bench/encode.lua --calls NAME N   makes N calls of one contender
--   (encode, cjson, session, json, dkjson) and nothing else, for callgrind
--   (bench/README.md, section Encoder).
local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
package.path = "lua/?.lua;" .. package.path
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or ("build/" .. flavour)) .. "/?.so;" .. package.cpath

local core = require "graphcomm.core"
local graphcomm = require "graphcomm"
local cjson = require "cjson"
local ok_dk, dkjson = pcall(require, "dkjson")
local clock = os.clock
local calls = arg and arg[1] == "--calls"
local budget = not calls and tonumber(arg and arg[1]) or 0.5
local rounds = not calls and tonumber(arg and arg[2]) or 15

local function stream(direction, jitter, loss)
  return {
    streamId = "1504545584", streamDirection = direction, audioCodec = "opus",
    averageJitter = jitter, maxJitter = "PT0.062S", averageRoundTripTime = "PT0.045S",
    averagePacketLossRate = loss, maxPacketLossRate = 0.05,
    averageBandwidthEstimate = 9000000, wasMediaBypassed = false,
    averageAudioDegradation = 0.4,
  }
end

local session = {
  id = "f2e3b7a1-0c4e-4f1b-9a6d-3c8e5b2d1a90",
  modalities = { "audio", "video" },
  startDateTime = "2024-01-31T09:30:00Z",
  endDateTime = "2024-01-31T09:45:00.5Z",
  caller = { userAgent = { applicationVersion = "1.6.00.1234", headerValue = "RTCC/7.0.0.0 UCWA/7.0.0.0 Teams/1.6" } },
  segments = { {
    id = "e523d2ed-2966-4b6b-925b-754a88034cc5",
    startDateTime = "2024-01-31T09:30:00Z",
    endDateTime = "2024-01-31T09:45:00Z",
    media = { {
      label = "main-audio",
      callerNetwork = { ipAddress = "192.168.1.20", port = 50012, connectionType = "wifi",
                        linkSpeed = 866700000, wifiBand = "frequency50GHz", wifiSignalStrength = 70,
                        reflexiveIPAddress = "203.0.113.7", relayIPAddress = "52.114.0.1", relayPort = 3478,
                        networkTransportProtocol = "udp", delayEventRatio = 0.01 },
      callerDevice = { captureDeviceName = "Microphone (Realtek Audio)", renderDeviceName = "Speakers (Realtek Audio)",
                       howlingEventCount = 0, micGlitchRate = 0.5, initialSignalLevelRootMeanSquare = 60.5 },
      streams = { stream("callerToCallee", "PT0.015S", 0.001), stream("calleeToCaller", "PT0.02S", 0.0025) },
    } },
  } },
}

-- ns per encode of one round of n encodes.
local function round(encode, n)
  local t0 = clock()
  for _ = 1, n do encode(session) end
  return (clock() - t0) / n * 1e9
end

local function calibrate(encode)   -- n for one round of about budget/rounds s
  local n, t = 16, 0
  repeat
    n = n * 2
    local t0 = clock()
    for _ = 1, n do encode(session) end
    t = clock() - t0
  until t > 0.02
  return math.max(1, math.floor(n * (budget / rounds) / t))
end

local body = assert(core.encode(session))
assert(#body > 1400 and #body < 1700, "bench body should be about 1.5 KB, is " .. #body)
local contenders = {
  { "graphcomm.core.encode (validating)", function(t) return core.encode(t) end, "encode" },
  { "cjson.encode (no validation)", cjson.encode, "cjson" },
  { "graphcomm.session(tbl)", function(t) return graphcomm.session(t) end, "session" },
  { "graphcomm.session(tbl):json()", function(t) return graphcomm.session(t):json() end, "json" },
}
if ok_dk then
  contenders[#contenders + 1] = { "dkjson.encode (no validation)", function(t) return dkjson.encode(t) end,
    "dkjson" }
end
if calls then
  for _, c in ipairs(contenders) do
    if c[3] == arg[2] then
      for _ = 1, assert(tonumber(arg[3]), "--calls NAME N") do c[2](session) end
      os.exit(0)
    end
  end
  error("--calls: no contender " .. tostring(arg[2]))
end

assert(graphcomm.session(session):json() == body)
print(string.format("encode: %d-byte session body, %s, best of %d interleaved rounds", #body, flavour,
  rounds))
-- Rounds take turns (a, b, c, a, b, c, ...) so that load from other processes
-- falls on every contender alike; each keeps its best round.
local results, sizes = {}, {}
for i, c in ipairs(contenders) do
  sizes[i] = calibrate(c[2])
  results[i] = math.huge
end
for _ = 1, rounds do
  for i, c in ipairs(contenders) do
    results[i] = math.min(results[i], round(c[2], sizes[i]))
  end
end
local base = results[2]
for i, c in ipairs(contenders) do
  print(string.format("  %-38s %9.0f ns/call    %5.2fx cjson", c[1], results[i], results[i] / base))
end
-- The session object's targets (issue 14), from the same rounds.
print(string.format("  %-50s %6s  %s", "session objects (issue 14)", "ratio", "target"))
local function target(name, a, b, limit)
  local r = results[a] / results[b]
  print(string.format("  %-50s %5.2fx  <= %.2fx %s", name, r, limit, r <= limit and "met" or "NOT MET"))
end
target("graphcomm.session(tbl) / core.encode(tbl)", 3, 1, 1.05)
target("graphcomm.session(tbl):json() / cjson.encode(tbl)", 4, 2, 1.00)
if not ok_dk then print("  dkjson not installed (apt-get install lua-dkjson)") end
