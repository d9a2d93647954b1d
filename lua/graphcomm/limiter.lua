-- graphcomm.limiter: Graph's call-record throttling limits, kept on the client side
-- (docs/throttling.md), so that a request leaves only when Graph would take it.
--
--   limiter.config(v, base_url, idents, check [, getenv]) -> cfg | false | nil, err
--     v: connect's `limits` (nil: the documented numbers, off against a loopback
--     emulator, or GRAPHCOMM_LIMITS: off | on | a JSON object; false: off; true or a
--     table: on, with overrides; GRAPHCOMM_LIMITS_FILE: the state_file); idents: connect's
--     options (tenant_id, client_id name the scopes; else AZURE_TENANT_ID and
--     AZURE_CLIENT_ID through getenv); check: graphcomm.options.check
--   limiter.new(cfg [, now]) -> lim
--   lim:keys(spec) -> list     the scope instances a request counts against
--   lim:cost(spec) -> n        how many requests Graph counts (a $batch: its requests)
--   lim:take(keys, n) -> granted, wait
--     up to n requests counted in every scope; granted 0: none may go for `wait` s
--   lim:take(keys, n, true)    n or nothing
--   lim:take(keys, n, exact, past_pause, under_way)   past_pause: a 429's pause is
--     ignored; under_way: the requests stay counted until answered (answered, below)
--   lim:give(keys, n [, taken_at])  n requests of that take that were not sent after all
--   lim:admit(spec, sleep [, max_wait]) -> waited   blocks until spec's requests may go
--                              (perform); a 429's pause holds it max_wait at most
--   lim:sent(spec, taken_at) -> sent_at   a request leaving late is counted from now
--   lim.taken_at               the store's time of the last take that granted
--   lim:answered(spec, resp, sent_at [, inner])  an answer to spec, counted at sent_at:
--     its count moves to the answer's time; and the signal of the answer, if any
--   lim:signal(keys, status, headers [, sent_at, cost, inner]) -> paused seconds | nil
--     an answer: a 429 pauses the scope x-ms-throttle-scope names (every scope of the
--     request when it names none) for its Retry-After and halves its rate; a high
--     x-ms-throttle-limit-percentage beyond what this client sent slows the scope.
--     The rate recovers by RECOVER of the limit per window.
--   lim:close()
--
-- Windows. Graph counts N requests per W seconds; a token bucket would let 2N through
-- in some window of W, so each scope is a sliding window: a request goes when fewer
-- than N were sent in the last W + margin seconds. The sends are kept in SLOTS slots
-- per window (count and latest time: bounded memory, whatever N); a slot leaves the
-- window W + margin after its latest time. A request is counted when it leaves, and
-- when its answer comes back its count moves to the answer's time (Graph counted it
-- somewhere between the two, however long it was under way); until then its slot stays
-- (at most PENDING_MAX s past its window, for a process that died with requests under
-- way). A transport failure counts as an answer then. The margin (default 0.02 s + 1%
-- of W) absorbs the differences between the clocks.
--
-- State. The per-record scopes live in this process; the others in a store
-- (graphcomm.limiter_store): this process only, a state file under flock (every
-- process of the user on this machine), or an nginx shared dict (every worker).
--
-- Cost. An entry is checked (valid_entry, every slot) only when it comes from a state
-- that another process or the caller could have written: a state file, a shared dict or
-- a caller's store, once per transaction (each reads the state anew). The entries this
-- limiter keeps in memory (the locals, the memory store) are its own and never checked,
-- and they are pruned every PRUNE_EVERY takes, not on each: a request then costs the
-- same however full its windows are.

local type, pairs, ipairs, tostring, tonumber, setmetatable =
      type, pairs, ipairs, tostring, tonumber, setmetatable
local math_floor, math_min, math_max = math.floor, math.min, math.max
local string_match, string_lower, string_format = string.match, string.lower, string.format

local errors = require "graphcomm.errors"
local retry = require "graphcomm.retry"
local store = require "graphcomm.limiter_store"
local cjson = require "cjson.safe"

local M = {}

