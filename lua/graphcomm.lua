-- graphcomm: update Microsoft Graph call-record sessions from Lua (the public facade).
--
--   local graphcomm = require "graphcomm"
--   local client = assert(graphcomm.connect{ token = os.getenv("GRAPH_TOKEN") })
--   assert(client:update_session(call_record_id, session_id, { modalities = { "audio" } }))
--
--   graphcomm.session(tbl [, opts])  -> session object | nil, err     (docs/contract.md section 2)
--   graphcomm.null                    JSON null (clears a nullable property)
--   graphcomm.connect(opts)           -> client | nil, err             (section 3)
--   graphcomm.update_session(...)     the update on a default client from the environment
--   graphcomm.diff(old, new)          from graphcomm.diff, loaded on first use (section 4)
-- Other modules hang functions here by adding a line to LAZY: name -> module, whose
-- field of that name (or the module itself, when it is a function) is used.

local type, rawset, setmetatable, select, error = type, rawset, setmetatable, select, error

local core = require "graphcomm.core"
local client = require "graphcomm.client"
local errors = require "graphcomm.errors"

local M = {
  version = core.version,
  null = core.null,
  connect = client.connect,
  errors = errors,
}

function M.session(tbl, opts)
  return core.session(tbl, opts)
end

------------------------------------------------------------------------------
-- The default client (GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN, AZURE_*, ...)
------------------------------------------------------------------------------

local default

-- Built on first use and kept; built again after a failure or after it was closed.
function M.default_client()
  if default and not client.is_closed(default) then return default end
  local c, err = client.connect()
  if not c then return nil, err end
  default = c
  return c
end

function M.update_session(...)
  if select("#", ...) == 0 then
    error("bad argument #1 to 'update_session' (table expected, got no value)", 2)
  end
  local c, err = M.default_client()
  if not c then return nil, err end
  return c:update_session(...)
end

------------------------------------------------------------------------------
-- Functions other modules provide, loaded on first use
------------------------------------------------------------------------------

local LAZY = { diff = "graphcomm.diff" }
M.LAZY = LAZY

return setmetatable(M, { __index = function(t, name)
  local mod = LAZY[name]
  if not mod then return nil end
  local m = require(mod)
  local v = m
  if type(m) == "table" then v = m[name] end
  rawset(t, name, v)
  return v
end })
