-- examples/rules/missing_end_time.lua: a session that was never closed (no endDateTime),
-- or whose end is before its start (a device's clock), ends when its last segment ends.
--
--   graphcomm fix examples/rules/missing_end_time.lua --from 2026-11-25 --to 2026-11-26
--
-- A session that is right, or whose segments do not say when it ended, is left alone
-- (nil): a second run finds nothing to do.
return {
  name = "missing-end-time",
  description = "endDateTime from the last segment's end, when missing or before the start",

  fix = function(session)
    local start = graphcomm.time(session.startDateTime)
    local stop = graphcomm.time(session.endDateTime)
    if start == nil or (stop ~= nil and stop >= start) then return nil end
    local last = graphcomm.last_segment_end(session)
    local at = graphcomm.time(last)
    if at == nil or at < start then return nil end
    return { endDateTime = last }
  end,
}
