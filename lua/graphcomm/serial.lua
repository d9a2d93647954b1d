-- graphcomm.serial: the many-in-flight interface over a plain send(req), one request
-- at a time (a caller's transport without multi; nginx phases that cannot yield).
--
--   serial.new(send) -> m    m:add(req, key), m:poll(timeout, out) -> n, out,
--                            m:stats(), m:close()    (graphcomm.transport)
--   serial.drain(q, out) -> n, out    queued answers handed out (graphcomm.ngx too)

local setmetatable = setmetatable

local M = {}

local Serial = {}
Serial.__index = Serial

-- The request is sent at once; its answer waits for the next poll.
function Serial:add(req, key)
  local resp, err = self.send(req)
  local q = self.q
  q[#q + 1] = key
  q[#q + 1] = resp or false
  q[#q + 1] = err or false
  self.requests = self.requests + 1
end

-- Moves the answers queued in q (key, resp | false, err | false triples) to out.
function M.drain(q, out)
  local n = #q
  for k = 1, n do
    local v = q[k]
    if v == false then v = nil end
    out[k] = v
    q[k] = nil
  end
  return (n - n % 3) / 3, out
end
local drain = M.drain

function Serial:poll(_, out)
  return drain(self.q, out)
end

function Serial:stats() return { requests = self.requests } end
function Serial:close() end

function M.new(send)
  return setmetatable({ send = send, q = {}, requests = 0 }, Serial)
end

return M
