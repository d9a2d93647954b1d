-- wrk script for bench/openresty.sh: one fix a request, the sessions of one call record
-- in turn.  BENCH_MODE=fix posts to the example's /fix; BENCH_MODE=patch sends the
-- same body straight to Graph (the emulator), the ceiling the example is measured against.
-- BENCH_CRID, BENCH_SIDS (comma-separated), BENCH_BODY and BENCH_TOKEN come from the environment.
local crid, body, token = os.getenv("BENCH_CRID"), os.getenv("BENCH_BODY"), os.getenv("BENCH_TOKEN")
local patch = os.getenv("BENCH_MODE") == "patch"
local sids = {}
for sid in os.getenv("BENCH_SIDS"):gmatch("[^,]+") do sids[#sids + 1] = sid end

local headers = { ["Content-Type"] = "application/json" }
if patch then
  headers["Authorization"] = "Bearer " .. token
  headers["Accept"] = "application/json"
end

local i = 0

function request()
  i = i % #sids + 1
  local path
  if patch then
    path = "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sids[i]
    return wrk.format("PATCH", path, headers, body)
  end
  path = "/fix?callRecordId=" .. crid .. "&sessionId=" .. sids[i]
  return wrk.format("POST", path, headers, body)
end
