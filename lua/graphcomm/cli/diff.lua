-- graphcomm.cli.diff: `graphcomm diff CRID SID FILE.json` (a session as Graph has it
-- against a body file) or `graphcomm diff OLD.json NEW.json`: prints the smallest PATCH
-- body that turns the first into the second (graphcomm.diff). Exit codes as diff(1)'s:
-- 0 the same, 1 different, 2 trouble (bad usage, a bad file, Graph refused the read).
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"

local next = next

local M = { name = "diff", sends = true, usage = "diff (CRID SID FILE.json | OLD.json NEW.json)",
  summary = "the PATCH body that turns a session (or a file) into a file's" }

M.options = {}

M.SAME, M.DIFFERENT, M.TROUBLE = 0, 1, 2

M.help = [[
Compares a session as Graph has it (CRID SID) with the body in FILE.json, or two body
files, as the schema reads them (one spelling of each name, instants in UTC, canonical
enums and durations; OData annotations such as @odata.context are ignored) and prints
the smallest PATCH body that turns the first into the second, as indented JSON: the
body `graphcomm update CRID SID --body` would send. Prints nothing when they are the same.
With -o json, one line: {"same": true} or {"same": false, "patch": {...}}.
Exit status (as diff(1)'s): 0 the same, 1 different, 2 trouble (bad usage, a file that is
not a JSON object or breaks the schema, Graph refused the read).
]]

M.examples = {
  "graphcomm get $CRID $SID > now.json && graphcomm diff $CRID $SID fixed.json",
  "graphcomm diff old.json new.json -o json",
}

local function trouble(env, message)
  report.usage_error(env, "diff", message)
  return M.TROUBLE
end

-- The first side: the session from Graph, or a file | value | nil, exit code.
local function old_side(env, opts, args)
  if #args == 2 then
    local v, why = context.read_object(env, args[1])
    if not v then return nil, trouble(env, why) end
    return v
  end
  local client, code = context.connect(env, opts)
  if not client then return nil, code end
  local session, err = client:get_session(args[1], args[2])
  client:close()
  if not session then
    report.report(env, err)
    return nil, M.TROUBLE
  end
  return session
end

function M.run(env, opts, args)
  if #args ~= 2 and #args ~= 3 then
    return trouble(env, "expected CRID SID FILE.json, or OLD.json NEW.json")
  end
  local new, why = context.read_object(env, args[#args])
  if not new then return trouble(env, why) end
  local old, code = old_side(env, opts, args)
  if not old then return code end
  local patch, err = require("graphcomm.diff").diff(old, new)
  if not patch then
    report.report(env, err)
    return M.TROUBLE
  end
  local same = next(patch) == nil
  if output.wants_json(opts) then
    output.json_line(env, { same = same, patch = (not same) and patch or nil })
  elseif not same then
    output.pretty(env, patch)
  end
  return same and M.SAME or M.DIFFERENT
end

return M
