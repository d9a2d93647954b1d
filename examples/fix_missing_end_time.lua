-- examples/fix_missing_end_time.lua: finds the sessions of call records whose
-- endDateTime is missing or earlier than their startDateTime, and fixes them:
-- the new end is the end of the session's last segment. Each fix is the
-- smallest body (graphcomm.diff), shown as a what-if, then all are applied in
-- one bulk call.
--
--   eval "$(emulator/start)"
--   lua5.4 examples/fix_missing_end_time.lua CRID [CRID ...] [--what-if]
--
-- Credentials and target come from the environment (GRAPHCOMM_BASE_URL,
-- GRAPHCOMM_TOKEN, ...). With --what-if nothing is sent. Exit code 0 when every
-- fix was applied (or nothing needed one), 1 otherwise.
local graphcomm = require "graphcomm"

local function fail(...)
  io.stderr:write("fix_missing_end_time: ", ...)
  io.stderr:write("\n")
  os.exit(1)
end

-- Seconds since 1970 of a DateTime in any accepted form (normalized to UTC by
-- the core first), or nil when missing or invalid.
local function instant(v)
  if v == nil or v == graphcomm.null then return nil end
  local s = graphcomm.session({ endDateTime = v })
  local y, mo, d, h, mi, sec = tostring(s and s.endDateTime):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d.]+)Z$")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y, mo = y - 1, mo + 12 end           -- days from civil (March-based year)
  local days = 365 * y + math.floor(y / 4) - math.floor(y / 100) + math.floor(y / 400)
               + math.floor((153 * (mo - 3) + 2) / 5) + tonumber(d) - 719469
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

-- The end of the session's last segment, when it is after the session's start.
local function proposed_end(session)
  local start, best, best_at = instant(session.startDateTime), nil, nil
  for _, segment in ipairs(session.segments or {}) do
    local at = instant(segment.endDateTime)
    if at and (not best_at or at > best_at) then best, best_at = segment.endDateTime, at end
  end
  if best and start and best_at >= start then return best end
  return nil
end

local function broken(session)
  local start, stop = instant(session.startDateTime), instant(session.endDateTime)
  return start ~= nil and (stop == nil or stop < start)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local ids, what_if = {}, false
for _, a in ipairs(arg) do
  if a == "--what-if" then what_if = true else ids[#ids + 1] = a end
end
if #ids == 0 then fail("usage: fix_missing_end_time.lua CRID [CRID ...] [--what-if]") end

local client = assert(graphcomm.connect({}))
local fixes = {}
for _, crid in ipairs(ids) do
  local record, err = client:get_call_record(crid, { expand = "sessions($expand=segments)" })
  if not record then fail(tostring(err)) end
  print(("call record %s: %d sessions"):format(crid, #record.sessions))
  for _, session in ipairs(record.sessions) do
    if broken(session) then
      local wanted = copy(session)
      wanted.endDateTime = proposed_end(session)
      local body = wanted.endDateTime and assert(graphcomm.diff(session, wanted))
      if body then
        fixes[#fixes + 1] = { crid, session.id, body }
        local req = assert(client:update_session(crid, session.id, body, { what_if = true }))
        print(("  session %s: endDateTime %s -> %s"):format(session.id,
          tostring(session.endDateTime or "(missing)"), wanted.endDateTime))
        print(("    What if: %s %s %s"):format(req.method, req.url, req.body))
      else
        print(("  session %s: no segment tells when it ended; left alone"):format(session.id))
      end
    end
  end
end

if what_if or #fixes == 0 then
  print(("%d fix(es) %s"):format(#fixes, what_if and "shown, none sent (--what-if)" or "needed"))
  os.exit(0)
end
local summary = client:update_sessions(fixes, {
  concurrency = 4,
  on_result = function(i, ok, err)
    if not ok then io.stderr:write(("  session %s: %s\n"):format(fixes[i][2], tostring(err))) end
  end,
})
print(("applied %d fix(es), %d failed"):format(summary.ok, summary.failed))
client:close()
os.exit(summary.failed == 0 and 0 or 1)
