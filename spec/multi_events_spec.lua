-- The multi transport's event loop (csrc/http/events.c: libcurl's socket and timer
-- callbacks, epoll): a transfer that only a timer can end, polling with no wait,
-- connections the server drops or closes while idle (socket numbers reused), a signal
-- in the middle of a wait, and every socket given back on close, __gc, a Lua error in
-- a bulk run and a SIGINT stop.
local core = require "graphcomm.core"
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local PID = assert(tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)")))

-- This process's sockets and epoll descriptors.
local function open_sockets()
  local p = assert(io.popen("ls -l /proc/" .. PID .. "/fd"))
  local n = 0
  for line in p:lines() do
    if line:find("socket:", 1, true) or line:find("eventpoll", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

local function patch_req(e, rec, k, extra)
  local req = { method = "PATCH", url = e.base_url .. bulk.session_url(rec, k),
    headers = { "Authorization: Bearer " .. e.token, "Content-Type: application/json" },
    body = '{"modalities":["audio"]}' }
  for key, v in pairs(extra or {}) do req[key] = v end
  return req
end

describe("core.multi's event loop", function()
  local e

  setup(function() e = emu.shared() end)
  after_each(function() e:clear_faults() end)

  it("ends a transfer past its timeout by libcurl's timer, no socket waking", function()
    local rec = bulk.new_record(e, 1)
    e:fault{ match = rec.id, method = "PATCH", delay_ms = 6000 }
    local m = core.multi{}
    local t0 = core.now()
    m:add(patch_req(e, rec, 1, { timeout = 0.3 }), "slow")
    local n, out = m:poll(30)
    local took = core.now() - t0
    assert.equal(1, n)
    assert.equal("slow", out[1])
    assert.equal("timeout", out[3].code)
    assert.is_true(took < 5, "the timeout took " .. took .. " s")
    m:close()
  end)

  it("finishes every transfer when polled with no wait at all", function()
    local rec = bulk.new_record(e, 20)
    local m = core.multi{ concurrency = 8 }
    for k = 1, 20 do m:add(patch_req(e, rec, k), k) end
    local got, out, deadline = {}, {}, core.now() + 30
    while m:pending() > 0 and core.now() < deadline do
      local n
      n, out = m:poll(0, out)
      for j = 0, n - 1 do got[out[3 * j + 1]] = out[3 * j + 2] end
    end
    for k = 1, 20 do
      assert.is_table(got[k], "transfer " .. k .. " never ended")
      assert.equal(204, got[k].status)
    end
    m:close()
  end)

  it("carries on over connections the server drops mid-request, socket numbers reused", function()
    local rec = bulk.new_record(e, 50)
    e:fault{ match = rec.id, method = "PATCH", every = 3, drop = true }
    local m = core.multi{ concurrency = 16 }
    local reqs = {}
    for i = 1, 150 do reqs[i] = patch_req(e, rec, (i - 1) % 50 + 1) end
    local results = require("helpers.multi").run_all(m, reqs, 16, 20)
    local ok, dropped = 0, 0
    for i = 1, 150 do
      local r = results[i]
      if r.resp then
        assert.equal(204, r.resp.status)
        ok = ok + 1
      else
        -- as for one request: nothing came back (or the close met the request going out)
        assert.is_true(r.err.code == "empty_reply" or r.err.code == "send" or r.err.code == "recv",
          r.err.code)
        assert.is_true(r.err.retryable)
        dropped = dropped + 1
      end
    end
    -- libcurl sends a request again, once, when a reused connection closed before any
    -- answer; so some drops end in success. Every one of the 50 ended somehow.
    assert.is_true(dropped > 0 and dropped <= 50, "dropped: " .. dropped)
    assert.equal(150, ok + dropped)
    assert.is_true(m:stats().connections > 16, "connections: " .. m:stats().connections)
    m:close()
  end)

  it("replaces a kept-alive connection the server closed while it was idle", function()
    local t = emu.start()
    local t2
    local ok, err = pcall(function()
      local trec = bulk.new_record(t, 1)
      local m = core.multi{ concurrency = 2 }
      m:add(patch_req(t, trec, 1), 1)
      local n, out = m:poll(10)
      assert.equal(1, n)
      assert.equal(204, out[2].status)
      t.stop()                     -- closes the idle connection m keeps
      t2 = emu.start()
      local rec2 = bulk.new_record(t2, 1)
      for i = 1, 3 do
        m:add(patch_req(t2, rec2, 1), i)
        n, out = m:poll(10, out)
        assert.equal(1, n)
        assert.equal(204, out[2].status)
      end
      m:add(patch_req(t, trec, 1), "gone")
      n, out = m:poll(10, out)
      assert.equal(1, n)
      assert.equal("couldnt_connect", out[3].code)
      m:close()
    end)
    t.stop()
    if t2 then t2.stop() end
    assert(ok, err)
  end)

  it("keeps waiting through a signal that interrupts the wait", function()
    local rec = bulk.new_record(e, 1)
    e:fault{ match = rec.id, method = "PATCH", delay_ms = 1500 }
    core.sigint_catch()
    local ok, err = pcall(function()
      local m = core.multi{}
      m:add(patch_req(e, rec, 1), 1)
      local killer = assert(io.popen("sleep 0.3; kill -INT " .. PID .. "; echo sent"))
      local n, out = m:poll(30)
      assert.equal("sent\n", killer:read("*a"))   -- the signal has come by now
      killer:close()
      assert.equal(1, n)
      assert.equal(204, out[2].status)
      assert.is_true(core.sigint_pending())
      m:close()
    end)
    core.sigint_release()
    assert(ok, err)
  end)
end)

describe("core.multi's sockets", function()
  local e

  setup(function() e = emu.shared() end)
  after_each(function() e:clear_faults() end)

  local function in_flight(rec, n, conc)
    local m = core.multi{ concurrency = conc }
    for k = 1, n do m:add(patch_req(e, rec, k), k) end
    assert.equal(0, (m:poll(0.2)))     -- the requests are out, the answers held back
    return m
  end

  it("are all closed by close() and by __gc with transfers in flight", function()
    local rec = bulk.new_record(e, 8)
    e:fault{ match = rec.id, method = "PATCH", delay_ms = 3000, count = -1 }
    local before = open_sockets()
    local m = in_flight(rec, 8, 8)
    assert.is_true(open_sockets() >= before + 9, "8 connections and epoll")
    m:close()
    assert.equal(before, open_sockets())
    m = in_flight(rec, 8, 8)
    m = nil
    collectgarbage()
    collectgarbage()
    assert.equal(before, open_sockets())
    assert.is_nil(m)
  end)

  it("are all closed when a bulk run ends in a Lua error, or is stopped by SIGINT", function()
    local rec = bulk.new_record(e, 40)
    e:fault{ match = rec.id, method = "PATCH", delay_ms = 200, count = -1 }
    local c = bulk.connect(e, 0.01)
    local before = open_sockets()
    local seen = 0
    local ok, err = pcall(c.update_sessions, c, bulk.items_for(rec, 40), { concurrency = 8,
      on_result = function()
        seen = seen + 1
        if seen == 3 then error("caller's bug") end
      end })
    assert.is_false(ok)
    assert.matches("caller's bug", tostring(err))
    assert.equal(before, open_sockets())

    core.sigint_catch()
    local s
    ok, err = pcall(function()
      s = c:update_sessions(bulk.items_for(rec, 40), { concurrency = 8,
        should_stop = core.sigint_pending,
        on_result = function(i)
          if i == 1 then assert(io.popen("kill -INT " .. PID)):close() end
        end })
    end)
    core.sigint_release()
    assert(ok, err)
    assert.is_true(s.interrupted)
    assert.equal(0, s.failed)
    assert.is_true(s.ok >= 8 and s.ok < 40, "ok: " .. s.ok)
    assert.equal(before, open_sockets())
    c:close()
  end)

  if rawget(_G, "jit") then
    local ffi = require "ffi"
    pcall(ffi.cdef, [[ int fork(void); int waitpid(int pid, int *status, int options);
      void _exit(int code); ]])

    -- The child shares the parent's epoll instance: were its close to take the kept-alive
    -- socket out of epoll, the parent's next request on it would wait for its timeout.
    it("lets a forked child close its copy (never using it) and the parent go on", function()
      local rec = bulk.new_record(e, 2)
      local m = core.multi{ concurrency = 1 }
      m:add(patch_req(e, rec, 1), 1)
      local n, out = m:poll(10)
      assert.equal(1, n)
      assert.equal(204, out[2].status)
      local pid = ffi.C.fork()
      if pid == 0 then
        local used, err = pcall(m.add, m, patch_req(e, rec, 2), 2)
        m:close()
        ffi.C._exit((not used and tostring(err):find("made before a fork", 1, true)) and 0 or 1)
      end
      local status = ffi.new("int[1]")
      assert.equal(pid, ffi.C.waitpid(pid, status, 0))
      assert.equal(0, status[0])                    -- the child was refused, then closed
      m:add(patch_req(e, rec, 2, { timeout = 3 }), 2)
      n, out = m:poll(10)
      assert.equal(1, n)
      assert.equal(204, out[2].status, tostring(out[3] and out[3].code))
      m:close()
    end)
  end
end)
