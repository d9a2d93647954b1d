-- graphcomm.ngx: the transport for nginx request handlers (connect{ transport = "ngx" }).
--
-- It is the libcurl transport itself, run in nginx's thread pool through
-- ngx.run_worker_thread: the worker's event loop goes on serving while a
-- thread waits for Graph, and the bytes move exactly as they do outside nginx
-- (TLS verification and ca_file, proxy, HTTP/2, per-request timeouts, the
-- response cap, kept-alive connections).  It only moves bytes: validation,
-- headers, retries, redirects, credentials and error mapping stay in the
-- client above, once.  sleep is ngx.sleep, now is ngx.now: waits yield.
--
-- new(opts) -> transport { send(req), multi(concurrency), sleep(s), now(), close() }
--   (the interface of graphcomm.transport). multi runs one ngx.thread per request,
--   each sending through the worker-thread pool, so update_sessions{ concurrency = 16 }
--   has 16 requests in flight while the worker goes on serving; the slots of
--   thread_vm_pool_size bound all of them together.
--   opts: what core.http takes (ca_file, proxy, http_version, timeout,
--   connect_timeout, max_body, verbose), plus
--     thread_pool          the nginx `thread_pool` to use (default "graphcomm")
--     thread_vm_pool_size  tasks in flight per worker at most (default 100,
--                          nginx's lua_worker_thread_vm_pool_size default);
--                          more wait, without blocking, for a free one.
-- Request handlers (rewrite, access, content) and ngx.timer callbacks send in
-- threads.  Where ngx.run_worker_thread cannot run (init_by_lua, init_worker,
-- log and filter phases) or outside nginx (CLI, busted), send uses the libcurl
-- transport directly: it blocks there, as it does anywhere.
--
-- thread_send(key, opts, req) runs in the worker thread's own Lua VM (no ngx
-- API there): one libcurl handle per option set, kept in that VM and reused.

local M = {}

local type, pairs, ipairs, tostring, error, pcall, setmetatable =
      type, pairs, ipairs, tostring, error, pcall, setmetatable
local concat, sort = table.concat, table.sort

local serial = require "graphcomm.serial"

local DEFAULT_POOL = "graphcomm"
local DEFAULT_IN_FLIGHT = 100
local MODULE = ... or "graphcomm.ngx"   -- the thread VM requires it by this name

-- ---------------------------------------------------------------- helpers

-- opts without this module's own two names: what core.http and core.multi take.
local function curl_options(opts)
  local o = {}
  for k, v in pairs(opts) do
    if k ~= "thread_pool" and k ~= "thread_vm_pool_size" then o[k] = v end
  end
  return o
end

-- Only plain values cross into the thread's VM (run_worker_thread copies
-- strings, numbers, booleans and tables; functions and userdata cannot go).
local function plain_options(opts)
  local out, keys = {}, {}
  for k, v in pairs(curl_options(opts)) do
    local t = type(v)
    if type(k) == "string" and (t == "string" or t == "number" or t == "boolean") then
      out[k] = v
      keys[#keys + 1] = k
    end
  end
  sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. tostring(out[k]) end
  return out, concat(parts, "\0")
end

-- A transport error's fields (kind, code, message, curl_code, retryable), as a
-- plain table: its metatable stays behind in the thread's VM (the client seals
-- it again with errors.transport).
local function plain_error(err)
  local t = { kind = "transport" }
  if type(err) == "table" then
    for k, v in pairs(err) do
      local tv = type(v)
      if tv == "string" or tv == "number" or tv == "boolean" then t[k] = v end
    end
  end
  t.message = t.message or tostring(err)
  return t
end

-- ---------------------------------------------------------------- the worker thread's side

local handles = {}

local function send_on(key, opts, req)
  local h = handles[key]
  if not h then
    h = require("graphcomm.core").http(opts)
    handles[key] = h
  end
  return h:send(req)
end

-- -> resp | false, transport error | false, nil, message of an error raised
-- (re-raised by the caller, so misuse raises as it does outside nginx).
function M.thread_send(key, opts, req)
  local ok, resp, err = pcall(send_on, key, opts, req)
  if not ok then return false, nil, tostring(resp) end
  if resp then return resp end   -- core.http's is a plain table, as run_worker_thread needs
  return false, plain_error(err)
end

-- ---------------------------------------------------------------- the event loop's side

-- Phases where run_worker_thread and ngx.sleep may yield.  run_worker_thread checks
-- for a yieldable context, timers included (lua-nginx-module 0.10.21 to 0.10.23 at
-- least; its documentation names only the request phases).
local THREAD_PHASES = { rewrite = true, server_rewrite = true, access = true, content = true,
                        timer = true }
local SLEEP_PHASES = { rewrite = true, server_rewrite = true, access = true, content = true,
                       timer = true, ssl_cert = true, ssl_session_fetch = true }

