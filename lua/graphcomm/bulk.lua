-- graphcomm.bulk: many session updates at once (docs/contract.md section 4).
--
--   client:update_sessions(items, opts) -> summary | nil, err
--
-- items: a list, or an iterator (a function returning the next item, nil at the end),
--   pulled only as fast as requests go out. An item is { crid, sid, body } or
--   { callRecordId =, sessionId =, body = } (also call_record_id / session_id and the
--   cmdlet's CallRecordId / SessionId / BodyParameter). body: a table or a session object.
-- opts:
--   concurrency   requests in flight (default 16; with batch, $batch requests, default 4)
--   batch         Graph JSON batching: up to 20 updates per POST /$batch
--   batch_size    updates per $batch, 1 to 20 (default 20): with concurrency, it bounds
--                 what a kill -9 can leave unknown (concurrency x batch_size)
--   journal       a JSONL file of outcomes (graphcomm.journal); what it records as
--                 succeeded is skipped
--   on_result(i, ok, err_or_info, item)   once per item, in completion order
--   on_progress(done, total, throttled)   after each item (total nil for an iterator,
--                                         unless opts.total says; throttled: seconds
--                                         held by Graph's limits so far)
--   ordered       false: fixes for the same session need not wait for one another
--                 (they are independent, and their order does not matter)
--   allow_unknown as for graphcomm.session; max_waiting (4096): items waiting for a
--                 retry or for an earlier fix of the same session, beyond which no new
--                 item is pulled (memory stays bounded whatever the number of items)
--   what_if       validate every item and report, through on_result, what would be
--                 sent ({ status = "what_if", request = { method, url, headers, body } });
--                 nothing is sent, no journal is written
--   max_failures  after this many consecutive failures with the same status among
--                 401/403/404/405 (systematic: every item would fail), take no new
--                 item; those in flight finish (default 20; 0: never stop)
--   should_stop   function polled between items: true stops taking new items
--                 (those in flight finish; summary.interrupted = true)
-- Option names as in graphcomm.options (any case; unknown names raise).
-- summary: { ok, failed, skipped, retried, requests, elapsed, connections, throttled,
-- throttled_429, concurrency_min, concurrency_end [, what_if] [, stopped = "max_failures",
-- message] [, interrupted] } (connections: opened by libcurl during the run; nil over
-- another transport; throttled: seconds held by Graph's limits, graphcomm.pacer).
--
-- How it goes: each item is validated (core.encode) when pulled; an invalid one fails
-- at once and the rest go on. Requests go through the transport's many-in-flight side
-- (graphcomm.transport: core.multi, HTTP/2 multiplexed or kept-alive HTTP/1.1; light
-- threads in nginx; one at a time over a caller's send). Each item is one exchange of
-- graphcomm.engine, whose step decides redirects, renewal, compression fallback and
-- retries exactly as for a single update; a throttled or dropped request waits in a
-- timer heap for its Retry-After while the others carry on. Fixes for the same session are applied in input
-- order: a later one waits for the earlier one and, when that fails, is reported as a
-- failed dependency (424) without being sent. With batch, a later fix for a session
-- may ride in the same $batch with "dependsOn"; an inner 429/503/504 is retried on its
-- own in a later batch, and an inner 424 waits for its dependency's final outcome.

local type, pairs, tostring, tonumber, error, pcall, setmetatable =
      type, pairs, tostring, tonumber, error, pcall, setmetatable
local string_lower, table_concat, math_floor = string.lower, table.concat, math.floor

local core = require "graphcomm.core"
local cjson = require "cjson.safe"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local journal = require "graphcomm.journal"
local options = require "graphcomm.options"
local params = require "graphcomm.params"
local pacer = require "graphcomm.pacer"

local session_path = request.session_path
local sha256, uuid4 = core.sha256, core.uuid4

local M = {}

M.BATCH_SIZE = 20
M.DEFAULT_CONCURRENCY = 16
M.DEFAULT_BATCH_CONCURRENCY = 4
M.MAX_WAITING = 4096
M.MAX_FAILURES = 20
-- Failures that would repeat on every item: a systematic refusal, not one item's problem.
local SYSTEMATIC = { [401] = true, [403] = true, [404] = true, [405] = true }
-- A poll returns once a quarter of the requests in flight are back, or LINGER seconds
-- after the first one: fewer wake-ups per request when the server is the bottleneck,
-- at no cost in throughput while requests stay queued there.
local LINGER = 0.0005

-- Job states.
local BLOCKED, WAITING, FLIGHT, DONE = 1, 2, 3, 4

------------------------------------------------------------------------------
-- Items
------------------------------------------------------------------------------

local item_fields = params.item

local function bad_item(message, path)
  return errors.validation(message, { errors = { { path = path, message = message } } })
end

-- An item's own fields beyond the ids and body are the caller's (on_result gets the item
-- back), but one named like an update_session option (what_if, confirm, headers...) is a
-- mistake that would send what the caller meant to hold back: the item fails, unsent.
local OPTION_NORM
local function option_field(item)
  if not OPTION_NORM then
    OPTION_NORM = {}
    for name in pairs(params.UPDATE) do OPTION_NORM[options.norm(name)] = name end
  end
  for k in pairs(item) do
    local name = OPTION_NORM[options.norm(k)]
    if name then return tostring(k), name end
  end
end

-- crid, sid, path, json of an item | nil, err
local function prepare(item, allow_unknown)
  if type(item) ~= "table" then
    return nil, bad_item("an item must be a table, got " .. type(item), "")
  end
  local field, name = option_field(item)
  if field then
    return nil, bad_item("an item field named like the option " .. name .. " ('" .. field
      .. "'): options go in update_sessions' second argument", field)
  end
  local crid, sid, body = item_fields(item)
  local path, err = session_path(crid, sid)
  if not path then return nil, err end
  if type(body) ~= "table" and not params.is_session(body) then
    return nil, bad_item("body must be a table or a session, got " .. type(body), "body")
  end
  local json
  json, err = params.body_json(body, allow_unknown)
  if not json then return nil, err end
  return tostring(crid), tostring(sid), path, json
end

-- A function returning the next item, and the total when known.
local function source(items, opts)
  if type(items) == "function" then return items, opts.total end
  local i, n = 0, #items
  return function()
    if i >= n then return nil end
    i = i + 1
    return items[i]
  end, n
end

------------------------------------------------------------------------------
-- Timer heap: jobs waiting until job.at (a binary min-heap)
------------------------------------------------------------------------------

local function heap_push(h, job)
  local n = h.n + 1
  h.n = n
  while n > 1 do
    local p = (n - n % 2) / 2
    local parent = h[p]
    if parent.at <= job.at then break end
    h[n] = parent
    n = p
  end
  h[n] = job
end

local function heap_pop(h)
  local top, n = h[1], h.n
  local last = h[n]
  h[n] = nil
  n = n - 1
  h.n = n
  if n > 0 then
    local i = 1
    while true do
      local c = 2 * i
      if c > n then break end
      if c < n and h[c + 1].at < h[c].at then c = c + 1 end
      if h[c].at >= last.at then break end
      h[i] = h[c]
      i = c
    end
    h[i] = last
  end
  return top
end

------------------------------------------------------------------------------
-- One run
------------------------------------------------------------------------------

local Run = {}
Run.__index = Run

local function integer_from(min, max)
  return function(v)
    if type(v) == "number" and v % 1 == 0 and v >= min and (not max or v <= max) then
      return true
    end
    return false, "an integer " .. (max and ("from " .. min .. " to " .. max)
      or (">= " .. min)) .. " expected, got " .. tostring(v)
  end
end

M.OPTIONS = { concurrency = integer_from(1, 4096), batch = "boolean", journal = "string",
  on_result = "function", on_progress = "function", ordered = "boolean",
  allow_unknown = "boolean", max_waiting = integer_from(1), total = "number",
  what_if = "boolean", max_failures = integer_from(0), should_stop = "function",
  batch_size = integer_from(1, 20) }

-- check < run < update_sessions < the caller: errors raise at the caller.
local function check_opts(opts)
  return options.check(opts, M.OPTIONS, "update_sessions", 2, 4)
end

local function new_run(e, items, opts)
  local next_item, total = source(items, opts)
  local batch = opts.batch and true or false
  local mf = opts.max_failures
  if mf == nil then mf = M.MAX_FAILURES end
  local r = setmetatable({
    e = e, next_item = next_item, total = total, batch = batch,
    batch_size = opts.batch_size or M.BATCH_SIZE,
    max_failures = mf, should_stop = opts.should_stop, streak = 0, streak_status = nil,
    stopping = false,
    concurrency = opts.concurrency or (batch and M.DEFAULT_BATCH_CONCURRENCY
      or M.DEFAULT_CONCURRENCY),
    max_waiting = opts.max_waiting or M.MAX_WAITING, ordered = opts.ordered ~= false,
    on_result = opts.on_result, on_progress = opts.on_progress,
    allow_unknown = opts.allow_unknown,
    heap = { n = 0 }, open = {}, waiting = 0, flights = 0, pulled = 0, done = 0,
    exhausted = false,
    summary = { ok = 0, failed = 0, skipped = 0, retried = 0, requests = 0 },
  }, Run)
  r.pace = pacer.new(e, r.concurrency)     -- Graph's limits (graphcomm.limiter)
  r.list = type(items) == "table"
  r.want = math_floor(r.concurrency / 4)
  if r.want < 1 then r.want = 1 end
  return r
end


------------------------------------------------------------------------------
-- Outcomes
------------------------------------------------------------------------------

local function journal_record(job, ok, v)
  local rec = { i = job.i, callRecordId = job.crid, sessionId = job.sid, digest = job.digest,
    ok = ok, attempts = (job.x and job.x.attempt or 0) + 1 }
  if ok then
    rec.status, rec.request_id = v.status, v.request_id
  else
    rec.kind, rec.status, rec.code = v.kind, v.status, v.code
    rec.request_id, rec.depends_on = v.request_id, v.depends_on
    if v.kind == "validation" and type(v.errors) == "table" then
      local paths = {}
      for k, e in pairs(v.errors) do paths[k] = e.path end
      rec.paths = paths
    end
  end
  return rec
end

local function dependency_error(dep)
  return errors.http("not sent: item " .. dep.i .. ", an earlier fix for the same session, failed",
    { status = 424, code = "FailedDependency", depends_on = dep.i })
end

-- The one place an item ends: counted, journaled, reported; then what waited on it.
function Run:finish(job, ok, v)
  while job do
    if job.state == DONE then error("graphcomm.bulk: item " .. job.i .. " finished twice") end
    if job.state == BLOCKED then self.waiting = self.waiting - 1 end
    job.state = DONE
    self.done = self.done + 1
    local s = self.summary
    if ok then s.ok = s.ok + 1 else s.failed = s.failed + 1 end
    self:count_failure(ok, v)
    if self.journal and not self.journal_err then    -- a failed write stops the run
      local written, jerr = self.journal:write(journal_record(job, ok, v))
      if not written then self.journal_err, self.stopping = jerr, true end
    end
    if job.path and self.open[job.path] == job then self.open[job.path] = nil end
    local nx, prev = job.next, job
    job.next, job.x = nil, nil
    if self.on_result then self.on_result(job.i, ok, v, job.item) end
    if self.on_progress then self.on_progress(self.done, self.total, self.pace:held(self.e.now())) end
    job = nil
    if nx then
      nx.after = nil
      if nx.state == BLOCKED then
        if ok then
          self.waiting = self.waiting - 1
          self:schedule(nx, 0)
        else
          job, v = nx, dependency_error(prev)
        end
      elseif nx.state == FLIGHT then
        nx.dep_failed = not ok
      end
    end
  end
end

-- Fail-fast: the same systematic refusal max_failures times in a row stops the run.
function Run:count_failure(ok, v)
  local status = not ok and type(v) == "table" and v.kind == "http" and v.status
  if not SYSTEMATIC[status] then
    self.streak, self.streak_status = 0, nil
    return
  end
  if status == self.streak_status then
    self.streak = self.streak + 1
  else
    self.streak, self.streak_status = 1, status
  end
  if self.max_failures > 0 and self.streak >= self.max_failures and not self.stopping then
    self.stopping = true
    local s = self.summary
    s.stopped = "max_failures"
    s.message = "stopped after " .. self.streak .. " consecutive failures with status "
      .. status .. " (" .. tostring(v.code) .. "): every item would fail the same way; "
      .. "no further item was sent (max_failures = " .. self.max_failures .. ")"
  end
end

function Run:skip(job)
  job.state = DONE
  self.done = self.done + 1
  self.summary.skipped = self.summary.skipped + 1
  if self.on_result then
    self.on_result(job.i, true, { skipped = true, status = 0 }, job.item)
  end
  if self.on_progress then self.on_progress(self.done, self.total, self.pace:held(self.e.now())) end
end

function Run:schedule(job, seconds)
  job.state = WAITING
  job.at = (self.answered_at or self.e.now()) + seconds
  self.waiting = self.waiting + 1
  heap_push(self.heap, job)
end

-- Back in the queue: after `seconds`, or, when it rode in a $batch with the fix it
-- depends on (still open), behind that fix again.
function Run:requeue(job, seconds)
  if job.after then
    job.state = BLOCKED
    self.waiting = self.waiting + 1
  else
    self:schedule(job, seconds)
  end
end

function Run:retry_later(job, seconds)
  self.summary.retried = self.summary.retried + 1
  self:requeue(job, seconds)
end

------------------------------------------------------------------------------
-- Pulling items
------------------------------------------------------------------------------

-- The next item as a job; nil when it ended at once (invalid, skipped) or waits on an
-- earlier fix of its session (then returned second, for batching).
function Run:pull()
  local item = self.next_item()
  if item == nil then
    self.exhausted = true
    return nil
  end
  self.pulled = self.pulled + 1
  local crid, sid, path, json = prepare(item, self.allow_unknown)
  if not crid then
    local job = { i = self.pulled, item = item, state = FLIGHT }
    if type(item) == "table" then       -- the ids as given, for the journal
      local c, i = item_fields(item)
      job.crid = (type(c) == "string" or type(c) == "number") and tostring(c) or nil
      job.sid = (type(i) == "string" or type(i) == "number") and tostring(i) or nil
    end
    self:finish(job, false, sid)
    return nil
  end
  -- One constructor with the fields a job gets on its way (sized once, not regrown).
  local job = { i = self.pulled, item = item, state = FLIGHT, crid = crid,
    sid = sid, path = path, json = json, x = false }
  if self.journal then
    job.digest = sha256(json)
    if self.journal:done(job.i, crid, sid, job.digest) then
      self:skip(job)
      return nil
    end
  end
  if not self.ordered then return job end
  local prev = self.open[path]
  self.open[path] = job
  if prev then
    prev.next, job.after, job.dep_of = job, prev, prev
    job.state = BLOCKED
    self.waiting = self.waiting + 1
    return nil, job
  end
  return job
end

-- A job ready to go: a due retry first, else a new item (nil: none now).
function Run:next_job(now)
  local h = self.heap
  local top = h[1]
  if top and top.at <= now then
    heap_pop(h)
    self.waiting = self.waiting - 1
    return top
  end
  while not self.exhausted and not self.stopping and self.waiting < self.max_waiting do
    if self.should_stop and self.should_stop() then
      self.stopping, self.summary.interrupted = true, true
      break
    end
    local job, blocked = self:pull()
    if job or blocked then return job, blocked end
  end
  return nil
end

------------------------------------------------------------------------------
-- Sending
------------------------------------------------------------------------------

-- Builds the next attempt of exchange x and hands it to the driver with key (a job or
-- a batch).
function Run:send(key, x)
  local req, err = self.e:build(x)
  if not req then return nil, err end
  local lim = self.e.limiter     -- the take that let it go (graphcomm.limiter:answered)
  if lim then x.limited_at = lim:sent(x.spec, self.pace.taken_at) end
  key.state = FLIGHT
  self.d:add(req, key)
  self.flights = self.flights + 1
  self.summary.requests = self.summary.requests + 1
  return true
end

-- The job's exchange, made when it first goes out (inside a $batch: an inner one).
function Run:exchange_of(job)
  if not job.x then
    job.x = self.e:exchange({ method = "PATCH", path = job.path, body = job.json }, self.batch)
  end
  return job.x
end

function Run:send_one(job)
  local ok, err = self:send(job, self:exchange_of(job))
  if not ok then self:finish(job, false, err) end
end

-- The inner request of a $batch: the body is already JSON, spliced in as it is; the
-- item's own client-request-id (kept across its retries) traces it inside the batch.
local function inner_request(id, job, dep_id)
  local deps = dep_id and (',"dependsOn":["' .. dep_id .. '"]') or ""
  if not job.cid then job.cid = uuid4() end
  return '{"id":"' .. id .. '","method":"PATCH","url":"' .. job.path
    .. '","headers":{"Content-Type":"application/json","client-request-id":"' .. job.cid .. '"}'
    .. deps .. ',"body":' .. job.json .. '}'
end

-- Adds job to batch b (as request n); dep_id: the id of the fix it depends on there.
local function add_to_batch(self, b, job, n, dep_id)
  self:exchange_of(job)
  job.batch, job.batch_id, job.state = b, tostring(n), FLIGHT
  b.jobs[n], b.by_id[job.batch_id] = job, job
  b.parts[n] = inner_request(job.batch_id, job, dep_id)
end

-- Up to 20 ready fixes in one $batch. A later fix for a session already in the batch
-- rides along with "dependsOn" (Graph then runs them in order) instead of waiting.
function Run:send_batch(now, max)
  local jobs, parts, n = {}, {}, 0
  local b = { batch = true, jobs = jobs, parts = parts, by_id = {} }
  while n < max do
    local job, blocked = self:next_job(now)
    if blocked and blocked.after.batch == b then
      self.waiting = self.waiting - 1
      n = n + 1
      add_to_batch(self, b, blocked, n, blocked.after.batch_id)
    elseif job then
      n = n + 1
      add_to_batch(self, b, job, n)
      local nx = job.next           -- fixes that waited on it (after a retry, say)
      while nx and nx.state == BLOCKED and n < max do
        self.waiting = self.waiting - 1
        n = n + 1
        add_to_batch(self, b, nx, n, nx.after.batch_id)
        nx = nx.next
      end
    elseif not blocked then
      break
    end
  end
  if n == 0 then return 0 end
  -- The $batch itself is an inner exchange (no redirects, no compression): its
  -- answer is read per item, each item's own exchange deciding what follows.
  b.x = self.e:exchange({ method = "POST", path = "/$batch",
    body = '{"requests":[' .. table_concat(parts, ",") .. ']}' }, true)
  b.parts = nil
  local ok, err = self:send(b, b.x)
  if not ok then
    for k = 1, n do self:finish(jobs[k], false, err) end
  end
  return n
end

------------------------------------------------------------------------------
-- Answers
------------------------------------------------------------------------------

-- What to do with a job's answer (or a transport failure): the engine's step, after
-- bulk's own rule for an inner 424 (a fix that rode with the one it depends on).
function Run:answer(job, resp, terr)
  local x = job.x
  if resp then self.pace:answered(resp.status, self.e.now()) end
  if resp and resp.status == 424 and job.dep_of and not job.dep_failed then
    if job.after then return self:requeue(job, 0) end   -- wait for its dependency's retry
    local secs = self.e:retry_wait(x, 503, resp.headers)  -- dependency fine after all
    if secs then return self:retry_later(job, secs) end
  end
  local action, a, b = self.e:step(x, resp, terr)
  if action == "again" then
    if b == "retry" then return self:retry_later(job, a) end
    return self:requeue(job, a)
  end
  local ok = a == true
  if not ok and resp and resp.status == 424 and job.dep_of then b.depends_on = job.dep_of.i end
  return self:finish(job, ok, b)
end

local function lower_keys(t)
  local out = {}
  if type(t) == "table" then
    for k, v in pairs(t) do out[string_lower(tostring(k))] = tostring(v) end
  end
  return out
end

-- An inner response as the transport's response shape, so response.result reads it.
local function inner_response(r)
  local body = r.body
  if body == nil or body == cjson.null then body = ""
  elseif type(body) ~= "string" then body = cjson.encode(body) or "" end
  return { status = math_floor(tonumber(r.status) or 0), headers = lower_keys(r.headers),
    body = body }
end


-- Each item of the batch takes the outer request (and its token) as its own attempt.
local function ride(job, b)
  job.x.req, job.x.token = b.x.req, b.x.token
end

function Run:batch_answer(b, resp, terr)
  local jobs = b.jobs
  local lim = self.e.limiter     -- the batch's requests reached Graph: their count moves
  if lim then lim:answered(b.x.spec, resp, b.x.limited_at) end
  local ok_outer = resp and resp.status >= 200 and resp.status < 300
  if not ok_outer then
    for k = 1, #jobs do
      local job = jobs[k]
      job.batch = nil
      if job.state == FLIGHT then
        ride(job, b)
        self:answer(job, resp, terr)
      end
    end
    return
  end
  local doc = cjson.decode(resp.body)
  local list = type(doc) == "table" and type(doc.responses) == "table" and doc.responses or {}
  local outer_id = resp.headers["request-id"]
  for k = 1, #list do
    local r = list[k]
    local job = type(r) == "table" and b.by_id[tostring(r.id)]
    if job and job.state == FLIGHT and job.batch == b then
      job.batch = nil
      local inner = inner_response(r)
      if inner.headers["request-id"] == nil then inner.headers["request-id"] = outer_id end
      ride(job, b)
      job.x.req = { method = "PATCH", url = self.e:url(job.path), client_request_id = job.cid }
      self:answer(job, inner, nil)
    end
  end
  for k = 1, #jobs do
    local job = jobs[k]
    if job.state == FLIGHT and job.batch == b then
      job.batch = nil
      ride(job, b)
      self:answer(job, nil, { retryable = true, code = "missing",
        message = "no answer for this request in the $batch response" })
    end
  end
end

function Run:completed(key, resp, terr)
  self.flights = self.flights - 1
  if key.batch == true then
    self.e:show(resp, terr)
    -- Items of one answer wait from one instant, so that those retried together are
    -- due together and go out again in one $batch (not split by the clock's ticks).
    self.answered_at = self.e.now()
    self:batch_answer(key, resp, terr)
    self.answered_at = nil
    return
  end
  return self:answer(key, resp, terr)
end

------------------------------------------------------------------------------
-- The loop
------------------------------------------------------------------------------

-- Nothing could go now: no due retry, and no item left to pull.
function Run:idle(now)
  local top = self.heap[1]
  if top and top.at <= now then return false end
  if self.list and self.pulled >= self.total then self.exhausted = true end
  return self.exhausted or self.stopping or self.waiting >= self.max_waiting
end

-- Starts what it can: due retries first, then new items, up to the concurrency, as
-- fast as the limiter lets them go (graphcomm.pacer).
function Run:fill(now)
  local pace = self.pace
  pace:tick(now)
  while self.flights < pace.concurrency and not self:idle(now) do
    local g = pace:allow(now, self.batch and self.batch_size or 1)
    if g == 0 then return end
    if self.batch then
      local n = self:send_batch(now, g)
      pace:unused(g - n)
      if n == 0 then return end
    else
      local job, blocked = self:next_job(now)
      if job then self:send_one(job)
      else
        pace:unused(1)
        if not blocked then return end
      end
    end
  end
end

-- The earliest of a due retry and the end of the limiter's hold.
local function wake_at(top, hold)
  local at = top and top.at
  if hold and (not at or hold < at) then at = hold end
  return at
end

function Run:loop()
  local d, e, out = self.d, self.e, {}
  while true do
    local now = e.now()
    self:fill(now)
    local at = wake_at(self.heap[1], self.pace.hold)
    if self.flights == 0 then
      if not at then
        if self.exhausted or self.stopping or self.waiting >= self.max_waiting then break end
      else
        local wait = at - e.now()
        if wait > 0 then e.sleep(wait) end
      end
    else
      local wait = at and at - now or 5
      local n
      n, out = d:poll(wait > 0 and wait or 0, out, self.want, LINGER)
      for k = 0, n - 1 do
        local j = 3 * k
        self:completed(out[j + 1], out[j + 2], out[j + 3])
        out[j + 1], out[j + 2], out[j + 3] = nil, nil, nil
      end
    end
  end
end

-- what_if: every item validated and shown, nothing sent.
local function preview_all(r)
  while true do
    local item = r.next_item()
    if item == nil then break end
    r.pulled = r.pulled + 1
    local crid, sid, path, json = prepare(item, r.allow_unknown)
    local ok, v
    if crid then
      local shown, err = r.e:preview({ method = "PATCH", path = path, body = json })
      if shown then ok, v = true, { status = "what_if", request = shown } else ok, v = false, err end
    else
      ok, v = false, r.e:clean(sid)
    end
    local s = r.summary
    if ok then s.what_if = s.what_if + 1 else s.failed = s.failed + 1 end
    r.done = r.done + 1
    if r.on_result then r.on_result(r.pulled, ok, v, item) end
    if r.on_progress then r.on_progress(r.done, r.total) end
  end
  return r.summary
end

local function run(e, items, opts)
  local ti = type(items)
  if ti ~= "table" and ti ~= "function" then
    error("bad argument #1 to 'update_sessions' (table or function expected, got " .. ti .. ")", 3)
  end
  opts = check_opts(opts)
  local r = new_run(e, items, opts)
  local t0 = e.now()
  if opts.what_if then
    r.summary.what_if = 0
    local s = preview_all(r)
    s.elapsed = e.now() - t0
    return s
  end
  if opts.journal then
    local j, err = journal.open(opts.journal)
    if not j then return nil, err end
    r.journal = j
  end
  r.d = e.transport.multi(r.concurrency)
  local ok, err = pcall(r.loop, r)
  local conns = ok and r.d:stats().connections
  r.d:close()
  if r.journal then
    local closed, jerr = r.journal:close()
    if not closed and not r.journal_err then r.journal_err = jerr end
  end
  if not ok then error(err, 0) end
  if r.waiting > 0 and not r.stopping then   -- cannot happen: every waiting job has a way out
    error("graphcomm.bulk: " .. r.waiting .. " items left waiting")
  end
  local s = r.summary
  s.elapsed, s.connections = e.now() - t0, conns
  r.pace:report(s, e.now())
  if r.journal_err then            -- the run stopped: say so, with what it did
    s.journal = "incomplete"
    r.journal_err.summary = s
    return nil, r.journal_err
  end
  return s
end

M.run = run

return M
