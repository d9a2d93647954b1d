-- graphcomm.subscriptions: change-notification subscriptions on call records.
--
--   subscribe(client, { notification_url =, lifecycle_url =, client_state =,
--                       expires_in =, change_type = })     -> subscription, info | nil, err
--   renew(client, id [, expires_in])                        -> subscription, info | nil, err
--   unsubscribe(client, id)                                 -> true, info | nil, err
--   list(client)                                            -> { subscription, ... }, info | nil, err
--
-- A subscription comes back as Graph sends it (Graph's names: id, expirationDateTime,
-- clientState, ...). Everything goes through client:request (auth, retries, redirects,
-- Graph's error bodies). Checked before anything is sent, with Graph's limits:
--   notification_url, lifecycle_url   https, or http to a loopback host only
--   client_state                      a string of at most 128 characters
--   expires_in                        seconds, more than 0 and at most 4230 minutes
--   change_type                       "created", "updated" or "created,updated" (default)
-- Unknown option names are refused, with the nearest known name.
local cjson = require "cjson"
local json = require "graphcomm.json"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"

local type, pairs, ipairs, tostring, error, os_time, os_date =
      type, pairs, ipairs, tostring, error, os.time, os.date
local format, gsub, find, byte = string.format, string.gsub, string.find, string.byte

local M = {}

local client_state = require("graphcomm.client").state

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

-- Edit distance of two short names (for did-you-mean).
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = byte(a, i) == byte(b, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function nearest(name, known)
  local best, best_d
  for k in pairs(known) do
    local d = distance(name, k)
    if not best_d or d < best_d or (d == best_d and k < best) then best, best_d = k, d end
  end
  if best_d and best_d <= math.max(2, math.floor(#name / 3)) then return best end
  return nil
end
M.nearest = nearest

-- nil when every name of opts is known, else nil, err naming the first unknown one.
local function unknown_option(opts, known, fname)
  local names = {}
  for k in pairs(opts) do
    if not known[k] then names[#names + 1] = tostring(k) end
  end
  if #names == 0 then return true end
  table.sort(names)
  local hint = type(names[1]) == "string" and nearest(names[1], known)
  return invalid(names[1], "is not an option of " .. fname
    .. (hint and (" (did you mean '" .. hint .. "'?)") or ""))
end
M.unknown_option = unknown_option

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

-- The path of one subscription, its id percent-encoded; nil, err for a bad id.
local function sub_path(id)
  if type(id) ~= "string" then return invalid("id", "must be a string, got " .. type(id)) end
  if id == "" or find(id, "[%c]") then return invalid("id", "must be a non-empty string without control characters") end
  return "/subscriptions/" .. gsub(id, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end)
end

local function expiration(seconds)
  return os_date("!%Y-%m-%dT%H:%M:%SZ", os_time() + math.floor(seconds))
end
M.expiration = expiration

-- ---------------------------------------------------------------- requests

local function decoded(resp)
  local doc, why = json.decode(resp.body or "")
  if type(doc) ~= "table" then
    return nil, errors.http("the answer is not a JSON object: " .. tostring(why or type(doc)),
      { status = resp.status, request_id = resp.request_id, headers = resp.headers })
  end
  return doc, resp
end

local function send_json(client, method, path, body)
  local resp, err = client:request{ method = method, path = path, body = encoder.encode(body) }
  if not resp then return nil, err end
  return decoded(resp)
end

local function check_client(client, fname)
  if client == nil or (type(client) ~= "userdata" and type(client) ~= "table") then
    error(format("bad argument #1 to '%s' (graphcomm.client expected, got %s)", fname,
      client == nil and "no value" or type(client)), 3)
  end
end

local SUBSCRIBE = { notification_url = true, lifecycle_url = true, client_state = true,
  expires_in = true, change_type = true }

-- Checks subscribe's options; returns Graph's body, or nil, err.
function M.subscription_body(opts)
  local ok, err = unknown_option(opts, SUBSCRIBE, "subscribe")
  if not ok then return nil, err end
  ok, err = check_url("notification_url", opts.notification_url, true)
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

function M.subscribe(client, opts)
  check_client(client, "subscribe")
  if type(opts) ~= "table" then
    error("bad argument #2 to 'subscribe' (table expected, got " .. type(opts) .. ")", 2)
  end
  local body, err = M.subscription_body(opts)
  if not body then return nil, err end
  return send_json(client, "POST", "/subscriptions", body)
end

function M.renew(client, id, expires_in)
  check_client(client, "renew_subscription")
  local path, err = sub_path(id)
  if not path then return nil, err end
  local secs
  secs, err = check_expires_in(expires_in)
  if not secs then return nil, err end
  return send_json(client, "PATCH", path, { expirationDateTime = expiration(secs) })
end

function M.unsubscribe(client, id)
  check_client(client, "unsubscribe")
  local path, err = sub_path(id)
  if not path then return nil, err end
  local resp
  resp, err = client:request{ method = "DELETE", path = path }
  if not resp then return nil, err end
  return true, resp
end

M.MAX_PAGES = 1000

-- Calls each(item) for every item of a collection, following @odata.nextLink on the
-- client's own origin (at most MAX_PAGES pages): true, info | nil, err.
function M.pages(client, spec, each)
  local resp
  for _ = 1, M.MAX_PAGES do
    local page, err = client:request(spec)
    if not page then return nil, err end
    local doc
    doc, err = decoded(page)
    if not doc then return nil, err end
    resp = page
    for _, item in ipairs(type(doc.value) == "table" and doc.value or {}) do each(item) end
    local link = doc["@odata.nextLink"]
    if type(link) ~= "string" then return true, resp end
    if not request.same_origin(link, client_state(client).cfg.prefix) then
      return nil, errors.http("refusing to follow a next link to another origin: " .. link,
        { code = "ForeignNextLink" })
    end
    spec = { method = "GET", url = link }
  end
  return true, resp
end

-- Every subscription of the application (Graph pages them with @odata.nextLink).
function M.list(client)
  check_client(client, "subscriptions")
  local out = {}
  local ok, info = M.pages(client, { method = "GET", path = "/subscriptions" },
    function(s) out[#out + 1] = s end)
  if not ok then return nil, info end
  return out, info
end

-- Installs the client methods: client:subscribe{...}, client:renew_subscription(id [, s]),
-- client:unsubscribe(id), client:subscriptions().
function M.install(methods)
  methods.subscribe = M.subscribe
  methods.renew_subscription = M.renew
  methods.unsubscribe = M.unsubscribe
  methods.subscriptions = M.list
  return methods
end

return M
