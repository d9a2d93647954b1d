-- graphcomm.cli.main: the `graphcomm` command: the command table and dispatch
-- (bin/graphcomm calls run).
--
-- run(argv, io_env) -> exit code. argv is the command's arguments (arg[1..n]);
-- io_env = { stdout, stderr, stdin, getenv, bindir, tty, now } (graphcomm.cli.context;
-- bindir, the folder holding the script, lets `emulator` find the project's emulator).
-- Exit codes: 0 success, 1 Graph or the network refused, 2 bad usage or invalid input
-- (apply and diff add their own: docs/cli.md).
local args = require "graphcomm.cli.args"
local context = require "graphcomm.cli.context"
local report = require "graphcomm.cli.report"
local output = require "graphcomm.cli.output"
local suggest = require("graphcomm.options").suggest

local ipairs, pairs, pcall, error, tostring, format = ipairs, pairs, pcall, error, tostring, string.format
local concat = table.concat
local say, OK, USAGE = report.say, report.OK, report.USAGE

local M = {}

-- The commands, in the order help lists them. An entry is a module with name, usage,
-- summary, help, examples, options, sends and run(env, opts, args); or, for a command
-- that parses its own argv, { name, usage, summary, argv_run = fn(argv, io_env) -> code }.
M.COMMANDS = {
  require "graphcomm.cli.update",
  require "graphcomm.cli.apply",
  require "graphcomm.cli.get",
  require "graphcomm.cli.list",
  require "graphcomm.cli.diff",
  require "graphcomm.cli.emulator",
  (require "graphcomm.cli.completion"),
  { name = "fix", usage = "fix RULE.lua (--from T --to T | --record ID | --records FILE) [--apply] [-o json]",
    summary = "run a fix rule over call records (dry run by default; docs/rules.md)",
    help = "Runs a fix rule (a Lua file returning { fix = function(session, record) ... end }) "
      .. "over call records and shows per session what it would change; --apply sends the "
      .. "changes in bulk. `graphcomm fix --help` tells more.",
    examples = { "graphcomm fix examples/rules/missing_end_time.lua --from 2026-11-25 --to 2026-11-27" },
    options = require("graphcomm.fixcmd").OPTIONS,
    argv_run = function(argv, io_env) return M.run_fix(argv, io_env) end },
}

-- `graphcomm fix` (graphcomm.fixcmd parses its own argv): Ctrl-C stops taking records and
-- updates, as in apply (core.sigint_catch sets a flag the run polls).
function M.run_fix(argv, io_env)
  local core = require "graphcomm.core"
  local env = {}
  for k, v in pairs(io_env or {}) do env[k] = v end
  env.should_stop = env.should_stop or core.sigint_pending
  core.sigint_catch()
  local ok, code = pcall(require("graphcomm.fixcmd").run, argv, env)
  core.sigint_release()
  if not ok then error(code, 0) end
  if code == OK and core.sigint_pending() then return 130 end
  return code
end

local HELP_OPTIONS = { { "--help", "flag", nil, "print this help" }, { "-h", "flag", nil, "the same as --help" } }

-- A command's options: its own, -o/--json, the sending ones, --help.
function M.options_of(command)
  local list = {}
  for _, group in ipairs({ command.options or {}, command.sends and output.OPTIONS or {},
      command.sends and context.SEND_OPTIONS or {}, HELP_OPTIONS }) do
    for _, o in ipairs(group) do list[#list + 1] = o end
  end
  return list
end

local function find(name)
  for _, c in ipairs(M.COMMANDS) do
    if c.name == name then return c end
  end
  return nil
end

local function names()
  local list = {}
  for _, c in ipairs(M.COMMANDS) do list[#list + 1] = c.name end
  return list
end

M.ENVIRONMENT = [[
Credentials and target come from the environment: GRAPHCOMM_BASE_URL (the host only,
without /v1.0), GRAPHCOMM_TOKEN, GRAPHCOMM_CA_FILE, or AZURE_TENANT_ID + AZURE_CLIENT_ID +
AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) and AZURE_AUTHORITY_HOST.
Exit status: 0 success, 1 Graph or the network refused, 2 bad usage or invalid input.
]]

function M.main_help()
  local lines = { "usage: graphcomm <command> [options]", "",
    "Update Microsoft Graph call-record sessions, read call records, run the local emulator.",
    "", "commands:" }
  for _, c in ipairs(M.COMMANDS) do
    lines[#lines + 1] = "  " .. c.usage
    lines[#lines + 1] = "      " .. c.summary
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "`graphcomm help <command>` (or `graphcomm <command> --help`) tells more;"
  lines[#lines + 1] = "`graphcomm --version` (-V) prints the version."
  return concat(lines, "\n") .. "\n" .. M.ENVIRONMENT
end

local function option_line(o)
  local head = o[1] .. (o[3] and (" " .. o[3]) or "")
  return format("  %-20s %s", head, o[4])
end

function M.command_help(c)
  if c.argv_run then return "usage: graphcomm " .. c.usage .. "\n" end
  local lines = { "usage: graphcomm " .. c.usage, "", (c.help:gsub("\n$", "")), "", "options:" }
  for _, o in ipairs(M.options_of(c)) do lines[#lines + 1] = option_line(o) end
  if c.examples and #c.examples > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "examples:"
    for _, e in ipairs(c.examples) do lines[#lines + 1] = "  " .. e end
  end
  return concat(lines, "\n") .. "\n\n" .. M.ENVIRONMENT
end

local function unknown_command(env, name)
  local best = suggest(name, names())
  return report.usage_error(env, nil, "unknown command " .. tostring(name)
    .. (best and (" (did you mean " .. best .. "?)") or ""))
end

local function help(env, argv)
  local name = argv[2]
  if name == nil then
    env.stdout:write(M.main_help())
    return OK
  end
  local c = find(name)
  if not c then return unknown_command(env, name) end
  if c.argv_run then return c.argv_run({ "--help" }, env) end
  env.stdout:write(M.command_help(c))
  return OK
end

local function sub_argv(argv)
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  return rest
end

function M.run(argv, io_env)
  local env = context.new(io_env)
  local name = argv[1]
  if name == nil then
    env.stderr:write(M.main_help())
    return USAGE
  end
  if name == "--help" or name == "-h" or name == "help" then return help(env, argv) end
  if name == "--version" or name == "-V" then
    say(env.stdout, "graphcomm ", require("graphcomm.version"))
    return OK
  end
  local c = find(name)
  if not c then return unknown_command(env, name) end
  if c.argv_run then return c.argv_run(sub_argv(argv), io_env) end
  local opts, rest = args.parse(argv, 2, M.options_of(c))
  if not opts then return report.usage_error(env, name, rest) end
  if opts["--help"] or opts["-h"] then
    env.stdout:write(M.command_help(c))
    return OK
  end
  env.commands, env.options_of = M.COMMANDS, M.options_of
  return c.run(env, opts, rest)
end

return M
