-- The emulator's token endpoint (client credentials: secret or RS256 client assertion),
-- driven with curl; the assertions are signed with the openssl command line.
local emu = require "helpers.emulator"
local cjson = require "cjson"

local TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
local APP = "5f0d7d1c-8c6e-4f0a-b2d6-1a2b3c4d5e6f"
local CERT_APP = "0b6e3c2a-9f1d-4e8b-a7c6-5d4e3f2a1b0c"
local SCOPE = "https://graph.microsoft.com/.default"
local RECORDS = "/v1.0/communications/callRecords"

local function sh(cmd)
  local rc, out = emu.sh(cmd)
  assert(rc == 0, cmd .. "\n" .. out)
  return out
end

local read = require("helpers.certs").read

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for k = 1, chars do
      local idx = math.floor(n / 2 ^ (18 - 6 * (k - 1))) % 64
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function form(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v) end
  table.sort(parts)
  return table.concat(parts, "&")
end

describe("emulator token endpoint", function()
  local e, dir, cert_pem, other_pem, x5t, x5t256, token_url

  -- A client assertion signed with key `key` (default: the registered one).
  local function assertion(over)
    over = over or {}
    local now = os.time()
    local header = { alg = "RS256", typ = "JWT", x5t = x5t, ["x5t#S256"] = x5t256 }
    for k, v in pairs(over.header or {}) do header[k] = v ~= false and v or nil end
    local claims = { aud = token_url, iss = CERT_APP, sub = CERT_APP, jti = tostring(math.random(1e9)),
      nbf = now - 5, exp = now + 595, iat = now - 5 }
    for k, v in pairs(over.claims or {}) do claims[k] = v ~= false and v or nil end
    local input = b64url(cjson.encode(header)) .. "." .. b64url(cjson.encode(claims))
    local f = assert(io.open(dir .. "/input", "wb"))
    f:write(input)
    f:close()
    sh(("openssl dgst -sha256 -sign %s -binary -out %s %s"):format(emu.shell_quote(dir .. "/" .. (over.key or "key.pem")),
      emu.shell_quote(dir .. "/sig"), emu.shell_quote(dir .. "/input")))
    return input .. "." .. b64url(read(dir .. "/sig"))
  end

  local function token(fields, tenant)
    local status, h, body = emu.http("POST", e.url("/" .. (tenant or TENANT) .. "/oauth2/v2.0/token"), form(fields),
      { ["Content-Type"] = "application/x-www-form-urlencoded" })
    assert(status, h)
    return status, cjson.decode(body), h
  end

  local function graph_status(tok)
    return (e:request("GET", RECORDS .. "?$select=id", nil, { Authorization = "Bearer " .. tok }))
  end

  setup(function()
    e = emu.shared()
    dir = sh("mktemp -d"):gsub("%s+$", "")
    local q = emu.shell_quote
    for _, name in ipairs({ "", "other-" }) do
      sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=graphcomm-spec"):format(
        q(dir .. "/" .. name .. "key.pem"), q(dir .. "/" .. name .. "cert.pem")))
    end
    cert_pem, other_pem = read(dir .. "/cert.pem"), read(dir .. "/other-cert.pem")
    sh(("openssl x509 -in %s -outform DER -out %s"):format(q(dir .. "/cert.pem"), q(dir .. "/cert.der")))
    sh(("openssl dgst -sha1 -binary -out %s %s"):format(q(dir .. "/sha1"), q(dir .. "/cert.der")))
    sh(("openssl dgst -sha256 -binary -out %s %s"):format(q(dir .. "/sha256"), q(dir .. "/cert.der")))
    x5t, x5t256 = b64url(read(dir .. "/sha1")), b64url(read(dir .. "/sha256"))
    token_url = e.url("/" .. TENANT .. "/oauth2/v2.0/token")
    e:control("DELETE", "clients")
    e:control("POST", "clients", { tenant = TENANT, client_id = APP, client_secret = "s3cr3t~value" })
    local reg = e:control("POST", "clients", { tenant = TENANT, client_id = CERT_APP, certificate = cert_pem, expires_in = 600 })
    assert.equal(x5t, reg.x5t)
    assert.equal(x5t256, reg["x5t#S256"])
  end)

  teardown(function()
    e:control("DELETE", "clients")
    sh("rm -rf " .. emu.shell_quote(dir))
  end)

  it("issues a bearer token for a registered client secret, which Graph then accepts", function()
    local status, body, h = token({ grant_type = "client_credentials", client_id = APP, client_secret = "s3cr3t~value", scope = SCOPE })
    assert.equal(200, status)
    assert.equal("Bearer", body.token_type)
    assert.equal(3599, body.expires_in)
    assert.is_string(body.access_token)
    assert.matches("^application/json", h["content-type"])
    assert.equal(200, graph_status(body.access_token))
  end)

  it("refuses a wrong secret with invalid_client AADSTS7000215, never echoing it", function()
    local status, body = token({ grant_type = "client_credentials", client_id = APP, client_secret = "guess", scope = SCOPE })
    assert.equal(401, status)
    assert.equal("invalid_client", body.error)
    assert.matches("^AADSTS7000215: Invalid client secret provided", body.error_description)
    assert.same({ 7000215 }, body.error_codes)
    assert.is_nil(body.error_description:find("guess", 1, true))
    assert.is_string(body.trace_id)
    assert.is_string(body.correlation_id)
  end)

  it("checks grant type, scope, client and tenant as the identity platform does", function()
    local base = { grant_type = "client_credentials", client_id = APP, client_secret = "s3cr3t~value", scope = SCOPE }
    local function with(k, v) local t = {} for a, b in pairs(base) do t[a] = b end t[k] = v return t end
    local cases = {
      { with("grant_type", "password"), 400, "unsupported_grant_type", 70003 },
      { with("grant_type", nil), 400, "invalid_request", 900144 },
      { with("scope", "https://graph.microsoft.com/User.Read"), 400, "invalid_scope", 1002012 },
      { with("scope", nil), 400, "invalid_request", 900144 },
      { with("client_id", "11111111-2222-3333-4444-555555555555"), 400, "unauthorized_client", 700016 },
      { with("client_secret", nil), 401, "invalid_client", 7000218 },
    }
    for i, c in ipairs(cases) do
      local status, body = token(c[1])
      assert.equal(c[2], status, "case " .. i)
      assert.equal(c[3], body.error, "case " .. i)
      assert.same({ c[4] }, body.error_codes, "case " .. i)
    end
    local status, body = token(base, "00000000-0000-0000-0000-000000000000")
    assert.equal(400, status)
    assert.same({ 90002 }, body.error_codes)
    local s2, _, b2 = emu.http("POST", token_url, cjson.encode(base), { ["Content-Type"] = "application/json" })
    assert.equal(400, s2)
    assert.equal("invalid_request", cjson.decode(b2).error)
  end)

  it("issues a token for a client assertion signed by the registered certificate's key", function()
    local status, body = token({ grant_type = "client_credentials", client_id = CERT_APP, scope = SCOPE,
      client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion = assertion() })
    assert.equal(200, status, body.error_description)
    assert.equal(600, body.expires_in)
    assert.equal(200, graph_status(body.access_token))
    -- client_id may be left out: iss names the client; x5t alone is enough
    status, body = token({ grant_type = "client_credentials", scope = SCOPE,
      client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion = assertion({ header = { ["x5t#S256"] = false } }) })
    assert.equal(200, status, body.error_description)
  end)

  it("refuses assertions with a bad signature, header or claims", function()
    local now = os.time()
    local cases = {
      { { key = "other-key.pem" }, 401, 700027 },                                   -- signed by another key
      { { header = { alg = "HS256" } }, 400, 5002738 },
      { { header = { x5t = false, ["x5t#S256"] = false } }, 400, 50027 },
      { { header = { x5t = "AAAAAAAAAAAAAAAAAAAAAAAAAAA" } }, 401, 700027 },        -- unknown thumbprint
      { { claims = { aud = "https://login.microsoftonline.com/" .. TENANT .. "/oauth2/v2.0/token" } }, 401, 700212 },
      { { claims = { exp = now - 60, nbf = now - 600 } }, 401, 700024 },             -- expired
      { { claims = { nbf = now + 3600, exp = now + 3900 } }, 401, 700024 },          -- not yet valid
      { { claims = { exp = now + 7200 } }, 401, 700024 },                            -- lives too long
      { { claims = { sub = "someone-else" } }, 400, 50027 },
      { { claims = { jti = false } }, 400, 50027 },
    }
    for i, c in ipairs(cases) do
      local status, body = token({ grant_type = "client_credentials", client_id = CERT_APP, scope = SCOPE,
        client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion = assertion(c[1]) })
      assert.equal(c[2], status, "case " .. i .. ": " .. tostring(body.error_description))
      assert.same({ c[3] }, body.error_codes, "case " .. i)
    end
    local status, body = token({ grant_type = "client_credentials", client_id = CERT_APP, scope = SCOPE,
      client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion = "not.a.jwt!" })
    assert.equal(400, status)
    assert.same({ 50027 }, body.error_codes)
    status = token({ grant_type = "client_credentials", client_id = CERT_APP, scope = SCOPE,
      client_assertion_type = "urn:wrong", client_assertion = assertion() })
    assert.equal(400, status)
    -- a registered certificate must hold an RSA key; garbage is refused at registration
    local s2 = emu.http("POST", e.url("/_emulator/clients"), { tenant = TENANT, client_id = "x", certificate = "nope" })
    assert.equal(400, s2)
    assert.is_truthy(other_pem)
  end)

  it("rejects expired tokens with 401 InvalidAuthenticationToken (expires_in 0, or expired on demand)", function()
    e:control("POST", "clients", { tenant = TENANT, client_id = "short-lived", client_secret = "x", expires_in = 0 })
    local _, body = token({ grant_type = "client_credentials", client_id = "short-lived", client_secret = "x", scope = SCOPE })
    assert.equal(0, body.expires_in)
    local status, _, text = e:request("GET", RECORDS, nil, { Authorization = "Bearer " .. body.access_token })
    assert.equal(401, status)
    local err = cjson.decode(text).error
    assert.equal("InvalidAuthenticationToken", err.code)
    assert.matches("expired", err.message)

    local _, good = token({ grant_type = "client_credentials", client_id = APP, client_secret = "s3cr3t~value", scope = SCOPE })
    assert.equal(200, graph_status(good.access_token))
    local n = e:control("POST", "tokens/expire").expired
    assert.is_true(n >= 1)
    assert.equal(401, graph_status(good.access_token))
    -- the token printed by emulator/start never expires
    assert.equal(200, graph_status(e.token))
  end)
end)
