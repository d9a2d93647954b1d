-- graphcomm.cli.emulator: `graphcomm emulator`: the project's Graph emulator in the
-- foreground until Ctrl-C.
local report = require "graphcomm.cli.report"

local type, ipairs = type, ipairs
local concat = table.concat

local M = { name = "emulator", sends = false, usage = "emulator [--port N] [--tls] [--read-only] [--throttle]",
  summary = "run the local Graph emulator until Ctrl-C" }

M.options = {
  { "--port", "count", "N", "listen on port N (default: a free port)", min = 1, max = 65535 },
  { "--tls", "flag", nil, "serve https with a self-signed CA (GRAPHCOMM_CA_FILE names it)" },
  { "--read-only", "flag", nil, "answer PATCH as the real service is expected to (405)" },
  { "--throttle", "flag", nil, "enforce Graph's documented call-record limits (429 with Retry-After)" },
}

M.help = [[
Runs the project's Graph emulator (nginx + Lua on 127.0.0.1) in the foreground:
prints the shell assignments that point graphcomm at it (GRAPHCOMM_BASE_URL,
GRAPHCOMM_TOKEN, and with --tls GRAPHCOMM_CA_FILE), then waits; Ctrl-C (or
SIGTERM) stops it and leaves no process behind.
The emulator is looked for beside the command: emulator/ in the checkout that
holds bin/graphcomm (or in the LuaRocks tree), else ../share/graphcomm/emulator.
]]

M.examples = { "graphcomm emulator --tls" }

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
  return report.REFUSED
end

function M.run(env, opts, args)
  if #args > 0 then return report.usage_error(env, "emulator", "unexpected argument " .. args[1]) end
  local dir, looked = find_emulator(env.bindir)
  if not dir then
    report.say(env.stderr, "graphcomm emulator: no emulator/ found beside ", looked)
    return report.USAGE
  end
  -- os.execute's own sh runs the script, so that its $PPID is this process.
  local cmd = { "set --", shell_quote(dir .. "/start"), shell_quote(dir .. "/stop") }
  if opts["--port"] then cmd[#cmd + 1] = string.format("--port %d", opts["--port"]) end
  if opts["--tls"] then cmd[#cmd + 1] = "--tls" end
  if opts["--read-only"] then cmd[#cmd + 1] = "--read-only" end
  if opts["--throttle"] then cmd[#cmd + 1] = "--throttle" end
  env.stdout:flush()
  return exit_status(os.execute(concat(cmd, " ") .. "\n" .. FOREGROUND))
end

return M