-- Microsoft Graph throttling limits, cloud communications (call records).
M.DEFAULTS = {
  app = { requests = 130000, per = 10 },       -- per app, across all tenants
  tenant = { requests = 10000, per = 20 },     -- per tenant, all apps
  app_tenant = { requests = 1500, per = 20 },  -- per app per tenant
  record_first = { requests = 10, per = 20 },  -- per call record, first page (reads)
  record_pages = { requests = 50, per = 300 }, -- per call record, later pages (reads)
}
M.SCOPES = { "app", "tenant", "app_tenant", "record_first", "record_pages" }
local LOCAL = { record_first = true, record_pages = true }
-- x-ms-throttle-scope's first part -> ours.
local NAMED = { tenant_application = "app_tenant", application = "app", tenant = "tenant",
  callrecord = "record_first" }

M.SLOTS = 50
M.PENDING_MAX = 120    -- s past its window an unanswered slot is kept at most
M.POLL = 0.01          -- s before looking again at a window full of unanswered requests
M.RECOVER = 0.25       -- of the limit regained per window after a slow-down
M.MIN_FACTOR = 0.05
M.SLOW_AT = 0.8        -- x-ms-throttle-limit-percentage (a fraction of the limit) that slows
M.DEFAULT_PAUSE = 1    -- a 429 without a usable Retry-After
local LATE = 0.005     -- a request leaving this long after its take is counted anew

------------------------------------------------------------------------------
-- Configuration
------------------------------------------------------------------------------

local function scope_check(v)
  if v == false then return true end
  if type(v) ~= "table" then return false, "false or { requests =, per = } expected, got " .. type(v) end
  for k in pairs(v) do
    if k ~= "requests" and k ~= "per" then
      return false, "unknown field '" .. tostring(k) .. "' (requests, per)"
    end
  end
  local n, w = v.requests, v.per
  if n ~= nil and (type(n) ~= "number" or n % 1 ~= 0 or n < 1 or n > 1e9) then
    return false, "requests must be an integer from 1 to 1e9, got " .. tostring(n)
  end
  if w ~= nil and (type(w) ~= "number" or not (w > 0) or w > 86400) then
    return false, "per must be seconds above 0, at most 86400, got " .. tostring(w)
  end
  return true
end

local function number_in(min, max)
  return function(v)
    if type(v) == "number" and v >= min and v <= max then return true end
    return false, string_format("a number from %g to %g expected, got %s", min, max, tostring(v))
  end
end

M.OPTIONS = {
  app = scope_check, tenant = scope_check, app_tenant = scope_check,
  record_first = scope_check, record_pages = scope_check,
  state_file = "string", shared_dict = "string", store = "table",
  app_id = "string", tenant_id = "string", margin = number_in(0, 60),
  slow_at = number_in(0.1, 10), clock = "function",
}

local function loopback(base_url)
  local host = string_match(base_url or "", "^%a[%w+.-]*://%[?([^/%]]-)%]?:?%d*/") or
               string_match(base_url or "", "^%a[%w+.-]*://%[?([^/%]]-)%]?:?%d*$") or ""
  host = string_lower(host)
  return host == "localhost" or host == "::1" or string_match(host, "^127%.") ~= nil
end

-- Refused ids: they become parts of keys.
local function ident(name, v)
  if type(v) ~= "string" or v == "" or #v > 256 or string_match(v, "[%z\1-\32/\127]") then
    return nil, errors.validation("option limits." .. name .. " must be 1 to 256 characters "
      .. "without spaces, controls or '/'", { errors = { { path = "limits." .. name,
      message = "bad identifier" } } })
  end
  return v
end

-- GRAPHCOMM_LIMITS: "off", "on" (the documented numbers) or a JSON object as `limits`.
local function from_env(getenv)
  local text = getenv and getenv("GRAPHCOMM_LIMITS")
  if text == nil or text == "" then return nil end
  if text == "off" then return false end
  if text == "on" then return true end
  local v = cjson.decode(text)
  if type(v) ~= "table" then
    return nil, errors.validation("GRAPHCOMM_LIMITS must be off, on or a JSON object",
      { errors = { { path = "GRAPHCOMM_LIMITS", message = "not off, on or a JSON object" } } })
  end
  return v
end

