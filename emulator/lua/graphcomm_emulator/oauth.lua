-- graphcomm_emulator.oauth: POST /{tenant}/oauth2/v2.0/token, the client-credentials grant
-- as the Microsoft identity platform answers it: a client secret, or a client assertion
-- (an RS256 JWT signed by the key of a certificate registered with POST /_emulator/clients;
-- with `trusted_root`, an x5c chain checked against that root and `subject` instead of the
-- thumbprint), or a federated token (`federated = { issuer, subject, audience,
-- certificate }`: the external issuer's token as the assertion). A client registered
-- with `echo_form = true` answers every request with an error that repeats the posted
-- form, raw and decoded, as a careless server would (the secret-leak specs use it).
-- Issued tokens live in the `graphcomm_tokens` dict with their expiry time.

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local crypto = require "graphcomm_emulator.crypto"
local b64 = require "ngx.base64"

local ngx = ngx
local format, find, match, type, tostring, ipairs, pairs = string.format, string.find, string.match, type, tostring, ipairs, pairs

local M = {}
local check_chain
M.SKEW = 300              -- seconds of clock skew tolerated on nbf (as Entra ID does)
M.MAX_LIFETIME = 660      -- an assertion may live at most ~10 minutes (exp - nbf)
local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local JSON = { ["Content-Type"] = "application/json; charset=utf-8", ["Cache-Control"] = "no-store, no-cache",
  Pragma = "no-cache" }

-- An Entra ID style error answer.
local function aad_error(ctx, status, err, code, text)
  local now = os.date("!%Y-%m-%d %H:%M:%SZ", ngx.time())
  local trace, corr = util.guid(), ctx.ids.client_request_id
  local body = json.object({
    error = err,
    error_description = format("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", code, text, trace, corr, now),
    error_codes = json.array({ code }), timestamp = now, trace_id = trace, correlation_id = corr,
    error_uri = format("%s/error?code=%d", ctx.base, code),
  }, { "error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri" })
  return status, JSON, json.encode(body)
end

local function client_record(tenant, id)
  local text = ngx.shared.graphcomm_control:get("client:" .. tenant .. "\31" .. id)
  return text and json.decode(text)
end

local function tenant_known(tenant)
  for _, k in ipairs(ngx.shared.graphcomm_control:get_keys(0)) do
    if find(k, "client:" .. tenant .. "\31", 1, true) == 1 then return true end
  end
  return false
end

local function b64url_json(v) return b64.encode_base64url(json.encode(v)) end

-- A JWT-shaped access token (unsigned: only this emulator reads it) the Graph side
-- accepts for `life` seconds.
function M.mint(tenant, appid, life, roles, aud)
  local now = ngx.time()
  local claims = json.object({ aud = aud or "https://graph.microsoft.com", iss = format("https://sts.windows.net/%s/", tenant),
    iat = now, nbf = now, exp = now + life, appid = appid, tid = tenant,
    roles = roles or json.array({ "CallRecords.Read.All" }), uti = b64.encode_base64url(crypto.random_bytes(12)) },
    { "aud", "iss", "iat", "nbf", "exp", "appid", "tid", "roles", "uti" })
  local token = b64url_json(json.object({ typ = "JWT", alg = "none" }, { "typ", "alg" })) .. "." ..
    b64url_json(claims) .. "." .. b64.encode_base64url(crypto.random_bytes(32))
  ngx.shared.graphcomm_tokens:set(token, ngx.now() + life, life + 3600)
  return token
end

local function issue(ctx, client)
  local life = json.number(client.expires_in) or 3599
  local token = M.mint(ctx.tenant, client.client_id, life, client.roles)
  return 200, JSON, json.encode(json.object({ token_type = "Bearer", expires_in = life, ext_expires_in = life,
    access_token = token }, { "token_type", "expires_in", "ext_expires_in", "access_token" }))
end

-- Subject name + issuer authentication: the x5c chain must lead to the registered root
-- and its leaf carry the registered subject. Returns the leaf (it signs), or nil, error.
check_chain = function(ctx, client, header)
  local x5c = header.x5c
  if not json.is_array(x5c) or #x5c == 0 then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, "Client assertion contains an invalid signature. [Reason - The app is set up for subject name and issuer authentication: the x5c header with the certificate chain is required.]") }
  end
  local ders = {}
  for i, v in ipairs(x5c) do
    ders[i] = type(v) == "string" and ngx.decode_base64(v)
    if not ders[i] then
      return nil, { aad_error(ctx, 400, "invalid_request", 50027, "Invalid JWT token. x5c entries must be base64 DER certificates.") }
    end
  end
  local leaf, subject, keep = crypto.verify_chain(client.trusted_root, ders)
  if not leaf then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, format("Client assertion contains an invalid signature. [Reason - The certificate chain is not trusted: %s.]", tostring(subject))) }
  end
  if client.subject and client.subject ~= subject then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, format("Client assertion contains an invalid signature. [Reason - The certificate subject '%s' is not the registered one.]", subject)) }
  end
  ctx.keep_chain = keep
  return leaf
