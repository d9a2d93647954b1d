-- lua/graphcomm/auth.lua without a network: token strings and functions,
-- option checks, authority and scope choice, and the environment's precedence.
local auth = require "graphcomm.auth"
local tokens = require "helpers.tokens"

-- A send that must never be reached: these providers need no token endpoint.
local function no_send(req) error("unexpected request to " .. tostring(req.url)) end

describe("auth", function()
  describe("token string", function()
    it("gives the token back and is not renewable", function()
      local p = assert(auth.new({ token = "eyJ0.abc" }))
      assert.equal("eyJ0.abc", p:get())
      assert.equal("eyJ0.abc", p:get(true))
      p:invalidate()
      assert.equal("eyJ0.abc", p:get())
      assert.is_false(p.renewable)
    end)

    it("refuses CR, LF, NUL and empty tokens with an auth error", function()
      for _, bad in ipairs({ "a\r\nX-Evil: 1", "a\nb", "a\0b", "" }) do
        local p, err = auth.new({ token = bad })
        assert.is_nil(p)
        assert.equal("auth", err.kind)
      end
    end)

    it("does not show the token when the provider is printed or walked", function()
      local p = assert(auth.new({ token = "very-secret-token" }))
      assert.not_matches("very%-secret%-token", tostring(p))
      for _, v in pairs(p) do assert.not_equal("very-secret-token", v) end
    end)

    it("raises for options that are not a table", function()
      assert.has_error(function() auth.new("token") end)
    end)
  end)

  describe("token function", function()
    it("is asked on every get when it gives no expires_in", function()
      local calls = 0
      local p = assert(auth.new({ token = function() calls = calls + 1; return "t" .. calls end }))
      assert.equal("t1", p:get())
      assert.equal("t2", p:get())
      assert.equal(2, calls)
    end)

    it("is cached until the renewal point when it gives expires_in", function()
      local now, calls = 1000, 0
      local p = assert(auth.new({ token = function() calls = calls + 1; return "t" .. calls, 3600 end },
        { now = function() return now end }))
      assert.equal("t1", p:get())
      now = 1000 + 3600 - 301
      assert.equal("t1", p:get())
      now = 1000 + 3600 - 300          -- 5 minutes before expiry: renewed
      assert.equal("t2", p:get())
      assert.equal(2, calls)
    end)

    it("renews short tokens at half-life", function()
      local now, calls = 0, 0
      local p = assert(auth.new({ token = function() calls = calls + 1; return "t" .. calls, 2 end },
        { now = function() return now end }))
      assert.equal("t1", p:get())
      now = 0.9
      assert.equal("t1", p:get())
      now = 1.0
      assert.equal("t2", p:get())
    end)

    it("renews after invalidate, and on force_refresh", function()
      local calls = 0
      local p = assert(auth.new({ token = function() calls = calls + 1; return "t" .. calls, 3600 end }))
      assert.equal("t1", p:get())
      p:invalidate()
      assert.equal("t2", p:get())
      assert.equal("t3", p:get(true))
      assert.is_true(p.renewable)
    end)

    it("turns nil, msg into an auth error carrying msg", function()
      local p = assert(auth.new({ token = function() return nil, "vault is sealed" end }))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.matches("vault is sealed", tostring(err))
    end)

    it("turns a raised error, a bad token and a bad expires_in into auth errors", function()
      local cases = {
        function() error("boom") end,
        function() return 42 end,
        function() return "line\nbreak" end,
        function() return "ok", "soon" end,
      }
      for _, fn in ipairs(cases) do
        local token, err = assert(auth.new({ token = fn })):get()
        assert.is_nil(token)
        assert.equal("auth", err.kind)
      end
    end)

    it("keeps a still-valid token when an early renewal fails", function()
      local now, fail = 0, false
      local p = assert(auth.new({ token = function()
        if fail then return nil, "down" end
        return "t", 3600
      end }, { now = function() return now end }))
      assert.equal("t", p:get())
      fail, now = true, 3400              -- past the renewal point, before expiry
      assert.equal("t", p:get())
      now = 3600                          -- expired: the failure shows
      local token, err = p:get()
      assert.is_nil(token)
      assert.matches("down", err.message)
    end)
  end)

  describe("client credentials", function()
    local base = { tenant_id = "contoso.onmicrosoft.com", client_id = "11111111-2222-3333-4444-555555555555",
                   client_secret = "s3cret~value" }
    local function with(extra)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end

    it("builds the token URL and scope from the environment's clouds", function()
      local cases = {
        { {}, "https://login.microsoftonline.com", "https://graph.microsoft.com/.default" },
        { { environment = "USGov" }, "https://login.microsoftonline.us", "https://graph.microsoft.us/.default" },
        { { environment = "USGovDoD" }, "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/.default" },
        { { environment = "china" }, "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default" },
        { { base_url = "https://graph.microsoft.us/" }, "https://login.microsoftonline.us", "https://graph.microsoft.us/.default" },
        { { authority = "login.example.net/" }, "https://login.example.net", "https://graph.microsoft.com/.default" },
        { { base_url = "http://127.0.0.1:8081" }, "http://127.0.0.1:8081", "http://127.0.0.1:8081/.default" },
      }
      for _, c in ipairs(cases) do
        local p = assert(auth.new(with(c[1]), { send = no_send }))
        assert.equal(c[2] .. "/contoso.onmicrosoft.com/oauth2/v2.0/token", p.token_url)
        assert.equal(c[3], p.scope)
      end
    end)

    it("refuses an unknown environment, plain http to a remote authority and bad ids", function()
      local cases = {
        { environment = "Mars" },
        { authority = "http://login.example.net" },
        { tenant_id = "a/b" },
        { tenant_id = "" },
        { client_id = "x\ny" },
        { client_secret = "" },
        { authority = 5 },
      }
      for _, c in ipairs(cases) do
        local p, err = auth.new(with(c), { send = no_send })
        assert.is_nil(p)
        assert.equal("auth", err.kind)
      end
    end)

    it("needs a transport", function()
      assert.has_error(function() auth.new(base) end)
    end)

    it("reports a missing certificate file at construction", function()
      local p, err = auth.new(with({ client_secret = false, client_certificate = "/nonexistent/app.pem" }),
        { send = no_send })
      -- client_secret = false is a bad secret: it must not fall through silently
      assert.is_nil(p)
      assert.equal("auth", err.kind)
      p, err = auth.new({ tenant_id = "t", client_id = "c", client_certificate = "/nonexistent/app.pem" },
        { send = no_send })
      assert.is_nil(p)
      assert.matches("client_certificate", err.message)
    end)

    it("does not show the secret when the provider is printed or walked", function()
      local p = assert(auth.new(base, { send = no_send }))
      assert.not_matches("s3cret", tostring(p))
      for _, v in pairs(p) do assert.not_equal("s3cret~value", v) end
    end)
  end)

  describe("no credentials", function()
    it("is an auth error naming what to give", function()
      local p, err = auth.new({})
      assert.is_nil(p)
      assert.equal("auth", err.kind)
      assert.matches("GRAPHCOMM_TOKEN", err.message)
    end)
  end)

  describe("resolve", function()
    local env = tokens.env
    local all = {
      GRAPHCOMM_TOKEN = "env-token", AZURE_TENANT_ID = "env-tenant", AZURE_CLIENT_ID = "env-client",
      AZURE_CLIENT_SECRET = "env-secret", AZURE_CLIENT_CERTIFICATE_PATH = "/env/app.pem",
      AZURE_AUTHORITY_HOST = "https://login.env.example",
    }

    it("lets GRAPHCOMM_TOKEN win over the AZURE_* credentials", function()
      local o = auth.resolve({}, env(all))
      assert.equal("env-token", o.token)
      assert.is_nil(o.client_secret)
      assert.is_nil(o.client_certificate)
    end)

    it("takes the secret before the certificate", function()
      local vars = {}
      for k, v in pairs(all) do vars[k] = v end
      vars.GRAPHCOMM_TOKEN = nil
      local o = auth.resolve({}, env(vars))
      assert.equal("env-secret", o.client_secret)
      assert.is_nil(o.client_certificate)
      assert.equal("env-tenant", o.tenant_id)
      assert.equal("env-client", o.client_id)
      assert.equal("https://login.env.example", o.authority)
      vars.AZURE_CLIENT_SECRET = ""       -- empty counts as unset
      o = auth.resolve({}, env(vars))
      assert.equal("/env/app.pem", o.client_certificate)
    end)

    it("lets explicit options win over every variable", function()
      local o = auth.resolve({ client_secret = "mine", tenant_id = "my-tenant", authority = "https://a.example" },
        env(all))
      assert.is_nil(o.token)
      assert.equal("mine", o.client_secret)
      assert.equal("my-tenant", o.tenant_id)
      assert.equal("env-client", o.client_id)      -- not given: from the environment
      assert.equal("https://a.example", o.authority)
      o = auth.resolve({ token = "explicit" }, env(all))
      assert.equal("explicit", o.token)
      assert.is_nil(o.client_secret)
    end)

    it("copies, leaving the caller's table alone", function()
      local mine = { base_url = "http://127.0.0.1:1" }
      local o = auth.resolve(mine, env(all))
      assert.is_nil(mine.token)
      assert.equal("http://127.0.0.1:1", o.base_url)
    end)
  end)

  describe("form_encode", function()
    it("escapes everything outside RFC 3986's unreserved characters", function()
      assert.equal("a=b%20c&secret=%2B%2F%3D%26~._-",
        auth.form_encode({ "a", "b c", "secret", "+/=&~._-" }))
    end)
  end)

  describe("token_cache at connect", function()
    it("raises for a misspelt field, with a did-you-mean, whatever the credential", function()
      local graphcomm = require "graphcomm"
      for _, o in ipairs({ { token = "eyJ0.abc" },
          { tenant_id = "t", client_id = "c", client_secret = "s3cret-value" } }) do
        o.base_url, o.token_cache = "http://127.0.0.1:9", { pth = "/tmp/x" }
        local ok, err = pcall(graphcomm.connect, o)
        assert.is_false(ok)
        assert.matches("bad argument #1 to 'connect' %(option token_cache: unknown field 'pth'; "
          .. "did you mean 'path'%?", err)
        assert.not_matches("s3cret", err)
      end
      assert.has_error(function()
        graphcomm.connect{ token = "eyJ0.abc", base_url = "http://127.0.0.1:9", token_cache = 5 }
      end)
      local ok, err = pcall(graphcomm.connect, { token = "eyJ0.abc", base_url = "http://127.0.0.1:9",
        token_cache = "fiel" })
      assert.is_false(ok)
      assert.matches("option token_cache: unknown value 'fiel'; did you mean 'file'?", err, 1, true)
      local long = "eyJ0" .. string.rep("x", 200)     -- a token in the wrong place is not echoed
      ok, err = pcall(graphcomm.connect, { token = "eyJ0.abc", base_url = "http://127.0.0.1:9",
        token_cache = long })
      assert.is_false(ok)
      assert.matches("a string of 204 bytes", err, 1, true)
      assert.is_nil(err:find("xxxx", 1, true))
      local _, cerr = require("graphcomm.auth_cache").settings(long)   -- auth.new's own check
      assert.matches("got a string of 204 bytes", tostring(cerr), 1, true)
      assert.is_nil(tostring(cerr):find("xxxx", 1, true))
      local c = assert(graphcomm.connect{ token = "eyJ0.abc", base_url = "http://127.0.0.1:9",
        token_cache = { path = "/tmp/graphcomm-never-used" } })
      c:close()
    end)
  end)
end)
