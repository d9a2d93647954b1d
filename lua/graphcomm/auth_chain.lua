-- graphcomm.auth_chain: which credential a connect uses, in one documented order:
--   1. explicit options (token, client_secret, client_certificate, federated_token_file,
--      managed_identity, azure_cli; in that order when several are given)
--   2. GRAPHCOMM_TOKEN
--   3. AZURE_CLIENT_SECRET, then AZURE_CLIENT_CERTIFICATE_PATH, then
--      AZURE_FEDERATED_TOKEN_FILE (each with AZURE_TENANT_ID and AZURE_CLIENT_ID)
--   4. managed identity, only when enabled (GRAPHCOMM_MANAGED_IDENTITY=1 or imds)
--   5. the Azure CLI, only when enabled (GRAPHCOMM_AZURE_CLI=1)
-- Every source looked at and why it was passed over is kept (chain.tried(opts)) for the
-- "no credentials" error. No value of a variable is written there, only its name.
--
--   chain.resolve(opts, getenv) -> a copy of opts with the chosen credential filled in

local pairs, type, setmetatable = pairs, type, setmetatable
local string_lower = string.lower

local M = {}

M.EXPLICIT = { "token", "client_secret", "client_certificate", "federated_token_file",
  "managed_identity", "azure_cli" }

local TRIED = setmetatable({}, { __mode = "k" })   -- resolved table -> reasons

function M.tried(opts) return TRIED[opts] end

local function nonempty(v)
  if v == nil or v == "" then return nil end
  return v
end

local function flag(v)
  if v == nil then return nil end
  local l = string_lower(v)
  if l == "1" or l == "true" or l == "yes" then return true end
  if l == "0" or l == "false" or l == "no" then return false end
  return l
end

-- What managed identity, the Azure CLI and the file cache read from the environment.
local function platform_env(env)
  return {
    identity_endpoint = env("IDENTITY_ENDPOINT"), identity_header = env("IDENTITY_HEADER"),
    pod_identity_host = env("AZURE_POD_IDENTITY_AUTHORITY_HOST"), client_id = env("AZURE_CLIENT_ID"),
    cli_path = env("GRAPHCOMM_AZURE_CLI_PATH"),
    xdg_cache_home = env("XDG_CACHE_HOME"), home = env("HOME"),
  }
end

-- One AZURE_* credential: chosen when its variable and the ids are all there.
local function azure_source(out, env, tried, var, apply)
  if not env(var) then
    tried[#tried + 1] = var .. ": not set"
    return false
  end
  local missing = {}
  if not out.tenant_id then missing[#missing + 1] = "AZURE_TENANT_ID" end
  if not out.client_id then missing[#missing + 1] = "AZURE_CLIENT_ID" end
  if #missing > 0 then
    tried[#tried + 1] = var .. ": set, but " .. table.concat(missing, " and ") .. " not"
    return false
  end
  apply(env(var))
  return true
end

local function enabled(out, env, tried, var, option, what)
  local v = flag(env(var))
  if v == true or (option == "managed_identity" and v == "imds") then
    if v == "imds" then out._env.default_imds = true end
    out[option] = true
    return true
  end
  if v == nil or v == false then
    tried[#tried + 1] = what .. ": not enabled (" .. option .. " = true or " .. var .. "=1)"
  else
    tried[#tried + 1] = what .. ": " .. var .. " has a value graphcomm does not understand"
      .. (option == "managed_identity" and " (1, true, imds, 0 or false)" or " (1, true, 0 or false)")
  end
  return false
end

local function from_environment(out, env, tried)
  local token = env("GRAPHCOMM_TOKEN")
  if token then out.token = token; return end
  tried[#tried + 1] = "GRAPHCOMM_TOKEN: not set"
  if azure_source(out, env, tried, "AZURE_CLIENT_SECRET", function(v) out.client_secret = v end) then
    return
  end
  if azure_source(out, env, tried, "AZURE_CLIENT_CERTIFICATE_PATH", function(v)
    out.client_certificate = v
    out.client_certificate_password = out.client_certificate_password
      or env("AZURE_CLIENT_CERTIFICATE_PASSWORD")
    local chain = flag(env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"))
    if out.send_certificate_chain == nil and chain == true then out.send_certificate_chain = true end
  end) then return end
  if azure_source(out, env, tried, "AZURE_FEDERATED_TOKEN_FILE", function(v)
    out.federated_token_file = v
  end) then return end
  if enabled(out, env, tried, "GRAPHCOMM_MANAGED_IDENTITY", "managed_identity", "managed identity") then
    return
  end
  enabled(out, env, tried, "GRAPHCOMM_AZURE_CLI", "azure_cli", "Azure CLI")
end

-- Fills unset credential options from the environment. Returns a copy.
function M.resolve(opts, getenv)
  getenv = getenv or os.getenv
  local out = {}
  for k, v in pairs(opts or {}) do out[k] = v end
  local env = function(name)
    local v = getenv(name)
    if type(v) ~= "string" then return nil end
    return nonempty(v)
  end
  out.authority = nonempty(out.authority) or env("AZURE_AUTHORITY_HOST")
  out.tenant_id = out.tenant_id or env("AZURE_TENANT_ID")
  out.client_id = out.client_id or env("AZURE_CLIENT_ID")
  out._env = platform_env(env)
  if out.token_cache == nil then
    local c = flag(env("GRAPHCOMM_TOKEN_CACHE"))
    if c == true or c == "file" then out.token_cache = true end
  end
  local tried = {}
  TRIED[out] = tried
  for _, k in pairs(M.EXPLICIT) do
    if out[k] ~= nil then return out end
  end
  tried[1] = "explicit options: none given"
  from_environment(out, env, tried)
  return out
end

return M
