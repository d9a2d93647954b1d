-- graphcomm.launch: what bin/graphcomm does before the CLI runs (pure Lua, no requires
-- at load time, so that it works in a fresh clone before `make`).
--
--   launch.prepare(argv, where) -> nil | exit code
--     where = { lua = "lua5.4" | "luajit" | ..., checkout = source root | nil }
--     Answers `--version` (and -V) itself (from graphcomm.version). Otherwise checks that
--     lua-cjson and graphcomm.core load; when one does not, a help request
--     (no command, `--help`, `-h`, `help ...`) still gets its text, and anything
--     else gets one line on stderr naming what to run (exit 2).
--     nil: go on and run the CLI.
--   launch.problem(name, err, where) -> the one line for a dependency that failed
local pcall, require, tostring, ipairs, setmetatable = pcall, require, tostring, ipairs, setmetatable
local io, package = io, package
local string_find, string_match, string_gsub = string.find, string.match, string.gsub

local M = {}

local USAGE = 2

-- The Lua as luarocks names it (`--lua-version 5.1` for LuaJIT).
local function rocks_version(lua)
  if lua == "luajit" then return "5.1" end
  return (string_gsub(lua, "^lua", ""))
end

local function not_found(name, err)
  return string_find(err, "module '" .. name .. "' not found", 1, true) ~= nil
end

-- The loader's last line is the reason (dlopen's, or the module's own error).
local function reason(err)
  return (string_gsub(string_match(err, "([^\n]*)\n?$"), "^%s+", ""))
end

function M.problem(name, err, where)
  local lua, ver = where.lua, rocks_version(where.lua)
  err = tostring(err)
  if name == "cjson" then
    local how = "`apt-get install lua-cjson` or `luarocks --lua-version " .. ver .. " install lua-cjson`"
    if not_found(name, err) then return "graphcomm: lua-cjson is not installed for " .. lua .. ": run " .. how end
    return "graphcomm: lua-cjson does not load in " .. lua .. " (" .. reason(err) .. "): reinstall it with " .. how
  end
  if not not_found(name, err) then
    return "graphcomm: graphcomm.core does not load in " .. lua .. " (" .. reason(err) .. "): rebuild it with `make LUA="
      .. lua .. "`" .. (where.checkout and (" in " .. where.checkout) or " and `make install LUA=" .. lua .. "`")
  end
  if where.checkout then
    return "graphcomm: graphcomm.core is not built for " .. lua .. ": run `make LUA=" .. lua .. "` in "
      .. where.checkout
  end
  return "graphcomm: graphcomm.core is not installed for " .. lua .. ": run `make install LUA=" .. lua
    .. "` in graphcomm's source, or `luarocks --lua-version " .. ver .. " install graphcomm`"
end

local function wants_help(argv)
  local first = argv[1]
  if first == nil or first == "help" then return true end
  for i = 1, #argv do
    if argv[i] == "--help" or argv[i] == "-h" then return true end
    if argv[i] == "--" then break end
  end
  return false
end

-- Stands in for a missing dependency while only help text is printed: every
-- field is a function that returns the stand-in, so the CLI's modules load.
local function stand_in()
  local t
  t = setmetatable({}, { __index = function() return function() return t end end })
  return t
end

-- In this order: the message names the first one that fails.
local DEPENDENCIES = { "cjson", "graphcomm.core" }

function M.prepare(argv, where)
  if argv[1] == "--version" or argv[1] == "-V" then
    io.stdout:write("graphcomm ", require("graphcomm.version"), "\n")
    return 0
  end
  local missing
  for _, name in ipairs(DEPENDENCIES) do
    local ok, err = pcall(require, name)
    if not ok then
      if not wants_help(argv) then
        io.stderr:write(M.problem(name, err, where), "\n")
        return USAGE
      end
      missing = true
      package.loaded[name] = stand_in()
    end
  end
  if missing then package.loaded["cjson.safe"] = package.loaded["cjson.safe"] or stand_in() end
  return nil
end

M.rocks_version = rocks_version
return M
