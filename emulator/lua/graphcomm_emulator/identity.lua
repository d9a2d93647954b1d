-- graphcomm_emulator.identity: the managed identity endpoints, as Azure plays them.
--   GET /metadata/identity/oauth2/token      IMDS: header Metadata: true, api-version 2018-02-01,
--       resource; client_id | object_id | msi_res_id pick a user-assigned identity
--   GET /msi/token                           App Service / Functions: header X-IDENTITY-HEADER
--       (the registered secret), api-version 2019-08-01, resource; client_id | object_id | mi_res_id
-- Identities are registered with POST /_emulator/identities { client_id =, object_id =,
-- mi_res_id =, system = true (the system-assigned one), expires_in = } and the App Service
-- secret with POST /_emulator/identities { identity_header = "..." }; DELETE forgets them all.
-- Tokens come from oauth.mint and are accepted by the Graph side.

local json = require "graphcomm_emulator.json"
local util = require "graphcomm_emulator.util"
local oauth = require "graphcomm_emulator.oauth"

local ngx = ngx
local format, type, tostring, ipairs = string.format, type, tostring, ipairs

local M = {}
M.IMDS_API = "2018-02-01"
M.APP_SERVICE_API = "2019-08-01"
M.TENANT = "emulator-managed-identity"

local JSON = { ["Content-Type"] = "application/json; charset=utf-8" }

local function dict() return ngx.shared.graphcomm_control end

-- "imds", "app service" or nil for a path's segments.
function M.which(segs)
  if #segs == 4 and segs[1] == "metadata" and segs[2] == "identity" and segs[3] == "oauth2" and segs[4] == "token" then
    return "imds"
  end
  if #segs == 2 and segs[1] == "msi" and segs[2] == "token" then return "app service" end
  return nil
end

local function identities()
  local out = {}
  for _, k in ipairs(dict():get_keys(0)) do
    if k:find("^identity:") then out[#out + 1] = json.decode(dict():get(k)) end
  end
  return out
end

-- The identity a request names (by one of the id parameters), or the system-assigned one.
local function find(args, res_param)
  local want = { client_id = args.client_id, object_id = args.object_id, mi_res_id = args[res_param] }
  local named = want.client_id or want.object_id or want.mi_res_id
  for _, id in ipairs(identities()) do
    if named then
      if (want.client_id and id.client_id == want.client_id) or (want.object_id and id.object_id == want.object_id)
         or (want.mi_res_id and id.mi_res_id == want.mi_res_id) then
        return id
      end
    elseif id.system then
      return id
    end
  end
  return nil
end

local function imds_error(status, err, text)
  return status, JSON, json.encode(json.object({ error = err, error_description = text }, { "error", "error_description" }))
end

local function app_error(ctx, status, text)
  return status, JSON, json.encode(json.object({ statusCode = status, message = text,
    correlationId = ctx.ids.client_request_id }, { "statusCode", "message", "correlationId" }))
end

local function answer(id, resource, flow)
  local life = json.number(id.expires_in) or 3599
  local token = oauth.mint(M.TENANT, id.client_id or "system", life, nil, resource)
  local on = format("%d", ngx.time() + life)
  if flow == "imds" then
    return 200, JSON, json.encode(json.object({ access_token = token, client_id = id.client_id or "system",
      expires_in = format("%d", life), expires_on = on, ext_expires_in = format("%d", life),
      not_before = format("%d", ngx.time()), resource = resource, token_type = "Bearer" },
      { "access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type" }))
  end
  return 200, JSON, json.encode(json.object({ access_token = token, expires_on = on, resource = resource,
    token_type = "Bearer", client_id = id.client_id or "system" },
    { "access_token", "expires_on", "resource", "token_type", "client_id" }))
end

local function header(ctx, name)
  local v = ctx.headers[name]
  if type(v) == "table" then v = v[1] end
  return v
end

local function imds(ctx)
  if ctx.method ~= "GET" then return imds_error(405, "invalid_request", "Only GET is allowed.") end
  if header(ctx, "metadata") ~= "true" then
    return imds_error(400, "invalid_request", "Required metadata header not specified")
  end
  if ctx.args["api-version"] ~= M.IMDS_API then
    return imds_error(400, "invalid_request", "Invalid API version (this emulator plays " .. M.IMDS_API .. ")")
  end
  local resource = ctx.args.resource
  if not resource or resource == "" then return imds_error(400, "invalid_request", "Required query variable 'resource' is missing") end
  local id = find(ctx.args, "msi_res_id")
  if not id then return imds_error(400, "invalid_request", "Identity not found") end
  return answer(id, resource, "imds")
end

local function app_service(ctx)
  if ctx.method ~= "GET" then return app_error(ctx, 405, "Only GET is allowed.") end
  local secret = dict():get("identity_header")
  if not secret or header(ctx, "x-identity-header") ~= secret then
    return app_error(ctx, 401, "The X-IDENTITY-HEADER header is missing or does not match.")
  end
  if ctx.args["api-version"] ~= M.APP_SERVICE_API then
    return app_error(ctx, 400, "Invalid api-version (this emulator plays " .. M.APP_SERVICE_API .. ").")
  end
  local resource = ctx.args.resource
  if not resource or resource == "" then return app_error(ctx, 400, "The resource parameter is required.") end
  local id = find(ctx.args, "mi_res_id")
  if not id then return app_error(ctx, 400, "No managed identity matches the request.") end
  return answer(id, resource, "app service")
end

function M.handle(ctx, which)
  if which == "imds" then return imds(ctx) end
  return app_service(ctx)
end

---------------------------------------------------------------- control

local function ok(v) return 200, JSON, json.encode(v) end

function M.control(method, v, rid)
  local d = dict()
  if method == "DELETE" then
    for _, k in ipairs(d:get_keys(0)) do if k:find("^identity") then d:delete(k) end end
    return ok({ reset = true })
  end
  if method == "GET" then return ok(json.array(identities())) end
  if method ~= "POST" then return 405, JSON, util.error_body(405, nil, "Use GET, POST or DELETE.", rid) end
  if v.identity_header ~= nil then
    if type(v.identity_header) ~= "string" or v.identity_header == "" then
      return 400, JSON, util.error_body(400, nil, "'identity_header' must be a non-empty string.", rid)
    end
    d:set("identity_header", v.identity_header)
    return ok({ identity_header = true })
  end
  for _, k in ipairs({ "client_id", "object_id", "mi_res_id" }) do
    if v[k] ~= nil and type(v[k]) ~= "string" then
      return 400, JSON, util.error_body(400, nil, format("'%s' must be a string.", k), rid)
    end
  end
  if not (v.client_id or v.object_id or v.mi_res_id or v.system == true) then
    return 400, JSON, util.error_body(400, nil, "An identity needs client_id, object_id, mi_res_id or system = true.", rid)
  end
  local rec = json.object({ client_id = v.client_id, object_id = v.object_id, mi_res_id = v.mi_res_id,
    system = v.system == true, expires_in = json.number(v.expires_in) or 3599 },
    { "client_id", "object_id", "mi_res_id", "system", "expires_in" })
  local n = d:incr("identities", 1, 0)
  d:set("identity:" .. tostring(n), json.encode(rec))
  return ok(rec)
end

return M
