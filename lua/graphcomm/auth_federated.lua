-- graphcomm.auth_federated: workload identity federation. The platform (AKS, a CI
-- runner) writes a token to a file and rotates it; that token is the client assertion
-- of a client-credentials request. The file is read again when the token it gave is
-- near its own expiry (or has no readable expiry).
--
--   federated.assertion(path, time) -> function() -> jwt | nil, err
-- (the token is scrubbed from errors by the per-request set of auth_endpoint.assertion_proof)

local type, tonumber = type, tonumber
local string_gsub = string.gsub

local util = require "graphcomm.auth_util"

local auth_error = util.error

local M = {}

M.MARGIN = 300   -- seconds before the federated token's exp at which the file is read again

local function read_token(path)
  local text, err = util.read_file(path, "federated token file " .. path)
  if not text then return nil, err end
  local token = string_gsub(text, "^%s+", "")
  token = string_gsub(token, "%s+$", "")
  if token == "" then return nil, auth_error("the federated token file " .. path .. " is empty") end
  return util.check_token(token, "the token in " .. path)
end

function M.assertion(path, time)
  local held, exp
  return function()
    if held and exp and time() < exp - M.MARGIN then return held end
    local token, err = read_token(path)
    if not token then return nil, err end
    local claims = util.jwt_claims(token)
    held, exp = token, claims and tonumber(claims.exp)
    if exp and time() >= exp then
      held = nil
      return nil, auth_error("the federated token in " .. path .. " has expired (the platform"
        .. " did not rotate it)")
    end
    return token
  end
end

-- Checks the file at connect time: it must be readable now.
function M.check(path)
  if type(path) ~= "string" or path == "" then
    return nil, auth_error("federated_token_file must be a file path")
  end
  local token, err = read_token(path)
  if not token then return nil, err end
  return true
end

return M
