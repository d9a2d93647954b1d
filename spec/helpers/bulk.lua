-- spec/helpers/bulk.lua: set-up the bulk specs share (update_sessions, $batch, the
-- journal, `graphcomm apply`, memory), against an emulator instance e (helpers.emulator).
--   local bulk = require "helpers.bulk"
--   bulk.connect(e, max_retry_delay [, extra]) -> client   (asserted)
--   bulk.new_record(e, n) -> { id =, sessionIds = { ... } }   a fresh record of n sessions
--   bulk.session_url(rec, k) -> "/v1.0/communications/callRecords/<id>/sessions/<k-th>"
--   bulk.items_for(rec, n [, body]) -> { { crid, sid, body }, ... }   one item a session
--   bulk.interpreter() -> "lua5.4" | "luajit" | ...   the Lua running the specs, for children
--   bulk.tmpdir() -> path; bulk.rmdir(path)   a scratch folder for a describe block
--   bulk.child(e, script, args) -> shell command   runs the Lua file script with this
--     run's module paths and e's environment (without ASan: the plain build beside it)
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"

local M = {}

function M.connect(e, max_retry_delay, extra)
  local opts = { base_url = e.base_url, token = e.token, max_retry_delay = max_retry_delay }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(graphcomm.connect(opts))
end

function M.new_record(e, n)
  return e:control("POST", "callRecords", { sessions = n })
end

function M.session_url(rec, k)
  return "/v1.0/communications/callRecords/" .. rec.id .. "/sessions/" .. rec.sessionIds[k]
end

function M.items_for(rec, n, body)
  local items = {}
  for k = 1, n do items[k] = { rec.id, rec.sessionIds[k], body or { modalities = { "audio" } } } end
  return items
end

function M.interpreter()
  if rawget(_G, "jit") then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

function M.child(e, script, args)
  local build = os.getenv("GRAPHCOMM_BUILD")
  local cpath = package.cpath
  local prefix = ""
  if build and build:find("%-san$") then
    cpath = cpath:gsub(build:gsub("%p", "%%%0"), (build:gsub("%-san$", "")))
    prefix = "env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS "
  end
  return prefix .. emu.env_prefix(e) .. M.interpreter() .. " -e "
    .. emu.shell_quote("package.path = " .. ("%q"):format(package.path)
      .. "; package.cpath = " .. ("%q"):format(cpath))
    .. " " .. emu.shell_quote(script) .. " " .. args
end

function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

function M.rmdir(dir)
  if dir then os.execute("rm -rf " .. dir) end
end

return M
