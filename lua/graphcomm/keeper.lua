-- graphcomm.keeper: keeps one call-record subscription alive from inside nginx, for a
-- graphcomm.notify receiver.
--
--   local keeper = require("graphcomm.keeper").new{
--     receiver = receiver,              -- graphcomm.notify receiver (its client, queue, dict)
--     notification_url =, lifecycle_url =, client_state =,   -- as subscribe takes them
--     expires_in = 4200 * 60,           -- seconds asked for at each (re)subscription/renewal
--     margin = 3600,                    -- renew when less than this is left
--     check_interval = 60,              -- seconds between checks
--     lookback = 86400,                 -- a gap read lists records started this long before the gap
--     state_file = "/var/lib/x/keeper.json",   -- survives restarts
--   }
--   init_worker_by_lua: keeper:init_worker()   -- worker 0 runs the checks
--   the receiver's on_lifecycle: keeper:lifecycle(event, notification)
--
-- Each check: no subscription yet -> subscribe; less than `margin` left -> renew (a renewal
-- answered 404 subscribes again). Lifecycle events: reauthorizationRequired -> renew now;
-- subscriptionRemoved -> subscribe again; missed -> a gap read. A gap read lists the call
-- records whose startDateTime is at or after (gap start - lookback) and queues each on the
-- receiver as a "created" notification (its de-duplication drops those already done).
-- The first check after a start reads the gap since the state file's last check.
-- State ({ id, expires, alive }) is in the receiver's shared dict and in state_file.
local cjson = require "cjson.safe"
local subs = require "graphcomm.subscriptions"
local options = require "graphcomm.options"

local type, pairs, tostring, error, pcall, tonumber, setmetatable =
      type, pairs, tostring, error, pcall, tonumber, setmetatable
local format, match = string.format, string.match

local M = {}

M.DEFAULTS = { margin = 3600, check_interval = 60, lookback = 86400,
  expires_in = subs.DEFAULT_EXPIRES_IN }
local OPTIONS = { receiver = "any", notification_url = "any", lifecycle_url = "any",
  client_state = "any", expires_in = "any", margin = "any", check_interval = "any", lookback = "any",
  state_file = "string" }

local function ngx_api()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or not ngx.timer then error("graphcomm.keeper runs inside nginx", 3) end
  return ngx
end

