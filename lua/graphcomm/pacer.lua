-- graphcomm.pacer: a bulk run's side of the limiter (graphcomm.limiter).
--
--   p = pacer.new(engine, concurrency)
--   p:allow(now, want) -> granted     requests the limiter lets go now (0: held; p.hold
--                                     is then when to try again)
--   p:unused(n)                       granted requests that were not sent (of the last take,
--                                     p.taken_at)
--   p:answered(status, now)           a 429 halves the concurrency (once a second at
--                                     most); successes bring it back, one per round
--   p:tick(now)                       a hold that is over is forgotten
--   p:held(now) -> seconds held by the limiter so far
--   p:report(summary, now)            summary.throttled (seconds held by the limiter),
--                                     throttled_429 (answers 429), concurrency_min and
--                                     concurrency_end (the lowest and the last)
--   p.concurrency                     the requests in flight allowed now
-- Without a limiter (connect{ limits = false }) allow grants what is asked.

local setmetatable, math_floor, math_max = setmetatable, math.floor, math.max

local M = {}

local Pacer = {}
Pacer.__index = Pacer

-- Every bulk request is a session PATCH (or a $batch of them): the write scopes.
local WRITE = { method = "PATCH" }

function M.new(e, concurrency)
  local lim = e.limiter
  return setmetatable({ lim = lim, keys = lim and lim:keys(WRITE), max = concurrency,
    concurrency = concurrency, low = concurrency, ok_streak = 0, cut_at = nil,
    hold = nil, held_since = nil, throttled = 0, answers_429 = 0 }, Pacer)
end

function Pacer:allow(now, want)
  local lim = self.lim
  if not lim then return want end
  local g, wait = lim:take(self.keys, want, false, false, true)
  if g > 0 then
    self.taken_at = lim.taken_at
    if self.held_since then
      self.throttled = self.throttled + (now - self.held_since)
      self.held_since = nil
    end
    self.hold = nil
    return g
  end
  self.held_since = self.held_since or now
  self.hold = now + wait
  return 0
end

function Pacer:unused(n)
  if self.lim and n > 0 then self.lim:give(self.keys, n, self.taken_at) end
end

function Pacer:tick(now)
  if self.hold and self.hold <= now then self.hold = nil end
end

function Pacer:answered(status, now)
  if status == 429 then
    self.answers_429 = self.answers_429 + 1
    self.ok_streak = 0
    if not self.cut_at or now - self.cut_at >= 1 then
      self.cut_at = now
      self.concurrency = math_max(1, math_floor(self.concurrency / 2))
      if self.concurrency < self.low then self.low = self.concurrency end
    end
  elseif status and status < 300 and self.concurrency < self.max then
    self.ok_streak = self.ok_streak + 1
    if self.ok_streak >= self.concurrency then
      self.ok_streak = 0
      self.concurrency = self.concurrency + 1
    end
  end
end

-- Seconds held so far (for the progress line).
function Pacer:held(now)
  return self.throttled + (self.held_since and now - self.held_since or 0)
end

function Pacer:report(s, now)
  if self.held_since then
    self.throttled = self.throttled + (now - self.held_since)
    self.held_since = nil
  end
  s.throttled, s.throttled_429 = self.throttled, self.answers_429
  s.concurrency_min, s.concurrency_end = self.low, self.concurrency
end

return M
