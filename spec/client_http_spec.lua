-- The client's HTTP behaviour against the emulator and its fault injection:
-- retries (Retry-After forms, backoff caps, connection failures), token renewal,
-- compression fallback, redirects (credentials dropped across origins), errors as
-- values, TLS with the emulator's CA and HTTP/2, the response cap, redacted debug.
local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local cjson = require "cjson.safe"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local ids, patches = clients.ids, clients.patches

describe("client retries", function()
  local e, crid, sid

  setup(function()
    e = emu.shared()
    crid, sid = clients.first_ids(e)
  end)

  before_each(function() clients.fresh(e) end)

  local function connect(opts)
    opts = opts or {}
    opts.base_url, opts.token = opts.base_url or e.base_url, e.token
    return assert(graphcomm.connect(opts))
  end

  it("retries 429 after Retry-After with the same client-request-id, counting attempts", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 429, retry_after = "0.01", count = 2 }
    local c = connect()
    local t0 = core.now()
    local ok, info = c:update_session(crid, sid, { isTest = false })
    assert.is_true(ok, tostring(info))
    assert.is_true(core.now() - t0 >= 0.02)
    local log = patches(e)
    assert.equal(3, #log)
    local id = log[1].headers["client-request-id"]
    assert.equal(id, log[2].headers["client-request-id"])
    assert.equal(id, log[3].headers["client-request-id"])
    assert.equal(id, info.client_request_id)
    assert.is_nil(log[1].headers["retry-attempt"])
    assert.equal("1", log[2].headers["retry-attempt"])
    assert.equal("2", log[3].headers["retry-attempt"])
    c:close()
  end)

  it("gives up after max_retries with the last error as a value", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 503, retry_after = "0", count = 5 }
    local c = connect{ max_retries = 2 }
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal("http", err.kind)
    assert.equal(503, err.status)
    assert.equal(0, err.retry_after)
    assert.equal(3, #patches(e))
    c:close()
  end)

  it("backs off without Retry-After, each wait capped at max_retry_delay", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 504, count = 2 }
    local c = connect{ max_retry_delay = 0.01 }
    local t0 = core.now()
    assert.is_true((c:update_session(crid, sid, { isTest = false })))
    assert.is_true(core.now() - t0 < 1.5)      -- 3 s and 6 s uncapped
    assert.equal(3, #patches(e))
    c:close()
  end)

  it("reads Retry-After as an HTTP date", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 429, count = 1,
      retry_after = "Sun, 06 Nov 1994 08:49:37 GMT" }
    local c = connect()
    local t0 = core.now()
    assert.is_true((c:update_session(crid, sid, { isTest = false })))
    assert.is_true(core.now() - t0 < 1)        -- a date in the past: no wait
    assert.equal(2, #patches(e))
    c:close()
  end)

  it("does not retry other statuses", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 500, count = 1 }
    local c = connect()
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal(500, err.status)
    assert.equal(1, #patches(e))
    c:close()
  end)

  it("retries a dropped connection", function()
    e:fault{ match = "/sessions/", method = "PATCH", drop = true, count = 1 }
    local c = connect{ max_retry_delay = 0.01 }
    local ok, info = c:update_session(crid, sid, { isTest = false })
    assert.is_true(ok, tostring(info))
    local log = patches(e)
    assert.equal(2, #log)
    assert.equal(log[1].headers["client-request-id"], log[2].headers["client-request-id"])
    c:close()
  end)

  it("returns a transport error when nothing listens", function()
    local h = require("graphcomm.core").http{}
    local attempts = 0
    local c = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = "t",
      max_retries = 2, max_retry_delay = 0.01,
      transport = { send = function(req) attempts = attempts + 1; return h:send(req) end } })
    local ok, err = c:update_session("a", "b", { isTest = false })
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.equal("couldnt_connect", err.code)
    assert.matches("^graphcomm: transport", tostring(err))
    assert.is_string(err.client_request_id)
    assert.equal(3, attempts)
    c:close()
  end)

  it("renews the token once after 401 InvalidAuthenticationToken", function()
    local calls = 0
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = function()
      calls = calls + 1
      if calls == 1 then return "stale-token", 3600 end
      return e.token, 3600
    end })
    local ok, info = c:update_session(crid, sid, { isTest = false })
    assert.is_true(ok, tostring(info))
    assert.equal(2, calls)
    local log = patches(e)
    assert.equal(2, #log)
    assert.equal("Bearer stale-token", log[1].headers["authorization"])
    c:close()
  end)

  it("does not loop on a token that stays bad", function()
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = "never-good" })
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal(401, err.status)
    assert.is_nil(string.find(tostring(err), "never-good", 1, true))
    assert.is_true(#patches(e) <= 2)
    c:close()
  end)

  it("sends gzip bodies when compress is on, and once more plainly on 415", function()
    local c = connect{ compress = 1 }
    local ok, info = c:update_session(crid, sid, { isTest = false })
    assert.is_true(ok, tostring(info))
    local log = patches(e)
    assert.equal(2, #log)                      -- the emulator answers 415 to gzip
    assert.equal("gzip", log[1].headers["content-encoding"])
    assert.is_nil(log[2].headers["content-encoding"])
    assert.equal('{"isTest":false}', log[2].body)
    assert.equal(log[1].headers["client-request-id"], log[2].headers["client-request-id"])
    c:close()
  end)

  it("sends a gzip body once more plainly on 400, and only once", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 400, count = 2 }
    local c = connect{ compress = 1 }
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal(400, err.status)
    local log = patches(e)
    assert.equal(2, #log)
    assert.equal("gzip", log[1].headers["content-encoding"])
    assert.is_nil(log[2].headers["content-encoding"])
    assert.equal('{"isTest":false}', log[2].body)
    c:close()
  end)
end)

