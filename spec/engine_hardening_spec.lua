-- The engine against hostile or mistyped input: strict options, strict URLs,
-- redirects refused after sending, secrets in no output, bounded paging, retries
-- that cannot duplicate a PATCH, refused connections that fail fast.
local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "did not raise")
  assert.matches(pattern, tostring(err))
  return err
end

-- One emulator and its first record's first session for every block; faults and the
-- request log cleared before each test.
local e, crid, sid
setup(function()
  e = emu.shared()
  crid, sid = clients.first_ids(e)
end)
before_each(function() clients.fresh(e) end)

describe("option tables", function()

  it("connect refuses an unknown name with a did-you-mean, before any credentials", function()
    raises("bad argument #1 to 'connect' %(unknown option 'client_secert'; did you mean 'client_secret'%?%)",
      graphcomm.connect, { base_url = e.base_url, client_secert = "s" })
    raises("did you mean 'max_retries'", graphcomm.connect, { base_url = e.base_url, token = "t",
      max_retires = 2 })
    raises("option timeout: number expected, got string", graphcomm.connect,
      { base_url = e.base_url, token = "t", timeout = "5" })
    assert.same({}, e:requests())
  end)

  it("update_session's options: unknown names raise and nothing is sent; cmdlet names work", function()
    local c = clients.connect(e)
    raises("unknown option 'wahtif'; did you mean 'what_if'", function()
      c:update_session(crid, sid, { isTest = false }, { wahtif = true })
    end)
    assert.same({}, clients.patches(e))
    -- WhatIf in the 4th argument is what_if: nothing is sent
    local shown = c:update_session(crid, sid, { isTest = false }, { WhatIf = true })
    assert.equal("PATCH", shown.method)
    local shown2 = c:update_session(crid, sid, { isTest = false }, { WHATIF = true })
    assert.equal("PATCH", shown2.method)
    assert.same({}, clients.patches(e))
    raises("option what_if: boolean expected, got string", function()
      c:update_session(crid, sid, { isTest = false }, { what_if = "yes" })
    end)
    raises("option what_if given twice", function()
      c:update_session(crid, sid, { isTest = false }, { what_if = true, WhatIf = true })
    end)
    assert.same({}, clients.patches(e))
    c:close()
  end)

  it("update_sessions refuses unknown names (a misspelt journal) before sending anything", function()
    local c = clients.connect(e)
    raises("bad argument #2 to 'update_sessions' %(unknown option 'jounal'; did you mean 'journal'%?%)",
      function() c:update_sessions({ { crid, sid, { isTest = false } } }, { jounal = "j" }) end)
    raises("max_waiting: an integer >= 1 expected, got 0", function()
      c:update_sessions({ { crid, sid, { isTest = false } } }, { max_waiting = 0 })
    end)
    raises("max_waiting: an integer >= 1 expected, got %-3", function()
      c:update_sessions({ { crid, sid, { isTest = false } } }, { max_waiting = -3 })
    end)
    assert.same({}, clients.patches(e))
    c:close()
  end)

  it("read queries: known names with or without $, in any case; unknown ones raise", function()
    local c = clients.connect(e)
    assert(c:get_session(crid, sid, { ["$Select"] = "id" }))
    raises("bad argument #3 to 'get_session' %(unknown option 'selct'; did you mean 'select'%?%)",
      function() c:get_session(crid, sid, { selct = "id" }) end)
    raises("bad argument #2 to 'sessions'", function() c:sessions(crid, { exapnd = "x" }) end)
    c:close()
  end)
end)

