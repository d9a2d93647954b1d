-- spec/helpers/bulk.lua: set-up the bulk specs share (update_sessions, $batch, the
-- journal, `graphcomm apply`, memory), against an emulator instance e (helpers.emulator).
--   local bulk = require "helpers.bulk"
--   bulk.connect(e, max_retry_delay [, extra]) -> client   (asserted)
--   bulk.new_record(e, n) -> { id =, sessionIds = { ... } }   a fresh record of n sessions
--   bulk.session_url(rec, k) -> "/v1.0/communications/callRecords/<id>/sessions/<k-th>"
--   bulk.items_for(rec, n [, body]) -> { { crid, sid, body }, ... }   one item a session
--   bulk.interpreter() -> "lua5.4" | "luajit" | ...   the Lua running the specs, for children
--   bulk.tmpdir() -> path; bulk.rmdir(path)   a scratch folder for a describe block
local graphcomm = require "graphcomm"

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
