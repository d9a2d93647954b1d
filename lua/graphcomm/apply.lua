-- graphcomm.apply: `graphcomm apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE]
-- [--what-if] [--max-failures N]` (docs/contract.md section 5, docs/cli.md), on
-- client:update_sessions (graphcomm.bulk).
--
-- run(argv, io_env) -> exit code: 0 every fix applied (or already in the journal, or
-- all valid with --what-if), 1 some failed or the run stopped after --max-failures
-- systematic failures, 2 bad usage or input, 3 the journal could not be written (it is
-- incomplete), 130 interrupted (Ctrl-C). io_env = { stdout, stderr, stdin, getenv, tty,
-- now } (defaults: the process's own; tty: whether stderr is a terminal, `test -t 2`).
--
-- The file is read twice, line by line, never whole: first to check that every line is a
-- JSON object with the ids and a body, in the keys update_sessions takes (callRecordId,
-- sessionId, body; the cmdlet's CallRecordId, SessionId, BodyParameter; any case, "_"
-- or "-" ignored; an unknown key is refused with a did-you-mean) -- one bad line and
-- nothing is sent: exit 2 -- and to count them, then to send them. A body that breaks
-- the schema is that fix's failure (with its paths), the others go on. Progress goes to
-- stderr: a bar on a terminal, a plain line every few seconds otherwise (and the first
-- few failures of each kind); the summary table to stdout.
--
-- Ctrl-C: SIGINT only sets a flag (core.sigint_catch) that update_sessions polls
-- (should_stop): no new fix is taken, those in flight finish, the summary is printed.

local type, tostring, tonumber, ipairs, pairs, pcall = type, tostring, tonumber, ipairs, pairs,
      pcall
local format, rep, concat, sort, floor = string.format, string.rep, table.concat, table.sort,
      math.floor

local json = require "graphcomm.json"
local controls = require("graphcomm.redact").controls
local options = require "graphcomm.options"
local core = require "graphcomm.core"
local cli_parse = require("graphcomm.cli").parse

local M = {}

local OK, FAILED, USAGE, JOURNAL, INTERRUPTED = 0, 1, 2, 3, 130
local MAX_LISTED = 20          -- failures listed by line in the summary
local MAX_INPUT_ERRORS = 10
local MAX_SHOWN_PER_REASON = 3 -- failures of one kind printed as they happen
local MAX_SHOWN = 20           -- and of all kinds
local MAX_MESSAGE = 200        -- characters of an error message shown on a line

M.HELP = [[
usage: graphcomm apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE]
                                 [--what-if] [--max-failures N]

Applies many fixes: one JSON object a line,
  {"callRecordId": "...", "sessionId": "...", "body": { ...session properties... }}
(or the cmdlet's names: CallRecordId, SessionId, BodyParameter; any case).
Each body is validated against the call-records schema before it is sent; an invalid one
fails on its own and the others go on. Throttled (429/503/504) and dropped requests are
retried after their Retry-After, without holding up the rest; fixes for the same session
go in file order. Nothing is sent when a line is not such a JSON object (exit 2).

  --concurrency N   requests in flight (default 16; with --batch, $batch requests, default 4)
  --batch           send the fixes in Graph JSON batches of 20 (POST /$batch)
  --journal FILE    append each outcome to FILE (JSON lines: position, ids, status, error
                    code; never a token or a body); run again with the same FILE and input
                    to send exactly the fixes that did not go through, in order
  --what-if         validate every fix and print the request each would send; send nothing
  --max-failures N  stop taking fixes after N failures in a row with the same 401, 403,
                    404 or 405 (every fix would fail alike); default 20, 0 never stops
  -                 as FIXES.jsonl: read standard input (no total, no ETA)

Progress goes to stderr (a bar on a terminal), the summary table to stdout. Ctrl-C stops
taking fixes, lets those in flight finish and prints the summary (exit 130); a second
Ctrl-C ends at once.

Graph's throttling limits are kept before requests leave (docs/throttling.md): on for
Graph, off against a loopback emulator unless GRAPHCOMM_LIMITS says (off, on, or a JSON
object such as {"app_tenant": {"requests": 30, "per": 2}}). Runs of one app on this
machine share their windows through a state file: GRAPHCOMM_LIMITS_FILE, by default
$XDG_RUNTIME_DIR/graphcomm-limits (else $TMPDIR or /tmp, with the user's name).

examples:
  graphcomm apply fixes.jsonl --what-if
  graphcomm apply fixes.jsonl --journal fixes.journal
  graphcomm apply fixes.jsonl --batch --concurrency 8
]] .. [[

Credentials and target come from the environment: GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN,
GRAPHCOMM_CA_FILE, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH) and AZURE_AUTHORITY_HOST.
Exit status: 0 all fixes applied, 1 some failed (or stopped by --max-failures), 2 bad usage
or invalid input, 3 the journal could not be written, 130 interrupted.
]]

------------------------------------------------------------------------------
-- Arguments
------------------------------------------------------------------------------

-- Option kinds for cli.parse (shared with the other subcommands).
local OPTIONS = { ["--concurrency"] = "value", ["--batch"] = "flag", ["--journal"] = "value",
  ["--what-if"] = "flag", ["--max-failures"] = "value", ["--help"] = "flag", ["-h"] = "flag" }

local function say(stream, ...)
  stream:write(...)
  stream:write("\n")
end

local function usage_error(env, message)
  say(env.stderr, "graphcomm apply: ", message)
  say(env.stderr, "Try `graphcomm apply --help`.")
  return USAGE
end

------------------------------------------------------------------------------
-- Input
------------------------------------------------------------------------------

-- The keys of a line, as update_sessions takes an item's: folded (case, "_", "-").
local KEYS = { callrecordid = "callRecordId", sessionid = "sessionId", body = "body",
  bodyparameter = "body", whatif = "WhatIf", confirm = "Confirm", passthru = "PassThru" }
local KEY_NAMES = { "callRecordId", "sessionId", "body", "BodyParameter", "WhatIf", "Confirm",
  "PassThru" }

local function fold(k) return (k:lower():gsub("[_%-]", "")) end

local function unknown_key(k)
  local best = options.suggest(k, KEY_NAMES)
  local hint = best and (" (did you mean '" .. best .. "'?)") or ""
  return "unknown key '" .. k .. "'" .. hint .. "; a fix has callRecordId, sessionId and body"
end

-- The switches a line may carry: only the values apply honours line by line.
local function switch_problem(name, v, what_if)
  if type(v) ~= "boolean" then return name .. " must be true or false" end
  if name == "WhatIf" and v and not what_if then
    return "WhatIf applies to the whole run: use --what-if (nothing was sent)"
  end
  if name == "Confirm" and v then return "apply does not ask for confirmation: Confirm must be false" end
  return nil
end

-- The fields of a decoded line: { callRecordId, sessionId, body } | nil, problem.
local function fields_of(v, what_if)
  local out = {}
  for k, value in pairs(v) do
    local name = type(k) == "string" and KEYS[fold(k)]
    if not name then return nil, unknown_key(tostring(k)) end
    if out[name] ~= nil then return nil, "two keys for " .. name .. " (" .. tostring(k) .. ")" end
    out[name] = value
    if name == "WhatIf" or name == "Confirm" or name == "PassThru" then
      local problem = switch_problem(name, value, what_if)
      if problem then return nil, problem end
    end
  end
  return out
end

-- A fix from one line: item | nil, problem.
local function fix_of(line, what_if)
  local v, err = json.decode(line)
  if v == nil then return nil, "not JSON (" .. tostring(err) .. ")" end
  if type(v) ~= "table" or v[1] ~= nil then return nil, "not a JSON object" end
  local f, problem = fields_of(v, what_if)
  if not f then return nil, problem end
  local crid, sid, body = f.callRecordId, f.sessionId, f.body
  if type(crid) ~= "string" or crid == "" then return nil, "no callRecordId string" end
  if type(sid) ~= "string" or sid == "" then return nil, "no sessionId string" end
  if type(body) ~= "table" then return nil, "no body object" end
  return { callRecordId = crid, sessionId = sid, body = body }
end

local function blank(line)
  return line:find("^%s*$") ~= nil
end

-- First pass: every line a fix? Returns the count, or nil after reporting problems.
local function check_file(env, path, what_if)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local n, ln, bad = 0, 0, 0
  for line in f:lines() do
    ln = ln + 1
    if not blank(line) then
      local item, problem = fix_of(line, what_if)
      if item then
        n = n + 1
      else
        bad = bad + 1
        if bad <= MAX_INPUT_ERRORS then say(env.stderr, path, ":", ln, ": ", problem) end
      end
    end
  end
  f:close()
  if bad > 0 then
    if bad > MAX_INPUT_ERRORS then say(env.stderr, "(", bad - MAX_INPUT_ERRORS, " more)") end
    return nil, bad .. " line" .. (bad == 1 and " is" or "s are")
      .. " not a fix; nothing was sent"
  end
  return n
end

-- Second pass: the fixes one by one, each with its line number (item.line).
local function fixes(env, path, what_if)
  local f = path == "-" and env.stdin or assert(io.open(path, "rb"))
  local ln = 0
  local bad = 0
  local iter = function()
    while true do
      local line = f:read("*l")
      if line == nil then
        if f ~= env.stdin then f:close() end
        return nil
      end
      ln = ln + 1
      if not blank(line) then
        local item, problem = fix_of(line, what_if)
        if item then
          item.line = ln
          return item
        end
        -- only from standard input, which was not checked first
        bad = bad + 1
        say(env.stderr, path, ":", ln, ": ", problem, " (skipped)")
      end
    end
  end
  return iter, function() return bad end
end

------------------------------------------------------------------------------
-- Progress
------------------------------------------------------------------------------

local function clock(seconds)
  seconds = floor(seconds + 0.5)
  local h, m, s = floor(seconds / 3600), floor(seconds / 60) % 60, seconds % 60
  if h > 0 then return format("%d:%02d:%02d", h, m, s) end
  return format("%d:%02d", m, s)
end

local BAR = 24

-- "[#########...............]  1234/20000   6%  8123/s  3 failed  ETA 0:02"
function M.progress_line(done, total, failed, elapsed, throttled)
  local rate = elapsed > 0 and done / elapsed or 0
  local parts = {}
  if total and total > 0 then
    local filled = floor(BAR * done / total)
    parts[#parts + 1] = "[" .. rep("#", filled) .. rep(".", BAR - filled) .. "]"
    parts[#parts + 1] = format("%d/%d %3d%%", done, total, floor(100 * done / total))
  else
    parts[#parts + 1] = format("%d done", done)
  end
  parts[#parts + 1] = format("%.0f/s", rate)
  parts[#parts + 1] = format("%d failed", failed)
  if throttled and throttled >= 1 then parts[#parts + 1] = "throttled " .. clock(throttled) end
  if total and rate > 0 and done < total then
    -- an estimate from the first fraction of a second says little
    parts[#parts + 1] = elapsed >= 1 and ("ETA " .. clock((total - done) / rate)) or "ETA -"
  elseif total and done >= total then
    parts[#parts + 1] = "in " .. clock(elapsed)
  end
  return concat(parts, "  ")
end

local function new_progress(env, total)
  local t0 = env.now()
  local interval = env.tty and 0.1 or 5
  -- a bar is drawn at once; plain lines only every few seconds (and at the end)
  local p = { failed = 0, t0 = t0, last = env.tty and -1 or t0, width = 0 }
  function p.update(done, final, throttled)
    local now = env.now()
    if not final and now - p.last < interval then return end
    p.last = now
    local line = M.progress_line(done, total, p.failed, now - p.t0, throttled)
    if env.tty then
      -- redraw in place; pad over a longer previous line
      local pad = p.width > #line and rep(" ", p.width - #line) or ""
      env.stderr:write("\r", line, pad)
      if final then env.stderr:write("\n") end
      p.width = #line
    else
      say(env.stderr, "graphcomm apply: ", line)
    end
    env.stderr:flush()
  end
  return p
end

------------------------------------------------------------------------------
-- Summary
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

local function row(out, label, value, note)
  say(out, format("  %-22s %10s%s", label, value, note and ("  " .. note) or ""))
end

-- The environment as apply's client reads it: the limiter's state file shared by every
-- run of the user unless GRAPHCOMM_LIMITS_FILE names another.
function M.limits_env(getenv)
  return function(name)
    local v = getenv(name)
    if name ~= "GRAPHCOMM_LIMITS_FILE" or (v ~= nil and v ~= "") then return v end
    local dir = getenv("XDG_RUNTIME_DIR")
    if dir and dir ~= "" then return dir .. "/graphcomm-limits" end
    dir = getenv("TMPDIR")
    return ((dir and dir ~= "") and dir or "/tmp") .. "/graphcomm-limits-"
      .. ((getenv("USER") or getenv("LOGNAME") or "user"):gsub("[^%w._-]", "_"))
  end
end

local function print_summary(env, s, reasons, listed, more, previews)
  local out = env.stdout
  local rate = s.elapsed > 0 and (s.ok / s.elapsed) or 0
  say(out, "")
  if previews then row(out, "would send", previews, "(--what-if: nothing was sent)") end
  row(out, "applied", s.ok)
  if s.skipped > 0 then row(out, "skipped", s.skipped, "(done before, per the journal)") end
  row(out, "failed", s.failed)
  local names = {}
  for k in pairs(reasons) do names[#names + 1] = k end
  sort(names)
  for _, k in ipairs(names) do row(out, "  " .. k, reasons[k]) end
  row(out, "requests sent", s.requests)
  row(out, "retries", s.retried)
  row(out, "elapsed", format("%.2f s", s.elapsed), format("(%.0f fixes/s)", rate))
  if (s.throttled or 0) > 0 or (s.throttled_429 or 0) > 0 then
    row(out, "throttled", format("%.2f s", s.throttled),
      format("(held by Graph's limits; %d answers 429)", s.throttled_429))
  end
  if #listed > 0 then
    say(out, "")
    say(out, "failed fixes:")
    for _, f in ipairs(listed) do say(out, "  ", f) end
    if more > 0 then say(out, "  (", more, " more)") end
  end
end

------------------------------------------------------------------------------
-- The command
------------------------------------------------------------------------------

local function is_tty(env)
  local term = env.getenv("TERM")
  if term == nil or term == "dumb" then return false end
  local a = os.execute("test -t 2")       -- true (5.2+) or 0 (5.1, LuaJIT) when it is
  return a == true or a == 0
end

local function defaults(io_env)
  io_env = io_env or {}
  local env = {
    stdout = io_env.stdout or io.stdout, stderr = io_env.stderr or io.stderr,
    stdin = io_env.stdin or io.stdin, getenv = io_env.getenv or os.getenv,
    now = io_env.now, tty = io_env.tty,
  }
  if not env.now then env.now = require("graphcomm.core").now end
  if env.tty == nil then env.tty = is_tty(env) end
  return env
end

-- The whole-number options: name, range, and what to say when the value is not one.
local NUMBERS = {
  { "--concurrency", "concurrency", 1, 4096, "a whole number from 1 to 4096" },
  { "--max-failures", "max_failures", 0, 1e9, "a whole number (0: never stop)" },
}

local function options(env, opts, args)
  if #args ~= 1 then
    return nil, usage_error(env, #args == 0 and "which file? (FIXES.jsonl)" or
      "one file at a time (got " .. #args .. ")")
  end
  local run_opts = { batch = opts["--batch"] and true or nil, journal = opts["--journal"],
    what_if = opts["--what-if"] or nil }
  for _, o in ipairs(NUMBERS) do
    local text = opts[o[1]]
    if text then
      local n = tonumber(text)
      if not n or n < o[3] or n > o[4] or n % 1 ~= 0 then
        return nil, usage_error(env, o[1] .. " expects " .. o[5])
      end
      run_opts[o[2]] = n
    end
  end
  return run_opts
end

-- What --what-if prints for one fix: the request it would send (token redacted).
local function print_preview(env, item, info)
  local req = type(info) == "table" and info.request
  if type(req) ~= "table" then return end
  say(env.stdout, format("line %d: %s %s", item.line, tostring(req.method), tostring(req.url)))
  say(env.stdout, "  ", tostring(req.body or ""))
end

-- Failures as they happen, on stderr when it is not a terminal: the first few of each
-- kind and of all kinds; the rest are counted in the summary.
local function failure_lines(env, progress)
  local shown, per = 0, {}
  return function(text, r)
    progress.failed = progress.failed + 1
    if env.tty then return end
    per[r] = (per[r] or 0) + 1
    if per[r] > MAX_SHOWN_PER_REASON or shown >= MAX_SHOWN then return end
    shown = shown + 1
    say(env.stderr, "graphcomm apply: ", text)
    if per[r] == MAX_SHOWN_PER_REASON then
      say(env.stderr, "graphcomm apply: (further ", r, " failures are counted in the summary)")
    end
  end
end

-- The end of a run that stopped early, on stderr: why, and how to go on.
local function explain_stop(env, s, journal)
  local resume = journal and ("rerun the same command to resume: " .. journal
    .. " skips what went through") or "rerun with --journal FILE to resume"
  if s.interrupted then
    say(env.stderr, "graphcomm apply: interrupted: the fixes in flight finished, no new one was sent; ",
      resume)
  elseif s.stopped == "max_failures" then
    local why = tostring(s.message or "stopped after too many failures in a row")
    say(env.stderr, "graphcomm apply: ", why:find("^stopped") and why or ("stopped: " .. why),
      " (--max-failures 0 never stops); ", resume)
  elseif s.journal == "incomplete" then
    say(env.stderr, "graphcomm apply: the journal is incomplete: a rerun with it sends again what ",
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

-- The client: with --what-if, no credentials are needed (nothing is sent).
local function connect(env, what_if)
  local graphcomm = require "graphcomm"
  local opts = { getenv = what_if and env.getenv or M.limits_env(env.getenv) }
  if what_if and not env.getenv("GRAPHCOMM_TOKEN") and not env.getenv("AZURE_CLIENT_ID") then
    opts.token = "what-if"
  end
  local client, err = graphcomm.connect(opts)
  if not client then
    say(env.stderr, "graphcomm apply: cannot connect: ", (tostring(err):gsub("^graphcomm: ", "")))
    return nil
  end
  return client
end

local function update(env, client, path, run_opts, total)
  local progress = new_progress(env, total)
  local reasons, listed, more = {}, {}, 0
  local show_failure = failure_lines(env, progress)
  local previews = run_opts.what_if and 0 or nil
  run_opts.total = total
  run_opts.should_stop = core.sigint_pending
  run_opts.on_result = function(_, ok, v, item)
    if ok then
      if type(v) == "table" and v.status == "what_if" then
        previews = previews + 1
        print_preview(env, item, v)
      end
      return
    end
    local r = controls(reason(v))
    reasons[r] = (reasons[r] or 0) + 1
    local text = format("line %d (%s / %s): %s", item.line, controls(item.callRecordId),
      controls(item.sessionId), describe(v))
    if #listed < MAX_LISTED then listed[#listed + 1] = text else more = more + 1 end
    show_failure(text, r)
  end
  run_opts.on_progress = function(done, _, throttled) progress.update(done, nil, throttled) end
  local items, bad_stdin = fixes(env, path, run_opts.what_if)
  local ok, s, run_err = pcall(client.update_sessions, client, items, run_opts)
  if not ok then                          -- raised: a bug, or memory ran out
    say(env.stderr, "graphcomm apply: ", tostring(s))
    return FAILED
  end
  if s == nil and not (type(run_err) == "table" and run_err.summary) then
    say(env.stderr, "graphcomm apply: ", (tostring(run_err):gsub("^graphcomm: ", "")))
    return USAGE                          -- the journal cannot be opened
  end
  if s == nil then                        -- stopped by an error, with what it did
    say(env.stderr, "graphcomm apply: ", (tostring(run_err):gsub("^graphcomm: ", "")))
    s = run_err.summary
  end
  if core.sigint_pending() then s.interrupted = true end   -- also when it came last
  progress.update(s.ok + s.failed + s.skipped + (previews or 0), true, s.throttled)
  print_summary(env, s, reasons, listed, more, previews)
  explain_stop(env, s, run_opts.journal)
  return exit_code(s, bad_stdin())
end

local function run(argv, io_env)
  local env = defaults(io_env)
  local opts, args = cli_parse(argv or {}, 1, OPTIONS)
  if not opts then return usage_error(env, args) end
  if opts["--help"] or opts["-h"] then
    env.stdout:write(M.HELP)
    return OK
  end
  local run_opts, code = options(env, opts, args)
  if not run_opts then return code end
  local path = args[1]
  local total
  if path ~= "-" then
    local err
    total, err = check_file(env, path, run_opts.what_if)
    if not total then
      say(env.stderr, "graphcomm apply: ", err)
      return USAGE
    end
  end
  if core.sigint_pending() then
    say(env.stderr, "graphcomm apply: interrupted before anything was sent")
    return INTERRUPTED
  end
  local client = connect(env, run_opts.what_if)
  if not client then return USAGE end
  local result = update(env, client, path, run_opts, total)
  client:close()
  return result
end

-- Ctrl-C is caught for the whole command, and given back after it.
function M.run(argv, io_env)
  core.sigint_catch()
  local ok, code = pcall(run, argv, io_env)
  core.sigint_release()
  if not ok then error(code, 0) end
  return code
end

return M
