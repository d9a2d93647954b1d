-- Certificates beyond one PEM pair: the x5c header (send_certificate_chain) checked by
-- the emulator against a registered root and subject, PEM bundles with a chain in any
-- order, PKCS #12 (.pfx) files with or without a password; refusals. The certificates
-- are made by the openssl CLI into a temporary folder.
local auth = require "graphcomm.auth"
local cjson = require "cjson"
local core = require "graphcomm.core"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"

local env = tokens.env

describe("certificate chains and PKCS #12", function()
  local server, ctl, kit, chain
  setup(function()
    server, ctl, kit = tokens.start()
    chain = certs.make_chain(kit)
  end)
  teardown(function() tokens.stop(server, kit) end)

  local function sni_app(root)
    local app = { tenant = tokens.unique("t"), client_id = tokens.unique("app"),
      trusted_root = certs.read(root or chain.root), subject = chain.subject }
    ctl.register(app)
    return app
  end

  local function provider(app, extra)
    local opts = { tenant_id = app.tenant, client_id = app.client_id, base_url = server.base_url,
      client_certificate = chain.bundle }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return auth.new(opts, { send = ctl.send })
  end

  local function sent_header(app)
    local log = ctl.log(tokens.token_path(app.tenant))
    local a = tokens.form(log[#log].body).client_assertion
    return cjson.decode(certs.b64url_decode(a:match("^([^.]+)")))
  end

  local function der_b64(path)
    return certs.capture(("openssl x509 -in %s -outform DER | base64 -w0"):format(path))
  end

  it("sends the chain, leaf first, as x5c and passes subject name and issuer authentication", function()
    local app = sni_app()
    local p = assert(provider(app, { send_certificate_chain = true }))
    assert.truthy(p:get())
    local h = sent_header(app)
    assert.same({ der_b64(chain.leaf), der_b64(chain.inter), der_b64(chain.root) }, h.x5c)
    assert.equal(certs.thumbprint(chain.leaf, "sha1"), h.x5t)
  end)

  it("puts the key's own certificate first whatever the order in the bundle", function()
    local app = sni_app()
    local p = assert(provider(app, { send_certificate_chain = true, client_certificate = chain.shuffled }))
    assert.truthy(p:get())
    local h = sent_header(app)
    assert.equal(der_b64(chain.leaf), h.x5c[1])
    assert.equal(3, #h.x5c)
  end)

  it("sends no x5c unless asked, which an app set up for subject name auth refuses", function()
    local app = sni_app()
    local _, err = assert(provider(app)):get()
    assert.equal("AADSTS700027", err.aadsts)
    assert.matches("x5c", err.message)
    assert.is_nil(sent_header(app).x5c)
  end)

  it("takes AZURE_CLIENT_SEND_CERTIFICATE_CHAIN from the environment", function()
    local app = sni_app()
    local o = auth.resolve({ base_url = server.base_url }, env({ AZURE_TENANT_ID = app.tenant,
      AZURE_CLIENT_ID = app.client_id, AZURE_CLIENT_CERTIFICATE_PATH = chain.bundle,
      AZURE_CLIENT_SEND_CERTIFICATE_CHAIN = "true" }))
    assert.is_true(o.send_certificate_chain)
    assert.truthy(assert(auth.new(o, { send = ctl.send })):get())
  end)

  it("is refused by the emulator when the chain leads to another root", function()
    local app = sni_app(kit.cert)
    local _, err = assert(provider(app, { send_certificate_chain = true })):get()
    assert.equal("AADSTS700027", err.aadsts)
    assert.matches("not trusted", err.message)
  end)

  it("opens a PKCS #12 file with its password, chain included", function()
    local app = sni_app()
    local p = assert(provider(app, { client_certificate = chain.pfx, client_certificate_password = "pfx-pass",
      send_certificate_chain = true }))
    assert.truthy(p:get())
    local h = sent_header(app)
    assert.equal(der_b64(chain.leaf), h.x5c[1])
    assert.equal(3, #h.x5c)
    -- and by thumbprint, for an app that registered the certificate itself
    local app2 = { tenant = tokens.unique("t"), client_id = tokens.unique("app"), certificate = certs.read(chain.leaf) }
    ctl.register(app2)
    assert.truthy(assert(provider(app2, { client_certificate = chain.pfx, client_certificate_password = "pfx-pass" })):get())
  end)

  it("opens a PKCS #12 file exported with an empty password without one", function()
    local app = sni_app()
    assert.truthy(assert(provider(app, { client_certificate = chain.pfx_nopass, send_certificate_chain = true })):get())
  end)

  it("refuses a wrong PKCS #12 password, a damaged file and a bad option, without secrets", function()
    local app = sni_app()
    local p, err = provider(app, { client_certificate = chain.pfx, client_certificate_password = "not-it-" .. "zz9" })
    assert.is_nil(p)
    assert.matches("cannot open the PKCS #12 file", err.message)
    assert.is_nil(tostring(err):find("not-it-zz9", 1, true))
    local damaged = kit.dir .. "/damaged.pfx"
    certs.write(damaged, certs.read(chain.pfx):sub(1, 200))
    p, err = provider(app, { client_certificate = damaged, client_certificate_password = "pfx-pass" })
    assert.is_nil(p)
    assert.matches("PKCS #12", err.message)
    p, err = provider(app, { send_certificate_chain = "yes" })
    assert.is_nil(p)
    assert.matches("send_certificate_chain must be true or false", err.message)
    p, err = provider(app, { client_certificate = chain.root .. "", client_certificate_key = chain.leaf_key })
    assert.is_nil(p)
    assert.matches("does not belong", err.message)
    p, err = provider(app, { client_certificate_password = 7 })
    assert.is_nil(p)
    assert.matches("client_certificate_password must be a non%-empty string", err.message)
    assert.equal(0, #ctl.log(tokens.token_path(app.tenant)))
  end)

  describe("core helpers", function()
    it("cert_chain lists every certificate, the key's first; pkcs12 gives key and chain", function()
      local list, leaf = assert(core.cert_chain(certs.read(chain.shuffled), certs.read(chain.leaf_key)))
      assert.equal(3, #list)
      assert.equal(der_b64(chain.leaf), list[1])
      assert.matches("BEGIN CERTIFICATE", leaf)
      local nokey = assert(core.cert_chain(certs.read(chain.shuffled)))
      assert.equal(der_b64(chain.root), nokey[1])    -- file order without a key
      local n, e = core.cert_chain("no pem here")
      assert.is_nil(n)
      assert.matches("no certificate", e)
      local key, chain_pem = assert(core.pkcs12(certs.read(chain.pfx), "pfx-pass"))
      assert.matches("PRIVATE KEY", key)
      assert.equal(3, select(2, chain_pem:gsub("BEGIN CERTIFICATE", "")))
      assert.is_nil((core.pkcs12("garbage", "x")))
      assert.equal("hello?", core.base64url_decode(core.base64url("hello?")))
      assert.equal("ab", core.base64url_decode("YWI="))
      assert.is_nil(core.base64url_decode("a$b"))
      assert.is_nil(core.base64url_decode("abcde"))
    end)
  end)
end)
