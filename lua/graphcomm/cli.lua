-- graphcomm.cli: the `graphcomm` command (bin/graphcomm calls run).
--
-- run(argv, io_env) -> exit code. argv is the command's arguments (arg[1..n]);
-- io_env = { stdout, stderr, stdin, getenv, bindir } (defaults: the process's
-- own; bindir, the folder holding the script, lets `emulator` find the
-- project's emulator). Exit codes: 0 success, 1 Graph or the network refused,
-- 2 bad usage or invalid input.
local json = require "graphcomm.json"
local controls = require("graphcomm.redact").controls

local type, ipairs, pairs, tostring, tonumber = type, ipairs, pairs, tostring, tonumber
local concat, sort, format = table.concat, table.sort, string.format

local M = {}

local OK, REFUSED, USAGE = 0, 1, 2

local ENVIRONMENT = [[
Credentials and target come from the environment: GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN,
GRAPHCOMM_CA_FILE, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH) and AZURE_AUTHORITY_HOST.
Exit status: 0 success, 1 Graph or the network refused, 2 bad usage or invalid input.
]]

local MAIN_HELP = [[
usage: graphcomm <command> [options]

Update Microsoft Graph call-record sessions, read call records, run the local emulator.

commands:
  update CRID SID (--body FILE.json | --set path=value ...) [--what-if]
                                        update one session (PATCH)
  apply FIXES.jsonl [--concurrency N] [--batch] [--journal FILE]
                                        apply many fixes, one JSON object a line
  get CRID [SID] [--select LIST] [--expand LIST]
                                        print a call record or one session as JSON
  emulator [--port N] [--tls] [--read-only] [--throttle]
                                        run the local Graph emulator until Ctrl-C

`graphcomm <command> --help` tells more; `graphcomm --version` prints the version.
]] .. ENVIRONMENT

-- ---------------------------------------------------------------------------
-- Plumbing
-- ---------------------------------------------------------------------------

local function say(stream, ...)
  stream:write(...)
  stream:write("\n")
end

local function usage_error(env, command, message)
  say(env.stderr, "graphcomm", command and (" " .. command) or "", ": ", message)
  say(env.stderr, "Try `graphcomm ", command and (command .. " ") or "", "--help`.")
  return USAGE
end