-- "2026-12-03T10:00:00Z" (Graph's form, any fraction) -> epoch seconds, or nil.
local function epoch(s)
  local y, mo, d, h, mi, sec = match(tostring(s), "^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  return os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(sec), isdst = false }) - (os.time() - os.time(os.date("!*t")))
end
M.epoch = epoch

local Keeper = {}
Keeper.__index = Keeper

function M.new(opts)
  if type(opts) ~= "table" then error("graphcomm.keeper.new: options table expected", 2) end
  opts = options.check(opts, OPTIONS, "keeper.new", 1, 2)
  if type(opts.receiver) ~= "table" then error("graphcomm.keeper: option receiver is required", 2) end
  local body, err = subs.subscription_body({ notification_url = opts.notification_url,
    lifecycle_url = opts.lifecycle_url, client_state = opts.client_state, expires_in = opts.expires_in })
  if not body then error("graphcomm.keeper: " .. err.message, 2) end
  local k = setmetatable({}, Keeper)
  for name, v in pairs(M.DEFAULTS) do k[name] = v end
  for name, v in pairs(opts) do k[name] = v end
  for _, name in pairs({ "margin", "check_interval", "lookback" }) do
    if type(k[name]) ~= "number" or k[name] ~= k[name] or k[name] <= 0 then
      error("graphcomm.keeper: option " .. name .. " must be a positive number", 2)
    end
  end
  if k.margin >= k.expires_in then error("graphcomm.keeper: margin must be less than expires_in", 2) end
  return k
end

---------------------------------------------------------------- state

function Keeper:load()
  local d = self.receiver:shared()
  local st = cjson.decode(d:get("keeper:state") or "")
  if type(st) == "table" then return st end
  if self.state_file then
    local f = io.open(self.state_file, "r")
    if f then
      st = cjson.decode(f:read("*a") or "")
      f:close()
      if type(st) == "table" then
        st.restarted = true
        return st
      end
    end
  end
  return {}
end

function Keeper:save(st)
  local text = cjson.encode(st)
  self.receiver:shared():set("keeper:state", text)
  if not self.state_file then return end
  local tmp = self.state_file .. ".new"
  local f, err = io.open(tmp, "w")
  if not f then return self.receiver:log("ERR", "keeper: cannot write ", tmp, ": ", tostring(err)) end
  f:write(text)
  f:close()
  os.rename(tmp, self.state_file)
end

---------------------------------------------------------------- the calls

function Keeper:client()
  local c, err = self.receiver:get_client()
  if not c then self.receiver:log("ERR", "keeper: no client: ", tostring(err)) end
  return c
end

function Keeper:subscribe(st)
  local c = self:client()
  if not c then return nil end
  local sub, err = c:subscribe({ notification_url = self.notification_url,
    lifecycle_url = self.lifecycle_url, client_state = self.client_state, expires_in = self.expires_in })
  if not sub then
    self.receiver:log("ERR", "keeper: subscribing failed: ", tostring(err))
    return nil
  end
  st.id, st.expires = sub.id, epoch(sub.expirationDateTime) or (os.time() + self.expires_in)
  self.receiver:log("NOTICE", "keeper: subscription ", sub.id, " until ", sub.expirationDateTime)
  return true
end

function Keeper:renew(st)
  local c = self:client()
  if not c then return nil end
  local sub, err = c:renew_subscription(st.id, self.expires_in)
  if sub then
    st.expires = epoch(sub.expirationDateTime) or (os.time() + self.expires_in)
    self.receiver:log("NOTICE", "keeper: renewed ", st.id, " until ", sub.expirationDateTime)
    return true
  end
  self.receiver:log("ERR", "keeper: renewing ", st.id, " failed: ", tostring(err))
  if err and err.status == 404 then
    st.id = nil
    return self:subscribe(st)
  end
  return nil
end

-- Queues every call record started at or after (since - lookback): true, or nil.
function Keeper:read_gap(st, since)
  local c = self:client()
  if not c or not st.id then return nil end
  local from = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(since - self.lookback))
  local n = 0
  local ok, err = pcall(function()
    local iter, ierr = c:call_records{ select = "id", filter = "startDateTime ge " .. from }
    if not iter then error(ierr, 0) end
    for rec in iter do
      if type(rec) == "table" and type(rec.id) == "string"
          and self.receiver:enqueue_record(st.id, rec.id, "created") then
        n = n + 1
      end
    end
  end)
  if not ok then
    self.receiver:log("ERR", "keeper: reading the gap since ", from, " failed: ", tostring(err))
    return nil, err
  end
  self.receiver:log("NOTICE", format("keeper: gap read since %s queued %d call record(s)", from, n))
  if n > 0 then self.receiver:kick() end
  return true
end

---------------------------------------------------------------- the checks

function Keeper:check()
  if self.busy then return end
  self.busy = true
  local ok, err = pcall(function()
    local st = self:load()
    local now = os.time()
    if not st.id then
      self:subscribe(st)
    elseif (st.expires or 0) - now < self.margin then
      self:renew(st)
    end
    if st.restarted and st.alive and st.id then
      if self:read_gap(st, st.alive) then st.restarted = nil end
    else
      st.restarted = nil
    end
    st.alive = now
    self:save(st)
  end)
  self.busy = false
  if not ok then self.receiver:log("ERR", "keeper: check raised: ", tostring(err)) end
end

local function check_timer(premature, self)
  if premature then return end
  self:check()
end

function Keeper:init_worker()
  local ngx = ngx_api()
  if ngx.worker.id() ~= 0 then return end
  ngx.timer.at(0, check_timer, self)
  local ok, err = ngx.timer.every(self.check_interval, check_timer, self)
  if not ok then self.receiver:log("ERR", "keeper: no timer: ", tostring(err)) end
end

-- A lifecycle notification (the receiver's on_lifecycle), run from a timer.
function Keeper:lifecycle(event, n)
  for _ = 1, 600 do               -- a check in progress ends first (bounded: 30 s)
    if not self.busy then break end
    ngx_api().sleep(0.05)
  end
  self.busy = true
  local ok, err = pcall(function()
    local st = self:load()
    if n and n.subscriptionId ~= st.id then
      self.receiver:log("WARN", "keeper: ", event, " for subscription ", tostring(n.subscriptionId),
        ", not ours (", tostring(st.id), "): ignored")
      return
    end
    if event == "reauthorizationRequired" then
      self:renew(st)
    elseif event == "subscriptionRemoved" then
      st.id = nil
      if self:subscribe(st) then self:read_gap(st, st.alive or os.time()) end
    elseif event == "missed" then
      self:read_gap(st, st.alive or os.time())
    end
    self:save(st)
  end)
  self.busy = false
  if not ok then self.receiver:log("ERR", "keeper: ", event, " raised: ", tostring(err)) end
end

return M
