-- examples/openresty/handler.lua: POST /fix?callRecordId=...&sessionId=... with a
-- JSON session body applies that fix to the call record's session.
--
-- The body is validated here, before anything is sent (400 with every problem's
-- path); the update then goes out through graphcomm's ngx transport, so this
-- worker goes on serving other requests while Graph answers.  Success is 204;
-- a Graph error comes back as JSON with Graph's status.  With `&async=1` a valid
-- fix is answered 202 at once and applied from an ngx.timer (the transport sends
-- from timers without blocking too); its outcome goes to the error log.
local graphcomm = require "graphcomm"
local json = require "graphcomm.json"
local cjson = require "cjson.safe"

local ngx = ngx
local find, lower, open = string.find, string.lower, io.open
local ipairs, type, tostring, tonumber = ipairs, type, tostring, tonumber

local M = {}

-- One client a worker, made at its first request (credentials and the Graph
-- base URL come from the environment that nginx.conf's `env` lines pass on).
local client

local function reply(status, body)
  ngx.status = status
  if body then
    ngx.header["Content-Type"] = "application/json"
    ngx.print(cjson.encode(body))
  end
  return ngx.exit(status)
end

local function refuse(status, code, message, errors)
  local e = { code = code, message = message }
  if errors then
    local list = {}
    for i, item in ipairs(errors) do list[i] = { path = item.path, message = item.message } end
    e.errors = list
  end
  return reply(status, { error = e })
end

-- The body, from memory or (past client_body_buffer_size) from nginx's temp file.
local function read_body()
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if data then return data end
  local path = ngx.req.get_body_file()
  if not path then return "" end
  local f = open(path, "rb")
  if not f then return nil end
  data = f:read("*a")
  f:close()
  return data
end

-- A JSON object decoded (null stays graphcomm.null, [] stays an array), or nil, why.
local function decode_object(text)
  if not text or not find(text, "^%s*{") then return nil, "the body must be a JSON object" end
  local value, err = json.decode(text)
  if value == nil then return nil, "the body is not valid JSON: " .. tostring(err) end
  return value
end

-- Graph's answer (or the reason none came) as this endpoint's answer.
local function pass_on(err)
  if err.kind == "validation" then
    return refuse(400, "ValidationFailed", err.message or tostring(err), err.errors)
  end
  if err.kind == "http" and err.status then
    local inner = { ["request-id"] = err.request_id, ["client-request-id"] = err.client_request_id,
                    date = err.date }
    return reply(err.status, { error = { code = err.code, message = err.message,
                                         innerError = inner } })
  end
  local status = err.code == "timeout" and 504 or 502
  return refuse(status, err.kind == "auth" and "AuthenticationFailed" or "BadGateway", tostring(err))
end

local function get_client()
  if not client then
    local c, err = graphcomm.connect{ transport = "ngx" }
    if not c then return nil, err end
    client = c
  end
  return client
end

-- The ngx.timer callback of an async fix.
local function apply_later(premature, crid, sid, session)
  if premature then return end
  local c, err = get_client()
  local ok
  if c then ok, err = c:update_session(crid, sid, session) end
  if ok then
    ngx.log(ngx.INFO, "graphcomm: fixed session ", sid, " of call record ", crid)
  else
    ngx.log(ngx.ERR, "graphcomm: fix of session ", sid, " of call record ", crid,
      " failed: ", tostring(err))
  end
end

local function refuse_method()
  ngx.header["Allow"] = "POST"
  return refuse(405, "MethodNotAllowed", "use POST")
end

function M.fix()
  if ngx.req.get_method() ~= "POST" then return refuse_method() end
  local args = ngx.req.get_uri_args()
  local crid, sid = args.callRecordId, args.sessionId
  if type(crid) ~= "string" or crid == "" or type(sid) ~= "string" or sid == "" then
    return refuse(400, "BadRequest", "callRecordId and sessionId are required query parameters")
  end
  local ctype = lower(ngx.var.content_type or "")
  if not find(ctype, "^application/json%s*;") and ctype ~= "application/json" then
    return refuse(415, "UnsupportedMediaType", "Content-Type must be application/json")
  end
  local body, why = decode_object(read_body())
  if not body then return refuse(400, "BadRequest", why) end

  local session, verr = graphcomm.session(body)
  if not session then
    return refuse(400, "ValidationFailed", "the session body is invalid", verr.errors)
  end
  if args.async == "1" then
    local ok, terr = ngx.timer.at(0, apply_later, crid, sid, session)
    if not ok then return refuse(503, "ServiceUnavailable", "no timer: " .. tostring(terr)) end
    return reply(202)
  end
  local c, err = get_client()
  if not c then return pass_on(err) end
  local ok
  ok, err = c:update_session(crid, sid, session)
  if not ok then return pass_on(err) end
  return reply(204)
end

-- POST /bulk?callRecordId=...&concurrency=N with {"sessionIds": [...], "body": {...}}:
-- the same fix for many sessions of one record, update_sessions over the ngx transport
-- (N requests in flight, each in a light thread); answers the summary as JSON.
function M.bulk()
  if ngx.req.get_method() ~= "POST" then return refuse_method() end
  local args = ngx.req.get_uri_args()
  local crid, concurrency = args.callRecordId, tonumber(args.concurrency or "16")
  local doc, why = decode_object(read_body())
  if not doc then return refuse(400, "BadRequest", why) end
  if type(crid) ~= "string" or type(doc.sessionIds) ~= "table" or type(doc.body) ~= "table"
     or not concurrency then
    return refuse(400, "BadRequest", "callRecordId, concurrency, sessionIds and body are required")
  end
  local items = {}
  for i, sid in ipairs(doc.sessionIds) do items[i] = { crid, sid, doc.body } end
  local c, err = get_client()
  if not c then return pass_on(err) end
  local s = c:update_sessions(items, { concurrency = concurrency })
  return reply(200, { ok = s.ok, failed = s.failed, requests = s.requests, elapsed = s.elapsed })
end

return M