describe("client transport options", function()
  local e, e2

  setup(function()
    e = emu.shared()
    e2 = emu.start()
  end)

  teardown(function() e2.stop() end)

  it("sends through the proxy option", function()
    if os.getenv("no_proxy") or os.getenv("NO_PROXY") then
      pending("no_proxy is set: libcurl would bypass the proxy")
      return
    end
    e:clear_requests()
    e2:clear_requests()
    -- e2 (nginx) serves the absolute-form request a proxy receives: it answers with its
    -- own records, which only its own token reaches.
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e2.token, proxy = e2.base_url })
    local resp, err = c:request{ path = "/communications/callRecords?$top=1" }
    assert.is_table(resp, tostring(err))
    assert.equal(200, resp.status)
    assert.equal(1, #e2:requests())
    assert.equal(0, #e:requests())
    c:close()
  end)

  it("gives up on an answer slower than timeout, as a transport error", function()
    e2:fault{ match = "/callRecords", method = "GET", delay_ms = 2000, count = 1 }
    local c = assert(graphcomm.connect{ base_url = e2.base_url, token = e2.token, timeout = 0.2,
      max_retries = 0 })
    local t0 = core.now()
    local resp, err = c:request{ path = "/communications/callRecords?$top=1" }
    assert.is_nil(resp)
    assert.equal("transport", err.kind)
    assert.equal("timeout", err.code)
    assert.is_true(core.now() - t0 < 1.5)
    c:close()
  end)
end)

describe("client redirects", function()
  local e, e2, crid, sid

  setup(function()
    e = emu.shared()
    e2 = emu.start()
    crid, sid = clients.first_ids(e)
  end)

  teardown(function()
    e:control("DELETE", "redirects")
    e2.stop()
  end)

  before_each(function()
    e:control("DELETE", "redirects")
    e:clear_requests()
    e2:clear_requests()
  end)

  it("follows a redirect on the same origin with the credentials", function()
    e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 308,
      location = e.base_url .. "{path}", count = 1 })
    local c = clients.connect(e)
    assert.is_true((c:update_session(crid, sid, { isTest = false })))
    local log = patches(e)
    assert.equal(2, #log)
    assert.equal("Bearer " .. e.token, log[2].headers["authorization"])
    assert.equal('{"isTest":false}', log[2].body)
    c:close()
  end)

  it("drops Authorization, Cookie and Proxy-Authorization for another port", function()
    e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 307,
      location = e2.base_url .. "{path}", count = 1 })
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token,
      headers = { Cookie = "session=1", ["Proxy-Authorization"] = "Basic eDp5" } })
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal(401, err.status)              -- the other server wants a token it never got
    local log = patches(e2)
    assert.equal(1, #log)
    assert.is_nil(log[1].headers["authorization"])
    assert.is_nil(log[1].headers["cookie"])
    assert.is_nil(log[1].headers["proxy-authorization"])
    assert.equal('{"isTest":false}', log[1].body)
    assert.equal("session=1", patches(e)[1].headers["cookie"])
    c:close()
  end)

  it("turns a 303 into a GET without the body", function()
    e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 303,
      location = "{path}", count = 1 })
    local c = clients.connect(e)
    local ok, info = c:update_session(crid, sid, { isTest = false })
    assert.is_true(ok, tostring(info))
    assert.equal(200, info.status)
    local log = e:requests()
    assert.equal(2, #log)
    assert.equal("PATCH", log[1].method)
    assert.equal("GET", log[2].method)
    assert.equal(log[1].path, log[2].path)
    assert.is_true(log[2].body == nil or log[2].body == "" or log[2].body == cjson.null)
    assert.equal("Bearer " .. e.token, log[2].headers["authorization"])
    c:close()
  end)

  it("stops after 5 redirects", function()
    e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 302,
      location = "{path}", count = -1 })
    local c = clients.connect(e)
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal("TooManyRedirects", err.code)
    assert.equal(6, #patches(e))
    c:close()
  end)

  it("refuses a redirect to plain http on another host", function()
    e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 301,
      location = "http://graph.example.com{path}", count = 1 })
    local c = clients.connect(e)
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    -- the PATCH went out: the refusal is a redirect error, never "validation"
    assert.equal("redirect", err.kind)
    assert.matches("plain http", tostring(err))
    assert.equal(301, err.status)
    assert.is_string(err.request_id)
    assert.equal(1, #patches(e))
    c:close()
  end)
