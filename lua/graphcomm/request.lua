-- graphcomm.request: the only place that knows Graph's URL shapes and headers.
--
--   request.prepare(cfg) -> cfg | nil, err      checks base URL and constant headers once,
--                                               caches the URL prefix and header lines
--   request.build(cfg, spec, authorization) -> req | nil, err
--   request.session_path(crid, sid) -> "/communications/callRecords/{crid}/sessions/{sid}" | nil, err
--   request.check_url(url) -> scheme, host, port | nil, err   (https, or http to loopback)
--   request.same_origin(a, b), request.header_map(req), request.encode_id(s), request.query(q)
--
-- spec = { method, path = "/communications/..." | url = absolute, query = {...},
--          body = json string | nil, headers = { [name] = value }, client_request_id }
-- req  = { method, url, headers = { "Name: value", ... }, body, timeout, connect_timeout,
--          client_request_id }                     (the transport interface, HACKING.md)

local type, pairs, ipairs, tostring, tonumber, next, rawget =
      type, pairs, ipairs, tostring, tonumber, next, rawget
local string_find, string_format, string_gsub, string_lower, string_match, string_byte,
      string_sub = string.find, string.format, string.gsub, string.lower, string.match,
      string.byte, string.sub
local table_sort, table_concat = table.sort, table.concat

local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local uuid4 = core.uuid4

local M = {}

local SDK_NAME = "graphcomm-lua"
local VERSION = require "graphcomm.version"

------------------------------------------------------------------------------
-- URLs
------------------------------------------------------------------------------

local function pct(c) return string_format("%%%02X", string_byte(c)) end

-- RFC 3986 unreserved characters stay; everything else is percent-encoded
-- (core.encode_id, in C: a Lua pattern over two ids was a tenth of an update on Lua 5.4).
local encode_id, encoded_path = core.encode_id, core.path
M.encode_id = encode_id

-- core.path holds the one rule for ids (csrc/lua/util.c refused_id): it gives nil, the
-- id's position and why for an id that may not go into a path. This names the id in
-- the error, and calls again with a number's text (as tostring gives it).
local REFUSED = {
  type = function(what, v)
    return what .. " must be a string, got " .. type(v), "must be a string"
  end,
  empty = function(what) return what .. " is empty", "must not be empty" end,
  dot = function(what, v) return what .. " must not be " .. v, "must not be . or .." end,
}

-- The path when core.path refused an id (names[position / 2] is its name). The paths
-- below pass literal texts and take core.path's first value only; upvalue texts and
-- three values each measured about 1,000 instructions more an update on LuaJIT
-- (bench/profile.sh). So this asks core.path again for the position and why.
local function path_of(t1, v1, t2, v2)
  if t2 == nil then return encoded_path(t1, v1) end
  return encoded_path(t1, v1, t2, v2)
end

local function refused_path(names, t1, v1, t2, v2)
  local p, at, why = path_of(t1, v1, t2, v2)
  while why == "number" do
    if at == 2 then v1 = tostring(v1) else v2 = tostring(v2) end
    p, at, why = path_of(t1, v1, t2, v2)
  end
  if p then return p end
  local what = names[at / 2]
  local message, short = REFUSED[why](what, at == 2 and v1 or v2)
  return nil, errors.validation(message, { errors = { { path = what, message = short } } })
end

-- The paths of graphcomm's ids: the common update's two ids take one C call.
local SESSION, RECORD, SUBSCRIPTION = { "CallRecordId", "SessionId" }, { "CallRecordId" }, { "id" }

function M.session_path(crid, sid)
  local p = encoded_path("/communications/callRecords/", crid, "/sessions/", sid)
  if p then return p end
  return refused_path(SESSION, "/communications/callRecords/", crid, "/sessions/", sid)
end

-- The call record's path (graphcomm.read), with session_path's encoding and refusals.
function M.record_path(crid)
  local p = encoded_path("/communications/callRecords/", crid)
  if p then return p end
  return refused_path(RECORD, "/communications/callRecords/", crid)
end

