-- lua/graphcomm/auth.lua against the emulator's token endpoint: client secret and
-- certificate flows, the request as sent (read back from the request log), caching,
-- renewal on an injected clock, one token request at a time, and refusals.
local cjson = require "cjson"
local auth = require "graphcomm.auth"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"

local token_path = tokens.token_path

describe("auth against the emulator's token endpoint", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  -- A tenant of its own per test, so that the log filtered by its token path is the test's.
  local function secret_app(extra)
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"),
                  client_secret = "s3cr3t value+/=&" .. tokens.unique("x"), expires_in = 3599 }
    for k, v in pairs(extra or {}) do app[k] = v end
    ctl.register(app)
    return app
  end

  local function provider(app, extra, deps)
    local opts = { tenant_id = app.tenant, client_id = app.client_id, client_secret = app.client_secret,
                   base_url = server.base_url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    deps = deps or {}
    deps.send = deps.send or ctl.send
    return auth.new(opts, deps)
  end

  local function graph_status(token) return ctl.graph_status(token) end

  describe("client secret", function()
    it("posts the form the identity platform expects and gets a token Graph accepts", function()
      local app = secret_app()
      local p = assert(provider(app))
      local token = assert(p:get())
      local log = ctl.log(token_path(app.tenant))
      assert.equal(1, #log)
      assert.equal("POST", log[1].method)
      assert.matches("^application/x%-www%-form%-urlencoded", log[1].headers["content-type"])
      local form = tokens.form(log[1].body)
      assert.same({ grant_type = "client_credentials", client_id = app.client_id,
        client_secret = app.client_secret, scope = server.base_url .. "/.default" }, form)
      assert.equal(200, graph_status(token))
    end)

    it("turns invalid_client into an auth error with AAD's description and without the secret", function()
      local app = secret_app()
      local wrong = "not-the-secret-" .. tokens.unique("w")
      local p = assert(provider(app, { client_secret = wrong }))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.equal("invalid_client", err.code)
      assert.equal("AADSTS7000215", err.aadsts)
      assert.matches("Invalid client secret provided", err.message)
      assert.matches("AADSTS7000215", tostring(err))
      assert.not_matches("Trace ID", err.message)
      for _, text in ipairs({ tostring(err), err.message, err.description }) do
        assert.is_nil(text:find(wrong, 1, true))
        assert.is_nil(text:find(app.client_secret, 1, true))
      end
    end)

    it("reports an unknown tenant and an unknown client as auth errors", function()
      local app = secret_app()
      local _, err = assert(provider(app, { tenant_id = tokens.unique("nobody") })):get()
      assert.equal("auth", err.kind)
      assert.equal(400, err.status)
      assert.matches("AADSTS90002", err.message)
      _, err = assert(provider(app, { client_id = tokens.unique("stranger") })):get()
      assert.equal("auth", err.kind)
      assert.equal("unauthorized_client", err.code)
    end)

    it("reports a token endpoint it cannot reach as an auth error", function()
      local app = secret_app()
      local p = assert(provider(app, { authority = "http://127.0.0.1:1" }))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.matches("127%.0%.0%.1:1", err.message)
      assert.is_nil(tostring(err):find(app.client_secret, 1, true))
    end)
  end)

  describe("cache and renewal", function()
    it("asks once for two gets", function()
      local app = secret_app()
      local p = assert(provider(app))
      local a, b = assert(p:get()), assert(p:get())
      assert.equal(a, b)
      assert.equal(1, #ctl.log(token_path(app.tenant)))
    end)

    it("renews a 2-second token at half-life, on the injected clock", function()
      local app = secret_app({ expires_in = 2 })
      local now = 100
      local p = assert(provider(app, nil, { now = function() return now end }))
      local first = assert(p:get())
      now = 100.9
      assert.equal(first, p:get())
      assert.equal(1, #ctl.log(token_path(app.tenant)))
      now = 101
      local second = assert(p:get())
      assert.not_equal(first, second)
      assert.equal(2, #ctl.log(token_path(app.tenant)))
      assert.equal(second, p:get())
      assert.equal(2, #ctl.log(token_path(app.tenant)))
    end)

    it("renews an hour-long token 5 minutes before it expires", function()
      local app = secret_app({ expires_in = 3600 })
      local now = 0
      local p = assert(provider(app, nil, { now = function() return now end }))
      local first = assert(p:get())
      now = 3299
      assert.equal(first, p:get())
      now = 3300
      assert.not_equal(first, p:get())
      assert.equal(2, #ctl.log(token_path(app.tenant)))
    end)

    it("asks again after invalidate, and the new token works where the old one expired", function()
      local app = secret_app()
      local p = assert(provider(app))
      local first = assert(p:get())
      ctl.expire()
      assert.equal(401, graph_status(first))
      p:invalidate()
      local second = assert(p:get())
      assert.not_equal(first, second)
      assert.equal(200, graph_status(second))
      assert.equal(2, #ctl.log(token_path(app.tenant)))
    end)

    it("sends one token request for two coroutines that need a token at once", function()
      local app = secret_app()
      -- A send that yields first, as the ngx transport does while its thread works.
      local function yielding_send(req)
        coroutine.yield("sending")
        return ctl.send(req)
      end
      local p = assert(provider(app, nil, { send = yielding_send,
        sleep = function() coroutine.yield("waiting") end }))
      local got = {}
      local a = coroutine.create(function() got.a = { p:get() } end)
      local b = coroutine.create(function() got.b = { p:get() } end)
      assert.equal("sending", select(2, coroutine.resume(a)))   -- a's request is in flight
      assert.equal("waiting", select(2, coroutine.resume(b)))   -- b waits instead of sending
      assert.is_true(coroutine.resume(a))                       -- a's request completes
      assert.is_true(coroutine.resume(b))
      assert.equal("dead", coroutine.status(a))
      assert.equal("dead", coroutine.status(b))
      assert.truthy(got.a[1])
      assert.equal(got.a[1], got.b[1])
      assert.equal(1, #ctl.log(token_path(app.tenant)))
    end)

    it("refuses a re-entrant token request instead of recursing", function()
      local app = secret_app()
      local p
      local inner
      p = assert(provider(app, nil, { send = function(req)
        inner = { p:get() }
        return ctl.send(req)
      end }))
      assert.truthy(p:get())
      assert.is_nil(inner[1])
      assert.equal("auth", inner[2].kind)
      assert.matches("in progress", inner[2].message)
    end)
  end)

  describe("client certificate", function()
    local function cert_app(cert_path)
      local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"),
                    certificate = certs.read(cert_path or kit.cert) }
      ctl.register(app)
      return app
    end

    local function cert_provider(app, extra)
      local opts = { tenant_id = app.tenant, client_id = app.client_id, client_certificate = kit.both,
                     base_url = server.base_url }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return auth.new(opts, { send = ctl.send })
    end

    it("signs a client assertion the token endpoint accepts", function()
      local app = cert_app()
      local p = assert(cert_provider(app))
      local token = assert(p:get())
      assert.equal(200, graph_status(token))
      local log = ctl.log(token_path(app.tenant))
      assert.equal(1, #log)
      local form = tokens.form(log[1].body)
      assert.equal("client_credentials", form.grant_type)
      assert.equal(app.client_id, form.client_id)
      assert.equal(server.base_url .. "/.default", form.scope)
      assert.equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", form.client_assertion_type)
      assert.is_nil(form.client_secret)

      local h, c = form.client_assertion:match("^([%w_-]+)%.([%w_-]+)%.[%w_-]+$")
      local header = cjson.decode(certs.b64url_decode(h))
      local claims = cjson.decode(certs.b64url_decode(c))
      assert.equal("RS256", header.alg)
      assert.equal(certs.thumbprint(kit.cert, "sha1"), header.x5t)
      assert.equal(certs.thumbprint(kit.cert, "sha256"), header["x5t#S256"])
      assert.equal(server.base_url .. token_path(app.tenant), claims.aud)
      assert.equal(app.client_id, claims.iss)
      assert.equal(app.client_id, claims.sub)
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", claims.jti)
      assert.equal(600, claims.exp - claims.nbf)
      assert.is_true(math.abs(claims.nbf - os.time()) <= 5)
      assert.is_true(certs.verify_rs256(form.client_assertion, kit.cert, kit.dir))
    end)

    it("uses a fresh jti for each assertion", function()
      local app = cert_app()
      local p = assert(cert_provider(app))
      assert(p:get())
      p:invalidate()
      assert(p:get())
      local log = ctl.log(token_path(app.tenant))
      assert.equal(2, #log)
      local function jti(entry)
        local c = tokens.form(entry.body).client_assertion:match("^[^.]+%.([^.]+)")
        return cjson.decode(certs.b64url_decode(c)).jti
      end
      assert.not_equal(jti(log[1]), jti(log[2]))
    end)

    it("takes the key from client_certificate_key when it is apart", function()
      local app = cert_app()
      local p = assert(cert_provider(app, { client_certificate = kit.cert, client_certificate_key = kit.key }))
      assert.equal(200, graph_status(assert(p:get())))
    end)

    it("refuses at construction a key that is not the certificate's", function()
      local app = cert_app()
      local p, err = cert_provider(app, { client_certificate = kit.cert, client_certificate_key = kit.other_key })
      assert.is_nil(p)
      assert.equal("auth", err.kind)
      assert.matches("does not belong", err.message)
      assert.equal(0, #ctl.log(token_path(app.tenant)))
    end)

    it("reports a certificate the app does not have as an auth error", function()
      local app = cert_app(kit.other_cert)
      local token, err = assert(cert_provider(app)):get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.equal("invalid_client", err.code)
      assert.equal("AADSTS700027", err.aadsts)
      assert.is_nil(tostring(err):find("eyJ", 1, true))    -- no assertion in the message
    end)
  end)
end)
