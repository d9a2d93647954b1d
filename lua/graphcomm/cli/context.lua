-- graphcomm.cli.context: the process a command runs in (streams, environment, clock,
-- terminal) and the client it connects, with the sending options every command takes
-- (--debug, --max-retries, --timeout).
local report = require "graphcomm.cli.report"
local retry = require "graphcomm.retry"

local type, tonumber, tostring, format = type, tonumber, tostring, string.format
local say = report.say

local M = {}

-- The options of every command that sends (graphcomm.cli.args records).
M.SEND_OPTIONS = {
  { "--debug", "flag", nil, "print each request and response on stderr, secrets redacted" },
  { "--max-retries", "count", "N", "retries of a throttled or dropped request (default 3)",
    min = 0, max = retry.MAX_RETRIES },
  { "--timeout", "number", "S", "seconds one request may take (default 100)",
    min = 0.001, max = 86400 },
}

local function is_tty(getenv)
  local term = getenv("TERM")
  if term == nil or term == "dumb" then return false end
  local a = os.execute("test -t 2")       -- true (5.2+) or 0 (5.1, LuaJIT) when it is
  return a == true or a == 0
end

-- The terminal's width in columns: COLUMNS, else `stty size` on stderr's terminal, else 80.
local function width(env)
  local n = tonumber(env.getenv("COLUMNS") or "")
  if n and n >= 1 and n % 1 == 0 then return n end
  if env.tty and env.stty ~= false then
    local p = io.popen("stty size <&2 2>/dev/null")
    local line = p and p:read("*l")
    if p then p:close() end
    local cols = line and tonumber(line:match("^%d+%s+(%d+)"))
    if cols and cols >= 1 then return cols end
  end
  return 80
end

-- io_env = { stdout, stderr, stdin, getenv, bindir, tty, now, columns }: the process's own
-- for what is not given (tty: whether stderr is a terminal).
function M.new(io_env)
  io_env = io_env or {}
  local env = {
    stdout = io_env.stdout or io.stdout, stderr = io_env.stderr or io.stderr,
    stdin = io_env.stdin or io.stdin, getenv = io_env.getenv or os.getenv,
    bindir = io_env.bindir, now = io_env.now, tty = io_env.tty, stty = io_env.stty,
  }
  if not env.now then env.now = require("graphcomm.core").now end
  if env.tty == nil then env.tty = is_tty(env.getenv) end
  env.width = function() return width(env) end
  return env
end

-- The library's debug lines, for people: with --debug every line; always a retry wait
-- longer than a second ("* retry N in S s (why)"), so that a slow answer is not taken
-- for a hang, and a warning ("* warning: ...").
local function debug_lines(env, all)
  return function(line)
    line = tostring(line)
    if all then
      say(env.stderr, line)
      return
    end
    local n, secs, why = line:match("^%* retry (%d+) in ([%d.]+) s %((.*)%)$")
    if n and tonumber(secs) > 1 then
      say(env.stderr, format("graphcomm: waiting %.1f s before attempt %d (%s)",
        tonumber(secs), tonumber(n) + 1, why))
      env.stderr:flush()
    end
    local warning = line:match("^%* (warning: .*)$")
    if warning then say(env.stderr, "graphcomm: ", warning) end
  end
end

local function has_credentials(env)
  return env.getenv("GRAPHCOMM_TOKEN") or env.getenv("AZURE_CLIENT_ID")
end

-- The environment as a sending client reads it: the limiter's state file shared by every
-- run of the user unless GRAPHCOMM_LIMITS_FILE names another (docs/throttling.md).
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

-- The client for a command's options: client | nil, exit code (the message said).
-- Connecting sends nothing (tokens are fetched on first use): a failure is the
-- configuration, hence USAGE. A what-if sends nothing: without credentials it runs on
-- a stand-in token.
function M.connect(env, opts, what_if, prefix)
  local copts = { getenv = what_if and env.getenv or M.limits_env(env.getenv),
    debug = debug_lines(env, opts["--debug"]),
    max_retries = opts["--max-retries"], timeout = opts["--timeout"] }
  if what_if and not has_credentials(env) then copts.token = "what-if" end
  local client, err = require("graphcomm").connect(copts)
  if not client then return nil, report.connect_failed(env, err, prefix) end
  return client
end

-- A file's text ("-": standard input) | nil, message.
function M.read_file(env, path)
  local f, err
  if path == "-" then f = env.stdin else f, err = io.open(path, "rb") end
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local text = f:read("*a")
  if f ~= env.stdin then f:close() end
  if type(text) ~= "string" then return nil, "cannot read " .. path end
  return text
end

-- A file's JSON object ("-": standard input), OData annotations dropped | nil, message.
function M.read_object(env, path)
  local text, err = M.read_file(env, path)
  if not text then return nil, err end
  local body, jerr = require("graphcomm.json").decode(text)
  if body == nil then return nil, path .. ": invalid JSON: " .. tostring(jerr) end
  if type(body) ~= "table" or body[1] ~= nil then return nil, path .. ": a JSON object is expected" end
  return require("graphcomm.diff").strip_annotations(body)
end

return M
