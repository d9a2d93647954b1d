-- spec/helpers/client.lua: set-up the client and reading specs share, against an
-- emulator instance e (helpers.emulator).
--   local clients = require "helpers.client"
--   clients.connect(e [, extra]) -> client       on e's base_url and token (asserted)
--   clients.ids(client) -> crid, sid             the first record and its first session
--   clients.first_ids(e) -> crid, sid            the same over a client of its own
--   clients.fresh(e)                             no faults, an empty request log (before_each)
--   clients.patches(e) -> { request, ... }       the PATCH requests in e's log, oldest first
local graphcomm = require "graphcomm"
local cjson = require "cjson.safe"

local M = {}

function M.connect(e, extra)
  local opts = { base_url = e.base_url, token = e.token }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(graphcomm.connect(opts))
end

function M.ids(client)
  local records = cjson.decode(assert(client:request{ path = "/communications/callRecords" }).body)
  local crid = records.value[1].id
  local sessions = cjson.decode(assert(client:request{
    path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
  return crid, sessions.value[1].id
end

function M.first_ids(e)
  local c = M.connect(e)
  local crid, sid = M.ids(c)
  c:close()
  return crid, sid
end

function M.patches(e)
  local out = {}
  for _, r in ipairs(e:requests()) do
    if r.method == "PATCH" then out[#out + 1] = r end
  end
  return out
end

function M.fresh(e)
  e:clear_faults()
  e:clear_requests()
end

return M
