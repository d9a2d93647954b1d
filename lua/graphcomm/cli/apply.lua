-- graphcomm.cli.apply: `graphcomm apply FIXES.jsonl` (docs/contract.md section 5,
-- docs/cli.md) on client:update_sessions (graphcomm.bulk).
--
-- Exit codes: 0 every fix applied (or already in the journal, or all valid with
-- --what-if), 1 some failed or the run stopped after --max-failures systematic failures,
-- 2 bad usage or input, 3 the journal could not be written (it is incomplete), 130
-- interrupted (Ctrl-C).
--
-- The file is read twice, line by line (graphcomm.cli.fixes): first to check every line
-- -- one bad line and nothing is sent: exit 2 -- and to count them, then to send them. A
-- body that breaks the schema is that fix's failure (with its paths), the others go on.
-- Progress goes to stderr (graphcomm.cli.progress); the summary to stdout, as a table or,
-- with -o json, as JSON Lines: one {"line", "callRecordId", "sessionId", "ok", ...} per
-- fix and a last {"summary": {...}}.
--
-- Ctrl-C: SIGINT only sets a flag (core.sigint_catch) that update_sessions polls
-- (should_stop): no new fix is taken, those in flight finish, the summary is printed.
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"
local fixes = require "graphcomm.cli.fixes"
local progress = require "graphcomm.cli.progress"
local controls = require("graphcomm.redact").controls
local core = require "graphcomm.core"

local type, tostring, ipairs, pcall, next = type, tostring, ipairs, pcall, next
local format, concat = string.format, table.concat
local say = report.say

local OK, FAILED, USAGE, JOURNAL, INTERRUPTED = 0, 1, 2, 3, 130
local MAX_LISTED = 20          -- failures listed by line in the summary
local MAX_SHOWN_PER_REASON = 3 -- failures of one kind printed as they happen
local MAX_SHOWN = 20           -- and of all kinds
local MAX_MESSAGE = 200        -- characters of an error message shown on a line
local PREFIX = "graphcomm apply: "

local M = { name = "apply", sends = true,
  usage = "apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE] [--what-if] [--max-failures N]",
  summary = "apply many fixes, one JSON object a line" }

M.options = {
  { "--concurrency", "count", "N", "requests in flight (default 16; with --batch, $batch"
    .. " requests, default 4)", min = 1, max = 4096 },
  { "--batch", "flag", nil, "send the fixes in Graph JSON batches of 20 (POST /$batch)" },
  { "--batch-size", "count", "N", "with --batch: fixes per batch (default 20)", min = 1, max = 20 },
  { "--journal", "value", "FILE", "append each outcome to FILE (JSON lines: position, ids,"
    .. " status, error code; never a token or a body); run again with the same FILE and"
    .. " input to send exactly the fixes that did not go through, in order" },
  { "--what-if", "flag", nil, "validate every fix and print the request each would send; send nothing" },
  { "--max-failures", "count", "N", "stop taking fixes after N failures in a row with the"
    .. " same 401, 403, 404 or 405 (every fix would fail alike); default 20, 0 never stops",
    min = 0, max = 1e9 },
}

