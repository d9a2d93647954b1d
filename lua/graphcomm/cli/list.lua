-- graphcomm.cli.list: `graphcomm list` (the tenant's call records) and
-- `graphcomm list CRID` (a record's sessions): a plain table, or JSON Lines with -o json.
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"

local pcall, ipairs, format = pcall, ipairs, string.format

local M = { name = "list", sends = true,
  usage = "list [CRID] [--filter EXPR] [--from T] [--to T] [--top N] [--select LIST]",
  summary = "list call records, or the sessions of one" }

M.MAX_TOP = 1000000
M.PAGE = 60          -- $top sent: Graph's page size for call records

M.options = {
  { "--filter", "value", "EXPR", "an OData $filter, e.g. \"type eq 'groupCall'\"" },
  { "--from", "value", "T", "records that started at or after T (ISO 8601, e.g. 2026-11-21T00:00:00Z)" },
  { "--to", "value", "T", "records that started before T" },
  { "--top", "count", "N", "print at most N rows (1 to 1000000)", min = 1, max = M.MAX_TOP },
  { "--select", "value", "LIST", "properties to return ($select)" },
}

M.help = [[
Without CRID: the tenant's call records (GET /communications/callRecords), newest pages
as Graph gives them; --from and --to become a $filter on startDateTime (joined with
--filter by "and"). With CRID: that record's sessions (--filter, --from and --to do not
apply). Every page is followed (@odata.nextLink) until --top rows are printed.
Prints a table (id, type or modalities, start, end); -o json prints each item as one
line of JSON (JSON Lines), exactly as Graph sent it.
]]

M.examples = {
  "graphcomm list --from 2026-11-21T00:00:00Z --top 10",
  "graphcomm list $CRID -o json",
}

local RECORD_COLUMNS = { { "ID", "id" }, { "TYPE", "type" }, { "START", "startDateTime" },
  { "END", "endDateTime" }, { "MODALITIES", "modalities" } }
local SESSION_COLUMNS = { { "ID", "id" }, { "MODALITIES", "modalities" },
  { "START", "startDateTime" }, { "END", "endDateTime" } }

-- A DateTimeOffset as the filter takes it: checked by the core's own parser.
local function instant(name, text)
  local ok = require("graphcomm.core").normalize({ startDateTime = text })
  if not ok or not text:match("^%d%d%d%d%-%d%d%-%d%d") then
    return nil, name .. " expects an ISO 8601 date and time (2026-11-21T00:00:00Z), got '" .. text .. "'"
  end
  return ok.startDateTime
end

-- The $filter from --filter, --from, --to | nil, message.
local function filter_of(opts)
  local terms = {}
  if opts["--filter"] then terms[#terms + 1] = "(" .. opts["--filter"] .. ")" end
  for _, o in ipairs({ { "--from", "ge" }, { "--to", "lt" } }) do
    if opts[o[1]] then
      local t, why = instant(o[1], opts[o[1]])
      if not t then return nil, why end
      terms[#terms + 1] = format("startDateTime %s %s", o[2], t)
    end
  end
  if #terms == 0 then return false end
  if #terms == 1 and opts["--filter"] then return opts["--filter"] end
  return table.concat(terms, " and ")
end

local function query_of(opts, crid)
  local top = opts["--top"]
  local q = { top = top and math.min(top, M.PAGE) or nil, select = opts["--select"] }
  if crid then
    if opts["--filter"] or opts["--from"] or opts["--to"] then
      return nil, "--filter, --from and --to apply to call records, not to a record's sessions"
    end
    return q
  end
  local f, why = filter_of(opts)
  if f == nil then return nil, why end
  q.filter = f or nil
  return q
end

-- Reads up to top items from iter: rows | nil, err (a later page's failure).
local function collect(iter, top)
  local rows = {}
  local ok, err = pcall(function()
    for item in iter do
      rows[#rows + 1] = item
      if top and #rows >= top then break end
    end
  end)
  if not ok then return nil, err end
  return rows
end

local function print_rows(env, opts, rows, crid)
  if output.wants_json(opts) then
    for _, item in ipairs(rows) do output.json_line(env, item) end
  elseif #rows == 0 then
    report.say(env.stderr, "graphcomm: no ", crid and "sessions" or "call records", " found")
  else
    output.table(env, crid and SESSION_COLUMNS or RECORD_COLUMNS, rows)
  end
end

function M.run(env, opts, args)
  if #args > 1 then return report.usage_error(env, "list", "expected at most one CRID") end
  local crid = args[1]
  local query, why = query_of(opts, crid)
  if not query then return report.usage_error(env, "list", why) end
  local client, code = context.connect(env, opts)
  if not client then return code end
  local iter, err
  if crid then iter, err = client:sessions(crid, query) else iter, err = client:call_records(query) end
  local rows
  if iter then rows, err = collect(iter, opts["--top"]) end
  client:close()
  if not rows then return report.report(env, err) end
  print_rows(env, opts, rows, crid)
  return report.OK
end

return M
