-- Credentials through the client, end to end against the emulator: one token for
-- many requests, 401 InvalidAuthenticationToken -> one renewal and one retry (never a
-- loop), a token function's refusal sending nothing, secrets kept out of debug and
-- what-if output, and the environment variables with their precedence.
local graphcomm = require "graphcomm"
local tokens = require "helpers.tokens"
local cmd = require "helpers.command"

local token_path = tokens.token_path

local function bearer_of(entry)
  local a = entry.headers.authorization
  if type(a) == "table" then a = a[1] end
  return a and a:match("^Bearer (.+)$")
end

describe("credentials through the client", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local function secret_app()
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"),
                  client_secret = "client-secret-" .. tokens.unique("s") }
    ctl.register(app)
    return app
  end

  local function connect(app, extra)
    local opts = { base_url = server.base_url, tenant_id = app.tenant, client_id = app.client_id,
                   client_secret = app.client_secret, getenv = function() return nil end }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(graphcomm.connect(opts))
  end

  it("gets one token for several requests and sends it as the bearer", function()
    local app = secret_app()
    local client = connect(app)
    local crid = ctl.generate(1)
    assert(client:get_call_record(crid))
    assert(client:get_call_record(crid))
    local issued = ctl.log(token_path(app.tenant))
    assert.equal(1, #issued)
    local graph = ctl.log(crid)
    assert.equal(2, #graph)
    assert.equal(bearer_of(graph[1]), bearer_of(graph[2]))
    assert.truthy(bearer_of(graph[1]))
    assert.not_equal(server.token, bearer_of(graph[1]))
    client:close()
  end)

  it("works with a client certificate", function()
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"), certificate = kit.read("cert") }
    ctl.register(app)
    local client = assert(graphcomm.connect({ base_url = server.base_url, tenant_id = app.tenant,
      client_id = app.client_id, client_certificate = kit.both, getenv = function() return nil end }))
    local crid = ctl.generate(1)
    assert(client:get_call_record(crid))
    assert.equal(1, #ctl.log(token_path(app.tenant)))
    client:close()
  end)

  it("renews once on 401 InvalidAuthenticationToken and retries the request", function()
    local app = secret_app()
    local client = connect(app)
    local crid = ctl.generate(1)
    assert(client:get_call_record(crid))
    ctl.expire()
    assert(client:get_call_record(crid))
    local graph = ctl.log(crid)
    assert.equal(3, #graph)                        -- 200, then 401 and its retry
    assert.equal(bearer_of(graph[1]), bearer_of(graph[2]))
    assert.not_equal(bearer_of(graph[2]), bearer_of(graph[3]))
    assert.equal(2, #ctl.log(token_path(app.tenant)))
    client:close()
  end)

  it("never loops: a second 401 is the answer", function()
    local app = secret_app()
    local client = connect(app)
    local crid = ctl.generate(1)
    ctl.call("POST", "/_emulator/faults", { match = crid, status = 401, count = 5 })
    local ok, err = client:get_call_record(crid)
    assert.is_nil(ok)
    assert.equal(401, err.status)
    assert.equal("InvalidAuthenticationToken", err.code)
    assert.equal(2, #ctl.log(crid))                -- the request and one retry
    assert.equal(2, #ctl.log(token_path(app.tenant)))
    ctl.call("DELETE", "/_emulator/faults")
    client:close()
  end)

  it("does not retry a fixed token string that Graph refuses", function()
    local app = secret_app()
    local issuer = connect(app)
    local crid = ctl.generate(1)
    assert(issuer:get_call_record(crid))
    local token = bearer_of(ctl.log(crid)[1])
    issuer:close()
    ctl.expire()
    local client = assert(graphcomm.connect({ base_url = server.base_url, token = token,
      getenv = function() return nil end }))
    local ok, err = client:get_call_record(crid)
    assert.is_nil(ok)
    assert.equal(401, err.status)
    assert.equal(2, #ctl.log(crid))                -- the issuer's request and this one only
    client:close()
  end)

  it("sends nothing when the token function answers nil, msg", function()
    local crid = ctl.generate(1)
    local client = assert(graphcomm.connect({ base_url = server.base_url,
      token = function() return nil, "the vault is sealed" end, getenv = function() return nil end }))
    local ok, err = client:get_call_record(crid)
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert.matches("the vault is sealed", tostring(err))
    ok, err = client:update_session(crid, "any-session", { isTest = true })
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert.equal(0, #ctl.log(crid))
    client:close()
  end)

  it("uses a token function's token, cached for its expires_in", function()
    local crid = ctl.generate(1)
    local calls = 0
    local client = assert(graphcomm.connect({ base_url = server.base_url,
      token = function() calls = calls + 1; return server.token, 3600 end, getenv = function() return nil end }))
    assert(client:get_call_record(crid))
    assert(client:get_call_record(crid))
    assert.equal(1, calls)
    assert.equal(server.token, bearer_of(ctl.log(crid)[1]))
    client:close()
  end)

  it("keeps the secret, the assertion and the tokens out of debug and what-if output", function()
    local app = secret_app()
    local lines = {}
    local client = connect(app, { debug = function(line) lines[#lines + 1] = line end })
    local crid, sids = ctl.generate(1)
    assert(client:get_call_record(crid))
    ctl.expire()
    assert(client:get_call_record(crid))       -- through a 401 and a renewal
    local shown = assert(client:update_session(crid, sids[1], { isTest = true }, { what_if = true }))
    local seen = {}
    for _, e in ipairs(ctl.log(crid)) do seen[#seen + 1] = bearer_of(e) end
    assert.equal(3, #seen)                      -- 200, 401, and the retry with a new token
    assert.not_equal(seen[1], seen[3])
    assert.truthy(#lines > 0)
    local all = table.concat(lines, "\n") .. "\n" .. shown.url .. "\n" .. tostring(shown.body)
    for k, v in pairs(shown.headers) do all = all .. "\n" .. k .. ": " .. v end
    assert.is_nil(all:find(app.client_secret, 1, true))
    for _, t in ipairs(seen) do assert.is_nil(all:find(t, 1, true)) end
    assert.is_nil(all:find("client_assertion", 1, true))
    assert.equal("Bearer <redacted>", shown.headers.Authorization or shown.headers.authorization)
    client:close()
  end)

  describe("environment", function()
    it("reads AZURE_* through connect's getenv, and explicit options win", function()
      local app = secret_app()
      local vars = { GRAPHCOMM_BASE_URL = server.base_url, AZURE_TENANT_ID = app.tenant,
                     AZURE_CLIENT_ID = app.client_id, AZURE_CLIENT_SECRET = app.client_secret }
      local client = assert(graphcomm.connect({ getenv = function(n) return vars[n] end }))
      local crid = ctl.generate(1)
      assert(client:get_call_record(crid))
      assert.equal(1, #ctl.log(token_path(app.tenant)))
      client:close()
      -- an explicit token beats the AZURE_* credentials: no token request
      client = assert(graphcomm.connect({ token = server.token, getenv = function(n) return vars[n] end }))
      assert(client:get_call_record(crid))
      assert.equal(1, #ctl.log(token_path(app.tenant)))
      assert.equal(server.token, bearer_of(ctl.log(crid)[2]))
      client:close()
    end)

    it("lets GRAPHCOMM_TOKEN win over AZURE_* for the command line", function()
      local app = secret_app()
      local crid = ctl.generate(1)
      local env = { GRAPHCOMM_BASE_URL = server.base_url, AZURE_TENANT_ID = app.tenant,
                    AZURE_CLIENT_ID = app.client_id, AZURE_CLIENT_SECRET = app.client_secret }
      local code, out, err = cmd.run({ cmd.lua, "bin/graphcomm", "get", crid }, env)
      assert.equal(0, code, err)
      assert.truthy(out:find(crid, 1, true))
      assert.equal(1, #ctl.log(token_path(app.tenant)))
      env.GRAPHCOMM_TOKEN = server.token
      env.AZURE_CLIENT_SECRET = "wrong-secret"
      code, out, err = cmd.run({ cmd.lua, "bin/graphcomm", "get", crid }, env)
      assert.equal(0, code, err)
      assert.equal(1, #ctl.log(token_path(app.tenant)))
      env.GRAPHCOMM_TOKEN = nil
      code, out, err = cmd.run({ cmd.lua, "bin/graphcomm", "get", crid }, env)
      assert.equal(1, code)
      assert.truthy(err:find("AADSTS7000215", 1, true), err)
      assert.is_nil(err:find("wrong-secret", 1, true))
    end)
  end)
end)
