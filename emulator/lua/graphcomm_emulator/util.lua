-- graphcomm_emulator.util: what every handler needs: Graph error bodies, ids, times.

local json = require "graphcomm_emulator.json"

local ngx = ngx
local format, sub, gsub, char, byte = string.format, string.sub, string.gsub, string.char, string.byte

local M = {}

M.CODES = {
  [400] = "BadRequest", [401] = "InvalidAuthenticationToken", [403] = "Forbidden", [404] = "NotFound",
  [405] = "MethodNotAllowed", [406] = "NotAcceptable", [409] = "Conflict", [411] = "LengthRequired",
  [412] = "PreconditionFailed", [413] = "RequestEntityTooLarge", [414] = "RequestUriTooLong",
  [415] = "UnsupportedMediaType", [424] = "FailedDependency", [429] = "TooManyRequests",
  [500] = "InternalServerError", [501] = "NotImplemented", [502] = "BadGateway",
  [503] = "ServiceUnavailable", [504] = "GatewayTimeout",
}

M.MESSAGES = {
  [429] = "Too many requests. Please retry after the time given in the Retry-After header.",
  [503] = "The service is temporarily unavailable. Please retry later.",
  [504] = "The gateway timed out waiting for the service.",
  [500] = "An internal server error occurred.",
}

-- 32 hex digits (nginx's $request_id, or random ones) as a GUID.
function M.guid(hex)
  hex = hex or M.random_hex(16)
  local variant = sub("89ab", tonumber(sub(hex, 17, 17), 16) % 4 + 1, tonumber(sub(hex, 17, 17), 16) % 4 + 1)
  return format("%s-%s-4%s-%s%s-%s", sub(hex, 1, 8), sub(hex, 9, 12), sub(hex, 14, 16),
    variant, sub(hex, 18, 20), sub(hex, 21, 32))
end

function M.random_hex(nbytes)
  local t = {}
  for i = 1, nbytes do t[i] = format("%02x", math.random(0, 255)) end
  return table.concat(t)
end

-- Graph's innerError.date: UTC without an offset.
function M.graph_date(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", t or ngx.time())
end

-- The Graph error body, as JSON text.
function M.error_body(status, code, message, ids, details)
  local inner = json.object({ date = M.graph_date(), ["request-id"] = ids and ids.request_id or M.guid(),
    ["client-request-id"] = ids and ids.client_request_id or M.guid() },
    { "date", "request-id", "client-request-id" })
  local err = json.object({ code = code or M.CODES[status] or "UnknownError",
    message = message or M.MESSAGES[status] or "The request failed.", innerError = inner, details = details },
    { "code", "message", "details", "innerError" })
  return json.encode(json.object({ error = err }, { "error" }))
end

-- Percent-decoding of one path segment or query value.
function M.unescape(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

function M.escape(s)
  return (gsub(s, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

-- Splits "a=1&b=2" into a table of decoded values (the first value of a repeated name wins).
function M.parse_query(q)
  local args = {}
  if not q or q == "" then return args end
  for pair in string.gmatch(q, "[^&]+") do
    local k, v = string.match(pair, "^([^=]*)=?(.*)$")
    k = M.unescape((gsub(k, "+", " ")))
    if args[k] == nil then args[k] = M.unescape((gsub(v, "+", " "))) end
  end
  return args
end

return M
