-- Managed identity against the emulator's IMDS and App Service endpoints: the requests
-- as sent, user-assigned identities, expiry and renewal on an injected clock, and the
-- refusals (no endpoint configured: an error at construction, nothing sent anywhere;
-- graphcomm never falls back to the VM metadata address on its own).
local auth = require "graphcomm.auth"
local graphcomm = require "graphcomm"
local tokens = require "helpers.tokens"

local env = tokens.env

describe("managed identity", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local secret_header = "x-identity-" .. tokens.unique("h")
  local function identity(v) return ctl.call("POST", "/_emulator/identities", v) end

  before_each(function()
    ctl.call("DELETE", "/_emulator/identities")
    ctl.call("DELETE", "/_emulator/requests")
    identity({ identity_header = secret_header })
  end)

  local function app_service_env(extra)
    local vars = { IDENTITY_ENDPOINT = server.base_url .. "/msi/token", IDENTITY_HEADER = secret_header }
    for k, v in pairs(extra or {}) do vars[k] = v end
    return vars
  end

  local function provider(opts, vars, deps)
    opts.base_url = opts.base_url or server.base_url
    deps = deps or {}
    deps.send = deps.send or ctl.send
    return auth.new(auth.resolve(opts, env(vars or {})), deps)
  end

  local function graph_status(token) return ctl.graph_status(token) end

  local function query_of(entry)
    return tokens.form((entry.path:match("%?(.*)$")))
  end

  describe("App Service flow", function()
    it("sends X-IDENTITY-HEADER and api-version 2019-08-01 and gets a token Graph accepts", function()
      identity({ system = true })
      local p = assert(provider({ managed_identity = true }, app_service_env()))
      assert.equal("app service", p.flow)
      local token = assert(p:get())
      assert.equal(200, graph_status(token))
      local log = ctl.log("/msi/token")
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal(secret_header, log[1].headers["x-identity-header"])
      assert.same({ ["api-version"] = "2019-08-01", resource = server.base_url }, query_of(log[1]))
    end)

    it("names a user-assigned identity by client_id, object_id or mi_res_id", function()
      identity({ client_id = "uai-client", object_id = "uai-object", mi_res_id = "/subscriptions/s/uai" })
      for _, pick in ipairs({ { client_id = "uai-client" }, { object_id = "uai-object" },
                              { mi_res_id = "/subscriptions/s/uai" } }) do
        ctl.call("DELETE", "/_emulator/requests")
        local p = assert(provider({ managed_identity = pick }, app_service_env()))
        assert.equal(200, graph_status(assert(p:get())))
        local q = query_of(ctl.log("/msi/token")[1])
        local k, v = next(pick)
        assert.equal(v, q[k])
      end
    end)

    it("takes AZURE_CLIENT_ID as the user-assigned identity when managed_identity names none", function()
      identity({ client_id = "from-env-client" })
      local p = assert(provider({ managed_identity = true }, app_service_env({ AZURE_CLIENT_ID = "from-env-client" })))
      assert.truthy(p:get())
      assert.equal("from-env-client", query_of(ctl.log("/msi/token")[1]).client_id)
    end)

    it("reports a wrong header as an auth error without the header in it", function()
      identity({ system = true })
      local wrong = "wrong-header-" .. tokens.unique("w")
      local p = assert(provider({ managed_identity = true }, app_service_env({ IDENTITY_HEADER = wrong })))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.matches("X%-IDENTITY%-HEADER", err.message)
      assert.is_nil(tostring(err):find(wrong, 1, true))
    end)

    it("reports an identity the platform does not have", function()
      local p = assert(provider({ managed_identity = { client_id = "nobody" } }, app_service_env()))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal(400, err.status)
      assert.matches("managed identity %(app service%)", tostring(err))
    end)
  end)

  describe("IMDS flow", function()
    it("sends Metadata: true and api-version 2018-02-01 to AZURE_POD_IDENTITY_AUTHORITY_HOST", function()
      identity({ system = true })
      local p = assert(provider({ managed_identity = true },
        { AZURE_POD_IDENTITY_AUTHORITY_HOST = server.base_url }))
      assert.equal("imds", p.flow)
      local token = assert(p:get())
      assert.equal(200, graph_status(token))
      local log = ctl.log("/metadata/identity/oauth2/token")
      assert.equal(1, #log)
      assert.equal("true", log[1].headers["metadata"])
      assert.is_nil(log[1].headers["x-identity-header"])
      assert.same({ ["api-version"] = "2018-02-01", resource = server.base_url }, query_of(log[1]))
    end)

    describe("retries", function()
      local IMDS = { AZURE_POD_IDENTITY_AUTHORITY_HOST = nil }
      local waits
      local function sleep(s) waits[#waits + 1] = s end
      before_each(function()
        waits = {}
        IMDS.AZURE_POD_IDENTITY_AUTHORITY_HOST = server.base_url
        identity({ system = true })
        ctl.call("DELETE", "/_emulator/faults")
      end)
      after_each(function() ctl.call("DELETE", "/_emulator/faults") end)
      local function fault(rule)
        rule.match = "/metadata/identity"
        ctl.call("POST", "/_emulator/faults", rule)
      end

      it("asks again while IMDS says 410 or 503, doubling the wait or taking Retry-After", function()
        fault{ status = 410, count = 2 }
        fault{ status = 503, count = 1, retry_after = 7 }
        local p = assert(provider({ managed_identity = true }, IMDS, { sleep = sleep }))
        local token = assert(p:get())
        assert.equal(200, graph_status(token))
        assert.equal(4, #ctl.log("/metadata/identity"))
        assert.same({ 1, 2, 7 }, waits)
      end)

      it("gives up after five retries with the endpoint's status, and never retries a 400", function()
        fault{ status = 500, count = -1 }
        local p = assert(provider({ managed_identity = true }, IMDS, { sleep = sleep }))
        local token, err = p:get()
        assert.is_nil(token)
        assert.equal(500, err.status)
        assert.equal(6, #ctl.log("/metadata/identity"))
        assert.same({ 1, 2, 4, 8, 16 }, waits)
        ctl.call("DELETE", "/_emulator/faults")
        ctl.call("DELETE", "/_emulator/requests")
        fault{ status = 400, count = -1 }
        waits = {}
        token, err = assert(provider({ managed_identity = true }, IMDS, { sleep = sleep })):get()
        assert.is_nil(token)
        assert.equal(400, err.status)
        assert.equal(1, #ctl.log("/metadata/identity"))
        assert.same({}, waits)
      end)

      it("caps a long Retry-After, and without a sleep does not retry", function()
        fault{ status = 429, count = 1, retry_after = 3600 }
        assert(assert(provider({ managed_identity = true }, IMDS, { sleep = sleep })):get())
        assert.same({ 60 }, waits)
        fault{ status = 503, count = 1 }
        local token, err = assert(provider({ managed_identity = true }, IMDS)):get()
        assert.is_nil(token)
        assert.equal(503, err.status)
      end)
    end)

    it("sends mi_res_id as IMDS's msi_res_id", function()
      identity({ mi_res_id = "/subscriptions/s/rg/uai2" })
      local p = assert(provider({ managed_identity = { mi_res_id = "/subscriptions/s/rg/uai2" } },
        { AZURE_POD_IDENTITY_AUTHORITY_HOST = server.base_url .. "/" }))
      assert.truthy(p:get())
      assert.equal("/subscriptions/s/rg/uai2", query_of(ctl.log("/metadata/identity")[1]).msi_res_id)
    end)

    it("caches the token and renews it before expiry on the injected clock", function()
      identity({ system = true, expires_in = 3600 })
      local now = 5000
      local p = assert(provider({ managed_identity = true }, { AZURE_POD_IDENTITY_AUTHORITY_HOST = server.base_url },
        { now = function() return now end }))
      local first = assert(p:get())
      now = now + 3600 - 301
      assert.equal(first, p:get())
      assert.equal(1, #ctl.log("/metadata/identity"))
      now = now + 2
      local second = assert(p:get())
      assert.not_equal(first, second)
      assert.equal(2, #ctl.log("/metadata/identity"))
      p:invalidate()
      assert.not_equal(second, assert(p:get()))
    end)
  end)

  describe("refusals", function()
    it("refuses managed identity without a configured endpoint, before sending anything", function()
      local sent = 0
      local p, err = provider({ managed_identity = true }, {}, { send = function() sent = sent + 1 end })
      assert.is_nil(p)
      assert.equal("auth", err.kind)
      assert.matches("no endpoint configured", err.message)
      assert.matches("default_imds = true", err.message)
      assert.equal(0, sent)
    end)

    it("uses the VM metadata address only when allowed explicitly (nothing is sent in this spec)", function()
      local function never(req) error("nothing may be sent: " .. tostring(req.url)) end
      for _, case in ipairs({
        { { managed_identity = { default_imds = true } }, {} },
        { {}, { GRAPHCOMM_MANAGED_IDENTITY = "imds" } },
      }) do
        local p = assert(provider(case[1], case[2], { send = never }))
        assert.equal("imds", p.flow)
        assert.equal("http://169.254.169.254/metadata/identity/oauth2/token", p.endpoint)
      end
      local p, err = provider({}, { GRAPHCOMM_MANAGED_IDENTITY = "1" }, { send = never })
      assert.is_nil(p)
      assert.matches("no endpoint configured", tostring(err))
    end)

    it("is not used unless asked, even with the platform's variables set", function()
      local p, err = provider({}, app_service_env({ AZURE_POD_IDENTITY_AUTHORITY_HOST = server.base_url }))
      assert.is_nil(p)
      assert.matches("managed identity: not enabled", tostring(err))
      assert.equal(0, #ctl.log("/msi/token"))
    end)

    it("is enabled by GRAPHCOMM_MANAGED_IDENTITY=1 after the AZURE_* credentials", function()
      identity({ system = true })
      local p = assert(provider({}, app_service_env({ GRAPHCOMM_MANAGED_IDENTITY = "1" })))
      assert.equal("managed identity", p.kind)
      assert.truthy(p:get())
    end)

    it("refuses bad managed_identity values with auth errors", function()
      local cases = {
        { "yes", "must be true or a table" },
        { { client_id = "a", object_id = "b" }, "one of client_id" },
        { { clientid = "a" }, "unknown field clientid" },
        { { client_id = 5 }, "client_id must be a non%-empty string" },
        { { client_id = "a\nb" }, "control characters" },
        { { default_imds = "yes" }, "default_imds must be true or false" },
      }
      for _, c in ipairs(cases) do
        local p, err = provider({ managed_identity = c[1] }, app_service_env())
        assert.is_nil(p)
        assert.matches(c[2], err.message)
      end
      local p, err = provider({ managed_identity = true }, app_service_env({ IDENTITY_HEADER = "a\r\nX: y" }))
      assert.is_nil(p)
      assert.matches("IDENTITY_HEADER contains CR", err.message)
      p, err = provider({ managed_identity = true }, app_service_env({ IDENTITY_ENDPOINT = "http://10.1.2.3/msi/token" }))
      assert.is_nil(p)
      assert.matches("IDENTITY_ENDPOINT must use https", err.message)
      p, err = provider({ managed_identity = true }, { AZURE_POD_IDENTITY_AUTHORITY_HOST = "ftp://x" })
      assert.is_nil(p)
      assert.matches("not an http%(s%) URL", err.message)
    end)
  end)

  it("works through connect", function()
    identity({ system = true })
    local client = assert(graphcomm.connect({ base_url = server.base_url, managed_identity = true,
      getenv = env(app_service_env()) }))
    local crid = ctl.generate(1)
    assert(client:get_call_record(crid))
    assert.equal(1, #ctl.log("/msi/token"))
    client:close()
  end)
end)