end

-- A federated token (issued by another identity provider) presented as the assertion.
local function check_federated(ctx, form, client)
  local fed = client.federated
  local h64, p64, s64 = match(form.client_assertion, "^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$")
  local header = h64 and json.decode(b64.decode_base64url(h64) or "")
  local claims = p64 and json.decode(b64.decode_base64url(p64) or "")
  if not (json.is_object(header) and json.is_object(claims)) then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "JWT token is invalid or malformed.") }
  end
  if claims.iss ~= fed.issuer then
    return nil, { aad_error(ctx, 400, "invalid_request", 700211, format("No matching federated identity record found for presented assertion issuer '%s'.", tostring(claims.iss))) }
  end
  if claims.sub ~= fed.subject then
    return nil, { aad_error(ctx, 400, "invalid_request", 70021, format("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.", tostring(claims.iss), tostring(claims.sub))) }
  end
  local want, aud = fed.audience or "api://AzureADTokenExchange", claims.aud
  local aud_ok = aud == want
  if json.is_array(aud) then for _, a in ipairs(aud) do if a == want then aud_ok = true end end end
  if not aud_ok then
    return nil, { aad_error(ctx, 400, "invalid_request", 700212, format("No matching federated identity record found for presented assertion audience '%s'.", tostring(json.is_array(aud) and aud[1] or aud))) }
  end
  local exp = json.number(claims.exp)
  if not exp or exp <= ngx.time() then
    return nil, { aad_error(ctx, 400, "invalid_request", 700024, "Client assertion is not within its valid time range.") }
  end
  if fed.certificate then
    local sig = b64.decode_base64url(s64 or "")
    if header.alg ~= "RS256" or not sig or not crypto.verify_rs256(fed.certificate, h64 .. "." .. p64, sig) then
      return nil, { aad_error(ctx, 401, "invalid_client", 700027, "Client assertion failed signature validation (the federated token is not signed by its issuer).") }
    end
  end
  return client
end

-- What a careless server says: the posted form, raw and decoded, in the description.
local function echo_form(ctx, form)
  local parts = {}
  for k, v in pairs(form) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  return aad_error(ctx, 401, "invalid_client", 7000215, format("Invalid client secret provided. Request body was: %s (decoded: %s)", ctx.body or "", table.concat(parts, ", ")))
end

