-- The libcurl multi transport (csrc/http/multi.c) against the emulator: many requests in
-- flight, kept-alive HTTP/1.1 connections, HTTP/2 multiplexed over TLS, the response
-- cap, transport errors, and the object's lifetime.
local core = require "graphcomm.core"
local emu = require "helpers.emulator"

local function patch_req(e, crid, sid, body)
  return { method = "PATCH", url = e.base_url .. "/v1.0/communications/callRecords/" .. crid
    .. "/sessions/" .. sid, headers = { "Authorization: Bearer " .. e.token,
    "Content-Type: application/json" }, body = body or '{"modalities":["audio"]}' }
end

local run_all = require("helpers.multi").run_all

describe("core.multi", function()
  local e, rec

  setup(function()
    e = emu.shared()
    rec = e:control("POST", "callRecords", { sessions = 40 })
  end)

  it("runs many requests on a few kept-alive HTTP/1.1 connections", function()
    local m = core.multi{ concurrency = 8 }
    local reqs = {}
    for i = 1, 200 do reqs[i] = patch_req(e, rec.id, rec.sessionIds[(i % 40) + 1]) end
    local results = run_all(m, reqs, 8)
    for i = 1, 200 do
      local r = results[i]
      assert.is_nil(r.err)
      assert.equal(204, r.resp.status)
      assert.equal(1.1, r.resp.http_version)
      assert.is_string(r.resp.headers["request-id"])
    end
    local st = m:stats()
    assert.equal(200, st.requests)
    assert.is_true(st.connections >= 2, "expected several connections, got " .. st.connections)
    assert.is_true(st.connections <= 8, "expected at most 8 connections, got " .. st.connections)
    assert.is_true(st.handles <= 8)
    m:close()
  end)

  it("multiplexes HTTP/2 streams over one TLS connection", function()
    local t = emu.start{ tls = true }
    local ok, err = pcall(function()
      local trec = t:control("POST", "callRecords", { sessions = 20 })
      local m = core.multi{ concurrency = 16, ca_file = t.ca_file }
      local reqs = {}
      for i = 1, 100 do reqs[i] = patch_req(t, trec.id, trec.sessionIds[(i % 20) + 1]) end
      local results = run_all(m, reqs, 16)
      for i = 1, 100 do
        assert.is_nil(results[i].err)
        assert.equal(204, results[i].resp.status)
        assert.equal(2, results[i].resp.http_version)
      end
      assert.equal(1, m:stats().connections)
      m:close()
    end)
    t.stop()
    assert(ok, err)
  end)

  it("hands back keys of any type, the body untouched", function()
    local m = core.multi{}
    local key = { "a table key" }
    m:add({ method = "GET", url = e.base_url .. "/v1.0/communications/callRecords/" .. rec.id
      .. "?$select=id", headers = { "Authorization: Bearer " .. e.token } }, key)
    local n, out = m:poll(5)
    assert.equal(1, n)
    assert.equal(key, out[1])
    assert.equal(200, out[2].status)
    assert.equal(rec.id, emu.decode(out[2].body).id)
    assert.equal(0, (m:poll(0)))       -- nothing in flight: returns at once
    m:close()
  end)

  it("refuses responses over max_body", function()
    local m = core.multi{ max_body = 64 }
    m:add({ url = e.base_url .. "/v1.0/communications/callRecords/" .. rec.id,
      headers = { "Authorization: Bearer " .. e.token } }, 1)
    local n, out = m:poll(5)
    assert.equal(1, n)
    assert.is_nil(out[2])
    assert.equal("transport", out[3].kind)
    assert.equal("too_large", out[3].code)
    assert.is_false(out[3].retryable)
    m:close()
  end)

  it("reports a refused connection as a retryable transport error", function()
    local m = core.multi{ connect_timeout = 2 }
    m:add({ url = "http://127.0.0.1:1/v1.0/x" }, "k")
    local n, out = m:poll(5)
    assert.equal(1, n)
    assert.equal("k", out[1])
    assert.equal("couldnt_connect", out[3].code)
    assert.is_true(out[3].retryable)
    m:close()
  end)

  it("refuses header injection and misuse", function()
    local m = core.multi{}
    assert.has_error(function()
      m:add({ url = e.base_url .. "/x", headers = { "X-A: 1\r\nX-B: 2" } }, 1)
    end)
    assert.has_error(function() m:add({ url = e.base_url .. "/x" }) end)
    assert.has_error(function() core.multi{ concurrency = 0 } end)
    assert.has_error(function() core.multi{ http_version = "9" } end)   -- freed by __gc
    collectgarbage()
    assert.equal(0, m:pending())
    m:close()
  end)

  it("closes once, and raises when used closed", function()
    local m = core.multi{}
    m:add({ url = e.base_url .. "/v1.0/communications/callRecords",
      headers = { "Authorization: Bearer " .. e.token } }, 1)
    assert.equal(1, m:pending())
    m:close()
    m:close()
    assert.matches("closed", tostring(m))
    assert.has_error(function() m:poll(0) end, "attempt to use a closed multi")
    assert.has_error(function() m:add({ url = "http://127.0.0.1:1/" }, 1) end)
  end)
end)
