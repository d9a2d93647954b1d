-- examples/rules/failure_reason.lua: failureInfo.reason in one spelling. Reasons come
-- from several systems as "media_connectivity_failure", "CALL SETUP TIMEOUT" or
-- "mediaConnectivityFailure"; reports group them only when they read
-- "MediaConnectivityFailure", "CallSetupTimeout": words capitalised and joined.
--
--   graphcomm fix examples/rules/failure_reason.lua --from 2026-11-25 --to 2026-11-26
--
-- The stage is kept as it is; a session without failureInfo is left alone.

-- "media_connectivity_failure" -> "MediaConnectivityFailure"; one word keeps its inner
-- capitals ("mediaConnectivityFailure" -> "MediaConnectivityFailure") unless it is
-- all capitals ("TIMEOUT" -> "Timeout").
local function canonical(reason)
  local words = {}
  for word in reason:gmatch("%w+") do words[#words + 1] = word end
  if #words == 0 then return reason end
  for i, word in ipairs(words) do
    if #words > 1 or word == word:upper() then word = word:lower() end
    words[i] = word:sub(1, 1):upper() .. word:sub(2)
  end
  return table.concat(words)
end

return {
  name = "failure-reason",
  description = "failureInfo.reason as capitalised words joined (MediaConnectivityFailure)",

  fix = function(session)
    local info = session.failureInfo
    if graphcomm.is_null(info) or type(info.reason) ~= "string" then return nil end
    local reason = canonical(info.reason)
    if reason == info.reason then return nil end
    return { failureInfo = { stage = info.stage, reason = reason } }
  end,
}