describe("URLs", function()
  it("parses base_url strictly at connect: nil, err, nothing sent", function()
    for _, url in ipairs({ "http://127.0.0.1:1/m#", "http://127.0.0.1:1/m?x=1",
        "http://u:p@127.0.0.1:1", "http://127.0.0.1:99999", "http://127.0.0.1:0",
        "http://127.0.0.1\0.evil/", "http://127.0.0.1/\r\nX: y", "ftp://127.0.0.1/",
        "http:///path", "127.0.0.1:8080", "http://127.0.0.1/a/../b" }) do
      local c, err = graphcomm.connect{ base_url = url, token = "t" }
      assert.is_nil(c, url)
      assert.equal("validation", err.kind, url)
      assert.is_nil(tostring(err):find("\0", 1, true))
      assert.is_nil(tostring(err):find("\r", 1, true))
    end
    assert(graphcomm.connect{ base_url = "http://127.0.0.1:65535/", token = "t" }):close()
  end)

  it("refuses CR, LF or NUL in a request's url or path: nil, err, nothing sent", function()
    -- libcurl reads a URL as a C string: one cut at a NUL would go out as another request
    local c = clients.connect(e)
    local records = e:url("/v1.0/communications/callRecords")
    for _, spec in ipairs({ { url = records .. "\0/" .. crid }, { url = records .. "/\r\nX: y" },
        { url = records .. "\n" }, { path = "/communications/callRecords\0/x" },
        { path = "/communications/callRecords\r\nX: y" } }) do
      local info, err = c:request(spec)
      assert.is_nil(info)
      assert.equal("validation", err.kind)
      assert.matches("contains CR, LF or NUL", err.message)
    end
    assert.same({}, e:requests())
    c:close()
  end)

  it("refuses CR, LF or NUL in a request's method: nil, err, nothing sent, any transport", function()
    -- the method goes to libcurl as a C string too; a caller's transport gets none either
    local seen = 0
    local t = { send = function() seen = seen + 1; return { status = 200, headers = {}, body = "" } end }
    for _, c in ipairs({ clients.connect(e), clients.connect(e, { transport = t }) }) do
      for _, method in ipairs({ "GET\0X", "GET\r\nX: y", "GET\n" }) do
        local info, err = c:request{ method = method, path = "/communications/callRecords" }
        assert.is_nil(info)
        assert.equal("validation", err.kind)
        assert.matches("method contains CR, LF or NUL", err.message)
      end
      c:close()
    end
    assert.equal(0, seen)
    assert.same({}, e:requests())
  end)

  it("refuses the ids . and .. (dot-segments)", function()
    local c = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = "t" })
    for _, ids in ipairs({ { ".", "s" }, { "..", "s" }, { "c", "." }, { "c", ".." } }) do
      local ok, err = c:update_session(ids[1], ids[2], { isTest = false })
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
    end
    c:close()
  end)
end)