-- A change-notification subscription's path (graphcomm.subscriptions), encoded alike.
function M.subscription_path(id)
  local p = encoded_path("/subscriptions/", id)
  if p then return p end
  return refused_path(SUBSCRIPTION, "/subscriptions/", id)
end

-- Plain finds (memchr-like) rather than a character class: this reads the token on
-- every request, and a Graph token is one to two kilobytes.
local function bad_value(v)
  return string_find(v, "\r", 1, true) ~= nil or string_find(v, "\n", 1, true) ~= nil
    or string_find(v, "\0", 1, true) ~= nil
end

local DEFAULT_PORT = { http = 80, https = 443 }

-- scheme, host (lower case, no brackets), port (number) of an absolute URL.
local function parse_url(url)
  local scheme, authority = string_match(url, "^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return nil end
  scheme = string_lower(scheme)
  if string_find(authority, "@", 1, true) then return nil end   -- no userinfo in URLs
  local host, port = string_match(authority, "^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = string_match(authority, "^([^:]+):?(%d*)$") end
  if not host then return nil end
  port = tonumber(port) or DEFAULT_PORT[scheme]
  return scheme, string_lower(host), port
end
M.parse_url = parse_url

local function is_loopback(host)
  return host == "localhost" or host == "::1" or string_find(host, "^127%.%d+%.%d+%.%d+$") ~= nil
end
M.is_loopback = is_loopback

-- https anywhere; plain http only to a loopback host (docs/contract.md section 8).
-- A CR, LF or NUL anywhere is refused: libcurl would send a URL cut at the NUL.
function M.check_url(url)
  local scheme, host, port = parse_url(url)
  if not scheme or not port then
    return nil, errors.validation("not an absolute http(s) URL: " .. tostring(url))
  end
  if bad_value(url) then return nil, errors.validation("the URL contains CR, LF or NUL") end
  if scheme == "http" and not is_loopback(host) then
    return nil, errors.validation("plain http is refused for " .. host
      .. " (https required; http only to loopback)")
  end
  if scheme ~= "http" and scheme ~= "https" then
    return nil, errors.validation("unsupported URL scheme: " .. scheme)
  end
  return scheme, host, port
end

function M.same_origin(a, b)
  local s1, h1, p1 = parse_url(a)
  local s2, h2, p2 = parse_url(b)
  return s1 ~= nil and s1 == s2 and h1 == h2 and p1 == p2
end

-- Resolves a Location header against the URL it answered.
function M.resolve(base, location)
  if string_find(location, "^%a[%w+.-]*://") then return location end
  local scheme, authority = string_match(base, "^(%a[%w+.-]*:)//([^/?#]*)")
  if string_sub(location, 1, 2) == "//" then return scheme .. location end
  if string_sub(location, 1, 1) == "/" then return scheme .. "//" .. authority .. location end
  local dir = string_match(base, "^([^?#]*/)") or (scheme .. "//" .. authority .. "/")
  return dir .. location
end

-- Query values keep OData's punctuation readable; spaces and the rest are encoded.
local function encode_query_value(v)
  return (string_gsub(tostring(v), "[^%w%-%._~%$%(%),;=:@'!%*/]", pct))
end

local QUERY_ORDER = { "select", "expand", "filter", "search", "orderby", "top", "skip", "count" }
local QUERY_RANK = {}
for i, k in ipairs(QUERY_ORDER) do QUERY_RANK[k] = i end

-- { select = "id", top = 10 } -> "?$select=id&$top=10" (names with or without "$").
function M.query(q)
  if q == nil or next(q) == nil then return "" end
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = string_gsub(string_lower(tostring(k)), "^%$", "") end
  table_sort(keys, function(a, b)
    local ra, rb = QUERY_RANK[a] or 100, QUERY_RANK[b] or 100
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = q[k]
    if v == nil then v = q["$" .. k] end
    if v == nil then    -- a differently-cased key
      for qk, qv in pairs(q) do
        if string_gsub(string_lower(tostring(qk)), "^%$", "") == k then v = qv end
      end
    end
    local name = QUERY_RANK[k] and ("$" .. k) or encode_query_value(k)
    parts[i] = name .. "=" .. encode_query_value(v)
  end
  return "?" .. table_concat(parts, "&")
end

------------------------------------------------------------------------------
-- Headers
------------------------------------------------------------------------------

local function check_header(name, value)
  if type(name) ~= "string" or not string_find(name, "^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") then
    return nil, errors.validation("invalid header name: " .. tostring(name),
      { errors = { { path = "headers", message = "invalid header name" } } })
  end
  if type(value) == "number" then value = tostring(value) end
  if type(value) ~= "string" then
    return nil, errors.validation("header " .. name .. " must be a string",
      { errors = { { path = "headers." .. name, message = "must be a string" } } })
  end
  if bad_value(value) then
    return nil, errors.validation("header " .. name .. " contains CR, LF or NUL",
      { errors = { { path = "headers." .. name, message = "contains CR, LF or NUL" } } })
  end
  return value
end
M.check_header = check_header
M.bad_value = bad_value

local function runtime()
  if rawget(_G, "jit") then
    local v = string_match(_G.jit.version or "", "LuaJIT (%d+%.%d+)")
    return "LuaJIT " .. (v or "2.1")
  end
  return _VERSION
end

function M.sdk_version()
  return SDK_NAME .. "/" .. VERSION .. " (hostOS=linux; runtimeEnvironment=" .. runtime() .. ")"
end

function M.user_agent()
  return SDK_NAME .. "/" .. VERSION
end

-- Header names the caller cannot set through cfg.headers: they are the library's.
local MANAGED = { authorization = true, ["content-length"] = true, host = true }

-- Checks base URL and headers once and caches what every request repeats:
-- cfg.prefix ("{base}/{version}") and cfg.header_lines ("Name: value" lines).
function M.prepare(cfg)
  local base = string_gsub(cfg.base_url, "/+$", "")
  local ok, err = M.check_url(base)
  if not ok then return nil, err end
  cfg.prefix = base .. "/" .. cfg.api_version
  local values = { Accept = "application/json", SdkVersion = M.sdk_version(),
    ["User-Agent"] = cfg.user_agent or M.user_agent() }
  local order = { "Accept", "SdkVersion", "User-Agent" }
  for name, value in pairs(cfg.headers or {}) do
    local v
    v, err = check_header(name, value)
    if not v then return nil, err end
    local lname = string_lower(name)
    if MANAGED[lname] then
      return nil, errors.validation("header " .. name .. " is set by graphcomm")
    end
    if lname == "client-request-id" then
      cfg.client_request_id = v
    else
      local known
      for _, o in ipairs(order) do
        if string_lower(o) == lname then known = o end
      end
      if not known then order[#order + 1] = name; known = name end
      values[known] = v
    end
  end
  local lines = {}
  for i, name in ipairs(order) do lines[i] = name .. ": " .. values[name] end
  cfg.header_lines = lines
  return cfg
end

-- Per-request headers: a caller's client-request-id is taken as the request's id.
local function add_spec_headers(h, n, headers, id)
  for name, value in pairs(headers) do
    local v, err = check_header(name, value)
    if not v then return nil, err end
    local lname = string_lower(name)
    if MANAGED[lname] then
      return nil, errors.validation("header " .. name .. " is set by graphcomm")
    end
    if lname == "client-request-id" then
      id = v
    else
      -- A per-request value replaces a constant line of the same name.
      for i = 1, n do
        local line = h[i]
        local sep = string_find(line, ":", 1, true)
        if sep and string_lower(string_sub(line, 1, sep - 1)) == lname then
          h[i] = h[n]; h[n] = nil; n = n - 1
          break
        end
      end
      n = n + 1
      h[n] = name .. ": " .. v
    end
  end
  return n, id
end

------------------------------------------------------------------------------
-- The request
------------------------------------------------------------------------------

-- The lines every request of this kind starts with: Authorization (for this token)
-- or none, the constant lines, Content-Type when a body goes along; then false, a
-- slot the next line takes (the list never grows for the client-request-id line).
-- Cached in cfg per token (cfg.lead, reset when the token changes).
local CONTENT_TYPE = "Content-Type: application/json"

-- k: the slot in cfg.lead, 1 + (authorized and 2 or 0) + (with_body and 1 or 0) (M.build).
local function leading_lines(cfg, k, authorized, with_body)
  local lead = cfg.lead
  if not lead then lead = {}; cfg.lead = lead end
  local lines = lead[k]
  if lines then return lines end
  lines = {}
  if authorized then lines[1] = cfg.authz_line end
  for _, line in ipairs(cfg.header_lines) do lines[#lines + 1] = line end
  if with_body then lines[#lines + 1] = CONTENT_TYPE end
  lines[#lines + 1] = false
  lead[k] = lines
  return lines
end

local CREDENTIAL_HEADERS = { authorization = true, cookie = true, ["proxy-authorization"] = true }

local function header_name(line)
  return string_lower(string_match(line, "^([^:]*)"))
end

-- After a redirect to another origin: no Cookie or Proxy-Authorization either.
local function strip_credentials(h, n)
  local out, m = {}, 0
  for i = 1, n do
    if not CREDENTIAL_HEADERS[header_name(h[i])] then m = m + 1; out[m] = h[i] end
  end
  return out, m
end

-- authorization: the full header value ("Bearer ..."), or nil to send none.
-- Besides the fields above, spec may carry what the client's loop sets per attempt:
-- retry_attempt (n > 0 adds Retry-Attempt), gzip (compress the body),
-- cross_origin (drop Authorization, Cookie, Proxy-Authorization: a redirect elsewhere).
function M.build(cfg, spec, authorization)
  local url = spec.url
  if url then
    local ok, err = M.check_url(url)
    if not ok then return nil, err end
  else
    url = cfg.prefix .. spec.path
  end
  if spec.query then url = url .. M.query(spec.query) end
  local authorized = authorization and not spec.cross_origin
  if authorized and authorization ~= cfg.authz_value then
    -- The line is checked and built once per token, not once per request.
    if bad_value(authorization) then
      return nil, errors.auth("the token contains CR, LF or NUL")
    end
    cfg.authz_value, cfg.authz_line = authorization, "Authorization: " .. authorization
    cfg.lead = nil
  end
  local body = spec.body
  -- leading_lines' cache, looked up here: one call less on every request.
  local k = (authorized and 2 or 0) + (body ~= nil and 1 or 0) + 1
  local lead = cfg.lead
  lead = lead and lead[k] or leading_lines(cfg, k, authorized, body ~= nil)
  -- One constructor, sized once: the constant lines and a slot for the next one (by
  -- index, not unpack: LuaJIT cannot compile unpack, and its trace stopped there).
  local h = { lead[1], lead[2], lead[3], lead[4], lead[5], lead[6], lead[7], lead[8] }
  local n = #lead - 1
  for i = 9, n + 1 do h[i] = lead[i] end   -- more constant headers than that
  if body then
    if spec.gzip then
      body = core.gzip(body)
      n = n + 1
      h[n] = "Content-Encoding: gzip"
    end
  end
  local id = spec.client_request_id or cfg.client_request_id
  if spec.headers then
    n, id = add_spec_headers(h, n, spec.headers, id)
    if not n then return nil, id end
  end
  if spec.cross_origin then h, n = strip_credentials(h, n) end
  if spec.retry_attempt and spec.retry_attempt > 0 then
    n = n + 1
    h[n] = "Retry-Attempt: " .. spec.retry_attempt
  end
  local line
  if id == nil then
    id, line = uuid4("client-request-id: ")
  elseif type(id) ~= "string" or bad_value(id) then
    return nil, errors.validation("client-request-id must be a string without CR, LF or NUL")
  else
    line = "client-request-id: " .. id
  end
  h[n + 1] = line
  return { method = spec.method or "GET", url = url, headers = h, body = body,
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout, client_request_id = id }
end

-- { "Name: value", ... } -> { Name = value }, the Authorization value redacted.
function M.header_map(req)
  local out = {}
  for _, line in ipairs(req.headers) do
    local name, value = string_match(line, "^([^:]+):%s*(.*)$")
    if name then
      if string_lower(name) == "authorization" then value = "Bearer <redacted>" end
      out[name] = value
    end
  end
  return out
end

return M
