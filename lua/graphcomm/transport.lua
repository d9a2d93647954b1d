-- graphcomm.transport: the one transport interface, and the choice of transport.
--
--   transport.new(choice, topts) -> t | nil, err
--     choice: nil | "curl" (libcurl), "ngx" (graphcomm.ngx), or a caller's table
--   t.send(req) -> resp | nil, terr        one request, blocking (or yielding, in nginx)
--   t.multi(concurrency) -> m              many in flight:
--     m:add(req, key)                      starts req; key comes back with its answer
--     m:poll(timeout, out [, want [, linger]]) -> n, out
--                                          out[3k+1..3k+3] = key, resp | nil, terr | nil
--     m:stats() -> { connections = n | nil }, m:close()
--   t.sleep(seconds), t.now() -> seconds (monotonic), t.close()
--   t.own: true when every resp is a table made for that answer, held by nobody else,
--          with no head (the libcurl kinds): the engine gives it as the result's info
--
-- The libcurl easy handle (core.http) is the case of one; core.multi is the same
-- interface with concurrency; graphcomm.ngx runs one light thread per request.
-- A caller's table needs send(req) (plain functions, no self); sleep, now and
-- multi are optional: without multi, bulk sends one request at a time through send.
-- req/resp shapes: HACKING.md ("A transport").

local type, pairs = type, pairs

local core = require "graphcomm.core"
local serial = require "graphcomm.serial"

local M = {}

-- The options a libcurl handle (easy, multi, or in nginx's threads) takes.
function M.options(cfg, extra)
  local o = { ca_file = cfg.ca_file, proxy = cfg.proxy, http_version = cfg.http_version,
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout,
    max_body = cfg.max_response_bytes }
  if extra then for k, v in pairs(extra) do o[k] = v end end
  return o
end

------------------------------------------------------------------------------
-- The three kinds
------------------------------------------------------------------------------

-- The client's libcurl handles: no resp.head, which nothing above the transport reads.
local function own_options(topts)
  local o = { head = false }
  for k, v in pairs(topts) do o[k] = v end
  return o
end

local function curl(topts)
  topts = own_options(topts)
  local h = core.http(topts)
  return { own = true,
    send = function(req) return h:send(req) end,
    multi = function(concurrency)
      local o = {}
      for k, v in pairs(topts) do o[k] = v end
      o.concurrency = concurrency
      return core.multi(o)
    end,
    sleep = core.sleep, now = core.now,
    close = function() h:close() end,
  }
end

local function caller(t)
  local send = t.send
  return {
    send = send,
    multi = t.multi or function() return serial.new(send) end,
    sleep = t.sleep or core.sleep, now = t.now or core.now,
    close = function() if type(t.close) == "function" then t.close() end end,
  }
end

-- h2c with prior knowledge: libcurl (7.88) breaks on a reused h2c connection, so until
-- the core forbids reuse for it, each request gets a connection of its own (and bulk
-- sends one at a time over them).
local function curl_h2c(topts)
  topts = own_options(topts)
  local function send(req)
    local h = core.http(topts)
    local resp, err = h:send(req)
    h:close()
    return resp, err
  end
  core.http(topts):close()           -- the options checked now, as for the others
  return { own = true, send = send, multi = function() return serial.new(send) end,
    sleep = core.sleep, now = core.now, close = function() end }
end

function M.new(choice, topts)
  if (choice == nil or choice == "curl") and topts.http_version == "2-prior-knowledge" then
    return curl_h2c(topts)
  end
  if choice == nil or choice == "curl" then return curl(topts) end
  if choice == "ngx" then return require("graphcomm.ngx").new(topts) end
  if type(choice) == "table" and type(choice.send) == "function" then
    if choice.multi ~= nil and type(choice.multi) ~= "function" then
      return nil, "transport.multi must be a function(concurrency)"
    end
    return caller(choice)
  end
  return nil, "must be \"curl\", \"ngx\" or a table with send(req)"
end

return M
