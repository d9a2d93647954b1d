-- spec/helpers/release.lua: what the release, install and types specs share.
--
--   release.version                 lua/graphcomm/version.lua's string
--   release.load_rockspec(path)     -> the rockspec's table (loaded as luarocks does: no globals)
--   release.read(path)              -> the file's text (raises when there is none)
--   release.plain                   env for cmd.run: children run without the ASan preload
--   release.rocks_version(flavour)  "5.4", "5.1" for LuaJIT ...
--   release.lua_env(share, lib)     env for cmd.run: LUA_PATH/LUA_CPATH with one tree first
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

-- One tree's module paths first, then Lua's defaults (lua-cjson); the versioned
-- variables, which Lua 5.3/5.4 would read instead, unset.
function M.lua_env(share, lib)
  local env = { LUA_PATH = share .. "/?.lua;" .. share .. "/?/init.lua;;", LUA_CPATH = lib .. "/?.so;;" }
  for k, v in pairs(M.plain) do env[k] = v end
  for _, v in ipairs({ "5_1", "5_2", "5_3", "5_4" }) do
    env["LUA_PATH_" .. v], env["LUA_CPATH_" .. v] = false, false
  end
  return env
end

function M.files(dir)
  local out, p = {}, assert(io.popen("cd " .. cmd.quote(dir) .. " && find . -type f | sort"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

return M
