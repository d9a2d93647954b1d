-- graphcomm.engine's step: the one request policy, answer by answer (no network:
-- the answers are made here; the same step runs under perform and under bulk).
local engine = require "graphcomm.engine"
local options = require "graphcomm.options"

local function new_engine(extra)
  local opts = { base_url = "https://graph.example.com", max_retries = 2, max_retry_delay = 60,
    random = function() return 0 end, compress = 10 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local cfg = assert(options.config(opts, function() end))
  local auth = { renewable = true, n = 0, invalidated = 0 }
  function auth:get() self.n = self.n + 1; return "tok-" .. (self.invalidated + 1) end
  function auth:invalidate() self.invalidated = self.invalidated + 1 end
  local t = { send = function() error("no network here") end, sleep = function() end,
    now = function() return 0 end }
  return engine.new(cfg, t, auth), auth
end

local function answer(status, headers, body)
  return { status = status, headers = headers or {}, body = body or "", http_version = 1.1 }
end

describe("engine:step", function()
  it("follows a redirect, drops credentials to another origin, counts to redirect.MAX", function()
    local e = new_engine()
    local x = e:exchange{ method = "PATCH", path = "/a", body = "{}" }
    assert(e:build(x))
    local action, secs, why = e:step(x, answer(307, { location = "https://other.example.com/b" }))
    assert.same({ "again", 0, "redirect" }, { action, secs, why })
    assert.is_true(x.spec.cross_origin)
    local req = assert(e:build(x))
    for _, line in ipairs(req.headers) do assert.is_nil(line:find("^Authorization")) end
    for _ = 2, 5 do
      assert.equal("again", (e:step(x, answer(302, { location = "https://other.example.com/c" }))))
      e:build(x)
    end
    local a, ok, err = e:step(x, answer(302, { location = "https://other.example.com/d" }))
    assert.same({ "done", nil }, { a, ok })
    assert.equal("TooManyRedirects", err.code)
    assert.equal("redirect", err.kind)
  end)

  it("refuses a redirect elsewhere than https (or http to loopback) as kind redirect", function()
    local e = new_engine()
    local x = e:exchange{ method = "GET", path = "/a" }
    e:build(x)
    local a, ok, err = e:step(x, answer(301, { location = "file:///etc/passwd", ["request-id"] = "r1" }))
    assert.same({ "done", nil, "redirect", "r1" }, { a, ok, err.kind, err.request_id })
  end)

  it("renews the token once on a stale-token 401, then gives the 401", function()
    local e, auth = new_engine()
    local x = e:exchange{ method = "GET", path = "/a" }
    e:build(x)
    local body = '{"error":{"code":"InvalidAuthenticationToken","message":"expired tok-1"}}'
    assert.same({ "again", 0, "renew" }, { e:step(x, answer(401, {}, body)) })
    assert.equal(1, auth.invalidated)
    e:build(x)
    assert.equal("tok-2", e.token)
    local a, ok, err = e:step(x, answer(401, {}, body))
    assert.same({ "done", nil, 401 }, { a, ok, err.status })
    assert.equal(1, auth.invalidated)
    -- the token a server echoes is never shown
    assert.is_nil(tostring(err):find("tok-2", 1, true))
    assert.is_nil(err.body:find("tok-", 1, true))
  end)

  it("sends again uncompressed after 400/415 on a gzip body, once", function()
    local e = new_engine()
    local x = e:exchange{ method = "PATCH", path = "/a", body = '{"isTest":false}' }
    assert.is_true(x.spec.gzip)
    e:build(x)
    assert.same({ "again", 0, "uncompressed" }, { e:step(x, answer(415)) })
    assert.is_nil(x.spec.gzip)
    e:build(x)
    assert.equal("done", (e:step(x, answer(415))))
  end)

  it("retries 429/503/504 with Retry-After or backoff, up to max_retries", function()
    local e = new_engine()
    local x = e:exchange{ method = "GET", path = "/a" }
    e:build(x)
    assert.same({ "again", 2, "retry" }, { e:step(x, answer(429, { ["retry-after"] = "2" })) })
    assert.same({ "again", 6, "retry" }, { e:step(x, answer(503)) })
    local a, ok, err = e:step(x, answer(503))
    assert.same({ "done", nil, 3 }, { a, ok, err.attempts })
  end)

  it("retries a failed connection only when no status line came back", function()
    local e = new_engine()
    local x = e:exchange{ method = "PATCH", path = "/a", body = "{}" }
    e:build(x)
    local refused = { kind = "transport", code = "couldnt_connect", retryable = true, message = "refused" }
    local a, secs = e:step(x, nil, refused)
    assert.equal("again", a)
    assert.equal(0.25, secs)
    local cut = { kind = "transport", code = "partial", retryable = true, answered = true, message = "cut" }
    local a2, ok, err = e:step(x, nil, cut)
    assert.same({ "done", nil, "transport", 2 }, { a2, ok, err.kind, err.attempts })
    assert.matches("2 attempts", err.message)
  end)

  it("inner exchanges (inside a $batch) neither follow redirects nor compress", function()
    local e = new_engine()
    local x = e:exchange({ method = "PATCH", path = "/a", body = '{"isTest":false}' }, true)
    assert.is_nil(x.spec.gzip)
    x.req = { method = "PATCH", url = e:url("/a"), client_request_id = "c" }
    assert.equal("done", (e:step(x, answer(307, { location = "https://graph.example.com/b" }))))
  end)

  it("hands a success back as info", function()
    local e = new_engine()
    local x = e:exchange{ method = "GET", path = "/a" }
    e:build(x)
    local a, ok, info = e:step(x, answer(200, { ["request-id"] = "r" }, "{}"))
    assert.same({ "done", true, 200, "r" }, { a, ok, info.status, info.request_id })
  end)
end)