local function in_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.get_phase) == "function" and ngx or nil
end

-- One semaphore per worker process, as the thread VM pool is per process too;
-- the first transport made in the worker sets its size.
local slots

local function slot_semaphore(size)
  if not slots then
    slots = require("ngx.semaphore").new(size)
  end
  return slots
end

local function transport_error(code, message)
  return { kind = "transport", code = code, message = message }
end

local function threaded_send(ngx, pool, key, copts, req, size)
  local sema = slot_semaphore(size)
  local ok, werr = sema:wait(req.timeout or 100)
  if not ok then
    return nil, transport_error("busy", "no free nginx worker-thread slot: " .. tostring(werr))
  end
  local done, resp, err, raised = ngx.run_worker_thread(pool, MODULE, "thread_send", key,
                                                       copts, req)
  sema:post(1)
  if not done then
    local msg = tostring(resp)
    if msg == "thread_pool not found" then
      msg = msg .. " (nginx.conf needs `thread_pool " .. pool .. " threads=32;` in its main context)"
    end
    return nil, transport_error("thread", "ngx.run_worker_thread: " .. msg)
  end
  if resp then return resp end
  if raised then error(raised, 0) end
  return nil, err
end

local function curl_multi(core, opts)
  return function(concurrency)
    local o = curl_options(opts)
    o.concurrency = concurrency
    return core.multi(o)
  end
end

local function direct_transport(core, http, opts)
  return {
    send = function(req) return http:send(req) end,
    multi = curl_multi(core, opts),
    sleep = core.sleep,
    now = core.now,
    close = function() http:close() end,
  }
end

-- ---------------------------------------------------------------- many in flight

-- One light thread per request; answers are queued and handed out by poll, which
-- waits on a semaphore the threads post (no busy loop).
local Threads = {}
Threads.__index = Threads

local function new_threads(ngx, send)
  return setmetatable({ ngx = ngx, send = send, done = {}, flying = 0, requests = 0,
    threads = {}, ready = require("ngx.semaphore").new(0) }, Threads)
end

function Threads:add(req, key)
  local send, done, ready = self.send, self.done, self.ready
  self.flying = self.flying + 1
  self.requests = self.requests + 1
  local th
  th = self.ngx.thread.spawn(function()
    local ok, resp, err = pcall(send, req)
    if not ok then resp, err = nil, transport_error("thread", tostring(resp)) end
    done[#done + 1] = key
    done[#done + 1] = resp or false
    done[#done + 1] = err or false
    self.threads[th] = nil
    ready:post(1)
  end)
  self.threads[th] = true
end

function Threads:poll(timeout, out)
  if #self.done == 0 and self.flying > 0 then self.ready:wait(timeout or 0) end
  local count = serial.drain(self.done, out)
  self.flying = self.flying - count
  return count, out
end

function Threads:stats() return { requests = self.requests } end

function Threads:close()
  for th in pairs(self.threads) do self.ngx.thread.kill(th) end
  self.threads = {}
end



function M.new(opts)
  opts = opts or {}
  local core = require "graphcomm.core"
  local http = core.http(curl_options(opts))   -- checks the options as the libcurl transport does
  local ngx = in_nginx()
  if not ngx then return direct_transport(core, http, opts) end
  local pool = opts.thread_pool or DEFAULT_POOL
  local size = opts.thread_vm_pool_size or DEFAULT_IN_FLIGHT
  if type(pool) ~= "string" then error("graphcomm.ngx: thread_pool must be a string", 2) end
  if type(size) ~= "number" or size < 1 then
    error("graphcomm.ngx: thread_vm_pool_size must be a positive number", 2)
  end
  local copts, key = plain_options(opts)
  local threads = type(ngx.run_worker_thread) == "function"
  if not threads then
    ngx.log(ngx.WARN, "graphcomm: this nginx has no ngx.run_worker_thread (built without",
      " --with-threads?): the ngx transport blocks the worker")
  end
  local t = {}
  function t.send(req)
    if threads and THREAD_PHASES[ngx.get_phase()] then
      return threaded_send(ngx, pool, key, copts, req, size)
    end
    return http:send(req)
  end
  -- Threads where requests may yield; elsewhere one blocking request at a time.
  function t.multi()
    if threads and THREAD_PHASES[ngx.get_phase()] then return new_threads(ngx, t.send) end
    return serial.new(t.send)
  end
  function t.sleep(s)
    if SLEEP_PHASES[ngx.get_phase()] then return ngx.sleep(s) end
    return core.sleep(s)
  end
  function t.now()
    ngx.update_time()
    return ngx.now()
  end
  -- The thread VMs' handles stay for later clients with the same options.
  function t.close() http:close() end
  return t
end

return M