function M.config(v, base_url, idents, check, getenv)
  local err
  if v == nil then
    v, err = from_env(getenv)
    if err then return nil, err end
  end
  if v == false then return false end
  if v == nil then
    if loopback(base_url) then return false end
    v = {}
  end
  if v == true then v = {} end
  local o = check(v, M.OPTIONS, "connect", 1, 4)
  local cfg = { scopes = {}, margin = o.margin, slow_at = o.slow_at or M.SLOW_AT,
    clock = o.clock }
  for _, name in ipairs(M.SCOPES) do
    local given, d = o[name], M.DEFAULTS[name]
    if given ~= false then
      given = given or {}
      cfg.scopes[name] = { requests = given.requests or d.requests, per = given.per or d.per }
    end
  end
  if o.state_file and o.shared_dict then
    return nil, errors.validation("options limits.state_file and limits.shared_dict exclude "
      .. "each other", { errors = { { path = "limits", message = "two stores" } } })
  end
  local function given(name, var)
    local x = idents and idents[name]
    if x == nil and getenv then x = getenv(var) end
    if x == "" then x = nil end
    return x
  end
  cfg.tenant, err = ident("tenant_id", o.tenant_id or given("tenant_id", "AZURE_TENANT_ID")
    or "default")
  if not cfg.tenant then return nil, err end
  cfg.app, err = ident("app_id", o.app_id or given("client_id", "AZURE_CLIENT_ID") or "default")
  if not cfg.app then return nil, err end
  cfg.state_file = o.state_file or (not o.shared_dict and not o.store and given(nil,
    "GRAPHCOMM_LIMITS_FILE")) or nil
  cfg.shared_dict, cfg.store = o.shared_dict, o.store
  if cfg.store ~= nil and type(cfg.store.transact) ~= "function" then
    return nil, errors.validation("option limits.store must have transact(fn)",
      { errors = { { path = "limits.store", message = "no transact" } } })
  end
  cfg.opened, err = store.open(cfg)
  if not cfg.opened then return nil, err end
  return cfg
end

------------------------------------------------------------------------------
-- One scope's window
------------------------------------------------------------------------------

-- An entry: { n = sent in the window, s = { { slot, count, latest, unanswered }, ... }
--   oldest first, u = paused until, f = rate factor at time t (recovering from there), t }
-- A slot with unanswered requests stays until they are answered (their count moves on),
-- or PENDING_MAX s past its window (a process that died with requests under way).

local function valid_entry(e)
  if type(e) ~= "table" or type(e.n) ~= "number" or type(e.s) ~= "table" then return false end
  for _, sl in ipairs(e.s) do
    if type(sl) ~= "table" or type(sl[1]) ~= "number" or type(sl[2]) ~= "number"
       or type(sl[3]) ~= "number" or (sl[4] ~= nil and type(sl[4]) ~= "number") then
      return false
    end
  end
  return (e.u == nil or type(e.u) == "number") and (e.f == nil or type(e.f) == "number")
    and (e.t == nil or type(e.t) == "number")
end

