-- Workload identity federation against the emulator: the platform's token (from
-- AZURE_FEDERATED_TOKEN_FILE) sent as the client assertion, checked there against a
-- registered issuer and subject (and the issuer's signing certificate); the file read
-- again only when the token it gave nears its expiry (an injected wall clock); refusals.
local auth = require "graphcomm.auth"
local cjson = require "cjson"
local core = require "graphcomm.core"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"

local env = tokens.env

describe("workload identity federation", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local ISSUER = "https://oidc.prod-aks.example/11111111-2222/"
  local SUBJECT = "system:serviceaccount:calls:graphcomm"

  local function fed_app(extra)
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"),
      federated = { issuer = ISSUER, subject = SUBJECT, certificate = kit.read("cert") } }
    for k, v in pairs(extra or {}) do app.federated[k] = v end
    ctl.register(app)
    return app
  end

  -- A token as the platform issues it, signed by the issuer's key (kit.key).
  local function platform_token(claims)
    local c = { iss = ISSUER, sub = SUBJECT, aud = { "api://AzureADTokenExchange" },
      exp = os.time() + 3600, iat = os.time(), jti = core.uuid4() }
    for k, v in pairs(claims or {}) do c[k] = v end
    return assert(core.jwt_rs256(cjson.encode({ alg = "RS256", typ = "JWT", kid = "k1" }),
      cjson.encode(c), kit.read("key")))
  end

  local n = 0
  local function token_file(text)
    n = n + 1
    local path = kit.dir .. "/federated-" .. n
    certs.write(path, text)
    return path
  end

  local function provider(app, path, deps, extra)
    local opts = { tenant_id = app.tenant, client_id = app.client_id, federated_token_file = path,
      base_url = server.base_url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    deps = deps or {}
    deps.send = ctl.send
    return auth.new(opts, deps)
  end

  local function sent_assertions(app)
    local out = {}
    for i, e in ipairs(ctl.log(tokens.token_path(app.tenant))) do out[i] = tokens.form(e.body) end
    return out
  end

  it("sends the file's token as a jwt-bearer client assertion and gets a token", function()
    local app = fed_app()
    local fed = platform_token()
    local p = assert(provider(app, token_file(fed .. "\n")))
    assert.equal("federated token", p.kind)
    assert.truthy(p:get())
    local form = sent_assertions(app)[1]
    assert.equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", form.client_assertion_type)
    assert.equal(fed, form.client_assertion)
    assert.equal(app.client_id, form.client_id)
    assert.equal("client_credentials", form.grant_type)
    assert.is_nil(form.client_secret)
  end)

  it("reads the variables AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE", function()
    local app = fed_app()
    local path = token_file(platform_token())
    local o = auth.resolve({ base_url = server.base_url }, env({ AZURE_TENANT_ID = app.tenant,
      AZURE_CLIENT_ID = app.client_id, AZURE_FEDERATED_TOKEN_FILE = path }))
    assert.equal(path, o.federated_token_file)
    local p = assert(auth.new(o, { send = ctl.send }))
    assert.truthy(p:get())
  end)

  it("reads the file again only when its token is near expiry", function()
    local app = fed_app()
    local a = platform_token({ exp = os.time() + 3600 })
    local path = token_file(a)
    local wall = os.time()
    local p = assert(provider(app, path, { time = function() return wall end }))
    assert.truthy(p:get())
    local b = platform_token({ exp = os.time() + 7200 })
    certs.write(path, b)                       -- the platform rotates the file
    p:invalidate()
    assert.truthy(p:get())
    wall = os.time() + 3600 - 299              -- a's exp is 299 s away: read again
    p:invalidate()
    assert.truthy(p:get())
    local sent = sent_assertions(app)
    assert.equal(3, #sent)
    assert.equal(a, sent[1].client_assertion)
    assert.equal(a, sent[2].client_assertion)
    assert.equal(b, sent[3].client_assertion)
  end)

  it("reads an opaque (non-JWT) token again for every request", function()
    local app = fed_app({ certificate = false })
    local path = token_file("opaque-one")
    local p = assert(provider(app, path))
    local _, err = p:get()                      -- the emulator refuses it: not a JWT
    assert.equal("auth", err.kind)
    certs.write(path, "opaque-two")
    p:get()
    local sent = sent_assertions(app)
    assert.equal("opaque-one", sent[1].client_assertion)
    assert.equal("opaque-two", sent[2].client_assertion)
  end)

  it("refuses a token the file still holds after it expired, sending nothing", function()
    local app = fed_app()
    local path = token_file(platform_token({ exp = os.time() + 100 }))
    local p = assert(provider(app, path, { time = function() return os.time() + 200 end }))
    local token, err = p:get()
    assert.is_nil(token)
    assert.matches("has expired", err.message)
    assert.equal(0, #sent_assertions(app))
  end)

  it("reports a subject, an issuer or a signature the app does not trust", function()
    local cases = {
      { { sub = "system:serviceaccount:other:x" }, "AADSTS70021" },
      { { iss = "https://evil.example/" }, "AADSTS700211" },
      { { aud = "api://Something" }, "AADSTS700212" },
    }
    for _, c in ipairs(cases) do
      local app = fed_app()
      local _, err = assert(provider(app, token_file(platform_token(c[1])))):get()
      assert.equal("auth", err.kind)
      assert.equal(c[2], err.aadsts)
    end
    local app = fed_app({ certificate = kit.read("other_cert") })
    local _, err = assert(provider(app, token_file(platform_token()))):get()
    assert.equal("AADSTS700027", err.aadsts)
  end)

  it("refuses a missing or empty file at construction", function()
    local app = fed_app()
    local p, err = provider(app, kit.dir .. "/no-such-file")
    assert.is_nil(p)
    assert.matches("cannot open federated token file", err.message)
    p, err = provider(app, token_file(" \n"))
    assert.is_nil(p)
    assert.matches("is empty", err.message)
    p, err = provider(app, token_file("a\0b"))
    assert.is_nil(p)
    assert.matches("CR, LF or NUL", err.message)
    p, err = provider(app, 42)
    assert.is_nil(p)
    assert.matches("federated_token_file must be a file path", err.message)
    assert.equal(0, #sent_assertions(app))
  end)
end)
