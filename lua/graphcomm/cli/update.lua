-- graphcomm.cli.update: `graphcomm update CRID SID (--body FILE | --set path=value ...)`.
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"
local setpath = require "graphcomm.cli.setpath"

local type, ipairs = type, ipairs
local concat = table.concat
local say, OK, USAGE = report.say, report.OK, report.USAGE

local M = { name = "update", sends = true,
  usage = "update CRID SID (--body FILE.json | --set path=value ...) [--what-if]",
  summary = "update one session (PATCH)" }

M.options = {
  { "--body", "value", "FILE.json", "the body, a JSON object (`-` reads standard input); OData"
    .. " annotations such as @odata.context (from `graphcomm get`) are dropped" },
  { "--set", "list", "path=value", "one property; repeat for more. path is dot-separated"
    .. " (failureInfo.reason); value is JSON when it parses as JSON, else a string; for an"
    .. " array property a comma-separated list works too (--set modalities=audio,video)" },
  { "--what-if", "flag", nil, "print the request (token redacted) and send nothing" },
}

M.help = [[
Updates session SID of call record CRID (PATCH .../callRecords/CRID/sessions/SID).
The body is validated against the call-records schema before anything is sent.
With -o json, one JSON object: {"status": 204, "callRecordId", "sessionId", "requestId",
"clientRequestId"} (with --what-if: {"whatIf": true, "method", "url", "headers", "body"}).
]]

M.examples = {
  "graphcomm update $CRID $SID --set endDateTime=2024-05-01T10:30:00Z --what-if",
  "graphcomm update $CRID $SID --set modalities=audio,video --set failureInfo.reason=timeout",
  "graphcomm update $CRID $SID --body fix.json -o json",
}

-- The current values of the properties in tops, annotations dropped | nil, err.
local function current_values(client, crid, sid, tops)
  local session, err = client:get_session(crid, sid, { select = concat(tops, ",") })
  if not session then return nil, err end
  local strip, out = require("graphcomm.diff").strip_annotations, {}
  for _, name in ipairs(tops) do
    local v = session[name]
    if type(v) == "table" then out[name] = strip(v) end   -- null or absent: nothing to keep
  end
  return out
end

local sorted_keys = output.sorted_keys

local function print_request(env, req, as_json)
  if as_json then
    local body = req.body and require("graphcomm.json").decode(req.body)
    output.json_line(env, { whatIf = true, method = req.method, url = req.url,
      headers = req.headers or {}, body = body })
    return
  end
  say(env.stdout, "What if: ", req.method, " ", req.url)
  for _, name in ipairs(sorted_keys(req.headers or {})) do
    say(env.stdout, name, ": ", req.headers[name])
  end
  say(env.stdout, "")
  say(env.stdout, req.body or "")
end

-- What a failed read for a merge would have cleared, and the way round it.
local function merge_refused(env, tops, err)
  report.complain(env, "cannot read the session to merge --set into ", concat(tops, ", "),
    ": PATCH replaces ", #tops == 1 and "that property" or "those properties",
    " whole, so sending only the --set parts would clear the rest; nothing was sent")
  say(env.stderr, "graphcomm: give the whole value instead, e.g. --set '", tops[1], "={...}'")
  return report.report(env, err)
end

-- The body to send: --body's object, or --set merged into the session's current values.
-- -> body | nil, code [, usage message]
local function update_body(env, opts, client, crid, sid)
  if opts["--body"] and opts["--set"] then return nil, USAGE, "use --body or --set, not both" end
  if opts["--body"] then
    local body, why = context.read_object(env, opts["--body"])
    if not body then return nil, USAGE, why end
    return body
  end
  if not opts["--set"] then
    return nil, USAGE, "nothing to update: give --body FILE.json or --set path=value"
  end
  local sets, why = setpath.assignments(opts["--set"])
  if not sets then return nil, USAGE, why end
  local tops, current = setpath.merged_tops(sets), nil
  if #tops > 0 then
    local c, code = client()
    if not c then return nil, code end
    local err
    current, err = current_values(c, crid, sid, tops)
    if not current then return nil, merge_refused(env, tops, err) end
  end
  local body, perr = setpath.body(sets, current)
  if not body then return nil, USAGE, perr end
  return body
end

local function print_done(env, args, resp, as_json)
  local rid = type(resp) == "table" and resp.request_id or nil
  if as_json then
    output.json_line(env, { status = type(resp) == "table" and resp.status or 204,
      callRecordId = args[1], sessionId = args[2], requestId = rid,
      clientRequestId = type(resp) == "table" and resp.client_request_id or nil })
  else
    say(env.stdout, "Updated session ", args[2], " of call record ", args[1],
      rid and (" (request-id " .. rid .. ")") or "")
  end
end

function M.run(env, opts, args)
  if #args ~= 2 then return report.usage_error(env, "update", "expected CRID and SID") end
  local what_if = opts["--what-if"]
  local client, code
  local function get_client()                    -- connected once, when first needed
    if not client and not code then client, code = context.connect(env, opts, what_if) end
    return client, code
  end
  local body, ecode, why = update_body(env, opts, get_client, args[1], args[2])
  local session, verr
  if body then session, verr = require("graphcomm").session(body) end
  if session then get_client() end
  if not (session and client) then
    if client then client:close() end
    if why then return report.usage_error(env, "update", why) end
    if verr then return report.report(env, verr) end
    return ecode or code
  end
  local ok, resp = client:update_session(args[1], args[2], session, { what_if = what_if or nil })
  client:close()
  if not ok then return report.report(env, resp) end
  if what_if then print_request(env, ok, output.wants_json(opts))
  else print_done(env, args, resp, output.wants_json(opts)) end
  return OK
end

return M
