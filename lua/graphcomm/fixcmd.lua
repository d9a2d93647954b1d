-- graphcomm.fixcmd: `graphcomm fix RULE.lua (--from T --to T | --record ID ... | --records FILE)
-- [--apply [--journal FILE] [--concurrency N] [--max-failures N]] [-o json]` (docs/rules.md),
-- on client:run_rule (graphcomm.rules).
--
-- run(argv, io_env) -> exit code: 0 nothing failed, 1 a rule error, a read or an update
-- failed, 2 bad usage, a rule file that does not load, or an interrupted run.
-- io_env = { stdout, stderr, stdin, getenv, should_stop } (defaults: the process's own;
-- should_stop: polled between records and between updates, e.g. set by a SIGINT handler).
--
-- Dry run by default: a diff per session and a summary table, nothing sent. With -o json,
-- stdout is JSON Lines in the form `graphcomm apply` reads ({"callRecordId", "sessionId",
-- "body"}): every planned change, or with --apply every change that was applied; the
-- diffs and the summary then go to stderr.
local core = require "graphcomm.core"
local cjson = require "cjson.safe"
local lines = require "graphcomm.lines"
local context = require "graphcomm.cli.context"

local type, tostring, ipairs = type, tostring, ipairs
local format, rep = string.format, string.rep

local M = {}

local OK, FAILED, USAGE = 0, 1, 2

M.HELP = [==[
usage: graphcomm fix RULE.lua (--from T --to T | --record ID ... | --records FILE)
                     [--apply [--journal FILE] [--concurrency N] [--max-failures N]]
                     [-o json] [--stop-on-error] [--debug] [--max-retries N] [--timeout S]

Runs a fix rule (a Lua file returning { fix = function(session, record) ... end }, see
docs/rules.md) over call records and shows, per session, what it would change. Nothing
is sent without --apply.

  --from T --to T     the records with T1 <= startDateTime < T2 (DateTime or YYYY-MM-DD)
  --record ID         this call record (may be given again)
  --records FILE      the call record ids in FILE, one a line (- for standard input)
  --apply             send the changes (validated, in bulk, retried when throttled)
  --journal FILE      with --apply: record each outcome; run again with the same FILE
                      after an interruption and what went through is not sent again
  --concurrency N     with --apply: requests in flight (default 16)
  --max-failures N    with --apply: stop after N systematic failures in a row (default 20)
  --stop-on-error     stop at the first error of the rule (nothing is sent then)
  --debug             print each request and response on stderr, secrets redacted
  --max-retries N     retries of a throttled or dropped request (default 3)
  --timeout S         seconds one request may take (default 100)
  -o json             JSON Lines on stdout ({"callRecordId","sessionId","body"}, the
                      input of `graphcomm apply`); the diffs and summary go to stderr

Credentials and target come from the environment: GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN,
GRAPHCOMM_CA_FILE, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH) and AZURE_AUTHORITY_HOST.
Exit status: 0 nothing failed, 1 a rule error or a failed read or update, 2 bad usage,
a rule file that does not load, or an interrupted run.
]==]

