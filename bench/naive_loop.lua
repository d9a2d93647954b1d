-- bench/naive_loop.lua: the loop a Lua user writes by hand today, the bar graphcomm's
-- sequential updates must clear (issue 14): Debian's lua-curl (luacurl 0.3) reusing one
-- easy handle, lua-cjson encoding the body table on every request; no validation, no
-- status handling beyond a 204 check, no retry, no request id.
--   luajit bench/naive_loop.lua URL TOKEN SECONDS [--count N]   -> {"rps": r, "cpu_us": c}
-- Debian packages lua-curl for Lua 5.1/5.2 only, so this runs on LuaJIT.
-- --count N: exactly N requests after the warm-up, then exit (callgrind: bench/PROFILE.md).
local curl = require "curl"
local cjson = require "cjson"

local url, token, seconds = arg[1], arg[2], tonumber(arg[3])
assert(url and token and seconds, "usage: naive_loop.lua URL TOKEN SECONDS [--count N]")
local count = arg[4] == "--count" and assert(tonumber(arg[5]), "--count needs a number")

local body = { modalities = { "audio", "video" }, endDateTime = "2024-05-01T10:15:00Z",
  failureInfo = { reason = "bench", stage = "midcall" } }

local e = curl.easy_init()
e:setopt(curl.OPT_NOSIGNAL, 1)
e:setopt(curl.OPT_CUSTOMREQUEST, "PATCH")
e:setopt(curl.OPT_HTTPHEADER, { "Authorization: Bearer " .. token, "Content-Type: application/json",
  "Expect:" })
e:setopt(curl.OPT_WRITEFUNCTION, function(_, s) return #s end)

local function update()
  e:setopt(curl.OPT_URL, url)
  e:setopt(curl.OPT_POSTFIELDS, cjson.encode(body))
  assert(e:perform())                              -- luacurl 0.3 has no getinfo: no status
end

-- A monotonic clock through LuaJIT's FFI (the naive loop has no graphcomm to ask).
local ffi = require "ffi"
ffi.cdef [[ typedef struct { long tv_sec; long tv_nsec; } bench_ts;
  int clock_gettime(int clk, bench_ts *ts); ]]
local ts = ffi.new("bench_ts")
local function now()
  ffi.C.clock_gettime(1, ts)                       -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

for _ = 1, 200 do update() end                     -- warm-up, as the other contestants
if count then
  for _ = 1, count do update() end
  return
end
local n, t0, c0 = 0, now(), os.clock()
repeat
  for _ = 1, 100 do update() end
  n = n + 100
until now() - t0 >= seconds
print(string.format('{"rps": %.1f, "cpu_us": %.1f}', n / (now() - t0), (os.clock() - c0) * 1e6 / n))
