-- graphcomm.cli.progress: `graphcomm apply`'s progress on stderr: a bar redrawn in place
-- on a terminal, fitted to its width (never wrapping), else a plain line every few seconds.
local format, rep, concat, floor, max = string.format, string.rep, table.concat, math.floor,
      math.max

local M = {}

M.BAR = 24         -- the bar's width when the terminal has room

local function clock(seconds)
  seconds = floor(seconds + 0.5)
  local h, m, s = floor(seconds / 3600), floor(seconds / 60) % 60, seconds % 60
  if h > 0 then return format("%d:%02d:%02d", h, m, s) end
  return format("%d:%02d", m, s)
end

-- The parts after the bar: "1234/20000   6%", "8123/s", "3 failed", "ETA 0:02".
local function figures(done, total, failed, elapsed, throttled)
  local rate = elapsed > 0 and done / elapsed or 0
  local parts = {}
  if total and total > 0 then
    parts[1] = format("%d/%d %3d%%", done, total, floor(100 * done / total))
  else
    parts[1] = format("%d done", done)
  end
  parts[#parts + 1] = format("%.0f/s", rate)
  parts[#parts + 1] = format("%d failed", failed)
  if throttled and throttled >= 1 then parts[#parts + 1] = "throttled " .. clock(throttled) end
  if total and rate > 0 and done < total then
    -- an estimate from the first fraction of a second says little
    parts[#parts + 1] = elapsed >= 1 and ("ETA " .. clock((total - done) / rate)) or "ETA -"
  elseif total and done >= total then
    parts[#parts + 1] = "in " .. clock(elapsed)
  end
  return concat(parts, "  ")
end

-- "[#########...............]  1234/20000   6%  8123/s  3 failed  ETA 0:02", at most
-- width - 1 characters when width is given (the bar shrinks first, then the line is cut).
function M.line(done, total, failed, elapsed, width, throttled)
  local rest = figures(done, total, failed, elapsed, throttled)
  if not (total and total > 0) then
    return width and rest:sub(1, max(width - 1, 0)) or rest
  end
  local bar = M.BAR
  if width then bar = math.min(bar, width - 1 - #rest - 4) end
  if bar < 5 then return rest:sub(1, max((width or 0) - 1, 0)) end
  local filled = floor(bar * done / total)
  return "[" .. rep("#", filled) .. rep(".", bar - filled) .. "]  " .. rest
end

-- p.update(done [, final [, throttled]]); p.failed counts failures (the caller adds to it);
-- throttled: seconds held by Graph's limits so far (shown from one second on).
function M.new(env, total, prefix)
  local t0 = env.now()
  local interval = env.tty and 0.1 or 5
  -- a bar is drawn at once; plain lines only every few seconds (and at the end)
  local p = { failed = 0, t0 = t0, last = env.tty and -1 or t0, shown = 0 }
  local width = env.tty and env.width() or nil
  function p.update(done, final, throttled)
    local now = env.now()
    if not final and now - p.last < interval then return end
    p.last = now
    local line = M.line(done, total, p.failed, now - p.t0, width, throttled)
    if env.tty then
      -- redraw in place; pad over a longer previous line
      local pad = p.shown > #line and rep(" ", p.shown - #line) or ""
      env.stderr:write("\r", line, pad)
      if final then env.stderr:write("\n") end
      p.shown = #line
    else
      env.stderr:write(prefix, line, "\n")
    end
    env.stderr:flush()
  end
  return p
end

return M
