-- graphcomm.auth_cert: the certificate credential's key material and its signed
-- client assertion. A certificate file is a PEM bundle (certificate, optional chain,
-- optional key) or a PKCS #12 (.pfx/.p12) file with its password; the key may be apart.
--
--   cert.load(opts, r) -> cert | nil, err   r: the redaction set the key and password join
--   cert.assertion(cert, client_id, token_url, time) -> jwt | nil, err
-- opts: client_certificate, client_certificate_key, client_certificate_password,
-- send_certificate_chain (the x5c header, for subject name + issuer authentication).

local type, tostring = type, tostring
local string_find = string.find

local util = require "graphcomm.auth_util"

local auth_error, core, cjson = util.error, util.core, util.cjson

local M = {}

-- PKCS #12 files are DER: no PEM armour in them.
local function is_pem(text) return string_find(text, "-----BEGIN ", 1, true) ~= nil end

-- key_pem, certs_pem from the files named in opts.
local function read_material(opts, password, r)
  local text, err = util.read_file(opts.client_certificate, "client_certificate")
  if not text then return nil, err end
  local key_pem, certs_pem = text, text
  if not is_pem(text) then
    key_pem, certs_pem = core.pkcs12(text, password)
    if not key_pem then return nil, auth_error("client_certificate: " .. tostring(certs_pem), nil, r) end
    r:add(key_pem)
  end
  if opts.client_certificate_key ~= nil then
    key_pem, err = util.read_file(opts.client_certificate_key, "client_certificate_key")
    if not key_pem then return nil, err end
  end
  return key_pem, certs_pem
end

-- Loads certificate and key once, at connect time, so that a bad file says so early.
function M.load(opts, r)
  if not (core and core.jwt_rs256 and core.pkcs12) then
    return nil, auth_error("graphcomm.core was built without RS256 support")
  end
  local password, err = util.string_option(opts.client_certificate_password, "client_certificate_password")
  if err then return nil, err end
  r:add(password)
  local scc = opts.send_certificate_chain
  if scc ~= nil and type(scc) ~= "boolean" then
    return nil, auth_error("send_certificate_chain must be true or false, got " .. type(scc))
  end
  local key_pem, certs_pem = read_material(opts, password, r)
  if not key_pem then return nil, certs_pem end
  local chain, leaf = core.cert_chain(certs_pem, key_pem, password)
  if not chain then return nil, auth_error("client_certificate: " .. tostring(leaf), nil, r) end
  local x5t, x5t256 = core.cert_thumbprints(leaf)
  if not x5t then return nil, auth_error("client_certificate: " .. tostring(x5t256), nil, r) end
  r:add(key_pem)   -- the key's text (or the bundle holding it) is never shown
  return { x5t = x5t, x5t256 = x5t256, x5c = scc and chain or nil,
    key = function() return key_pem end, password = function() return password end }
end

-- The signed client assertion: RS256 over header (thumbprints, the chain when asked)
-- and claims.
function M.assertion(cert, client_id, token_url, time)
  local now = time()
  local header = cjson.encode({ alg = "RS256", typ = "JWT", x5t = cert.x5t,
    ["x5t#S256"] = cert.x5t256, x5c = cert.x5c })
  local claims = cjson.encode({ aud = token_url, iss = client_id, sub = client_id,
    jti = util.uuid4(), nbf = now, iat = now, exp = now + 600 })
  local jwt, err = core.jwt_rs256(header, claims, cert.key(), cert.password())
  if not jwt then return nil, auth_error("cannot sign the client assertion: " .. tostring(err)) end
  return jwt
end

return M
