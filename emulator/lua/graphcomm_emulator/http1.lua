-- graphcomm_emulator.http1: the emulator's own small HTTP/1.1 client, for the requests
-- Graph makes to a subscriber (validation handshakes, change and lifecycle notifications).
-- Debian 12 has no lua-resty-http, so it is ngx.socket.tcp: one request per connection
-- (Connection: close), a Content-Length or chunked answer, one timeout for the whole
-- exchange. It only ever connects to a loopback address: loopback() says which URLs.
--
--   http1.loopback(url) -> { scheme, host, port, target } | nil, why
--   http1.request{ url =, method =, headers = { name = value }, body =, timeout_ms = }
--     -> { status, headers = { lower-case name = value }, body, ms }, nil, ms | nil, why, ms

local ngx = ngx
local match, lower, format, find, sub = string.match, string.lower, string.format, string.find, string.sub
local concat, tonumber, pairs = table.concat, tonumber, pairs

local M = {}

M.MAX_BODY = 1024 * 1024     -- a receiver's answer is read up to this, then refused

local function is_loopback(host)
  return host == "localhost" or host == "[::1]" or find(host, "^127%.%d+%.%d+%.%d+$") ~= nil
end

-- Splits an http(s) URL whose host is loopback; anything else is refused.
function M.loopback(url)
  if type(url) ~= "string" then return nil, "the URL is not a string" end
  local scheme, authority, target = match(url, "^(%a[%w+.-]*)://([^/?#]*)([^#]*)")
  if not scheme then return nil, "not an absolute URL" end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return nil, "the scheme must be http or https" end
  local host, port = match(authority, "^(%[[^%]]+%]):?(%d*)$")
  if not host then host, port = match(authority, "^([^:@]+):?(%d*)$") end
  if not host then return nil, "the URL has no usable host" end
  host = lower(host)
  if not is_loopback(host) then
    return nil, "the emulator contacts only loopback addresses (127.0.0.0/8, localhost, [::1])"
  end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port" end
  if target == "" then target = "/" end
  local addr = host == "localhost" and "127.0.0.1" or (host == "[::1]" and "[::1]" or host)
  return { scheme = scheme, host = host, addr = addr, port = port, target = target }
end

local function elapsed(t0)
  ngx.update_time()
  return math.floor((ngx.now() - t0) * 1000 + 0.5)
end

-- Reads the header block after the status line.
local function read_headers(sock)
  local headers = {}
  for _ = 1, 200 do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    if line == "" then return headers end
    local k, v = match(line, "^([^:]+):%s*(.-)%s*$")
    if k then headers[lower(k)] = v end
  end
  return nil, "too many header lines"
end

local function read_chunked(sock)
  local parts, total = {}, 0
  for _ = 1, 10000 do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(match(line, "^%s*(%x+)"), 16)
    if not size then return nil, "bad chunk size" end
    if size == 0 then
      repeat line, err = sock:receive("*l") until not line or line == ""
      return concat(parts)
    end
    total = total + size
    if total > M.MAX_BODY then return nil, "the answer is too large" end
    local data
    data, err = sock:receive(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    sock:receive("*l")
  end
  return nil, "too many chunks"
end

local function read_body(sock, method, status, headers)
  if method == "HEAD" or status == 204 or status == 304 or (status >= 100 and status < 200) then
    return ""
  end
  local te = headers["transfer-encoding"]
  if te and find(lower(te), "chunked", 1, true) then return read_chunked(sock) end
  local len = tonumber(headers["content-length"])
  if len and len > M.MAX_BODY then return nil, "the answer is too large" end
  if len then return sock:receive(len) end
  local parts, total = {}, 0                  -- until the connection closes
  while true do
    local data, err = sock:receiveany(65536)
    if not data then
      if err == "closed" then return concat(parts) end
      return nil, err
    end
    total = total + #data
    if total > M.MAX_BODY then return nil, "the answer is too large" end
    parts[#parts + 1] = data
  end
end

local function exchange(sock, u, opts)
  local ok, err = sock:connect(u.addr, u.port)
  if not ok then return nil, "connect: " .. tostring(err) end
  if u.scheme == "https" then
    ok, err = sock:sslhandshake(nil, u.host, false)   -- a loopback test endpoint: not verified
    if not ok then return nil, "TLS: " .. tostring(err) end
  end
  local method, body = opts.method or "GET", opts.body or ""
  local lines = { format("%s %s HTTP/1.1", method, u.target),
    format("Host: %s:%d", u.host, u.port), "Connection: close", "User-Agent: graphcomm-emulator",
    "Content-Length: " .. #body }
  for k, v in pairs(opts.headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body
  ok, err = sock:send(concat(lines, "\r\n"))
  if not ok then return nil, "send: " .. tostring(err) end
  local status_line
  status_line, err = sock:receive("*l")
  if not status_line then return nil, "no answer: " .. tostring(err) end
  local status = tonumber(match(status_line, "^HTTP/%d%.%d (%d%d%d)"))
  if not status then return nil, "not an HTTP answer: " .. sub(status_line, 1, 80) end
  local headers
  headers, err = read_headers(sock)
  if not headers then return nil, "headers: " .. tostring(err) end
  local text
  text, err = read_body(sock, method, status, headers)
  if not text then return nil, "body: " .. tostring(err) end
  return { status = status, headers = headers, body = text }
end

function M.request(opts)
  local u, why = M.loopback(opts.url)
  if not u then return nil, why, 0 end
  ngx.update_time()
  local t0 = ngx.now()
  local sock = ngx.socket.tcp()
  local t = opts.timeout_ms or 3000
  sock:settimeouts(t, t, t)
  local resp, err = exchange(sock, u, opts)
  sock:close()
  local ms = elapsed(t0)
  if not resp then return nil, err, ms end
  resp.ms = ms
  return resp, nil, ms
end

return M
