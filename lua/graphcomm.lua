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
--   graphcomm.diff(old, new)          the smallest PATCH body (graphcomm.diff, section 4)
--   graphcomm.rules                   fix rules: rules.load(path) (graphcomm.rules, docs/rules.md)
-- Every function is defined or named here: nothing is loaded behind the reader's back.

local select, error = select, error

local core = require "graphcomm.core"
local client = require "graphcomm.client"
local errors = require "graphcomm.errors"
local diff = require "graphcomm.diff"
local rules = require "graphcomm.rules"
local options = require "graphcomm.options"

local VERSION = require "graphcomm.version"

local M = {
  _VERSION = VERSION,
  version = VERSION,
  null = core.null,
  connect = client.connect,
  errors = errors,
  diff = diff.diff,
  rules = rules,
}

-- The options core.session reads; any other name raises (graphcomm.options).
M.SESSION_OPTIONS = { allow_unknown = "boolean", odata_type = "boolean", max_bytes = "number",
  type = "string" }

function M.session(tbl, opts)
  if opts ~= nil then opts = options.check(opts, M.SESSION_OPTIONS, "session", 2) end
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

return M