-- check: the state was read from a store (state file, shared dict, a caller's): its
-- entries are checked; in this limiter's own memory they are what it wrote.
local function entry(state, key, check)
  local e = state[key]
  if e == nil or (check and not valid_entry(e)) then   -- missing, or damaged: start afresh
    e = { n = 0, s = {} }
    state[key] = e
  end
  return e
end

-- The factor at `now`: f, regained linearly after t.
local function factor(e, sc, now)
  local f = e.f
  if not f then return 1 end
  f = f + M.RECOVER * math_max(0, now - e.t) / sc.per
  if f >= 1 then
    e.f, e.t = nil, nil
    return 1
  end
  return f
end

-- Drops the slots that left the window.
local function gone(sl, life, now)
  local t = sl[3] + life
  if sl[4] and sl[4] > 0 then t = t + M.PENDING_MAX end
  return t <= now
end

local function expire(e, life, now)
  local s = e.s
  local k = 1
  while s[k] and gone(s[k], life, now) do
    e.n = e.n - s[k][2]
    k = k + 1
  end
  if k > 1 then   -- the kept slots move to the front, in place
    local m = #s
    for j = k, m do s[j - k + 1] = s[j] end
    for j = m - k + 2, m do s[j] = nil end
  end
  if e.n < 0 then e.n = 0 end
end

-- Requests this scope takes now, and when `need` could go (when fewer are free).
local function free(e, sc, life, now, need, past_pause)
  if e.u and e.u > now then
    if not past_pause then return 0, e.u - now end
  else
    e.u = nil
  end
  local limit = sc.requests
  if e.f then limit = math_max(1, math_floor(limit * factor(e, sc, now))) end
  local room = limit - e.n
  if room >= need then return room, 0 end
  local s, drop = e.s, e.n - limit + need
  for k = 1, #s do
    drop = drop - s[k][2]
    if drop <= 0 then   -- unanswered: when an answer comes; look again soon
      local pending = s[k][4] and s[k][4] > 0
      return room, math_max(pending and M.POLL or 0, s[k][3] + life - now)
    end
  end
  return room, life
end

-- (v - v % 1 is math.floor(v) without a C call: this runs several times a request)
local function slot_of(t, sc)
  local v = t * M.SLOTS / sc.per
  return v - v % 1
end

-- Counts n requests at now; unanswered: they are under way (else answered).
local function add(e, sc, n, now, unanswered)
  local slot = slot_of(now, sc)
  local s = e.s
  local last = s[#s]
  if not (last and last[1] == slot) then
    last = { slot, 0, now }
    s[#s + 1] = last
  end
  last[2] = last[2] + n
  if last[3] < now then last[3] = now end
  if unanswered then last[4] = (last[4] or 0) + n end
  e.n = e.n + n
end


-- Takes up to n requests off the slot with id `id` (the slot of their take: never
-- another's), or without id off the newest slots.
local function remove(e, n, id)
  local s = e.s
  for k = #s, 1, -1 do
    if n <= 0 then break end
    local sl = s[k]
    if id and sl[1] < id then break end
    if not id or sl[1] == id then
      local m = sl[2] < n and sl[2] or n
      sl[2], e.n, n = sl[2] - m, e.n - m, n - m
      local p = sl[4]
      if p then sl[4] = p > m and p - m or 0 end
      if sl[2] == 0 then table.remove(s, k) end
    end
  end
  if e.n < 0 then e.n = 0 end
end

------------------------------------------------------------------------------
-- The limiter
------------------------------------------------------------------------------

local Limiter = {}
Limiter.__index = Limiter

M.PRUNE_EVERY = 256   -- takes between two prunings of the entries kept in memory

function M.new(cfg, now)
  local self = setmetatable({ cfg = cfg, scopes = cfg.scopes, locals = {}, takes = 0,
    now = cfg.clock or now }, Limiter)
  local own
  self.store, self.now, own = store.new(cfg, self.now)
  self.own = own and self.store.state or nil   -- the memory store's table: no checks
  local tid, aid = cfg.tenant, cfg.app
  self.prefix = { app = "app/" .. aid, tenant = "tenant/" .. tid,
    app_tenant = "app_tenant/" .. aid .. "/" .. tid }
  local wk = {}
  for _, name in ipairs({ "app", "tenant", "app_tenant" }) do
    if self.scopes[name] then wk[#wk + 1] = { name, self.prefix[name] } end
  end
  self.write_keys = wk
  self.life = {}
  for name, sc in pairs(self.scopes) do
    self.life[name] = sc.per + (cfg.margin or (0.02 + 0.01 * sc.per))
  end
  return self
end

-- A key is { scope name, instance key }.
function Limiter:keys(spec)
  local wk = self.write_keys
  if spec.method ~= nil and spec.method ~= "GET" then return wk end
  local path, later = spec.path, false
  if not path and type(spec.url) == "string" then
    path, later = string_match(spec.url, "/communications/callRecords/[^/?]+.*$"), true
  end
  local crid = type(path) == "string"
    and string_match(path, "^/?[^?]-/?communications/callRecords/([^/?]+)")
  local scope = crid and (later and "record_pages" or "record_first")
  if not scope or not self.scopes[scope] then return wk end
  local keys = {}
  for k = 1, #wk do keys[k] = wk[k] end
  keys[#keys + 1] = { scope, scope .. "/" .. self.cfg.tenant .. "/" .. crid }
  return keys
end

-- Graph counts each request inside a $batch.
function Limiter:cost(spec)
  if spec.path == "/$batch" and type(spec.body) == "string" then
    local n = 0
    for _ in spec.body:gmatch('"method"%s*:') do n = n + 1 end
    return math_max(1, math_min(n, 20))
  end
  return 1
end

-- Runs fn(self, state, now, ...) with the store's state: the memory store's table
-- directly (no closure per request), any other store in its transaction.
local function transact(self, fn, a, b, c, d, e)
  local own = self.own
  if own then return fn(self, own, self.now(), a, b, c, d, e) end
  local r1, r2
  self.store:transact(function(shared, now) r1, r2 = fn(self, shared, now, a, b, c, d, e) end)
  return r1, r2
end

-- The state a key lives in, and whether its entries are to be checked (the hot paths
-- below inline this).
local function state_of(self, name, shared)
  if LOCAL[name] then return self.locals, false end
  return shared, not self.own
end

-- A request counted at sent_at (cost requests) is known to have reached Graph by now
-- (its answer came back; or, unanswered, it only left now): its count moves to now, so
-- that it stays in the window until W + margin after now, and the others of its old
-- slot keep theirs. When its slot has left already (it took longer than the window)
-- it is simply counted again. Without sent_at: the newest slot is stamped now.
local function touch(self, shared, now, keys, sent_at, cost, unanswered)
  local scopes, locals, check = self.scopes, self.locals, not self.own
  for i = 1, #keys do
    local name = keys[i][1]
    local loc = LOCAL[name]
    local e, sc = entry(loc and locals or shared, keys[i][2], check and not loc), scopes[name]
    if sent_at then
      remove(e, cost, slot_of(sent_at, sc))
      add(e, sc, cost, now, unanswered)
    else
      local last = e.s[#e.s]
      if last and last[3] < now then last[3] = now end
    end
  end
end

-- Drops the entries whose windows emptied (check: and those that are damaged).
local function prune(state, now, lives, check)
  for key, e in pairs(state) do
    if not check or valid_entry(e) then
      local name = string_match(key, "^([%w_]+)/")
      local life = lives[name]
      if life then expire(e, life, now) end
      if e.n == 0 and not e.u and not e.f then state[key] = nil end
    else
      state[key] = nil
    end
  end
end

local function take_in(self, shared, now, keys, n, exact, past_pause, under_way)
  local granted, wait = n, 0
  local scopes, lives, locals, check = self.scopes, self.life, self.locals, not self.own
  for i = 1, #keys do
    local name = keys[i][1]
    local loc = LOCAL[name]
    local e, life = entry(loc and locals or shared, keys[i][2], check and not loc), lives[name]
    expire(e, life, now)
    local room, w = free(e, scopes[name], life, now, exact and n or 1, past_pause)
    if room < granted then granted = (exact or room < 0) and 0 or room end
    if w > wait then wait = w end
  end
  if granted > 0 then
    wait = 0
    self.taken_at = now
    for i = 1, #keys do
      local name = keys[i][1]
      add((LOCAL[name] and locals or shared)[keys[i][2]], scopes[name], granted, now, under_way)
    end
  end
  -- A shared state (another process's entries too) is pruned on each take, as it is
  -- read; this limiter's own memory every PRUNE_EVERY takes.
  if not self.own then prune(shared, now, lives, true) end
  self.takes = self.takes + 1
  if self.takes % M.PRUNE_EVERY == 0 then
    prune(self.locals, now, lives, false)
    if self.own then prune(shared, now, lives, false) end
  end
  return granted, wait
end

-- exact: n or nothing (n is first cut to the smallest limit, so that it can go at all).
function Limiter:take(keys, n, exact, past_pause, under_way)
  if exact then
    for i = 1, #keys do
      local r = self.scopes[keys[i][1]].requests
      if r < n then n = r end
    end
  end
  local granted, wait = transact(self, take_in, keys, n, exact, past_pause, under_way)
  if granted == 0 and not (wait > 0) then wait = 0.001 end
  return granted, wait
end

-- Blocks (through sleep) until spec may leave; the seconds it waited. max_wait (the
-- caller's max_retry_delay) bounds the wait for a pause a 429 asked for (up to an
-- hour): past it the pause is ignored for this request, which still waits for room in
-- the window (at most W + margin); Graph's answer then decides, and a 429 is retried
-- as any other.
function Limiter:admit(spec, sleep, max_wait)
  local keys, n, waited, past = self:keys(spec), self:cost(spec), 0, false
  while true do
    local g, w = self:take(keys, n, true, past, true)
    if g > 0 then return waited end
    if max_wait and not past and waited + w > max_wait then
      w, past = math_max(0, max_wait - waited), true
    end
    if w > 0 then sleep(w) end
    waited = waited + w
  end
end

local function give_in(self, shared, _, keys, n, taken_at)
  for i = 1, #keys do
    local name = keys[i][1]
    local state, check = state_of(self, name, shared)
    remove(entry(state, keys[i][2], check), n, taken_at and slot_of(taken_at, self.scopes[name]))
  end
end

-- n requests of the take at taken_at (nil: the newest) that were not sent after all.
function Limiter:give(keys, n, taken_at)
  if n <= 0 then return end
  transact(self, give_in, keys, n, taken_at)
end

local function sent_in(self, shared, now, keys, taken_at, cost)
  touch(self, shared, now, keys, taken_at, cost, true)
  return now
end

-- A request counted by the take at taken_at that leaves only now (its token was being
-- fetched): counted anew from now when that was more than LATE ago. -> its count's time
function Limiter:sent(spec, taken_at)
  if not taken_at or self.now() - taken_at < LATE then return taken_at end
  return transact(self, sent_in, self:keys(spec), taken_at, self:cost(spec))
end

-- The scope a 429 names: x-ms-throttle-scope "Tenant_Application/ReadWrite/app/tenant".
local function named_scope(headers)
  local v = headers["x-ms-throttle-scope"]
  if type(v) ~= "string" then return nil end
  return NAMED[string_lower(string_match(v, "^%s*([%w_]+)") or "")]
end

local function pause(e, sc, secs, now)
  if not e.u or e.u < now + secs then
    local cut = not e.u or e.u <= now     -- once per storm, not once per answer of it
    e.u = now + secs
    if cut then
      e.f = math_max(M.MIN_FACTOR, factor(e, sc, now) * 0.5)
      e.t = e.u
    end
  end
end

local function percentage(headers)
  local v = tonumber(headers["x-ms-throttle-limit-percentage"])
  if not v or v ~= v then return nil end
  if v > 10 then v = v / 100 end      -- "85" as well as "0.85"
  return v
end

function Limiter:signal(keys, status, headers, sent_at, cost, inner)
  headers = headers or {}
  local pct = percentage(headers)
  if status ~= 429 and not (pct and pct >= self.cfg.slow_at) then return nil end
  local named = named_scope(headers)
  local found = false
  for _, key in ipairs(keys) do found = found or key[1] == named end
  if not found then named = nil end        -- a scope this client does not keep: all of them
  local secs
  if status == 429 then
    secs = retry.retry_after(headers["retry-after"]) or M.DEFAULT_PAUSE
    if secs > 3600 then secs = 3600 end
  end
  self.store:transact(function(shared, now)
    if not inner then touch(self, shared, now, keys, sent_at, cost) end
    for _, key in ipairs(keys) do
      local name = key[1]
      if not named or named == name then
        local state, check = state_of(self, name, shared)
        local e, sc = entry(state, key[2], check), self.scopes[name]
        if secs then
          pause(e, sc, secs, now)
        else
          -- Someone else uses this scope too: give them room.
          local ours = e.n / sc.requests
          if pct > ours + 0.1 and (not e.t or now - e.t >= sc.per / M.SLOTS) then
            e.f, e.t = math_max(M.MIN_FACTOR, factor(e, sc, now) * 0.8), now
          end
        end
      end
    end
  end)
  return secs
end

-- An answer came back for spec (resp nil: a transport failure, which Graph may have
-- counted too), counted by the take at sent_at (its taken_at, or what sent() returned;
-- nil: unknown): Graph counted the request at some time between the two, so its count
-- moves to now (touch). A request inside a $batch (inner) moves
-- nothing (the batch's own answer moved them all) but its throttle signals count.
function Limiter:answered(spec, resp, sent_at, inner)
  local h = resp and resp.headers
  local keys = self:keys(spec)
  local pct = h and percentage(h)
  if resp and (resp.status == 429 or (pct and pct >= self.cfg.slow_at)) then
    return self:signal(keys, resp.status, h, sent_at, self:cost(spec), inner)
  end
  if inner then return end
  transact(self, touch, keys, sent_at, self:cost(spec))
end

function Limiter:close()
  if self.store.close then self.store:close() end
end

M.loopback = loopback
return M
