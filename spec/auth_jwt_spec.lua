-- csrc/crypto/jwt.c: RS256 signatures, certificate thumbprints and base64url, checked
-- against the openssl CLI on a key and certificate made for the run.
local core = require "graphcomm.core"
local cjson = require "cjson"
local certs = require "helpers.certs"

describe("jwt.c", function()
  local kit
  setup(function() kit = certs.make() end)
  teardown(function() if kit then kit.cleanup() end end)

  describe("base64url", function()
    it("encodes without padding, with the URL-safe alphabet", function()
      assert.equal("", core.base64url(""))
      assert.equal("Zg", core.base64url("f"))
      assert.equal("Zm8", core.base64url("fo"))
      assert.equal("Zm9v", core.base64url("foo"))
      assert.equal("Zm9vYg", core.base64url("foob"))
      assert.equal("__79_A", core.base64url("\255\254\253\252"))
    end)

    it("round-trips every byte value", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      all = table.concat(all)
      assert.equal(all, certs.b64url_decode(core.base64url(all)))
    end)
  end)

  describe("cert_thumbprints", function()
    it("gives base64url SHA-1 and SHA-256 of the DER certificate", function()
      local x5t, x5t256 = core.cert_thumbprints(kit.read("cert"))
      assert.equal(certs.thumbprint(kit.cert, "sha1"), x5t)
      assert.equal(certs.thumbprint(kit.cert, "sha256"), x5t256)
      assert.equal(27, #x5t)
      assert.equal(43, #x5t256)
    end)

    it("finds the certificate after a key in the same PEM", function()
      local pem = kit.read("key") .. kit.read("cert")
      assert.equal(certs.thumbprint(kit.cert, "sha1"), (core.cert_thumbprints(pem)))
    end)

    it("returns nil, err for text that holds no certificate", function()
      local x5t, err = core.cert_thumbprints(kit.read("key"))
      assert.is_nil(x5t)
      assert.matches("cannot read the certificate", err)
      assert.is_nil((core.cert_thumbprints("")))
    end)
  end)

  describe("jwt_rs256", function()
    local header = cjson.encode({ alg = "RS256", typ = "JWT" })
    local claims = cjson.encode({ iss = "app", aud = "https://login.example/t/oauth2/v2.0/token" })

    it("signs header.claims so that the certificate's public key verifies it", function()
      local jwt = assert(core.jwt_rs256(header, claims, kit.read("both")))
      local h, c = jwt:match("^([^.]+)%.([^.]+)%.[^.]+$")
      assert.equal(header, certs.b64url_decode(h))
      assert.equal(claims, certs.b64url_decode(c))
      assert.is_true(certs.verify_rs256(jwt, kit.cert, kit.dir))
      assert.is_false(certs.verify_rs256(jwt, kit.other_cert, kit.dir))
    end)

    it("reads an encrypted key with its password, and refuses without prompting", function()
      assert.truthy(core.jwt_rs256(header, claims, kit.read("encrypted_key"), "hunter22"))
      local jwt, err = core.jwt_rs256(header, claims, kit.read("encrypted_key"))
      assert.is_nil(jwt)
      assert.matches("cannot read the private key", err)
      jwt, err = core.jwt_rs256(header, claims, kit.read("encrypted_key"), "wrong")
      assert.is_nil(jwt)
      assert.matches("cannot read the private key", err)
    end)

    it("refuses a key that is not RSA", function()
      local jwt, err = core.jwt_rs256(header, claims, kit.read("ec_key"))
      assert.is_nil(jwt)
      assert.equal("RS256 needs an RSA private key", err)
    end)

    it("returns nil, err for garbage and raises for wrong argument types", function()
      local jwt, err = core.jwt_rs256(header, claims, "not a key")
      assert.is_nil(jwt)
      assert.matches("cannot read the private key", err)
      assert.has_error(function() core.jwt_rs256(header, {}, kit.read("key")) end)
      assert.has_error(function() core.jwt_rs256(header, claims) end)
    end)

    it("leaves no stale OpenSSL error behind a failure", function()
      assert.is_nil((core.jwt_rs256(header, claims, "junk")))
      -- A later good call must not report the earlier failure.
      local x5t, x5t256 = core.cert_thumbprints(kit.read("cert"))
      assert.truthy(x5t and x5t256)
      assert.truthy(core.jwt_rs256(header, claims, kit.read("key")))
    end)
  end)

  describe("key_matches_cert", function()
    it("is true for the pair and nil, err for another key", function()
      assert.is_true(core.key_matches_cert(kit.read("key"), kit.read("cert")))
      local ok, err = core.key_matches_cert(kit.read("other_key"), kit.read("cert"))
      assert.is_nil(ok)
      assert.matches("does not belong to the certificate", err)
    end)
  end)
end)
