-- graphcomm.notify: the receiving side of call-record change notifications, inside
-- OpenResty / nginx's Lua module. One receiver per nginx, made when the code loads:
--
--   local receiver = require("graphcomm.notify").new{
--     client_state = "...",            -- the subscription's clientState (required)
--     fix = function(session, record) return body_or_nil end,   -- required, or:
--     rule = "/etc/graphcomm/rules/missing_end_time.lua",       -- a rule file (docs/rules.md):
--                                      its where() skips records, its fix() is diffed
--     connect = { transport = "ngx" }, -- graphcomm.connect options (one client a worker)
--     dict = "graphcomm_notify",       -- a lua_shared_dict (required in nginx.conf)
--     journal = "/var/lib/x/notify.journal",  -- optional: survives restarts
--     dry_run = false, max_tries = 5, retry_delay = 2, dedupe_ttl = 86400,
--     concurrency = 4, on_lifecycle = function(event, notification) end,
--   }
--   init_worker_by_lua_block { receiver:init_worker() }     -- replay, drain timer
--   location = /notify    { content_by_lua_block { receiver:handle() } }
--   location = /lifecycle { content_by_lua_block { receiver:handle_lifecycle() } }
--   location = /status    { content_by_lua_block { receiver:handle_status() } }
--
-- handle() answers Graph's validation handshake (200, text/plain, the token), and for a
-- changeNotificationCollection: drops each notification whose clientState differs
-- (compared in constant time), de-duplicates by subscription, resource id and changeType,
-- queues the rest (shared dict list, journal line) and answers 202 at once; only a queue
-- that cannot take them answers 503, so that Graph delivers again. Timers then read each
-- call record with its sessions and segments (client:get_call_record follows the nested
-- pages), call fix(session, record) for every session, and send what it returns through
-- client:update_session (validated; with dry_run a what-if is logged instead). A fix that
-- raises, or an update that fails, is logged with the record id and the notification goes
-- back on the queue, retry_delay * 2^(tries-1) seconds later, at most max_tries times.
-- Fixes must be idempotent (read the record, change only what is still wrong): after a
-- crash between an update and its journal line, the record is read and fixed again.
local cjson = require "cjson.safe"
local options = require "graphcomm.options"
local rules = require "graphcomm.rules"
local lines = require "graphcomm.lines"

local type, pairs, ipairs, tostring, error, pcall, tonumber =
      type, pairs, ipairs, tostring, error, pcall, tonumber
local byte, find, format, match = string.byte, string.find, string.format, string.match
local concat = table.concat

local M = {}

M.MAX_BODY = 1024 * 1024          -- a collection bigger than this is refused (413)
M.MAX_TOKEN = 4096
M.DEFAULTS = { dict = "graphcomm_notify", dry_run = false, max_tries = 5, retry_delay = 2,
  dedupe_ttl = 86400, concurrency = 4, drain_interval = 1, lock_ttl = 60 }
-- Names and types are checked by graphcomm.options (misuse raises); values below.
local OPTIONS = { client_state = "any", fix = "any", rule = "any", connect = "any", dict = "string",
  journal = "any", dry_run = "boolean", max_tries = "any", retry_delay = "any",
  dedupe_ttl = "any", concurrency = "any", on_lifecycle = "any", drain_interval = "any",
  lock_ttl = "any", client = "any", record_query = "table" }
local CHANGES = { created = true, updated = true }
local STATS = { "received", "queued", "duplicates", "dropped", "done", "failed", "fixed",
  "previews", "errors", "retries", "lifecycle" }

local function ngx_api()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or not ngx.shared then
    error("graphcomm.notify runs inside nginx (lua-nginx-module)", 3)
  end
  return ngx
end

-- ---------------------------------------------------------------- pure parts

-- True when a and b are equal strings; the time taken depends on #b only, never on
-- where they differ (so a guessed clientState leaks nothing by timing).
function M.equal(a, b)
  if type(a) ~= "string" or type(b) ~= "string" then return false end
  local la, lb = #a, #b
  local diff = (la - lb) * (la - lb)
  for i = 1, lb do
    local x, y = byte(a, i) or 256, byte(b, i)
    diff = diff + (x - y) * (x - y)
  end
  return diff == 0
end

local function safe_id(v)
  return type(v) == "string" and #v > 0 and #v <= 256 and not find(v, "[%c]")
