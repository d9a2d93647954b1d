-- graphcomm.cli.get: `graphcomm get CRID [SID]`: a call record or a session as JSON.
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"

local M = { name = "get", sends = true, usage = "get CRID [SID] [--select LIST] [--expand LIST]",
  summary = "print a call record or one session as JSON" }

M.options = {
  { "--select", "value", "LIST", "properties to return ($select), e.g. id,modalities,startDateTime" },
  { "--expand", "value", "LIST", "navigation properties to include ($expand), e.g. segments" },
}

M.help = [[
Prints call record CRID, or its session SID, as indented JSON with sorted keys (with
-o json the same JSON on one line). With --expand sessions (or sessions($expand=segments))
every session is fetched, following the nested paging (sessions@odata.nextLink) until the
record is whole. Integers are printed exactly, also past 2^53.
]]

M.examples = {
  "graphcomm get $CRID --expand 'sessions($expand=segments)'",
  "graphcomm get $CRID $SID --select id,startDateTime,endDateTime",
}

function M.run(env, opts, args)
  if #args < 1 or #args > 2 then return report.usage_error(env, "get", "expected CRID [SID]") end
  local client, code = context.connect(env, opts)
  if not client then return code end
  local query = { select = opts["--select"], expand = opts["--expand"] }
  local value, err
  if args[2] then
    value, err = client:get_session(args[1], args[2], query)
  else
    value, err = client:get_call_record(args[1], query)
  end
  client:close()
  if value == nil then return report.report(env, err) end
  if output.wants_json(opts) then output.json_line(env, value) else output.pretty(env, value) end
  return report.OK
end

return M