-- graphcomm.cli.args' option table (checked values: --concurrency and --max-failures
-- arrive as whole numbers).
local OPTIONS = {
  { "--from", "value", "T", "the records with T <= startDateTime" },
  { "--to", "value", "T", "the records with startDateTime < T" },
  { "--record", "list", "ID", "this call record (may be given again)" },
  { "--records", "value", "FILE", "the call record ids in FILE, one a line (- for standard input)" },
  { "--apply", "flag", nil, "send the changes" },
  { "--journal", "value", "FILE", "with --apply: record each outcome" },
  { "--concurrency", "count", "N", "with --apply: requests in flight (default 16)", min = 1, max = 4096 },
  { "--max-failures", "count", "N", "with --apply: stop after N systematic failures in a row (0: never)",
    min = 0, max = 1e9 },
  { "-o", "value", "FORMAT", "json: JSON Lines on stdout" },
  { "--output", "value", "FORMAT", "the same as -o" },
  { "--stop-on-error", "flag", nil, "stop at the first error of the rule" },
}
for _, o in ipairs(context.SEND_OPTIONS) do OPTIONS[#OPTIONS + 1] = o end
M.OPTIONS = OPTIONS      -- the command table shows them (man page, completion)
local PARSED = { { "--help", "flag" }, { "-h", "flag" } }
for i, o in ipairs(OPTIONS) do PARSED[i + 2] = o end

local function say(stream, ...)
  stream:write(...)
  stream:write("\n")
end

local function usage_error(env, message)
  say(env.stderr, "graphcomm fix: ", message)
  say(env.stderr, "Try `graphcomm fix --help`.")
  return USAGE
end

-- ---------------------------------------------------------------------------
-- Arguments
-- ---------------------------------------------------------------------------

-- The ids of --records FILE: a list | nil, why.
local function read_ids(env, path)
  local f, err
  if path == "-" then f = env.stdin else f, err = io.open(path, "rb") end
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local ids = {}
  for line in lines.each(f) do
    local id = line:match("^%s*(.-)%s*$")
    if id ~= "" and id:sub(1, 1) ~= "#" then ids[#ids + 1] = id end
  end
  local failed = lines.failed(f)
  if f ~= env.stdin then f:close() end
  if failed then return nil, "cannot read " .. path .. ": " .. failed end
  if #ids == 0 then return nil, path .. " holds no call record id" end
  return ids
end

-- run_rule's options from the command line: opts | nil, why.
local function run_options(env, o)
  local window = o["--from"] or o["--to"]
  local chosen = (window and 1 or 0) + (o["--record"] and 1 or 0) + (o["--records"] and 1 or 0)
  if chosen ~= 1 then return nil, "give one of --from/--to, --record or --records" end
  local opts = { apply = o["--apply"] or nil, journal = o["--journal"],
    stop_on_error = o["--stop-on-error"] or nil, should_stop = env.should_stop }
  if window then
    if not (o["--from"] and o["--to"]) then return nil, "--from and --to go together" end
    opts.from, opts.to = o["--from"], o["--to"]
  elseif o["--record"] then
    opts.records = o["--record"]
  else
    local ids, why = read_ids(env, o["--records"])
    if not ids then return nil, why end
    opts.records = ids
  end
  if not opts.apply and (o["--journal"] or o["--concurrency"] or o["--max-failures"]) then
    return nil, "--journal, --concurrency and --max-failures go with --apply"
  end
  opts.concurrency, opts.max_failures = o["--concurrency"], o["--max-failures"]
  return opts
end

-- ---------------------------------------------------------------------------
-- Output
-- ---------------------------------------------------------------------------

local function shown(v)
  if v == nil then return "(none)" end
  local text = cjson.encode(v)
  return text or tostring(v)
end

local function show_change(out, c)
  say(out, "call record ", c.call_record_id, "  session ", c.session_id, ":")
  for _, d in ipairs(c.diff) do
    say(out, "  ", tostring(d.name), ": ", shown(d.old), " -> ", shown(d.new))
  end
end

-- One JSON line `graphcomm apply` reads.
local function json_line(c)
  local body = core.encode(c.body)
  return format('{"callRecordId":%s,"sessionId":%s,"body":%s}', cjson.encode(c.call_record_id),
    cjson.encode(c.session_id), body)
end

local function table_rows(out, rows)
  local width = 0
  for _, r in ipairs(rows) do if #r[1] > width then width = #r[1] end end
  for _, r in ipairs(rows) do say(out, "  ", r[1], rep(" ", width - #r[1] + 2), tostring(r[2])) end
end

local function summary(out, sum, rule, opts)
  local rows = {
    { "call records read", sum.records }, { "skipped by where", sum.skipped },
    { "sessions", sum.sessions }, { "unchanged", sum.unchanged },
    { "to change", sum.planned }, { "rule and read errors", sum.errors },
  }
  local a = sum.applied
  if a then
    rows[#rows + 1] = { "applied", a.ok }
    rows[#rows + 1] = { "failed", a.failed }
    rows[#rows + 1] = { "skipped (journal)", a.skipped }
  end
  say(out, "")
  say(out, "rule ", rule, ":")
  table_rows(out, rows)
  if sum.stopped then say(out, "stopped at the first rule error (--stop-on-error): nothing was sent") end
  if sum.interrupted or (a and a.interrupted) then say(out, "interrupted: what was not sent is left for a rerun") end
  if a and a.stopped then say(out, "stopped: ", tostring(a.message or a.stopped)) end
  if not opts.apply then
    say(out, "dry run: nothing was sent", sum.planned > 0 and "; --apply sends these changes" or "")
  end
end

local function exit_code(sum)
  if sum.interrupted or (sum.applied and sum.applied.interrupted) then return USAGE end
  if sum.errors > 0 or (sum.applied and sum.applied.failed > 0) or sum.stopped then return FAILED end
  return OK
end

-- ---------------------------------------------------------------------------
-- The command
-- ---------------------------------------------------------------------------

local function defaults(io_env)
  io_env = io_env or {}
  return { stdout = io_env.stdout or io.stdout, stderr = io_env.stderr or io.stderr,
    stdin = io_env.stdin or io.stdin, getenv = io_env.getenv or os.getenv,
    should_stop = io_env.should_stop }
end

function M.run(argv, io_env)
  local env = defaults(io_env)
  local o, args = require("graphcomm.cli.args").parse(argv, 1, PARSED)
  if not o then return usage_error(env, args) end
  if o["--help"] or o["-h"] then
    env.stdout:write(M.HELP)
    return OK
  end
  if #args ~= 1 then return usage_error(env, "give one rule file") end
  local format_name = o["-o"] or o["--output"]
  if format_name ~= nil and format_name ~= "json" then return usage_error(env, "-o takes json") end
  local opts, why = run_options(env, o)
  if not opts then return usage_error(env, why) end
  local rule, err = require("graphcomm.rules").load(args[1])
  if not rule then
    say(env.stderr, "graphcomm fix: ", err.message)
    return USAGE
  end
  local client, code = context.connect(env, o, false, "graphcomm fix: ")
  if not client then return code end
  local json = format_name == "json"
  local text = json and env.stderr or env.stdout
  opts.on_change = function(c) show_change(text, c) end
  opts.on_error = function(e)
    local text = e.kind == "validation" and e.message or tostring(e)
    say(env.stderr, "error: ", (text:gsub("^graphcomm: ", "")))
  end
  opts.on_result = function(_, ok, info, c)
    if ok then
      if json then say(env.stdout, json_line(c)) end
    else
      say(env.stderr, "failed: call record ", c.call_record_id, " session ", c.session_id, ": ",
        (tostring(info):gsub("^graphcomm: ", "")))
    end
  end
  local sum
  sum, err = client:run_rule(rule, opts)
  client:close()
  if not sum then
    say(env.stderr, "graphcomm fix: ", (tostring(err):gsub("^graphcomm: ", "")))
    return err.kind == "validation" and USAGE or FAILED
  end
  if json and not opts.apply then
    for _, c in ipairs(sum.changes) do say(env.stdout, json_line(c)) end
  end
  summary(text, sum, rule.name, opts)
  return exit_code(sum)
end

return M
