-- graphcomm.auth_cli: the Azure CLI credential, used only when asked. Runs
--   az account get-access-token --resource <graph> --output json [--tenant <id>]
-- under `timeout`, and reads accessToken and expires_on (or expiresOn) from its output.
-- The command blocks the calling process while it runs: for scripts and the CLI,
-- not for nginx workers.
--
--   cli.settings(value, env) -> settings | nil, err   value: true | { path =, timeout = }
--   cli.fetcher(settings, resource, tenant_id, r, time) -> fetch

local type, tostring, tonumber, pairs, pcall = type, tostring, tonumber, pairs, pcall
local string_find, string_gsub, string_match, string_format, string_sub =
      string.find, string.gsub, string.match, string.format, string.sub

local util = require "graphcomm.auth_util"
local endpoint = require "graphcomm.auth_endpoint"

local auth_error, cjson = util.error, util.cjson

local M = {}

M.DEFAULT_PATH = "az"
M.DEFAULT_TIMEOUT = 10

local FIELDS = { path = true, timeout = true }

local function quote(s) return "'" .. string_gsub(s, "'", "'\\''") .. "'" end

function M.settings(value, env)
  env = env or {}
  if value ~= true and type(value) ~= "table" then
    return nil, auth_error("azure_cli must be true or a table { path =, timeout = }, got " .. type(value))
  end
  local t = value == true and {} or value
  for k in pairs(t) do
    if not FIELDS[k] then
      return nil, auth_error("azure_cli: unknown field " .. tostring(k) .. " (path, timeout)")
    end
  end
  local path, err = util.string_option(t.path, "azure_cli.path")
  if err then return nil, err end
  path = path or env.cli_path or M.DEFAULT_PATH
  if string_find(path, "[%c]") then return nil, auth_error("azure_cli.path has control characters in it") end
  local timeout = t.timeout == nil and M.DEFAULT_TIMEOUT or t.timeout
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 3600) then
    return nil, auth_error("azure_cli.timeout must be a number of seconds in (0, 3600]")
  end
  return { path = path, timeout = timeout }
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a") or ""
  f:close()
  return s
end

-- Runs the command line; returns its exit code, stdout and stderr.
local function run(line)
  local errfile = os.tmpname()
  local p = io.popen("{ " .. line .. "; } 2>" .. quote(errfile) .. "; echo \"__rc=$?\"", "r")
  if not p then
    os.remove(errfile)
    return nil
  end
  local out = p:read("*a") or ""
  p:close()
  local stderr = read_all(errfile)
  os.remove(errfile)
  local rc = tonumber(string_match(out, "__rc=(%d+)%s*$"))
  return rc, (string_gsub(out, "__rc=%d+%s*$", "")), stderr
end

-- The first line of what the CLI said, short (it may hold the token on success only).
local function first_line(text)
  local line = string_match(text or "", "^%s*([^\r\n]*)") or ""
  if #line > 300 then line = string_sub(line, 1, 300) .. "..." end
  return line
end

local function failure(s, rc, stderr, r)
  if rc == 127 or rc == 126 then
    return auth_error("Azure CLI not found or not executable: " .. s.path
      .. " (install it, or set azure_cli = { path = } / GRAPHCOMM_AZURE_CLI_PATH)")
  end
  if rc == 124 or rc == 137 then
    return auth_error(string_format("Azure CLI did not answer within %g s: %s", s.timeout, s.path))
  end
  if string_find(stderr, "az login", 1, true) or string_find(stderr, "not logged in", 1, true) then
    return auth_error("Azure CLI is not logged in: run az login (" .. first_line(stderr) .. ")", nil, r)
  end
  return auth_error("Azure CLI failed (exit " .. tostring(rc) .. "): " .. first_line(stderr), nil, r)
end

-- expiresOn is local time "YYYY-MM-DD HH:MM:SS[.ffffff]" (older CLIs give only that).
local function local_expiry(text)
  local y, mo, d, h, mi, sec = string_match(tostring(text),
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  return os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d),
    hour = tonumber(h), min = tonumber(mi), sec = tonumber(sec) })
end

local function read_output(out, r, time)
  local ok, body = pcall(cjson.decode, out)
  if not ok or type(body) ~= "table" or type(body.accessToken) ~= "string" then
    return nil, auth_error("Azure CLI gave no accessToken (is it an old version?)")
  end
  local token, err = util.check_token(body.accessToken, "accessToken from the Azure CLI")
  if not token then return nil, err end
  local expires_in
  if tonumber(body.expires_on) then
    expires_in = endpoint.lifetime({ expires_on = body.expires_on }, time)
  else
    local at = local_expiry(body.expiresOn)
    expires_in = at and (at - os.time()) or 300
  end
  return token, expires_in
end

function M.fetcher(s, resource, tenant_id, r, time)
  return function()
    local line = "timeout -k 2 " .. string_format("%g", s.timeout) .. " " .. quote(s.path)
      .. " account get-access-token --resource " .. quote(resource) .. " --output json"
    if tenant_id then line = line .. " --tenant " .. quote(tenant_id) end
    local rc, out, stderr = run(line)
    if rc == nil then return nil, auth_error("cannot run the Azure CLI: " .. s.path) end
    if rc ~= 0 then return nil, failure(s, rc, stderr, r) end
    return read_output(out, r, time)
  end
end

return M
