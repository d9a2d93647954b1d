-- spec/helpers/notify.lua: what the notification specs share: bounded polling on an
-- emulator's observable state, its delivery log and its test sink.
--   notify.wait_for(what, f [, tries])  f() until it returns a true value (bounded: 200
--                                       tries 0.05 s apart), returns that value, else errors
--   notify.deliveries(e [, kind])       the delivery log entries (kind = change|lifecycle|validation)
--   notify.sink_url(e [, query])        the emulator's own receiver, with its modes
--   notify.received(e)                  what the sink received (decoded bodies)
--   notify.expiry(minutes)              a DateTimeOffset that many minutes from now
local core = require "graphcomm.core"

local M = {}

function M.wait_for(what, f, tries)
  for _ = 1, tries or 200 do
    local v = f()
    if v then return v end
    core.sleep(0.05)
  end
  error("timed out waiting for " .. what, 2)
end

function M.deliveries(e, kind)
  local out = {}
  for _, d in ipairs(e:control("GET", "notifications")) do
    if kind == nil or d.kind == kind then out[#out + 1] = d end
  end
  return out
end

function M.sink_url(e, query)
  return e.base_url .. "/_emulator/notifications/sink" .. (query and ("?" .. query) or "")
end

function M.received(e) return e:control("GET", "notifications/sink") end

function M.expiry(minutes)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + math.floor(minutes * 60))
end

return M
