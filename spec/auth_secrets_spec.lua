-- Issue 11, credentials: no secret (client secret, client assertion, certificate key or
-- password, federated token, managed identity header) in any error string or field, in
-- any encoding, even when the token endpoint echoes the posted form; and a token
-- request that never comes back (a coroutine never resumed) does not stall the others.
local auth = require "graphcomm.auth"
local graphcomm = require "graphcomm"
local redact = require "graphcomm.redact"
local core = require "graphcomm.core"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"

local env = tokens.env

local function pct(s, fmt, space)
  return (s:gsub("[^%w%-%._~]", function(c)
    if c == " " and space then return "+" end
    return (fmt):format(c:byte())
  end))
end

-- Every string reachable from the error (and tostring of it).
local function texts(err)
  local out, seen = { tostring(err) }, {}
  local function walk(t, depth)
    if seen[t] or depth > 5 then return end
    seen[t] = true
    for k, v in pairs(t) do
      if type(v) == "string" then out[#out + 1] = v
      elseif type(v) == "table" then walk(v, depth + 1) end
      if type(k) == "string" then out[#out + 1] = k end
    end
  end
  walk(err, 1)
  return out
end

local function assert_clean(err, secret)
  assert.truthy(err)
  local r = redact.new():add(secret)
  local forms = { secret, pct(secret, "%%%02X"), pct(secret, "%%%02x"), pct(secret, "%%%02X", true) }
  for _, text in ipairs(texts(err)) do
    for _, f in ipairs(forms) do
      assert.is_nil(text:find(f, 1, true), "secret form found in: " .. text)
    end
    assert.is_false(r:finds(text), "secret found in: " .. text)
  end
end

describe("secrets in credential errors", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local SECRET = "Sup3r+Secret/with space&=%" .. "x"

  local function echo_app()
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"), echo_form = true }
    ctl.register(app)
    return app
  end

  local function new(opts, deps, vars)
    deps = deps or {}
    deps.send = deps.send or ctl.send
    opts.base_url = opts.base_url or server.base_url
    return auth.new(auth.resolve(opts, env(vars or {})), deps)
  end

  it("keeps a client secret out of an echoing endpoint's error, raw or encoded", function()
    local app = echo_app()
    local p = assert(new({ tenant_id = app.tenant, client_id = app.client_id, client_secret = SECRET }))
    local token, err = p:get()
    assert.is_nil(token)
    assert.equal(401, err.status)
    -- the endpoint did echo it: the spec would prove nothing otherwise
    local log = ctl.log(tokens.token_path(app.tenant))
    assert.truthy(log[1].body:find(pct(SECRET, "%%%02X"), 1, true))
    assert.matches("Request body was", err.description)
    assert.matches("<redacted>", err.description)
    assert_clean(err, SECRET)
  end)

  it("keeps the client secret out through connect too", function()
    local app = echo_app()
    local client = assert(graphcomm.connect({ base_url = server.base_url, tenant_id = app.tenant,
      client_id = app.client_id, client_secret = SECRET, getenv = env({}) }))
    local crid = ctl.generate(1)
    local ok, err = client:get_call_record(crid)
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert_clean(err, SECRET)
    client:close()
  end)

  it("keeps a client assertion, the key and its password out", function()
    local app = echo_app()
    local p = assert(new({ tenant_id = app.tenant, client_id = app.client_id,
      client_certificate = kit.cert, client_certificate_key = kit.encrypted_key,
      client_certificate_password = "hunter22" }))
    local _, err = p:get()
    local form = tokens.form(ctl.log(tokens.token_path(app.tenant))[1].body)
    assert.truthy(form.client_assertion)
    assert_clean(err, form.client_assertion)
    assert_clean(err, "hunter22")
    assert_clean(err, kit.read("encrypted_key"))
  end)

  it("keeps a federated token out", function()
    local app = echo_app()
    local file = kit.dir .. "/federated-echo"
    local fed = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.federated-" .. tokens.unique("f")
    certs.write(file, fed .. "\n")
    local p = assert(new({ tenant_id = app.tenant, client_id = app.client_id, federated_token_file = file }))
    local _, err = p:get()
    assert.truthy(ctl.log(tokens.token_path(app.tenant))[1].body:find(fed, 1, true))
    assert_clean(err, fed)
  end)

  it("keeps the managed identity header out of an answer that repeats it", function()
    local header = "idh-" .. tokens.unique("h") .. "/+ x"
    server:fault({ match = "/msi/token", status = 400, count = 1,
      body = '{"statusCode":400,"message":"bad header ' .. header .. ' (' .. pct(header, "%%%02x") .. ')"}' })
    local p = assert(new({ managed_identity = true }, nil,
      { IDENTITY_ENDPOINT = server.base_url .. "/msi/token", IDENTITY_HEADER = header }))
    local _, err = p:get()
    assert.equal(400, err.status)
    assert.matches("bad header", err.message)
    assert_clean(err, header)
    server:clear_faults()
  end)

  it("keeps secrets out of a transport failure's message and cause", function()
    local p = assert(new({ tenant_id = "t", client_id = "c", client_secret = SECRET }, {
      send = function(req)
        return nil, { kind = "transport", message = "failed: " .. req.body, detail = { body = req.body } }
      end }))
    local _, err = p:get()
    assert.matches("failed", err.message)
    assert_clean(err, SECRET)
  end)

  it("keeps a certificate password out of construction errors", function()
    local p, err = new({ tenant_id = "t", client_id = "c", client_certificate = kit.cert,
      client_certificate_key = kit.encrypted_key, client_certificate_password = "wrong-pass-" .. SECRET })
    assert.is_nil(p)
    assert_clean(err, "wrong-pass-" .. SECRET)
  end)

  it("registers the secrets with the caller's redaction set", function()
    local r = redact.new()
    assert(new({ tenant_id = "t", client_id = "c", client_secret = SECRET }, { redact = r }))
    assert.equal("x <redacted> y", r:scrub("x " .. pct(SECRET, "%%%02X", true) .. " y"))
  end)
end)

describe("a token request that never comes back", function()
  it("does not stall later calls of a token function (no wait, no sleep)", function()
    local calls, slept, now = 0, 0, 100
    local p = assert(auth.new({ token = function()
      calls = calls + 1
      if calls == 1 then coroutine.yield("stuck") end
      return "t" .. calls, 3600
    end }, { now = function() return now end, sleep = function(s) slept = slept + 1; now = now + s end }))
    local co = coroutine.create(function() return p:get() end)
    local _, first = coroutine.resume(co)
    if coroutine.status(co) == "suspended" then
      assert.equal("stuck", first)          -- never resumed from here on
    end
    local t = assert(p:get())
    assert.matches("^t%d$", t)
    assert.equal(0, slept)
    assert.equal(100, now)
    assert.equal(t, p:get())                -- cached as usual
  end)

  it("still refuses a token function that asks for its own token", function()
    local p
    local inner
    p = assert(auth.new({ token = function() inner = { p:get() }; return "t", 60 end }))
    assert.equal("t", p:get())
    assert.is_nil(inner[1])
    assert.matches("in progress", inner[2].message)
  end)

  describe("at an identity endpoint", function()
    local server, ctl, kit
    setup(function() server, ctl, kit = tokens.start() end)
    teardown(function() tokens.stop(server, kit) end)

    local function app() return ctl.secret_app() end

    local function stuck_provider(a, deps, extra)
      local first = true
      deps.send = function(req)
        if first then first = false; coroutine.yield("sending") end
        return ctl.send(req)
      end
      local opts = { tenant_id = a.tenant, client_id = a.client_id, client_secret = a.client_secret,
        base_url = server.base_url, timeout = 20, connect_timeout = 5 }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return assert(auth.new(opts, deps))
    end

    it("waits for an abandoned request at most its timeout, on the injected clock", function()
      local a = app()
      local now, slept = 0, 0
      local p = stuck_provider(a, { now = function() return now end,
        sleep = function(s) slept = slept + 1; now = now + s end })
      local co = coroutine.create(function() return p:get() end)
      assert.equal("sending", select(2, coroutine.resume(co)))
      local token = assert(p:get())
      assert.truthy(token)
      assert.is_true(now >= 25 and now < 26, "waited " .. now)   -- timeout + connect_timeout
      assert.is_true(slept < 200)
      assert.equal(1, #ctl.log(tokens.token_path(a.tenant)))     -- the stuck one never went out
      assert.equal(token, p:get())
    end)

    it("does not wait when the sleep would block the process", function()
      local slept = 0
      local function counted() slept = slept + 1 end
      for _, case in ipairs({ {}, { sleep = core.sleep }, { sleep = counted, sleep_yields = false } }) do
        local a = app()
        local now = 0
        local p = stuck_provider(a, { now = function() return now end, sleep = case.sleep,
          sleep_yields = case.sleep_yields })
        local co = coroutine.create(function() return p:get() end)
        assert.equal("sending", select(2, coroutine.resume(co)))
        local started = core.now()
        assert.truthy(p:get())
        assert.is_true(core.now() - started < 5)
        assert.equal(0, now)
      end
      assert.equal(0, slept)
    end)

    it("does not wait for a request whose coroutine died", function()
      local a = app()
      local now, slept = 0, 0
      local p = assert(auth.new({ tenant_id = a.tenant, client_id = a.client_id, client_secret = a.client_secret,
        base_url = server.base_url }, { now = function() return now end,
        sleep = function(s) slept = slept + 1; now = now + s end,
        send = function(req)
          local co, main = coroutine.running()
          if co and not main then error("killed mid-request") end
          return ctl.send(req)
        end }))
      local co = coroutine.create(function() return p:get() end)
      coroutine.resume(co)
      assert.truthy(p:get())
      assert.equal(0, slept)
    end)
  end)
end)
