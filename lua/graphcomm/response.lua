-- graphcomm.response: the only reader of Graph's answers and error bodies.
--
--   response.result(resp, req [, own]) -> true, info | nil, err
--     info = { status, headers, body, request_id, client_request_id, http_version }
--     err  = errors.http{ status, code, message, request_id, client_request_id,
--                         date, retry_after, headers, inner, body }
--   response.graph_error(resp) -> the decoded { code, message, innerError } | nil
--   response.utc_date(s) -> "YYYY-MM-DDTHH:MM:SSZ" for Graph's offset-less innerError.date

local type, tostring = type, tostring
local string_match, string_find, string_sub = string.match, string.find, string.sub

local cjson = require "cjson.safe"
local errors = require "graphcomm.errors"
local retry = require "graphcomm.retry"

local M = {}

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [412] = "Precondition Failed",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

-- Graph writes innerError.date without an offset, meaning UTC: say so explicitly.
function M.utc_date(s)
  if type(s) ~= "string" then return nil end
  local base, frac = string_match(s, "^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)(%.?%d*)$")
  if base then return base .. frac .. "Z" end
  return s    -- already has an offset, or an unknown shape: keep as given
end

function M.graph_error(resp)
  local body = resp.body
  if type(body) ~= "string" or not string_find(body, "^%s*{") then return nil end
  local doc = cjson.decode(body)
  local e = type(doc) == "table" and doc.error
  if type(e) ~= "table" then return nil end
  return e
end

local function str(v)
  if type(v) == "string" or type(v) == "number" then return tostring(v) end
  return nil
end

-- A refusal of a session update reads as what it is: the documented state of the API.
local function hint(status, req)
  if (status == 403 or status == 405) and req and req.method == "PATCH"
     and string_find(req.url or "", "/sessions/", 1, true) then
    return " (Graph documents call-record sessions as read-only)"
  end
  return ""
end

local function http_error(resp, req)
  local status, headers = resp.status, resp.headers or {}
  local e = M.graph_error(resp) or {}
  local inner = type(e.innerError) == "table" and e.innerError
    or type(e.innererror) == "table" and e.innererror or {}
  local message = str(e.message)
  if not message or message == "" then
    local text = type(resp.body) == "string" and string_sub(resp.body, 1, 200) or ""
    message = (REASONS[status] or ("HTTP " .. tostring(status)))
      .. (text ~= "" and not string_find(text, "^%s*<") and (": " .. text) or "")
  end
  return errors.http(message .. hint(status, req), {
    status = status,
    code = str(e.code) or (REASONS[status] and (string.gsub(REASONS[status], " ", ""))),
    request_id = str(inner["request-id"]) or headers["request-id"],
    client_request_id = str(inner["client-request-id"]) or headers["client-request-id"]
      or (req and req.client_request_id),
    date = M.utc_date(str(inner.date)),
    retry_after = retry.retry_after(headers["retry-after"]),
    headers = headers,
    inner = inner,
    body = resp.body,
  })
end

-- A result's info is a plain table with its headers in it (pairs and cjson.encode see
-- every field). own: resp is the client's libcurl transport's, a table made for this
-- answer that nobody else holds, without head (transport.lua): it becomes the info
-- itself, one table less per request (bench/PROFILE.md); its ids came from the same
-- pass as its headers (csrc/http/response.c).
function M.result(resp, req, own)
  local status = resp.status
  if status >= 200 and status < 300 then
    if own then
      resp.new_connections = nil
      if resp.client_request_id == nil then resp.client_request_id = req and req.client_request_id end
      return true, resp
    end
    local headers = resp.headers
    return true, { status = status, headers = headers, body = resp.body,
      request_id = headers["request-id"],
      client_request_id = headers["client-request-id"] or (req and req.client_request_id),
      http_version = resp.http_version }
  end
  return nil, http_error(resp, req)
end

return M
