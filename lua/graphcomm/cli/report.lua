-- graphcomm.cli.report: what the command line says on stderr when something goes
-- wrong, in the user's terms (environment variables, commands), each problem with
-- what to do about it. Server and input text is shown with its control bytes escaped.
local controls = require("graphcomm.redact").controls

local type, ipairs, tostring = type, ipairs, tostring

local M = {}

M.OK, M.REFUSED, M.USAGE = 0, 1, 2

function M.say(stream, ...)
  stream:write(...)
  stream:write("\n")
end
local say = M.say

-- "graphcomm: <message>" (error values already say "graphcomm: ").
function M.complain(env, ...)
  local text = controls(table.concat({ ... }))
  if text:sub(1, 11) ~= "graphcomm: " then text = "graphcomm: " .. text end
  say(env.stderr, text)
end

function M.usage_error(env, command, message)
  say(env.stderr, "graphcomm", command and (" " .. command) or "", ": ", controls(message))
  say(env.stderr, "Try `graphcomm ", command and ("help " .. command) or "--help", "`.")
  return M.USAGE
end

-- A connection that could not be made, or whose certificate failed: what to check.
local UNREACHABLE = { couldnt_connect = true, couldnt_resolve_host = true,
  couldnt_resolve_proxy = true, timeout = true }
local TLS = { tls_verify = true, tls_connect = true, tls_ca_file = true }

local function base_url_note(env)
  local url = env.getenv("GRAPHCOMM_BASE_URL")
  return url and ("now " .. controls(url)) or "unset: https://graph.microsoft.com"
end

-- The hint lines for err, the first problems people meet (docs/cli.md "Errors people meet").
function M.hints(env, err)
  if type(err) ~= "table" and type(err) ~= "userdata" then return {} end
  if err.kind == "transport" and UNREACHABLE[err.code] then
    return { "check GRAPHCOMM_BASE_URL (" .. base_url_note(env) .. ") and that the service is"
      .. " running there (for the local emulator: `graphcomm emulator`, then its GRAPHCOMM_BASE_URL)" }
  end
  if err.kind == "transport" and TLS[err.code] then
    local ca = env.getenv("GRAPHCOMM_CA_FILE")
    return { "the server's certificate was not trusted: set GRAPHCOMM_CA_FILE to the PEM file"
      .. " of the CA that signed it" .. (ca and (" (now " .. controls(ca) .. ")") or "")
      .. "; `graphcomm emulator --tls` prints the one for the emulator" }
  end
  if err.status == 401 then
    return { "Graph refused the token (401): check that GRAPHCOMM_TOKEN (or the AZURE_* "
      .. "application) gives a token that has not expired (its exp claim), whose audience "
      .. "(aud) is the Graph host of GRAPHCOMM_BASE_URL (" .. base_url_note(env) .. "), with "
      .. "the CallRecords.Read.All application permission (an admin grants it)" }
  end
  if err.status == 403 then
    return { "Graph refused the request (403): the application needs the CallRecords.Read.All "
      .. "permission, granted by an admin, and updates need a tenant that allows them" }
  end
  return {}
end

local function hint(env, err)
  for _, line in ipairs(M.hints(env, err)) do say(env.stderr, "graphcomm: ", line) end
end
M.hint = hint

-- One line per problem: the validator's path and its message (which holds the hint).
-- -> the exit code.
function M.report(env, err)
  if type(err) == "table" or type(err) == "userdata" then
    if err.kind == "validation" and err.errors then
      say(env.stderr, "graphcomm: invalid session body:")
      for _, e in ipairs(err.errors) do
        local path = (e.path and e.path ~= "") and e.path or "(body)"
        say(env.stderr, "  ", controls(path), ": ", controls(tostring(e.message)))
      end
      return M.USAGE
    end
    M.complain(env, tostring(err))
    hint(env, err)
    return err.kind == "validation" and M.USAGE or M.REFUSED
  end
  M.complain(env, tostring(err))
  return M.REFUSED
end

-- connect's refusal, in CLI terms: "no credentials" names the variables to set.
M.CREDENTIALS = "set GRAPHCOMM_TOKEN to an access token for Microsoft Graph, or AZURE_TENANT_ID, "
  .. "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) for an "
  .. "application; GRAPHCOMM_MANAGED_IDENTITY=1 or GRAPHCOMM_AZURE_CLI=1 use those sign-ins "
  .. "(docs/credentials.md)"

function M.connect_failed(env, err, prefix)
  local text = tostring(err):gsub("^graphcomm: ", ""):gsub("^validation failed: ", "")
  if text:find("no credentials", 1, true) then
    say(env.stderr, prefix or "graphcomm: ", "no credentials: ", M.CREDENTIALS)
  else
    say(env.stderr, prefix or "graphcomm: ", "cannot connect: ", controls(text))
  end
  return M.USAGE
end

return M
