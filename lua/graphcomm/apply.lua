-- graphcomm.apply: `graphcomm apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE]`
-- (docs/contract.md section 5), on client:update_sessions (graphcomm.bulk).
--
-- run(argv, io_env) -> exit code: 0 every fix applied (or already in the journal), 1 some
-- failed, 2 bad usage or input. io_env = { stdout, stderr, stdin, getenv, tty, now }
-- (defaults: the process's own; tty: whether stderr is a terminal, found with `test -t 2`).
--
-- The file is read twice, line by line, never whole: first to check that every line is a
-- JSON object with callRecordId, sessionId and body (one bad line and nothing is sent:
-- exit 2) and to count them, then to send them. A body that breaks the schema is that
-- fix's failure (with its paths), the others go on. Progress goes to stderr: a bar on
-- a terminal, a plain line every few seconds otherwise; the summary table to stdout.

local type, tostring, tonumber, ipairs, pairs, pcall = type, tostring, tonumber, ipairs, pairs,
      pcall
local format, rep, concat, sort, floor = string.format, string.rep, table.concat, table.sort,
      math.floor

local json = require "graphcomm.json"
local cli_parse = require("graphcomm.cli").parse

local M = {}

local OK, FAILED, USAGE = 0, 1, 2
local MAX_LISTED = 20          -- failures listed by line in the summary
local MAX_INPUT_ERRORS = 10

M.HELP = [[
usage: graphcomm apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE]

Applies many fixes: one JSON object a line,
  {"callRecordId": "...", "sessionId": "...", "body": { ...session properties... }}
Each body is validated against the call-records schema before it is sent; an invalid one
fails on its own and the others go on. Throttled (429/503/504) and dropped requests are
retried after their Retry-After, without holding up the rest; fixes for the same session
go in file order. Nothing is sent when a line is not such a JSON object (exit 2).

  --concurrency N   requests in flight (default 16; with --batch, $batch requests, default 4)
  --batch           send the fixes in Graph JSON batches of 20 (POST /$batch)
  --journal FILE    append each outcome to FILE (JSON lines: ids, status, error code; never
                    a token or a body); run again with the same FILE to skip what succeeded,
                    e.g. after an interruption
  -                 as FIXES.jsonl: read standard input (no total, no ETA)

Progress goes to stderr (a bar on a terminal), the summary table to stdout.

examples:
  graphcomm apply fixes.jsonl --journal fixes.journal
  graphcomm apply fixes.jsonl --batch --concurrency 8
]] .. [[

Credentials and target come from the environment: GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN,
GRAPHCOMM_CA_FILE, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH) and AZURE_AUTHORITY_HOST.
Exit status: 0 all fixes applied, 1 some failed, 2 bad usage or invalid input.
]]

------------------------------------------------------------------------------
-- Arguments
------------------------------------------------------------------------------

-- Option kinds for cli.parse (shared with the other subcommands).
local OPTIONS = { ["--concurrency"] = "value", ["--batch"] = "flag", ["--journal"] = "value",
  ["--help"] = "flag", ["-h"] = "flag" }

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

-- A fix from one line: item | nil, problem.
local function fix_of(line)
  local v, err = json.decode(line)
  if v == nil then return nil, "not JSON (" .. tostring(err) .. ")" end
  if type(v) ~= "table" or v[1] ~= nil then return nil, "not a JSON object" end
  local crid, sid, body = v.callRecordId, v.sessionId, v.body
  if type(crid) ~= "string" or crid == "" then return nil, "no callRecordId string" end
  if type(sid) ~= "string" or sid == "" then return nil, "no sessionId string" end
  if type(body) ~= "table" then return nil, "no body object" end
  return { callRecordId = crid, sessionId = sid, body = body }
end

local function blank(line)
  return line:find("^%s*$") ~= nil
end

-- First pass: every line a fix? Returns the count, or nil after reporting problems.
local function check_file(env, path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local n, ln, bad = 0, 0, 0
  for line in f:lines() do
    ln = ln + 1
    if not blank(line) then
      local item, problem = fix_of(line)
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
local function fixes(env, path)
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
        local item, problem = fix_of(line)
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
function M.progress_line(done, total, failed, elapsed)
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
  function p.update(done, final)
    local now = env.now()
    if not final and now - p.last < interval then return end
    p.last = now
    local line = M.progress_line(done, total, p.failed, now - p.t0)
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

local function describe(err)
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
  return head .. ": " .. tostring(err.message)
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

local function print_summary(env, s, reasons, listed, more)
  local out = env.stdout
  local rate = s.elapsed > 0 and (s.ok / s.elapsed) or 0
  say(out, "")
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

local function options(env, opts, args)
  if #args ~= 1 then
    return nil, usage_error(env, #args == 0 and "which file? (FIXES.jsonl)" or
      "one file at a time (got " .. #args .. ")")
  end
  local run_opts = { batch = opts["--batch"] and true or nil, journal = opts["--journal"] }
  local c = opts["--concurrency"]
  if c then
    local n = tonumber(c)
    if not n or n < 1 or n > 4096 or n % 1 ~= 0 then
      return nil, usage_error(env, "--concurrency expects a whole number from 1 to 4096")
    end
    run_opts.concurrency = n
  end
  return run_opts
end

function M.run(argv, io_env)
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
    total, err = check_file(env, path)
    if not total then
      say(env.stderr, "graphcomm apply: ", err)
      return USAGE
    end
  end
  local graphcomm = require "graphcomm"
  local client, err = graphcomm.connect{ getenv = env.getenv }
  if not client then
    say(env.stderr, "graphcomm apply: cannot connect: ", (tostring(err):gsub("^graphcomm: ", "")))
    return USAGE
  end
  local progress = new_progress(env, total)
  local reasons, listed, more = {}, {}, 0
  run_opts.total = total
  run_opts.on_result = function(_, ok, v, item)
    if ok then return end
    progress.failed = progress.failed + 1
    local r = reason(v)
    reasons[r] = (reasons[r] or 0) + 1
    local text = format("line %d (%s / %s): %s", item.line, item.callRecordId, item.sessionId,
      describe(v))
    if #listed < MAX_LISTED then listed[#listed + 1] = text else more = more + 1 end
    if not env.tty and progress.failed <= 100 then say(env.stderr, "graphcomm apply: ", text) end
  end
  run_opts.on_progress = function(done) progress.update(done) end
  local items, bad_stdin = fixes(env, path)
  local ok, s, run_err = pcall(client.update_sessions, client, items, run_opts)
  client:close()
  if not ok then                          -- raised: a bug, or memory ran out
    say(env.stderr, "graphcomm apply: ", tostring(s))
    return FAILED
  end
  if s == nil then                        -- the journal cannot be opened
    say(env.stderr, "graphcomm apply: ", (tostring(run_err):gsub("^graphcomm: ", "")))
    return USAGE
  end
  progress.update(s.ok + s.failed + s.skipped, true)
  print_summary(env, s, reasons, listed, more)
  if bad_stdin() > 0 then return USAGE end
  return s.failed == 0 and OK or FAILED
end

return M
