-- spec/ngx_transport_spec.lua: graphcomm.ngx outside nginx, on every Lua: the worker
-- thread's side (thread_send) called directly, and connect{ transport = "ngx" } falling
-- back to the libcurl transport where there is no nginx.  Inside nginx: openresty_spec.
local ngx_transport = require "graphcomm.ngx"
local graphcomm = require "graphcomm"
local emulator = require "helpers.emulator"

describe("graphcomm.ngx", function()
  local emu

  setup(function() emu = emulator.shared() end)

  local function session_url()
    local made = emu:control("POST", "callRecords", { sessions = 1 })
    return emu.base_url .. "/v1.0/communications/callRecords/" .. made.id .. "/sessions/"
      .. made.sessionIds[1], made
  end

  describe("thread_send (what runs in nginx's worker thread)", function()
    it("answers a plain response table, which run_worker_thread can copy back", function()
      local url = session_url()
      local resp = ngx_transport.thread_send("k1", { timeout = 5 }, {
        method = "GET", url = url, headers = { "Authorization: Bearer " .. emu.token } })
      assert.are.equal(200, resp.status)
      assert.is_string(resp.headers["request-id"])
      assert.are.equal(url:match("[^/]+$"), emulator.decode(resp.body).id)
      for _, v in pairs(resp) do assert.are_not.equal("function", type(v)) end
      assert.is_nil(getmetatable(resp))
    end)

    it("turns a transport error into plain fields, retryable when nothing was answered", function()
      -- a port nobody listens on: the emulator's, once it is stopped
      local gone = emulator.start{}
      local url = gone.base_url .. "/v1.0/communications/callRecords"
      gone.stop()
      local ok, err, raised = ngx_transport.thread_send("k1", { timeout = 5 },
        { method = "GET", url = url, headers = {} })
      assert.is_false(ok)
      assert.is_nil(raised)
      assert.is_nil(getmetatable(err))
      assert.are.equal("transport", err.kind)
      assert.are.equal("couldnt_connect", err.code)
      assert.is_true(err.retryable)
      assert.is_string(err.message)
    end)

    it("reports an error raised by the transport as a message (re-raised by the caller)", function()
      local ok, err, raised = ngx_transport.thread_send("k1", { timeout = 5 },
        { method = "GET", url = emu.base_url, headers = { "X-Bad: a\r\nInjected: b" } })
      assert.is_false(ok)
      assert.is_nil(err)
      assert.is_truthy(raised:find("CR, LF or NUL", 1, true))
    end)

    it("keeps one kept-alive handle per option set in the thread's VM", function()
      local url = session_url()
      local req = { method = "GET", url = url, headers = { "Authorization: Bearer " .. emu.token } }
      ngx_transport.thread_send("k-reuse", { timeout = 5 }, req)
      local again = ngx_transport.thread_send("k-reuse", { timeout = 5 }, req)
      assert.are.equal(200, again.status)
      assert.are.equal(0, again.new_connections)
    end)
  end)

  describe("outside nginx", function()
    it("is the libcurl transport: connect{ transport = 'ngx' } updates as usual", function()
      local _, made = session_url()
      local client = assert(graphcomm.connect{ transport = "ngx", base_url = emu.base_url,
        token = emu.token })
      local ok, info = client:update_session(made.id, made.sessionIds[1], { modalities = { "video" } })
      assert.is_true(ok, tostring(info))
      local status, _, text = emu:request("GET", "/v1.0/communications/callRecords/" .. made.id
        .. "/sessions/" .. made.sessionIds[1])
      assert.are.equal(200, status)
      assert.are.same({ "video" }, emulator.decode(text).modalities)
      client:close()
    end)

    it("carries many in flight too: update_sessions over connect{ transport = 'ngx' }", function()
      local made = emu:control("POST", "callRecords", { sessions = 5 })
      local client = assert(graphcomm.connect{ transport = "ngx", base_url = emu.base_url,
        token = emu.token })
      local items = {}
      for i = 1, 5 do items[i] = { made.id, made.sessionIds[i], { modalities = { "audio" } } } end
      local s = client:update_sessions(items, { concurrency = 3 })
      assert.are.equal(5, s.ok)
      assert.is_number(s.connections)      -- libcurl's multi interface, outside nginx
      client:close()
      local t = ngx_transport.new{ timeout = 5 }
      local m = t.multi(2)
      assert.is_function(m.add)
      assert.is_function(m.poll)
      m:close()
      t.close()
    end)

    it("checks its options as the libcurl transport does", function()
      assert.has_error(function() ngx_transport.new{ http_version = "0.9" } end)
      local t = ngx_transport.new{ timeout = 5 }
      assert.is_function(t.send)
      assert.is_number(t.now())
      t.close()
    end)
  end)
end)