end

-- The queue's key of a notification: what makes two deliveries the same change.
function M.key(n)
  return n.subscriptionId .. "|" .. n.resourceData.id .. "|" .. n.changeType
end

-- A changeNotificationCollection's text -> items to queue, count dropped | nil, why.
-- lifecycle = true reads lifecycle notifications (lifecycleEvent) instead.
function M.parse(text, client_state, lifecycle)
  local doc = cjson.decode(text or "")
  if type(doc) ~= "table" or type(doc.value) ~= "table" then
    return nil, "the body is not a changeNotificationCollection"
  end
  local items, dropped = {}, 0
  for _, n in ipairs(doc.value) do
    local ok = type(n) == "table" and M.equal(n.clientState, client_state)
      and safe_id(n.subscriptionId)
    if ok and lifecycle then
      ok = type(n.lifecycleEvent) == "string"
    elseif ok then
      ok = CHANGES[n.changeType] and type(n.resourceData) == "table" and safe_id(n.resourceData.id)
    end
    if ok then items[#items + 1] = n else dropped = dropped + 1 end
  end
  return items, dropped
end

-- ---------------------------------------------------------------- options

local function bad(name, message)
  error("graphcomm.notify: option " .. name .. " " .. message, 3)
end

local function check_options(opts)
  if type(opts) ~= "table" then error("graphcomm.notify.new: options table expected", 3) end
  opts = options.check(opts, OPTIONS, "notify.new", 1, 3)
  if type(opts.client_state) ~= "string" or opts.client_state == "" or #opts.client_state > 128 then
    bad("client_state", "must be the subscription's clientState (1 to 128 characters)")
  end
  if opts.rule ~= nil then
    if opts.fix ~= nil then bad("rule", "and option fix exclude each other") end
    local rule, err = opts.rule
    if type(rule) == "string" then rule, err = rules.load(rule) end
    if not rule then bad("rule", "does not load: " .. tostring(err and err.message)) end
    if not rules.is_rule(rule) then bad("rule", "must be a rule file's path or a rule (graphcomm.rules.load)") end
    opts.fix, opts.where = rule:functions()
  end
  if type(opts.fix) ~= "function" then bad("fix", "must be a function(session, record)") end
  if opts.connect ~= nil and type(opts.connect) ~= "table" then bad("connect", "must be a table") end
  if opts.client ~= nil and type(opts.client) ~= "function" then bad("client", "must be a function returning a client") end
  if opts.on_lifecycle ~= nil and type(opts.on_lifecycle) ~= "function" then bad("on_lifecycle", "must be a function") end
  if opts.journal ~= nil and type(opts.journal) ~= "string" then bad("journal", "must be a path") end
  for _, name in ipairs({ "max_tries", "retry_delay", "dedupe_ttl", "concurrency", "drain_interval", "lock_ttl" }) do
    local v = opts[name]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v <= 0) then bad(name, "must be a positive number") end
  end
  return opts
end

-- ---------------------------------------------------------------- the receiver

local Receiver = {}
Receiver.__index = Receiver

function M.new(opts)
  opts = check_options(opts)
  local r = setmetatable({}, Receiver)
  for k, v in pairs(M.DEFAULTS) do r[k] = v end
  for k, v in pairs(opts) do r[k] = v end
  r.record_query = r.record_query or { expand = "sessions($expand=segments)" }
  r.running = 0
  return r
end

function Receiver:shared()
  local d = ngx_api().shared[self.dict]
  if not d then error("graphcomm.notify: nginx.conf needs `lua_shared_dict " .. self.dict .. " 16m;`", 3) end
  return d
end

function Receiver:count(name, n)
  self:shared():incr("stat:" .. name, n or 1, 0)
end

function Receiver:log(level, ...)
  local ngx = ngx_api()
  ngx.log(ngx[level], "graphcomm.notify: ", ...)
end

-- ---------------------------------------------------------------- the journal

-- One line a change of state: "Q\t<item json>" queued (again), "D\t<key>\t<time>" done,
-- "F\t<key>\t<time>" given up. Appended with one write each (O_APPEND).
function Receiver:journal_line(line)
  if not self.journal then return true end
  local f, err = io.open(self.journal, "a")
  if not f then return nil, err end
  local ok, werr = f:write(line, "\n")
  f:close()
  return ok, werr
end