-- Parses argv[first..] against option kinds ("flag", "value", "list"); both
-- `--name value` and `--name=value` work; `--` ends the options.
-- -> opts, args | nil, message. Exported as cli.parse for the other subcommands.
local function parse(argv, first, kinds)
  local opts, args, i = {}, {}, first
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do args[#args + 1] = argv[j] end
      break
    end
    if a:sub(1, 1) == "-" and a ~= "-" then
      local name, inline = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      local kind = kinds[name]
      if not kind then return nil, "unknown option " .. name end
      if kind == "flag" then
        if inline then return nil, name .. " takes no value" end
        opts[name] = true
      else
        local v = inline
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then return nil, name .. " needs a value" end
        end
        if kind == "list" then
          opts[name] = opts[name] or {}
          opts[name][#opts[name] + 1] = v
        else
          opts[name] = v
        end
      end
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  return opts, args
end

-- "graphcomm: <message>" (error values already say "graphcomm: ").
-- Server and input text is shown with its control bytes escaped (redact.controls).
local function complain(env, ...)
  local text = controls(table.concat({ ... }))
  if text:sub(1, 11) ~= "graphcomm: " then text = "graphcomm: " .. text end
  say(env.stderr, text)
end

-- A connection that could not be made: what to check, for people.
local UNREACHABLE = { couldnt_connect = true, couldnt_resolve_host = true,
  couldnt_resolve_proxy = true, operation_timedout = true }

local function reach_hint(env, err)
  if err.kind ~= "transport" or not UNREACHABLE[err.code] then return end
  local url = env.getenv("GRAPHCOMM_BASE_URL")
  say(env.stderr, "graphcomm: check GRAPHCOMM_BASE_URL (", url and ("now " .. url)
    or "unset: https://graph.microsoft.com", ") and that the service is running there",
    " (for the local emulator: `graphcomm emulator`, then its GRAPHCOMM_BASE_URL)")
end
M.reach_hint = reach_hint

-- One line per problem: the validator's path and its message (which holds the hint).
local function report(env, err)
  if type(err) == "table" or type(err) == "userdata" then
    if err.kind == "validation" and err.errors then
      say(env.stderr, "graphcomm: invalid session body:")
      for _, e in ipairs(err.errors) do
        local path = (e.path and e.path ~= "") and e.path or "(body)"
        say(env.stderr, "  ", controls(path), ": ", controls(tostring(e.message)))
      end
      return USAGE
    end
    complain(env, tostring(err))
    reach_hint(env, err)
    return err.kind == "validation" and USAGE or REFUSED
  end
  complain(env, tostring(err))
  return REFUSED
end

-- The client's debug lines that matter to people: a retry wait longer than a second
-- ("* retry N in S s (why)"), so that a slow answer is not mistaken for a hang.
local function retry_notes(env)
  return function(line)
    local n, secs, why = tostring(line):match("^%* retry (%d+) in ([%d.]+) s %((.*)%)$")
    if n and tonumber(secs) > 1 then
      say(env.stderr, format("graphcomm: waiting %.1f s before attempt %d (%s)",
        tonumber(secs), tonumber(n) + 1, why))
      env.stderr:flush()
    end
  end
end

-- Connecting sends nothing (tokens are fetched on first use): a failure here is
-- the configuration (no credentials, a bad GRAPHCOMM_BASE_URL), hence USAGE.
-- A what-if sends nothing and shows the token redacted: without credentials it
-- runs on a stand-in token (only a read for a merge then needs real ones).
local function has_credentials(env)
  return env.getenv("GRAPHCOMM_TOKEN") or env.getenv("AZURE_CLIENT_ID")
end

local function connect(env, what_if)
  local graphcomm = require "graphcomm"
  local opts = { getenv = env.getenv, debug = retry_notes(env) }
  if what_if and not has_credentials(env) then opts.token = "what-if" end
  local client, err = graphcomm.connect(opts)
  if not client then
    complain(env, "cannot connect: ", (tostring(err):gsub("^graphcomm: ", "")))
    return nil, USAGE
  end
  return client
end

local function read_file(env, path)
  local f, err
  if path == "-" then f = env.stdin else f, err = io.open(path, "rb") end
  if not f then return nil, err end
  local text = f:read("*a")
  if f ~= env.stdin then f:close() end
  return text
end

-- ---------------------------------------------------------------------------
-- update
-- ---------------------------------------------------------------------------

local UPDATE_HELP = [[
usage: graphcomm update CRID SID (--body FILE.json | --set path=value ...) [--what-if]

Updates session SID of call record CRID (PATCH .../callRecords/CRID/sessions/SID).
The body is validated against the call-records schema before anything is sent.

  --body FILE.json   the body, a JSON object (`-` reads standard input); OData
                     annotations such as @odata.context (from `graphcomm get`) are dropped
  --set path=value   one property; repeat for more. path is dot-separated
                     (failureInfo.reason); value is JSON when it parses as JSON, else a
                     string; for an array property a comma-separated list works too, and a
                     single value is a one-item list (--set modalities=audio,video)
  --what-if          print the request (token redacted) and send nothing

examples:
  graphcomm update $CRID $SID --set endDateTime=2024-05-01T10:30:00Z --what-if
  graphcomm update $CRID $SID --set modalities=audio,video --set failureInfo.reason=timeout
  graphcomm update $CRID $SID --body fix.json
]] .. ENVIRONMENT

-- "caller.userAgent.@odata.type" -> { "caller", "userAgent", "@odata.type" }
local function split_path(path)
  local parts = {}
  for seg in (path .. "."):gmatch("([^.]*)%.") do
    local last = parts[#parts]
    if last and last:sub(1, 1) == "@" and not last:find(".", 1, true) then
      parts[#parts] = last .. "." .. seg
    else
      if seg == "" then return nil end
      parts[#parts + 1] = seg
    end
  end
  return parts
end

local function put(t, parts, value)
  for i = 1, #parts - 1 do
    local child = t[parts[i]]
    if child == nil then
      child = {}
      t[parts[i]] = child
    elseif type(child) ~= "table" then
      return nil, concat(parts, ".", 1, i) .. " is already set to a value"
    end
    t = child
  end
  t[parts[#parts]] = value
  return true
end

local function trial(parts, value)
  local t = {}
  put(t, parts, value)
  return require("graphcomm.core").normalize(t)
end

-- The schema's description of the property at parts (core.schema), or nil when the
-- path leaves the schema (a derived type's property, a name it does not know).
local function property_at(parts)
  local schema, typename, prop = require("graphcomm.core").schema, "session", nil
  for _, name in ipairs(parts) do
    if not typename then return nil end
    prop = nil
    for _, p in ipairs(schema(typename).properties) do
      if p.name:lower() == name:lower() then prop = p end
    end
    if not prop then return nil end
    typename = prop.type
  end
  return prop
end

local function comma_list(raw)
  local list = {}
  for item in (raw .. ","):gmatch("([^,]*),") do list[#list + 1] = item end
  return list
end

-- The value a --set means: the first reading the schema accepts at that path
-- (JSON, the plain string, a comma-separated list). When none is, the list for an
-- array property (its errors then name the bad items), else the first reading.
local function set_value(parts, raw)
  local list = comma_list(raw)
  local readings = {}
  local decoded, why, kind = json.decode(raw)
  if kind == "number" then return nil, why end       -- JSON, but not to be rounded
  if decoded ~= nil then readings[#readings + 1] = decoded end
  readings[#readings + 1] = raw
  readings[#readings + 1] = list
  for _, v in ipairs(readings) do
    if trial(parts, v) then return v end
  end
  local prop = property_at(parts)
  return (prop and prop.array) and list or readings[1]
end

-- The --set assignments as { parts, value, text } | nil, message.
local function assignments(opts)
  local list = {}
  for _, assignment in ipairs(opts["--set"]) do
    local path, raw = assignment:match("^([^=]+)=(.*)$")
    local parts = path and split_path(path)
    if not parts then return nil, "--set " .. assignment .. ": expected path=value" end
    local value, why = set_value(parts, raw)
    if value == nil then return nil, "--set " .. assignment .. ": " .. why end
    list[#list + 1] = { parts = parts, value = value, text = assignment }
  end
  return list
end

-- The top-level properties a --set goes inside (failureInfo for failureInfo.reason):
-- PATCH replaces such a property whole, so its current value is read and merged.
local function merged_tops(sets)
  local tops, seen = {}, {}
  for _, a in ipairs(sets) do
    local top = a.parts[1]
    if #a.parts > 1 and not seen[top] then
      seen[top] = true
      tops[#tops + 1] = top
    end
  end
  return tops
end

-- The body from --set: the current values of the merged properties, then each --set.
local function set_body(sets, current)
  local body = {}
  for name, v in pairs(current or {}) do body[name] = v end
  for _, a in ipairs(sets) do
    local ok, err = put(body, a.parts, a.value)
    if not ok then return nil, "--set " .. a.text .. ": " .. err end
  end
  return body
end

-- The --body file's object | nil, message.
local function file_body(env, name)
  local text, err = read_file(env, name)
  if not text then return nil, "cannot read " .. name .. ": " .. tostring(err) end
  local body, jerr = json.decode(text)
  if body == nil then return nil, name .. ": invalid JSON: " .. tostring(jerr) end
  if type(body) ~= "table" or body[1] ~= nil then return nil, name .. ": a JSON object is expected" end
  return require("graphcomm.diff").strip_annotations(body)
end

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

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

local function print_request(env, req)
  say(env.stdout, "What if: ", req.method, " ", req.url)
  for _, name in ipairs(sorted_keys(req.headers or {})) do
    say(env.stdout, name, ": ", req.headers[name])
  end
  say(env.stdout, "")
  say(env.stdout, req.body or "")
end

-- What a failed read for a merge would have cleared, and the way round it.
local function merge_refused(env, tops, err)
  complain(env, "cannot read the session to merge --set into ", concat(tops, ", "),
    ": PATCH replaces ", #tops == 1 and "that property" or "those properties",
    " whole, so sending only the --set parts would clear the rest; nothing was sent")
  say(env.stderr, "graphcomm: give the whole value instead, e.g. --set '", tops[1], "={...}'")
  return report(env, err)
end

-- The body to send: --body's object, or --set merged into the session's current values.
local function update_body(env, opts, client, crid, sid)
  if opts["--body"] and opts["--set"] then return nil, USAGE, "use --body or --set, not both" end
  if opts["--body"] then
    local body, why = file_body(env, opts["--body"])
    if not body then return nil, USAGE, why end
    return body
  end
  if not opts["--set"] then
    return nil, USAGE, "nothing to update: give --body FILE.json or --set path=value"
  end
  local sets, why = assignments(opts)
  if not sets then return nil, USAGE, why end
  local tops, current = merged_tops(sets), nil
  if #tops > 0 then
    local c, code = client()
    if not c then return nil, code end
    local err
    current, err = current_values(c, crid, sid, tops)
    if not current then return nil, merge_refused(env, tops, err) end
  end
  local body, perr = set_body(sets, current)
  if not body then return nil, USAGE, perr end
  return body
end

local function update(env, opts, args)
  if #args ~= 2 then return usage_error(env, "update", "expected CRID and SID") end
  local what_if = opts["--what-if"]
  local client, code
  local function get_client()                    -- connected once, when first needed
    if not client and not code then client, code = connect(env, what_if) end
    return client, code
  end
  local body, ecode, why = update_body(env, opts, get_client, args[1], args[2])
  local session, verr
  if body then session, verr = require("graphcomm").session(body) end
  if session then get_client() end
  if not (session and client) then
    if client then client:close() end
    if why then return usage_error(env, "update", why) end
    if verr then return report(env, verr) end
    return ecode or code
  end
  local ok, resp = client:update_session(args[1], args[2], session, { what_if = what_if or nil })
  client:close()
  if not ok then return report(env, resp) end
  if what_if then
    print_request(env, ok)
  else
    say(env.stdout, "Updated session ", args[2], " of call record ", args[1],
        type(resp) == "table" and resp.request_id and (" (request-id " .. resp.request_id .. ")") or "")
  end
  return OK
end

-- ---------------------------------------------------------------------------
-- get
-- ---------------------------------------------------------------------------

local GET_HELP = [[
usage: graphcomm get CRID [SID] [--select LIST] [--expand LIST]

Prints call record CRID, or its session SID, as indented JSON with sorted keys.
With --expand sessions (or sessions($expand=segments)) every session is fetched,
following the nested paging (sessions@odata.nextLink) until the record is whole.

  --select LIST   properties to return ($select), e.g. id,modalities,startDateTime
  --expand LIST   navigation properties to include ($expand), e.g. segments

examples:
  graphcomm get $CRID --expand 'sessions($expand=segments)'
  graphcomm get $CRID $SID --select id,startDateTime,endDateTime
]] .. ENVIRONMENT

local function get(env, opts, args)
  if #args < 1 or #args > 2 then return usage_error(env, "get", "expected CRID [SID]") end
  local client, code = connect(env)
  if not client then return code end
  local query = { select = opts["--select"], expand = opts["--expand"] }
  local value, err
  if args[2] then
    value, err = client:get_session(args[1], args[2], query)
  else
    value, err = client:get_call_record(args[1], query)
  end
  client:close()
  if value == nil then return report(env, err) end
  say(env.stdout, json.pretty(value))
  return OK
end

-- ---------------------------------------------------------------------------
-- emulator
-- ---------------------------------------------------------------------------

local EMULATOR_HELP = [[
usage: graphcomm emulator [--port N] [--tls] [--read-only] [--throttle]

Runs the project's Graph emulator (nginx + Lua on 127.0.0.1) in the foreground:
prints the shell assignments that point graphcomm at it (GRAPHCOMM_BASE_URL,
GRAPHCOMM_TOKEN, and with --tls GRAPHCOMM_CA_FILE), then waits; Ctrl-C (or
SIGTERM) stops it and leaves no process behind.

  --port N      listen on port N (default: a free port)
  --tls         serve https with a self-signed CA (GRAPHCOMM_CA_FILE names it)
  --read-only   answer PATCH as the real service is expected to (405)
  --throttle    enforce Graph's documented call-record limits (429 with Retry-After)

The emulator is looked for beside the command: emulator/ in the checkout that
holds bin/graphcomm (or in the LuaRocks tree), else ../share/graphcomm/emulator.
]]

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Starts (the emulator also watches this process: killed, it still stops), prints the
-- assignments, waits for INT/TERM/HUP or for the graphcomm process to go away, stops.
local FOREGROUND = [[
start=$1 stop=$2; shift 2
out=$("$start" --watch-pid "$PPID" "$@") || exit 1
printf '%s\n' "$out"
eval "$out"
nap=
finish() {
  trap '' INT TERM HUP
  [ -n "$nap" ] && kill "$nap" 2>/dev/null
  "$stop" "$GRAPHCOMM_EMULATOR_DIR" >&2
  exit 0
}
trap finish INT TERM HUP
echo "graphcomm: emulator running at $GRAPHCOMM_BASE_URL; Ctrl-C stops it" >&2
while kill -0 "$PPID" 2>/dev/null; do
  sleep 1 & nap=$!
  wait "$nap"
done
finish
]]

local function find_emulator(bindir)
  local here = bindir or "."
  for _, dir in ipairs({ here .. "/../emulator", here .. "/../share/graphcomm/emulator" }) do
    local f = io.open(dir .. "/start", "r")
    if f then
      f:close()
      return dir
    end
  end
  return nil, here
end

local function exit_status(a, b, c)
  if type(a) == "number" then return a >= 256 and math.floor(a / 256) or a end  -- Lua 5.1, LuaJIT
  if b == "exit" then return c end
  return REFUSED
end

local function emulator(env, opts, args)
  if #args > 0 then return usage_error(env, "emulator", "unexpected argument " .. args[1]) end
  local port = opts["--port"]
  if port and not (port:match("^%d+$") and tonumber(port) >= 1 and tonumber(port) <= 65535) then
    return usage_error(env, "emulator", "--port expects a number from 1 to 65535")
  end
  local dir, looked = find_emulator(env.bindir)
  if not dir then
    say(env.stderr, "graphcomm emulator: no emulator/ found beside ", looked)
    return USAGE
  end
  -- os.execute's own sh runs the script, so that its $PPID is this process.
  local cmd = { "set --", shell_quote(dir .. "/start"), shell_quote(dir .. "/stop") }
  if port then cmd[#cmd + 1] = "--port " .. port end
  if opts["--tls"] then cmd[#cmd + 1] = "--tls" end
  if opts["--read-only"] then cmd[#cmd + 1] = "--read-only" end
  if opts["--throttle"] then cmd[#cmd + 1] = "--throttle" end
  env.stdout:flush()
  return exit_status(os.execute(concat(cmd, " ") .. "\n" .. FOREGROUND))
end

-- ---------------------------------------------------------------------------
-- Dispatch
-- ---------------------------------------------------------------------------

M.parse = parse

local COMMANDS = {
  update = { help = UPDATE_HELP, run = update,
             options = { ["--body"] = "value", ["--set"] = "list", ["--what-if"] = "flag" } },
  get = { help = GET_HELP, run = get, options = { ["--select"] = "value", ["--expand"] = "value" } },
  emulator = { help = EMULATOR_HELP, run = emulator,
               options = { ["--port"] = "value", ["--tls"] = "flag", ["--read-only"] = "flag",
                 ["--throttle"] = "flag" } },
}

local function defaults(io_env)
  io_env = io_env or {}
  return {
    stdout = io_env.stdout or io.stdout, stderr = io_env.stderr or io.stderr,
    stdin = io_env.stdin or io.stdin, getenv = io_env.getenv or os.getenv,
    bindir = io_env.bindir,
  }
end

local function sub_argv(argv)
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  return rest
end

function M.run(argv, io_env)
  local env = defaults(io_env)
  local name = argv[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    env[name == nil and "stderr" or "stdout"]:write(MAIN_HELP)
    return name == nil and USAGE or OK
  end
  if name == "--version" then
    say(env.stdout, "graphcomm ", require("graphcomm.core").version)
    return OK
  end
  if name == "apply" then return require("graphcomm.apply").run(sub_argv(argv), io_env) end
  local command = COMMANDS[name]
  if not command then return usage_error(env, nil, "unknown command " .. tostring(name)) end
  local kinds = { ["--help"] = "flag", ["-h"] = "flag" }
  for k, v in pairs(command.options) do kinds[k] = v end
  local opts, args = parse(argv, 2, kinds)
  if not opts then return usage_error(env, name, args) end
  if opts["--help"] or opts["-h"] then
    env.stdout:write(command.help)
    return OK
  end
  return command.run(env, opts, args)
end

return M
