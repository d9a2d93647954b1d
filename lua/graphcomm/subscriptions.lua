-- graphcomm.subscriptions: change-notification subscriptions on call records.
--
--   client:subscribe{ notification_url =, lifecycle_url =, client_state =,
--                     expires_in =, change_type = }       -> subscription, info | nil, err
--   client:renew_subscription(id [, expires_in])          -> subscription, info | nil, err
--   client:unsubscribe(id)                                -> true, info | nil, err
--   client:subscriptions()                                -> { subscription, ... } | nil, err
--
-- graphcomm.client defines those methods; the functions here take the client's engine.
-- A subscription comes back as Graph sends it (Graph's names: id, expirationDateTime,
-- clientState, ...). Everything goes through the engine (auth, retries, redirects,
-- Graph's error bodies); lists page like every read (graphcomm.read). Checked before anything is sent, with Graph's limits:
--   notification_url, lifecycle_url   https, or http to a loopback host only
--   client_state                      a string of at most 128 characters
--   expires_in                        seconds, more than 0 and at most 4230 minutes
--   change_type                       "created", "updated" or "created,updated" (default)
-- Unknown option names and wrong types raise (docs/api-conventions.md), with the nearest
-- known name; a refused value returns nil, err.
local cjson = require "cjson"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local options = require "graphcomm.options"
local read = require "graphcomm.read"

local type, tostring, error, os_time, os_date = type, tostring, error, os.time, os.date
local format, gsub, find = string.format, string.gsub, string.find

local M = {}

M.RESOURCE = "/communications/callRecords"
M.MAX_EXPIRES_IN = 4230 * 60              -- Graph's limit for call records, in seconds
M.DEFAULT_EXPIRES_IN = 4200 * 60           -- a little under it: clocks differ
M.MAX_CLIENT_STATE = 128

local encoder = cjson.new()

-- ---------------------------------------------------------------- option checks

local function invalid(path, message)
  return nil, errors.validation(path .. " " .. message,
    { errors = { { path = path, message = message } } })
end

local function chars(s)   -- UTF-8 characters (continuation bytes not counted)
  return #s - #gsub(s, "[\128-\191]", "")
end

local function check_url(name, v, required)
  if v == nil then
    if required then return invalid(name, "is required") end
    return true
  end
  if type(v) ~= "string" then return invalid(name, "must be a string, got " .. type(v)) end
  if find(v, "[%s%z]") then return invalid(name, "must not contain spaces or control characters") end
  local ok, err = request.check_url(v)
  if not ok then return invalid(name, err.message) end
  return true
end

local function check_expires_in(v)
  if v == nil then return M.DEFAULT_EXPIRES_IN end
  if type(v) ~= "number" or v ~= v or v <= 0 or v > M.MAX_EXPIRES_IN then
    return invalid("expires_in", format("must be a number of seconds above 0 and at most %d "
      .. "(4230 minutes), got %s", M.MAX_EXPIRES_IN, tostring(v)))
  end
  return v
end

local CHANGE_TYPES = { created = true, updated = true, ["created,updated"] = true,
  ["updated,created"] = true }

local function check_client_state(v)
  if v == nil then return true end
  if type(v) ~= "string" then return invalid("client_state", "must be a string, got " .. type(v)) end
  if v == "" or chars(v) > M.MAX_CLIENT_STATE then
    return invalid("client_state", format("must be 1 to %d characters, got %d",
      M.MAX_CLIENT_STATE, chars(v)))
  end
  return true
end

-- The path of one subscription, its id percent-encoded; nil, err for a bad id
-- (control characters are refused too: no id Graph hands out holds them).
local function sub_path(id)
  if type(id) == "string" and find(id, "%c") then
    return invalid("id", "must not contain control characters")
  end
  return request.subscription_path(id)
end

local function expiration(seconds)
  return os_date("!%Y-%m-%dT%H:%M:%SZ", os_time() + math.floor(seconds))
end
M.expiration = expiration

-- ---------------------------------------------------------------- requests

local function send_json(e, method, path, body)
  local ok, resp = e:perform{ method = method, path = path, body = encoder.encode(body) }
  if not ok then return nil, resp end
  return read.json_object(resp)
end

-- The names subscribe takes, with their types (wrong types raise; values are checked below).
M.SUBSCRIBE = { notification_url = "string", lifecycle_url = "string", client_state = "any",
  expires_in = "any", change_type = "string" }

-- Checks subscribe's values (names and types checked already); returns Graph's body, or nil, err.
local function subscription_body(opts)
  local ok, err = check_url("notification_url", opts.notification_url, true)
  if not ok then return nil, err end
  ok, err = check_url("lifecycle_url", opts.lifecycle_url, false)
  if not ok then return nil, err end
  ok, err = check_client_state(opts.client_state)
  if not ok then return nil, err end
  local ct = opts.change_type or "created,updated"
  if not CHANGE_TYPES[ct] then
    return invalid("change_type", "must be \"created\", \"updated\" or \"created,updated\", got "
      .. tostring(ct))
  end
  local secs
  secs, err = check_expires_in(opts.expires_in)
  if not secs then return nil, err end
  return { changeType = ct, notificationUrl = opts.notification_url,
    lifecycleNotificationUrl = opts.lifecycle_url, resource = M.RESOURCE,
    expirationDateTime = expiration(secs), clientState = opts.client_state }
end
M.subscription_body = subscription_body

-- level: where a misuse error points (the caller of the client method by default).
function M.subscribe(e, opts, level)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'subscribe' (table expected, got " .. type(opts) .. ")", level or 3)
  end
  opts = options.check(opts, M.SUBSCRIBE, "subscribe", 1, (level or 3) - 1)
  local body, err = subscription_body(opts)
  if not body then return nil, err end
  return send_json(e, "POST", "/subscriptions", body)
end

function M.renew(e, id, expires_in)
  local path, err = sub_path(id)
  if not path then return nil, err end
  local secs
  secs, err = check_expires_in(expires_in)
  if not secs then return nil, err end
  return send_json(e, "PATCH", path, { expirationDateTime = expiration(secs) })
end

function M.unsubscribe(e, id)
  local path, err = sub_path(id)
  if not path then return nil, err end
  local ok, resp = e:perform{ method = "DELETE", path = path }
  if not ok then return nil, resp end
  return true, resp
end

-- Every subscription of the application (Graph pages them with @odata.nextLink).
function M.list(e)
  return read.list(e, "/subscriptions")
end

return M