local function read_journal(path)
  local pending, order, finished = {}, {}, {}
  local f = io.open(path, "r")
  if not f then return pending, order, finished end
  for line in lines.each(f) do
    local kind, rest = match(line, "^(%u)\t(.*)$")
    if kind == "Q" then
      local item = cjson.decode(rest)
      if type(item) == "table" and type(item.key) == "string" then
        if not pending[item.key] then order[#order + 1] = item.key end
        pending[item.key] = item
        finished[item.key] = nil
      end
    elseif kind == "D" or kind == "F" then
      local key, at = match(rest, "^(.-)\t([%d.]+)$")
      if key then pending[key], finished[key] = nil, { kind = kind, at = tonumber(at) } end
    end
  end
  f:close()
  return pending, order, finished
end

-- Puts the journal's unfinished items back on the queue and its recent outcomes back in
-- the de-duplication set, then rewrites it with only those (a new file renamed over).
function Receiver:replay()
  local ngx, d = ngx_api(), self:shared()
  local pending, order, finished = read_journal(self.journal)
  local now, lines = ngx.now(), {}
  for key, f in pairs(finished) do
    local left = self.dedupe_ttl - (now - f.at)
    if left > 0 then
      d:set("seen:" .. key, f.kind == "D" and "done" or "failed", left)
      lines[#lines + 1] = f.kind .. "\t" .. key .. "\t" .. f.at
    end
  end
  local n = 0
  for _, key in ipairs(order) do
    local item = pending[key]
    if item then
      d:set("seen:" .. key, "queued", self.dedupe_ttl)
      d:rpush("queue", cjson.encode(item))
      lines[#lines + 1] = "Q\t" .. cjson.encode(item)
      n = n + 1
    end
  end
  local tmp = self.journal .. ".new"
  local f = assert(io.open(tmp, "w"))
  f:write(concat(lines, "\n"), #lines > 0 and "\n" or "")
  f:close()
  assert(os.rename(tmp, self.journal))
  if n > 0 then self:log("NOTICE", "replayed ", n, " queued notification(s) from ", self.journal) end
  return n
end

-- ---------------------------------------------------------------- queueing

-- Queues one notification unless its key was seen; false when it was a duplicate,
-- nil, err when the queue could not take it.
function Receiver:enqueue(n)
  local d = self:shared()
  local key = M.key(n)
  local ok, err = d:add("seen:" .. key, "queued", self.dedupe_ttl)
  if not ok then
    if err == "exists" then return false end
    return nil, err
  end
  local item = { key = key, sid = n.subscriptionId, rid = n.resourceData.id, ct = n.changeType,
    tries = 0 }
  local line = cjson.encode(item)
  local jok, jerr = self:journal_line("Q\t" .. line)
  if not jok then
    d:delete("seen:" .. key)
    return nil, "journal: " .. tostring(jerr)
  end
  local len
  len, err = d:rpush("queue", line)
  if not len then
    d:delete("seen:" .. key)
    return nil, err
  end
  return true
end

-- Queues a call record found by other means (the keeper's gap read): same path, same key.
function Receiver:enqueue_record(subscription_id, crid, change_type)
  return self:enqueue({ subscriptionId = subscription_id, changeType = change_type or "created",
    resourceData = { id = crid } })
end

-- ---------------------------------------------------------------- processing

function Receiver:get_client()
  if self.client_obj then return self.client_obj end
  local c, err
  if self.client then
    c, err = self.client()
  else
    local conn = { transport = "ngx" }
    for k, v in pairs(self.connect or {}) do conn[k] = v end
    c, err = require("graphcomm").connect(conn)
  end
  if not c then return nil, err end
  self.client_obj = c
  return c
end

-- Reads the record and applies the fix to each session: true, or nil, why.
function Receiver:apply(item)
  local c, err = self:get_client()
  if not c then return nil, "no client: " .. tostring(err) end
  local record
  record, err = c:get_call_record(item.rid, self.record_query)
  if not record then return nil, "reading the call record failed: " .. tostring(err) end
  if self.where then
    local ok, keep = pcall(self.where, record)
    if not ok then return nil, "the rule's where raised: " .. tostring(keep) end
    if not keep then return true end
  end
  for _, session in ipairs(type(record.sessions) == "table" and record.sessions or {}) do
    local ok, body = pcall(self.fix, session, record)
    if not ok then
      self:count("errors")
      return nil, "the fix function raised on session " .. tostring(session.id) .. ": " .. tostring(body)
    end
    if body ~= nil then
      local res, uerr = c:update_session(item.rid, session.id, body, { what_if = self.dry_run or nil })
      if not res then
        return nil, "the update of session " .. tostring(session.id) .. " failed: " .. tostring(uerr)
      end
      if self.dry_run then
        self:count("previews")
        self:log("NOTICE", "dry run: ", res.method, " ", res.url, " ", tostring(res.body))
      else
        self:count("fixed")
      end
    end
  end
  return true
end

function Receiver:finish(item, kind)
  local ngx, d = ngx_api(), self:shared()
  d:set("seen:" .. item.key, kind == "D" and "done" or "failed", self.dedupe_ttl)
  self:journal_line(kind .. "\t" .. item.key .. "\t" .. format("%.3f", ngx.now()))
  self:count(kind == "D" and "done" or "failed")
end

local RECORD_BUSY_DELAY = 0.05   -- seconds before an item whose record is being fixed is tried again

-- apply, where an error raised (a client's misuse error) fails the try like any other:
-- raised out of process, it left the locks held and the item off the queue.
local function try_apply(self, item)
  local done, ok, why = pcall(self.apply, self, item)
  if not done then return nil, "processing raised: " .. tostring(ok) end
  return ok, why
end

-- One item off the queue: processed, put back for later, or finished.
function Receiver:process(item)
  local ngx, d = ngx_api(), self:shared()
  local state = d:get("seen:" .. item.key)
  if state == "done" or state == "failed" then return end
  if not d:add("lock:" .. item.key, ngx.worker.pid(), self.lock_ttl) then return end
  -- One record at a time: its created and updated notifications (the latter caused by a
  -- fix's own PATCH) must not both read it before either has written, or it is fixed twice.
  local record_lock = "record:" .. item.rid
  if not d:add(record_lock, ngx.worker.pid(), self.lock_ttl) then
    d:delete("lock:" .. item.key)
    item.not_before = ngx.now() + RECORD_BUSY_DELAY
    d:rpush("queue", cjson.encode(item))
    self:kick(RECORD_BUSY_DELAY)
    return
  end
  local ok, why = try_apply(self, item)
  local again, delay
  if ok then
    self:finish(item, "D")
  else
    item.tries = item.tries + 1
    self:log("ERR", "call record ", item.rid, " (", item.ct, ", try ", item.tries, " of ",
      self.max_tries, "): ", why)
    if item.tries >= self.max_tries then
      self:finish(item, "F")
    else
      self:count("retries")
      delay = self.retry_delay * 2 ^ (item.tries - 1)
      item.not_before = ngx.now() + delay
      again = cjson.encode(item)
      self:journal_line("Q\t" .. again)
    end
  end
  d:delete(record_lock)
  d:delete("lock:" .. item.key)
  -- Back on the queue only once its locks are gone: a worker that took it off the queue
  -- while this one still held its lock would have dropped it.
  if again then
    d:rpush("queue", again)
    self:kick(delay)
  end
end

-- Takes items off the queue until it is empty or holds only items not yet due.
function Receiver:drain()
  local ngx, d = ngx_api(), self:shared()
  if self.running >= self.concurrency or not d:get("ready") then return end
  self.running = self.running + 1
  local ok, err = pcall(self.drain_queue, self, ngx, d)
  self.running = self.running - 1
  if not ok then self:log("ERR", "draining the queue raised: ", tostring(err)) end
end

function Receiver:drain_queue(ngx, d)
  local later = 0
  while true do
    local line = d:lpop("queue")
    if not line then break end
    local item = cjson.decode(line)
    if type(item) == "table" then
      if item.not_before and item.not_before > ngx.now() then
        d:rpush("queue", line)
        later = later + 1
        if later >= (d:llen("queue") or 0) then break end
      else
        local ok, err = pcall(self.process, self, item)
        if not ok then self:log("ERR", "processing ", tostring(item.rid), " raised: ", tostring(err)) end
      end
    end
  end
end

local function drain_timer(premature, self)
  if premature then return end
  self:drain()
end

function Receiver:kick(delay)
  local ok, err = ngx_api().timer.at(delay or 0, drain_timer, self)
  if not ok then self:log("WARN", "no timer for the queue (", tostring(err), "): the next tick drains it") end
end

-- init_worker_by_lua: worker 0 replays the journal, every worker drains the queue.
function Receiver:init_worker()
  local ngx, d = ngx_api(), self:shared()
  if ngx.worker.id() == 0 then
    if self.journal then
      local ok, err = pcall(self.replay, self)
      if not ok then self:log("ERR", "replaying ", self.journal, " failed: ", tostring(err)) end
    end
    d:set("ready", true)
  end
  local ok, err = ngx.timer.every(self.drain_interval, drain_timer, self)
  if not ok then self:log("ERR", "no drain timer: ", tostring(err)) end
  if ngx.worker.id() == 0 then self:kick() end
end

-- ---------------------------------------------------------------- the HTTP side

local function read_body(ngx)
  local len = tonumber(ngx.var.http_content_length)
  if len and len > M.MAX_BODY then return nil, 413 end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file()
  if not path then return "" end
  local f = io.open(path, "rb")
  if not f then return nil, 500 end
  body = f:read(M.MAX_BODY + 1)
  f:close()
  if body and #body > M.MAX_BODY then return nil, 413 end
  return body or ""
end

local function reply(ngx, status, ctype, body)
  ngx.status = status
  if ctype then ngx.header["Content-Type"] = ctype end
  if body then ngx.print(body) end
  return ngx.exit(status)
end

-- The validation handshake: true when it was one (and has been answered).
local function handshake(ngx)
  local token = ngx.req.get_uri_args(20).validationToken
  if token == nil then return false end
  if type(token) ~= "string" or #token > M.MAX_TOKEN then
    reply(ngx, 400, "text/plain", "bad validationToken\n")
    return true
  end
  ngx.header["X-Content-Type-Options"] = "nosniff"   -- the token is the caller's text
  reply(ngx, 200, "text/plain; charset=utf-8", token)
  return true
end

local function collection(self, ngx, lifecycle)
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return reply(ngx, 405)
  end
  if handshake(ngx) then return end
  local body, status = read_body(ngx)
  if not body then return reply(ngx, status) end
  local items, dropped = M.parse(body, self.client_state, lifecycle)
  if not items then return reply(ngx, 400, "text/plain", dropped .. "\n") end
  self:count("received", #items + dropped)
  if dropped > 0 then
    self:count("dropped", dropped)
    self:log("WARN", dropped, " notification(s) dropped: clientState or shape did not match")
  end
  return items
end

function Receiver:handle()
  local ngx = ngx_api()
  local items = collection(self, ngx, false)
  if not items then return end
  if not self:shared():get("ready") then return reply(ngx, 503) end
  local queued = 0
  for _, n in ipairs(items) do
    local ok, err = self:enqueue(n)
    if ok == nil then
      self:log("ERR", "could not queue call record ", n.resourceData.id, ": ", tostring(err))
      return reply(ngx, 503)        -- Graph delivers again; what was queued is de-duplicated
    end
    if ok then queued = queued + 1 else self:count("duplicates") end
  end
  if queued > 0 then
    self:count("queued", queued)
    self:kick()
  end
  return reply(ngx, 202)
end

local function lifecycle_timer(premature, self, event, n)
  if premature then return end
  local ok, err = pcall(self.on_lifecycle, event, n)
  if not ok then self:log("ERR", "on_lifecycle(", event, ") raised: ", tostring(err)) end
end

function Receiver:handle_lifecycle()
  local ngx = ngx_api()
  local items = collection(self, ngx, true)
  if not items then return end
  for _, n in ipairs(items) do
    self:count("lifecycle")
    self:log("NOTICE", "lifecycle event ", n.lifecycleEvent, " for subscription ", n.subscriptionId)
    if self.on_lifecycle then ngx.timer.at(0, lifecycle_timer, self, n.lifecycleEvent, n) end
  end
  return reply(ngx, 202)
end

-- The counters and the queue's length, as JSON.
function Receiver:stats()
  local d = self:shared()
  local out = { queue = d:llen("queue") or 0, ready = d:get("ready") == true }
  for _, name in ipairs(STATS) do out[name] = d:get("stat:" .. name) or 0 end
  return out
end

function Receiver:handle_status()
  local ngx = ngx_api()
  return reply(ngx, 200, "application/json", cjson.encode(self:stats()))
end

return M
