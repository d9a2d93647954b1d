-- graphcomm.retry: the only retry policy (docs/contract.md section 3).
--
--   retry.delay(cfg, attempt, status, headers, transport_err) -> seconds | nil
--     attempt: the number of the retry that would follow (1 for the first);
--     nil: do not retry.  Retried: 429, 503, 504 and connection failures
--     (transport errors marked retryable), at most cfg.max_retries times.
--   retry.retry_after(value [, now]) -> seconds | nil   Retry-After: "120", "0.249",
--     or an HTTP date (now: Unix time, default os.time())
--   retry.http_date(s) -> Unix time | nil               IMF-fixdate, RFC 850, asctime
--   retry.backoff(attempt, random [, base]) -> seconds  base (3 s) * 2^(attempt-1), plus
--     up to half as much again of jitter (random() in [0, 1))
--   A refused connection (nothing listens) backs off from CONNECT_DELAY (0.25 s)
--   instead: with the default 3 retries the call fails within about 2.6 s.
--   A transport error after a status line arrived (err.answered) is never retried:
--   the server may have acted on the request.
--
-- cfg: max_retries (default 3), max_retry_delay (default 180), random (default
-- math.random), wall_clock (default os.time): injectable, so the math is testable.

local tonumber, type, floor = tonumber, type, math.floor
local string_match, string_lower = string.match, string.lower
local os_time, math_random = os.time, math.random

local M = {}

M.BASE_DELAY = 3
M.CONNECT_DELAY = 0.25
M.DEFAULT_MAX_RETRIES = 3
M.DEFAULT_MAX_DELAY = 180
M.MAX_RETRIES = 10

local RETRY_STATUS = { [429] = true, [503] = true, [504] = true }
M.RETRY_STATUS = RETRY_STATUS

------------------------------------------------------------------------------
-- HTTP dates, read as UTC whatever the process's time zone
------------------------------------------------------------------------------

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6,
                 jul = 7, aug = 8, sep = 9, oct = 10, nov = 11, dec = 12 }

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
M.days_from_civil = days_from_civil

local function unix(y, mon, d, hh, mm, ss)
  local m = MONTHS[string_lower(mon)]
  y, d, hh, mm, ss = tonumber(y), tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
  if not m or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 then return nil end
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

function M.http_date(s)
  if type(s) ~= "string" then return nil end
  -- IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  local d, mon, y, hh, mm, ss = string_match(s,
    "^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then return unix(y, mon, d, hh, mm, ss) end
  -- RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: 19xx from 70 on)
  d, mon, y, hh, mm, ss = string_match(s,
    "^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then
    y = tonumber(y)
    return unix(y < 70 and 2000 + y or 1900 + y, mon, d, hh, mm, ss)
  end
  -- asctime: Sun Nov  6 08:49:37 1994
  mon, d, hh, mm, ss, y = string_match(s,
    "^%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  if mon then return unix(y, mon, d, hh, mm, ss) end
  return nil
end

-- Seconds to wait from a Retry-After value; a date in the past means 0.
function M.retry_after(value, now)
  if type(value) ~= "string" then return nil end
  local n = string_match(value, "^%s*(%d+%.?%d*)%s*$")
  if n then return tonumber(n) end
  local t = M.http_date(string_match(value, "^%s*(.-)%s*$"))
  if not t then return nil end
  local wait = t - (now or os_time())
  return wait > 0 and wait or 0
end

------------------------------------------------------------------------------
-- The policy
------------------------------------------------------------------------------

function M.backoff(attempt, random, base)
  base = (base or M.BASE_DELAY) * 2 ^ (attempt - 1)
  return base + (random or math_random)() * base / 2
end

function M.delay(cfg, attempt, status, headers, transport_err)
  local max = cfg.max_retries or M.DEFAULT_MAX_RETRIES
  if attempt > max then return nil end
  if transport_err then
    if not (type(transport_err) == "table" or type(transport_err) == "userdata")
       or not transport_err.retryable or transport_err.answered then
      return nil
    end
  elseif not RETRY_STATUS[status] then
    return nil
  end
  local wait
  local given = headers and headers["retry-after"]
  if given then wait = M.retry_after(given, (cfg.wall_clock or os_time)()) end
  if not wait then
    local refused = transport_err and transport_err.code == "couldnt_connect"
    wait = M.backoff(attempt, cfg.random, refused and M.CONNECT_DELAY or nil)
  end
  local cap = cfg.max_retry_delay or M.DEFAULT_MAX_DELAY
  if wait > cap then wait = cap end
  return wait
end

return M
