-- The libcurl transports' limits (issue 11): poll timeouts of any size, and cleartext
-- HTTP/2 with prior knowledge for more than one request (libcurl 7.88 cannot reuse an
-- h2c connection: each request gets its own there).
local core = require "graphcomm.core"
local emu = require "helpers.emulator"

local function get_req(e, base, crid)
  return { method = "GET", url = base .. "/v1.0/communications/callRecords/" .. crid
    .. "?$select=id", headers = { "Authorization: Bearer " .. e.token } }
end

local run_all = require("helpers.multi").run_all

describe("core.multi poll timeouts", function()
  local e, rec
  setup(function()
    e = emu.shared()
    rec = e:control("POST", "callRecords", { sessions = 1 })
  end)

  it("takes huge timeouts and lingers without overflowing", function()
    local m = core.multi{ concurrency = 2 }
    for _, t in ipairs{ 1e300, math.huge, 2 ^ 31, 2 ^ 31 / 1000 + 1 } do
      local results = run_all(m, { get_req(e, e.base_url, rec.id) }, 2, t)
      assert.is_nil(results[1].err)
      assert.equal(200, results[1].resp.status)
    end
    m:add(get_req(e, e.base_url, rec.id), "x")
    local n, out = m:poll(5, nil, 1, 1e300)
    assert.equal(1, n)
    assert.equal(200, out[2].status)
    m:close()
  end)

  it("refuses NaN and negative timeouts", function()
    local m = core.multi{}
    local function refused(pattern, ...)
      local ok, err = pcall(m.poll, m, ...)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end
    refused("timeout must be a number of seconds >= 0", 0 / 0)
    refused("timeout must be a number of seconds >= 0", -1)
    refused("linger must be a number of seconds >= 0", 1, nil, 1, 0 / 0)
    refused("linger must be a number of seconds >= 0", 1, nil, 1, -5)
    assert.equal(0, (m:poll(0)))
    m:close()
  end)

  it("refuses an option name it does not take, in core.http and core.multi", function()
    for _, case in ipairs({ { core.http, { timout = 5 }, "core.http: unknown option 'timout'" },
        { core.http, { concurrency = 2 }, "core.http: unknown option 'concurrency'" },
        { core.multi, { concurency = 2 }, "core.multi: unknown option 'concurency'" },
        { core.multi, { [1] = true }, "core.multi: an option name must be a string, got number" },
        { core.http, { thread_pool = "graphcomm" }, "unknown option 'thread_pool'" } }) do
      local ok, err = pcall(case[1], case[2])
      assert.is_false(ok)
      assert.matches(case[3], err, 1, true)
    end
    core.http{ ca_file = nil, timeout = 5, connect_timeout = 2, max_body = 1024, head = false,
      http_version = "1.1" }:close()
    core.multi{ concurrency = 2, timeout = 5, head = true }:close()
  end)

  it("refuses CR, LF or NUL in the method, URL or a header line, before sending", function()
    e:clear_requests()
    local h = core.http{}
    local url = e.base_url .. "/v1.0/communications/callRecords"
    for _, req in ipairs({ { method = "GET", url = url .. "\0/x" }, { method = "GET\0X", url = url },
        { method = "GET", url = url .. "\r\n" }, { method = "GET", url = url, headers = { "A: b\0c" } } }) do
      local ok, err = pcall(h.send, h, req)
      assert.is_false(ok)
      assert.matches("CR, LF or NUL", err)
    end
    h:close()
    assert.same({}, e:requests())
  end)

  it("refuses a NaN request timeout", function()
    local h = core.http{}
    assert.has_error(function()
      h:send{ method = "GET", url = e.base_url .. "/", timeout = 0 / 0 }
    end, "graphcomm: timeout must be a number of seconds (got nan)")
    h:close()
  end)
end)

describe("http_version = \"2-prior-knowledge\"", function()
  local e, rec
  setup(function()
    e = emu.shared()
    rec = e:control("POST", "callRecords", { sessions = 1 })
  end)

  it("carries 500 bulk requests, every one answered", function()
    local m = core.multi{ concurrency = 16, http_version = "2-prior-knowledge" }
    local reqs = {}
    for i = 1, 500 do reqs[i] = get_req(e, e.h2c_url, rec.id) end
    local results = run_all(m, reqs, 16, 10)
    local failed, first = 0, nil
    for i = 1, 500 do
      local r = results[i]
      if r.err or r.resp.status ~= 200 or r.resp.http_version ~= 2 then
        failed = failed + 1
        first = first or (r.err and tostring(r.err.message) or "status " .. r.resp.status)
      end
    end
    assert.equal(0, failed, first)
    m:close()
  end)

  it("carries many requests on one easy handle", function()
    local h = core.http{ http_version = "2-prior-knowledge" }
    for _ = 1, 50 do
      local resp, err = h:send(get_req(e, e.h2c_url, rec.id))
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.equal(2, resp.http_version)
    end
    h:close()
  end)
end)
