-- A finalizer (any __gc of user code) may run at any allocation the transports make
-- while they turn a finished transfer into Lua values; one that closes the transport
-- there must not leave C reading the buffers close freed (under ASan a read after free
-- aborts).  The collector is tuned so that every allocation finishes a cycle, and a
-- finalizer that re-arms itself counts the allocations made inside the call: the k-th
-- closes the transport.
local core = require "graphcomm.core"
local emu = require "helpers.emulator"

local PREFIX = "/v1.0/communications/callRecords/finalizer"

-- An object whose finalizer calls fn (newproxy on 5.1 and LuaJIT, whose tables have no __gc).
local function on_collect(fn)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
  else
    setmetatable({}, { __gc = fn })
  end
end

local function every_allocation_collects()
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 1, 1000, 30)   -- 0 would keep a setting
  else
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", 100000)
  end
  collectgarbage("collect")
end

local function default_collector()
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 200, 100, 13)
  else
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
  end
end

-- Calls call() with a finalizer that runs act() at the k-th collection inside it (a
-- finalizer that re-arms itself counts them); returns whether that happened, and
-- call's results under pcall. Counting starts inside pcall: on 5.1 the call of pcall
-- itself may collect.
local function at_collection(k, call, act)
  local inside, count, fired = false, 0, false
  local function arm()
    on_collect(function()
      if inside and not fired then
        count = count + 1
        if count == k then
          fired = true
          act()
          return
        end
      end
      if not fired then arm() end
    end)
  end
  local function counted() inside = true; return call() end
  arm()
  every_allocation_collects()
  local ok, x, y = pcall(counted)
  inside = false
  default_collector()
  return fired, ok, x, y
end

local function close_at(k, send, close) return at_collection(k, send, close) end

describe("a transport closed by a finalizer while it builds a result", function()
  local e
  setup(function() e = emu.shared() end)

  it("core.http: the response, never freed memory", function()
    local closed = 0
    for k = 1, 40 do
      local h = core.http{}
      local req = { method = "GET", url = e.base_url .. PREFIX .. "/a",
        headers = { "Authorization: Bearer " .. e.token } }
      local fired, ok, resp, err = close_at(k, function() return h:send(req) end,
        function() h:close() end)
      if fired then closed = closed + 1 end
      -- closed before send looked at it: refused; else the response, whatever it is
      if ok then
        assert.is_table(resp, err and err.message)
        assert.is_number(resp.status)
      else
        assert.matches("closed transport", tostring(resp))
      end
      h:close()
    end
    assert.is_true(closed > 0)
  end)

  it("core.multi: the results or an error, never freed memory", function()
    local closed = 0
    for k = 1, 40 do
      local m = core.multi{}
      m:add({ method = "GET", url = e.base_url .. PREFIX .. "/b",
        headers = { "Authorization: Bearer " .. e.token } }, 1)
      local fired = close_at(k, function()
        local n = 0
        while n == 0 do n = m:poll(5) end
        return n
      end, function() m:close() end)
      if fired then closed = closed + 1 end
      m:close()
    end
    assert.is_true(closed > 0)
  end)

  -- A finalizer that raises (its error propagates on 5.1, 5.3 and LuaJIT; 5.4 makes it a
  -- warning) at the k-th collection inside the call: the call raises that error or
  -- returns its result, and the transport is not left marked busy: it sends again and
  -- closes. Lua 5.4's warnings are switched off for the run.
  local function raise_at(k, call)
    return at_collection(k, call, function() error("finalizer failed", 0) end)
  end

  -- call(k) under raise_at for k = 1..30; after a raise drain(), then check(k) that the
  -- transport still works. Some call must have raised where finalizers' errors propagate.
  local function raising_rounds(call, drain, check)
    if warn then warn("@off") end
    local raised = 0
    for k = 1, 30 do
      local fired, ok, err = raise_at(k, function() return call(k) end)
      if not ok then
        assert.is_true(fired)
        assert.matches("finalizer failed", tostring(err))
        raised = raised + 1
        drain()
      end
      check(k)
    end
    if warn then warn("@on") end
    if _VERSION ~= "Lua 5.4" then assert.is_true(raised > 0) end
  end

  it("core.http: a finalizer's error leaves the transport usable", function()
    local h = core.http{}
    local req = { method = "GET", url = e.base_url .. PREFIX .. "/c",
      headers = { "Authorization: Bearer " .. e.token } }
    raising_rounds(function() return h:send(req) end, function() end, function()
      local resp, serr = h:send(req)
      assert.is_table(resp, serr and serr.message)
    end)
    h:close()
    assert.matches("closed", tostring(h))
  end)

  it("core.multi: a finalizer's error leaves the multi usable", function()
    local m = core.multi{}
    local req = { method = "GET", url = e.base_url .. PREFIX .. "/d",
      headers = { "Authorization: Bearer " .. e.token } }
    local function one(key)
      m:add(req, key)
      local n, out = 0, nil
      while n == 0 do n, out = m:poll(5) end
      return out
    end
    raising_rounds(function(k) return one("a" .. k) end,
      function()   -- what was added comes on a later poll (a failed add added nothing)
        while m:pending() > 0 do m:poll(5) end
      end,
      function(k)
        local out = one("b" .. k)
        assert.equal("b" .. k, out[1])
        assert.is_table(out[2])
      end)
    m:close()
    assert.is_false(pcall(m.pending, m))   -- closed, not left refusing close
  end)
end)