M.help = [[
Applies many fixes: one JSON object a line,
  {"callRecordId": "...", "sessionId": "...", "body": { ...session properties... }}
in the keys client:update_sessions takes (or the cmdlet's: CallRecordId, SessionId,
BodyParameter; any case). Each body is validated against the call-records schema before
it is sent; an invalid one fails on its own and the others go on. Throttled (429/503/504)
and dropped requests are retried after their Retry-After, without holding up the rest;
fixes for the same session go in file order. Nothing is sent when a line is not such a
JSON object (exit 2). FIXES.jsonl `-` reads standard input (no total, no ETA).

Progress goes to stderr (a bar on a terminal, fitted to its width), the summary table to
stdout; with -o json, stdout has one JSON line per fix ({"line", "callRecordId",
"sessionId", "ok", "status", "error"}) and a last line {"summary": {...}}. Ctrl-C stops
taking fixes, lets those in flight finish and prints the summary (exit 130); a second
Ctrl-C ends at once.

Graph's throttling limits are kept before requests leave (docs/throttling.md): on for
Graph, off against a loopback emulator unless GRAPHCOMM_LIMITS says (off, on, or a JSON
object such as {"app_tenant": {"requests": 30, "per": 2}}). Runs of one app on this
machine share their windows through a state file: GRAPHCOMM_LIMITS_FILE, by default
$XDG_RUNTIME_DIR/graphcomm-limits (else $TMPDIR or /tmp, with the user's name).

Exit status: 0 all fixes applied, 1 some failed (or stopped by --max-failures), 2 bad
usage or invalid input, 3 the journal could not be written, 130 interrupted.
]]

M.examples = {
  "graphcomm apply fixes.jsonl --what-if",
  "graphcomm apply fixes.jsonl --journal fixes.journal",
  "graphcomm apply fixes.jsonl --batch --concurrency 8 -o json",
}

------------------------------------------------------------------------------
-- Outcomes
------------------------------------------------------------------------------

local function describe_raw(err)
  if type(err) ~= "table" and type(err) ~= "userdata" then return tostring(err) end
  if err.kind == "validation" and err.errors then
    local paths = {}
    for i, e in ipairs(err.errors) do
      if i > 3 then paths[#paths + 1] = "..."; break end
      paths[#paths + 1] = ((e.path and e.path ~= "") and e.path or "(body)") .. ": "
        .. tostring(e.message)
    end
    return "invalid: " .. concat(paths, "; ")
  end
  local head = err.status and (tostring(err.status) .. " " .. tostring(err.code or "")) or
    (tostring(err.kind) .. " " .. tostring(err.code or ""))
  local message = tostring(err.message)
  if #message > MAX_MESSAGE then message = message:sub(1, MAX_MESSAGE) .. "..." end
  return head .. ": " .. message
end

-- One line for people: server and input text with its control bytes escaped.
local function describe(err)
  return controls(describe_raw(err))
end

local function reason(err)
  if type(err) ~= "table" and type(err) ~= "userdata" then return "error" end
  if err.kind == "validation" then return "invalid body" end
  if err.status then return tostring(err.status) .. " " .. tostring(err.code or "") end
  return tostring(err.kind) .. " " .. tostring(err.code or "")
end

-- One fix's outcome as a JSON line's object.
local function outcome(item, ok, v)
  local o = { line = item.line, callRecordId = item.callRecordId, sessionId = item.sessionId, ok = ok }
  if type(v) == "table" or type(v) == "userdata" then
    o.status = v.status
    o.requestId = v.request_id
    if v.status == "what_if" and type(v.request) == "table" then
      o.status, o.whatIf = nil, true
      o.method, o.url = v.request.method, v.request.url
    end
    if not ok then
      o.error = { kind = v.kind, code = v.code, message = describe_raw(v) }
    end
  elseif not ok then
    o.error = { message = tostring(v) }
  end
  return o
end

------------------------------------------------------------------------------
-- Summary
------------------------------------------------------------------------------

local function row(out, label, value, note)
  say(out, format("  %-22s %10s%s", label, value, note and ("  " .. note) or ""))
end

local sorted_keys = output.sorted_keys

local function print_summary(env, s, run)
  local out = env.stdout
  local rate = s.elapsed > 0 and (s.ok / s.elapsed) or 0
  say(out, "")
  if run.previews then row(out, "would send", run.previews, "(--what-if: nothing was sent)") end
  row(out, "applied", s.ok)
  if s.skipped > 0 then row(out, "skipped", s.skipped, "(done before, per the journal)") end
  row(out, "failed", s.failed)
  for _, k in ipairs(sorted_keys(run.reasons)) do row(out, "  " .. k, run.reasons[k]) end
  row(out, "requests sent", s.requests)
  row(out, "retries", s.retried)
  row(out, "elapsed", format("%.2f s", s.elapsed), format("(%.0f fixes/s)", rate))
  if (s.throttled or 0) > 0 or (s.throttled_429 or 0) > 0 then
    row(out, "throttled", format("%.2f s", s.throttled or 0),
      format("(held by Graph's limits; %d answers 429)", s.throttled_429 or 0))
  end
  if #run.listed > 0 then
    say(out, "")
    say(out, "failed fixes:")
    for _, f in ipairs(run.listed) do say(out, "  ", f) end
    if run.more > 0 then say(out, "  (", run.more, " more)") end
  end
end

local function json_summary(env, s, run)
  output.json_line(env, { summary = { applied = s.ok, skipped = s.skipped, failed = s.failed,
    wouldSend = run.previews, reasons = next(run.reasons) and run.reasons or nil,
    requests = s.requests, retries = s.retried, elapsed = math.floor(s.elapsed * 1000 + 0.5) / 1000,
    interrupted = s.interrupted or nil, stopped = s.stopped or nil,
    journal = s.journal == "incomplete" and "incomplete" or nil } })
end

------------------------------------------------------------------------------
-- The run
------------------------------------------------------------------------------

-- What --what-if prints for one fix: the request it would send (token redacted).
local function print_preview(env, item, info)
  local req = type(info) == "table" and info.request
  if type(req) ~= "table" then return end
  say(env.stdout, format("line %d: %s %s", item.line, tostring(req.method), tostring(req.url)))
  say(env.stdout, "  ", tostring(req.body or ""))
end

-- Failures as they happen, on stderr when it is not a terminal: the first few of each
-- kind and of all kinds; the rest are counted in the summary.
local function failure_lines(env, bar)
  local shown, per = 0, {}
  return function(text, r)
    bar.failed = bar.failed + 1
    if env.tty then return end
    per[r] = (per[r] or 0) + 1
    if per[r] > MAX_SHOWN_PER_REASON or shown >= MAX_SHOWN then return end
    shown = shown + 1
    say(env.stderr, PREFIX, text)
    if per[r] == MAX_SHOWN_PER_REASON then
      say(env.stderr, PREFIX, "(further ", r, " failures are counted in the summary)")
    end
  end
end

-- The end of a run that stopped early, on stderr: why, and how to go on.
local function explain_stop(env, s, journal)
  local resume = journal and ("rerun the same command to resume: " .. journal
    .. " skips what went through") or "rerun with --journal FILE to resume"
  if s.interrupted then
    say(env.stderr, PREFIX, "interrupted: the fixes in flight finished, no new one was sent; ", resume)
  elseif s.stopped == "max_failures" then
    local why = tostring(s.message or "stopped after too many failures in a row")
    say(env.stderr, PREFIX, why:find("^stopped") and why or ("stopped: " .. why),
      " (--max-failures 0 never stops); ", resume)
  elseif s.journal == "incomplete" then
    say(env.stderr, PREFIX, "the journal is incomplete: a rerun with it sends again what ",
      "went through after its last line")
  end
end

local function exit_code(s, bad_stdin)
  if s.interrupted then return INTERRUPTED end
  if s.journal == "incomplete" then return JOURNAL end
  if bad_stdin > 0 then return USAGE end
  if s.failed > 0 or s.stopped then return FAILED end
  return OK
end

-- The callback update_sessions calls per fix: previews, failure lines, JSON lines.
local function on_result(env, run, as_json, show_failure)
  return function(_, ok, v, item)
    if as_json then output.json_line(env, outcome(item, ok, v)) end
    if ok then
      if type(v) == "table" and v.status == "what_if" then
        run.previews = run.previews + 1
        if not as_json then print_preview(env, item, v) end
      end
      return
    end
    local r = controls(reason(v))
    run.reasons[r] = (run.reasons[r] or 0) + 1
    local text = format("line %d (%s / %s): %s", item.line, controls(item.callRecordId),
      controls(item.sessionId), describe(v))
    if #run.listed < MAX_LISTED then run.listed[#run.listed + 1] = text else run.more = run.more + 1 end
    show_failure(text, r)
  end
end

-- A journal that cannot be opened is the caller's to fix: say what to do.
local function journal_problem(env, err, journal)
  local text = tostring(err):gsub("^graphcomm: ", ""):gsub("^validation failed: ", "")
  say(env.stderr, PREFIX, controls(text))
  if journal and text:find("journal", 1, true) then
    local dir = journal:match("^(.*)/[^/]*$")
    say(env.stderr, PREFIX, "--journal names a file to create or append to: ",
      dir and ("make its folder first (mkdir -p " .. controls(dir) .. ")") or "check its name", ", or choose another")
  end
  return USAGE
end

local function update(env, client, path, run_opts, total, as_json)
  local bar = progress.new(env, total, PREFIX)
  local run = { reasons = {}, listed = {}, more = 0, previews = run_opts.what_if and 0 or nil }
  run_opts.total = total
  run_opts.should_stop = core.sigint_pending
  run_opts.on_result = on_result(env, run, as_json, failure_lines(env, bar))
  run_opts.on_progress = function(done, _, throttled) bar.update(done, nil, throttled) end
  local items, bad_stdin = fixes.each(env, path, run_opts.what_if)
  local ok, s, run_err = pcall(client.update_sessions, client, items, run_opts)
  if not ok then                          -- raised: a bug, or memory ran out
    say(env.stderr, PREFIX, tostring(s))
    return FAILED
  end
  if s == nil and not (type(run_err) == "table" and run_err.summary) then
    return journal_problem(env, run_err, run_opts.journal)   -- the journal cannot be opened
  end
  if s == nil then                        -- stopped by an error, with what it did
    say(env.stderr, PREFIX, (tostring(run_err):gsub("^graphcomm: ", "")))
    s = run_err.summary
  end
  if core.sigint_pending() then s.interrupted = true end   -- also when it came last
  bar.update(s.ok + s.failed + s.skipped + (run.previews or 0), true, s.throttled)
  if as_json then json_summary(env, s, run) else print_summary(env, s, run) end
  explain_stop(env, s, run_opts.journal)
  return exit_code(s, bad_stdin())
end

local function run_opts_of(env, opts, args)
  if #args ~= 1 then
    return nil, report.usage_error(env, "apply", #args == 0 and "which file? (FIXES.jsonl)" or
      "one file at a time (got " .. #args .. ")")
  end
  if opts["--batch-size"] and not opts["--batch"] then
    return nil, report.usage_error(env, "apply", "--batch-size goes with --batch")
  end
  return { batch = opts["--batch"] and true or nil, batch_size = opts["--batch-size"],
    journal = opts["--journal"],
    what_if = opts["--what-if"] or nil, concurrency = opts["--concurrency"],
    max_failures = opts["--max-failures"] }
end

local function run(env, opts, args)
  local run_opts, code = run_opts_of(env, opts, args)
  if not run_opts then return code end
  local path = args[1]
  local total
  if path ~= "-" then
    local err
    total, err = fixes.check_file(env, path, run_opts.what_if)
    if not total then
      say(env.stderr, PREFIX, err)
      return USAGE
    end
  end
  if core.sigint_pending() then
    say(env.stderr, PREFIX, "interrupted before anything was sent")
    return INTERRUPTED
  end
  local client, ccode = context.connect(env, opts, run_opts.what_if, PREFIX)
  if not client then return ccode end
  local result = update(env, client, path, run_opts, total, output.wants_json(opts))
  client:close()
  return result
end

-- Ctrl-C is caught for the whole command, and given back after it.
function M.run(env, opts, args)
  core.sigint_catch()
  local ok, code = pcall(run, env, opts, args)
  core.sigint_release()
  if not ok then error(code, 0) end
  return code
end

return M