describe("redirects after sending", function()

  for _, target in ipairs({ "file:///etc/passwd", "gopher://127.0.0.1:70/x",
      "http://graph.example.com{path}", "http://user:pw@127.0.0.1:9{path}" }) do
    it("refuses a redirect to " .. target .. " as kind redirect, with the request id", function()
      e:control("POST", "redirects", { match = "/sessions/", method = "PATCH", status = 307,
        location = target, count = 1 })
      local c = clients.connect(e)
      local ok, err = c:update_session(crid, sid, { isTest = false })
      assert.is_nil(ok)
      assert.equal("redirect", err.kind)
      assert.equal(307, err.status)
      assert.is_string(err.request_id)
      assert.is_nil(tostring(err):find("pw@", 1, true))
      assert.equal(1, #clients.patches(e))
      c:close()
    end)
  end
end)

describe("secrets", function()

  local function pct(s) return (s:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end)) end

  it("a 401 that echoes the token (raw, percent-encoded, base64) shows it nowhere", function()
    local token = e.token
    e:fault{ match = "/sessions/", method = "PATCH", status = 401, code = "InvalidAuthenticationToken",
      message = "bad token " .. token .. " or " .. pct(token), count = 1 }
    local lines = {}
    local c = clients.connect(e, { debug = function(l) lines[#lines + 1] = l end,
      headers = { Cookie = "session=cookie-secret-value" } })
    local ok, err = c:update_session(crid, sid, { isTest = false })
    assert.is_nil(ok)
    assert.equal(401, err.status)
    local function clean(text)
      assert.is_nil(text:find(token, 1, true), text)
      assert.is_nil(text:find(pct(token), 1, true), text)
      assert.is_nil(text:find("cookie-secret-value", 1, true), text)
    end
    clean(tostring(err))
    clean(err.message)
    clean(err.body)
    for _, line in ipairs(lines) do clean(line) end
    assert.truthy(err.message:find("<redacted>", 1, true))
    local shown = c:update_session(crid, sid, { isTest = false }, { what_if = true })
    for _, v in pairs(shown.headers) do clean(v) end
    c:close()
  end)

  it("shows control characters from server text escaped in tostring(err)", function()
    e:fault{ match = "/sessions/", method = "PATCH", status = 400, code = "Bad\27[2J",
      message = "evil\27[31m red\r\nfake line", count = 1 }
    local c = clients.connect(e)
    local _, err = c:update_session(crid, sid, { isTest = false })
    local text = tostring(err)
    assert.is_nil(text:find("\27", 1, true))
    assert.is_nil(text:find("\r", 1, true))
    assert.is_nil(text:find("\n", 1, true))
    assert.truthy(text:find("\\x1b[31m", 1, true))
    -- ids a server sends are shown escaped too
    e:fault{ match = "/sessions/", method = "PATCH", status = 404, count = 1,
      body = '{"error":{"code":"NotFound","message":"m","innerError":{"request-id":"rid\\u001b]0;title\\u0007"}}}' }
    _, err = c:update_session(crid, sid, { isTest = false })
    text = tostring(err)
    assert.truthy(text:find("rid\\x1b]0;title\\x07", 1, true), text)
    assert.is_nil(text:find("\27", 1, true), text)
    assert.is_nil(text:find("\7", 1, true), text)
    c:close()
  end)
end)

describe("bounded loops", function()

  it("sessions() stops on a next link already followed", function()
    local self_link = e.base_url .. "/v1.0/communications/callRecords/" .. crid .. "/sessions?loop=1"
    e:fault{ match = "loop=1", method = "GET", status = 200, count = -1,
      body = '{"value":[{"id":"x"}],"@odata.nextLink":"' .. self_link .. '"}' }
    e:fault{ match = "/callRecords/" .. crid .. "/sessions", method = "GET", status = 200, count = 1,
      body = '{"value":[{"id":"first"}],"@odata.nextLink":"' .. self_link .. '"}' }
    local c = clients.connect(e)
    local iter = assert(c:sessions(crid))
    local ok, err = pcall(function()
      local n = 0
      for _ in iter do n = n + 1; assert(n < 100, "ran on") end
    end)
    assert.is_false(ok)
    assert.equal("NextLinkLoop", err.code)
    assert.is_true(#e:requests("match=loop%3D1") <= 2)
    c:close()
  end)

  it("get_call_record stops at the page cap (max_pages)", function()
    local n = 0
    local c = clients.connect(e, { max_pages = 3 })
    -- every page links to a new one
    for k = 1, 5 do
      e:fault{ match = "page=" .. k .. "&", method = "GET", status = 200, count = -1,
        body = '{"value":[{"id":"s' .. k .. '"}],"@odata.nextLink":"' .. e.base_url
          .. "/v1.0/communications/callRecords/" .. crid .. "/sessions?page=" .. (k + 1) .. '&"}' }
    end
    e:fault{ match = "/callRecords/" .. crid, method = "GET", status = 200, count = 1,
      body = '{"id":"' .. crid .. '","sessions":[],"sessions@odata.nextLink":"' .. e.base_url
        .. "/v1.0/communications/callRecords/" .. crid .. '/sessions?page=1&"}' }
    local rec, err = c:get_call_record(crid)
    assert.is_nil(rec)
    assert.equal("TooManyPages", err.code)
    for _, r in ipairs(e:requests()) do if r.method == "GET" then n = n + 1 end end
    assert.equal(3, n)
    c:close()
  end)

  it("clamps max_retry_delay and survives a huge Retry-After", function()
    local cfg = assert(require("graphcomm.options").config({ base_url = e.base_url,
      max_retry_delay = 1e300 }, function() end))
    assert.equal(86400, cfg.max_retry_delay)           -- clamped to a day
    local bad, err = graphcomm.connect{ base_url = e.base_url, token = "t", max_retry_delay = -1 }
    assert.is_nil(bad)
    assert.equal("validation", err.kind)
    assert.is_nil(graphcomm.connect{ base_url = e.base_url, token = "t", max_retry_delay = 0/0 })
    local c2 = clients.connect(e, { max_retry_delay = 0.01, max_retries = 1 })
    e:fault{ match = "/sessions/", method = "PATCH", status = 429, retry_after = "99999999999999999999", count = 1 }
    local crid2, sid2 = clients.first_ids(e)
    local t0 = core.now()
    assert(c2:update_session(crid2, sid2, { isTest = false }))
    assert.is_true(core.now() - t0 < 2)
    c2:close()
  end)
end)

describe("on_retry", function()

  it("hears of every wait, for single updates and bulk alike", function()
    local heard = {}
    local c = clients.connect(e, { max_retry_delay = 0.01, on_retry = function(secs, info)
      heard[#heard + 1] = { secs = secs, attempt = info.attempt, status = info.status }
    end })
    e:fault{ match = "/sessions/", method = "PATCH", status = 429, retry_after = "0.01", count = 2 }
    assert(c:update_session(crid, sid, { isTest = false }))
    assert.same({ { secs = 0.01, attempt = 1, status = 429 }, { secs = 0.01, attempt = 2, status = 429 } },
      heard)
    heard = {}
    e:fault{ match = "/sessions/", method = "PATCH", status = 503, retry_after = "0", count = 1 }
    local s = c:update_sessions({ { crid, sid, { isTest = false } } })
    assert.equal(1, s.ok)
    assert.same({ { secs = 0, attempt = 1, status = 503 } }, heard)
    c:close()
  end)
end)

describe("retries that cannot duplicate or stall", function()

  it("never sends a PATCH again once its status line arrived (body cut afterwards)", function()
    e:fault{ match = "/sessions/", method = "PATCH", cut = true, status = 200, count = -1 }
    local c = clients.connect(e, { max_retries = 3, max_retry_delay = 0.01 })
    local ok, err = c:update_session(crid, sid, { isTest = false })
    e:clear_faults()
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.is_true(err.answered)
    assert.equal(1, #clients.patches(e))
    c:close()
  end)

  it("fails fast on a refused connection, saying how many attempts were made", function()
    local gone = emu.start{}
    local url = gone.base_url
    gone.stop()
    local c = assert(graphcomm.connect{ base_url = url, token = "t" })   -- default retries
    local t0 = core.now()
    local ok, err = c:update_session("a", "b", { isTest = false })
    local took = core.now() - t0
    assert.is_nil(ok)
    assert.equal("couldnt_connect", err.code)
    assert.matches("4 attempts", err.message)
    assert.equal(4, err.attempts)
    assert.is_true(took < 5, "took " .. took .. " s")
    c:close()
  end)
end)

describe("graphcomm.session options", function()
  it("refuses unknown names with a did-you-mean and wrong types naming the option", function()
    raises("bad argument #2 to 'session' %(unknown option 'allow_unknwn'; did you mean 'allow_unknown'%?%)",
      graphcomm.session, { id = "x" }, { allow_unknwn = true })
    raises("option max_bytes: number expected, got string", graphcomm.session, { id = "x" },
      { max_bytes = "10" })
    assert(graphcomm.session({ id = "x", zzz = 1 }, { AllowUnknown = true }))
  end)
end)