-- Checks a client assertion; returns the client record, or nil and an error triple.
local function check_assertion(ctx, form, token_url)
  local a = form.client_assertion
  local h64, p64, s64 = match(a, "^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
  local header = h64 and json.decode(b64.decode_base64url(h64) or "")
  local claims = p64 and json.decode(b64.decode_base64url(p64) or "")
  local sig = s64 and b64.decode_base64url(s64)
  if not (json.is_object(header) and json.is_object(claims) and sig) then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "JWT token is invalid or malformed.") }
  end
  if header.alg ~= "RS256" then
    return nil, { aad_error(ctx, 400, "invalid_request", 5002738, format("Invalid JWT token. '%s' is not a supported signature algorithm.", tostring(header.alg))) }
  end
  if type(header.x5t) ~= "string" and type(header["x5t#S256"]) ~= "string" and header.x5c == nil then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "Invalid JWT token. The token header has no x5t or x5t#S256 thumbprint.") }
  end
  local id = claims.iss
  if type(id) ~= "string" or claims.sub ~= id then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "Invalid JWT token. 'iss' and 'sub' must both be the client id.") }
  end
  if form.client_id and form.client_id ~= id then
    return nil, { aad_error(ctx, 401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter.") }
  end
  local client = client_record(ctx.tenant, id)
  if not client then return nil, "unknown", id end
  local signer = client.certificate
  if client.trusted_root then
    local leaf, e = check_chain(ctx, client, header)
    if not leaf then return nil, e end
    signer = leaf
  elseif not client.certificate then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]") }
  end
  if not client.trusted_root and ((header.x5t and header.x5t ~= client.x5t)
      or (header["x5t#S256"] and header["x5t#S256"] ~= client.x5t_s256)) then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, format("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s']", tostring(header.x5t or header["x5t#S256"]))) }
  end
  if claims.aud ~= token_url then
    return nil, { aad_error(ctx, 401, "invalid_client", 700212, format("Client assertion audience claim '%s' does not match the token endpoint '%s'.", tostring(claims.aud), token_url)) }
  end
  if type(claims.jti) ~= "string" or claims.jti == "" then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "Invalid JWT token. The 'jti' claim is required.") }
  end
  local nbf, exp, now = json.number(claims.nbf), json.number(claims.exp), ngx.time()
  if not nbf or not exp then
    return nil, { aad_error(ctx, 400, "invalid_request", 50027, "Invalid JWT token. The 'nbf' and 'exp' claims are required.") }
  end
  if exp <= now or nbf > now + M.SKEW then
    return nil, { aad_error(ctx, 401, "invalid_client", 700024, "Client assertion is not within its valid time range.") }
  end
  if exp - nbf > M.MAX_LIFETIME then
    return nil, { aad_error(ctx, 401, "invalid_client", 700024, "Client assertion lifetime (exp - nbf) is longer than 10 minutes.") }
  end
  if not crypto.verify_rs256(signer, h64 .. "." .. p64, sig) then
    return nil, { aad_error(ctx, 401, "invalid_client", 700027, "Client assertion failed signature validation.") }
  end
  return client
end

function M.token(ctx)
  if ctx.method ~= "POST" then
    return aad_error(ctx, 405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
  end
  local ct = ctx.headers["content-type"]
  if type(ct) ~= "string" or not find(ct:lower(), "^%s*application/x%-www%-form%-urlencoded") then
    return aad_error(ctx, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'. (Content-Type must be application/x-www-form-urlencoded.)")
  end
  local form = util.parse_query(ctx.body or "")
  if not form.grant_type then
    return aad_error(ctx, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
  end
  if form.grant_type ~= "client_credentials" then
    return aad_error(ctx, 400, "unsupported_grant_type", 70003, format("The app requested an unsupported grant type '%s'.", form.grant_type))
  end
  if not form.scope then
    return aad_error(ctx, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
  end
  if not find(form.scope, "/%.default$") or find(form.scope, "%s") then
    return aad_error(ctx, 400, "invalid_scope", 1002012, format("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.scope))
  end
  if not tenant_known(ctx.tenant) then
    return aad_error(ctx, 400, "invalid_request", 90002, format("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", ctx.tenant))
  end
  local named = form.client_id and client_record(ctx.tenant, form.client_id)
  if named and named.echo_form then return echo_form(ctx, form) end
  local client
  if form.client_assertion and named and named.federated then
    if form.client_assertion_type ~= ASSERTION_TYPE then
      return aad_error(ctx, 400, "invalid_request", 50012, format("Client assertion type must be '%s'.", ASSERTION_TYPE))
    end
    local e
    client, e = check_federated(ctx, form, named)
    if not client then return e[1], e[2], e[3] end
  elseif form.client_assertion or form.client_assertion_type then
    if form.client_assertion_type ~= ASSERTION_TYPE then
      return aad_error(ctx, 400, "invalid_request", 50012, format("Client assertion type must be '%s'.", ASSERTION_TYPE))
    end
    if not form.client_assertion then
      return aad_error(ctx, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion'.")
    end
    local token_url = ctx.base .. "/" .. ctx.tenant .. "/oauth2/v2.0/token"
    local e, unknown_id
    client, e, unknown_id = check_assertion(ctx, form, token_url)
    if not client then
      if e == "unknown" then form.client_id = unknown_id
      else return e[1], e[2], e[3] end
    end
  end
  if not client then
    if not form.client_id then
      return aad_error(ctx, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
    end
    client = client_record(ctx.tenant, form.client_id)
    if not client then
      return aad_error(ctx, 400, "unauthorized_client", 700016, format("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", form.client_id, ctx.tenant))
    end
    if not form.client_secret then
      return aad_error(ctx, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    end
    if client.client_secret == nil or form.client_secret ~= client.client_secret then
      return aad_error(ctx, 401, "invalid_client", 7000215, format("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", form.client_id))
    end
  end
  return issue(ctx, client)
end

return M
