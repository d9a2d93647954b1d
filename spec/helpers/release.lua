-- spec/helpers/release.lua: what the release, install and types specs share.
--
--   release.version                 lua/graphcomm/version.lua's string
--   release.load_rockspec(path)     -> the rockspec's table (loaded as luarocks does: no globals)
--   release.read(path)              -> the file's text (raises when there is none)
--   release.plain                   env for cmd.run: children run without the ASan preload
--   release.rocks_version(flavour)  "5.4", "5.1" for LuaJIT ...
--   release.lua_env(share, lib [, lua])  env for cmd.run: LUA_PATH/LUA_CPATH: one tree and lua-cjson only
--   release.cjson_cpath([lua])      the entry of lua's default package.cpath that finds lua-cjson
--   release.files(dir)              -> sorted list of the files below dir
local cmd = require "helpers.command"

local M = {}

M.version = dofile("lua/graphcomm/version.lua")

M.read = require("helpers.certs").read

function M.load_rockspec(path)
  local env = {}
  local src = M.read(path)
  local chunk
  if setfenv then
    chunk = assert(loadstring(src, path))
    setfenv(chunk, env)
  else
    chunk = assert(load(src, path, "t", env))
  end
  chunk()
  return env
end

M.plain = { LD_PRELOAD = false, ASAN_OPTIONS = false, LSAN_OPTIONS = false, UBSAN_OPTIONS = false }

function M.rocks_version(flavour)
  if flavour == "luajit" then return "5.1" end
  return (flavour:gsub("^lua", ""))
end

local UNVERSIONED = {}
for k, v in pairs(M.plain) do UNVERSIONED[k] = v end
UNVERSIONED.LUA_PATH, UNVERSIONED.LUA_CPATH = false, false
for _, v in ipairs({ "5_1", "5_2", "5_3", "5_4" }) do
  UNVERSIONED["LUA_PATH_" .. v], UNVERSIONED["LUA_CPATH_" .. v] = false, false
end

-- Where an interpreter (default: the one running the specs) finds lua-cjson: the
-- entry of its default package.cpath that holds it.
local cjson_at = {}
function M.cjson_cpath(lua)
  lua = lua or cmd.flavour
  if cjson_at[lua] then return cjson_at[lua] end
  local code, cpath = cmd.run({ lua, "-e", "io.write(package.cpath)" }, UNVERSIONED)
  assert(code == 0, lua .. " did not run")
  for template in cpath:gmatch("[^;]+") do
    local f = io.open((template:gsub("%?", "cjson")), "rb")
    if f then
      f:close()
      cjson_at[lua] = template
      return template
    end
  end
  error("lua-cjson not found on " .. lua .. "'s " .. cpath)
end

-- One tree's modules and lua-cjson, nothing else (other graphcomm installs on this
-- machine must not stand in for the tree's); the versioned variables, which Lua
-- 5.3/5.4 would read instead, unset.
function M.lua_env(share, lib, lua)
  local env = {}
  for k, v in pairs(UNVERSIONED) do env[k] = v end
  env.LUA_PATH = share .. "/?.lua;" .. share .. "/?/init.lua"
  env.LUA_CPATH = lib .. "/?.so;" .. M.cjson_cpath(lua)
  return env
end

function M.files(dir)
  local out, p = {}, assert(io.popen("cd " .. cmd.quote(dir) .. " && find . -type f | sort"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

return M