end)

describe("client errors", function()
  local e, crid, sid
  setup(function()
    e = emu.shared()
    crid, sid = clients.first_ids(e)
  end)

  it("reads Graph's error body into a value that prints on one line", function()
    local c = clients.connect(e)
    local ok, err = c:update_session(crid, "no-such-session", { isTest = false })
    assert.is_nil(ok)
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
    assert.equal("NotFound", err.code)
    assert.matches("no%-such%-session", err.message)
    assert.is_string(err.request_id)
    assert.is_string(err.client_request_id)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", err.date)
    assert.is_table(err.headers)
    local line = tostring(err)
    assert.matches("^graphcomm: http 404 NotFound: ", line)
    assert.is_nil(line:find("\n"))
    c:close()
  end)

  it("reads the service's refusal (405) clearly", function()
    e:configure{ read_only = true }
    local c = clients.connect(e)
    local ok, err = c:update_session(crid, sid, { isTest = false })
    e:configure{ read_only = false }
    assert.is_nil(ok)
    assert.equal(405, err.status)
    assert.equal("MethodNotAllowed", err.code)
    assert.matches("Graph documents call%-record sessions as read%-only", tostring(err))
    c:close()
  end)

  it("refuses responses over the cap", function()
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token,
      max_response_bytes = 256 })
    local ok, err = c:request{ path = "/communications/callRecords" }
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.equal("too_large", err.code)
    c:close()
  end)

  it("never shows the token in debug output", function()
    local lines = {}
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token,
      debug = function(l) lines[#lines + 1] = l end })
    assert(c:update_session(crid, sid, { isTest = false }))
    local text = table.concat(lines, "\n")
    assert.matches("> PATCH " .. e.base_url:gsub("%p", "%%%0"), text)
    assert.matches("> Authorization: Bearer <redacted>", text, 1, true)
    assert.matches("< HTTP/1.1 204", text, 1, true)
    assert.is_nil(text:find(e.token, 1, true))
    c:close()
  end)
end)

describe("client over TLS", function()
  local t

  setup(function() t = emu.start{ tls = true } end)
  teardown(function() t.stop() end)

  it("verifies the emulator with its CA and speaks HTTP/2", function()
    local c = assert(graphcomm.connect{ base_url = t.base_url, token = t.token, ca_file = t.ca_file })
    local info = assert(c:request{ path = "/communications/callRecords?$top=1" })
    assert.equal(200, info.status)
    assert.equal(2, info.http_version)
    local crid, sid = ids(c)
    assert.is_true((c:update_session(crid, sid, { isTest = false })))
    c:close()
  end)

  it("refuses the certificate without the CA, as a transport error", function()
    local c = assert(graphcomm.connect{ base_url = t.base_url, token = t.token, max_retries = 0 })
    local ok, err = c:update_session("a", "b", { isTest = false })
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.equal("tls_verify", err.code)
    c:close()
  end)
end)
