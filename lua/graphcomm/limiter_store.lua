-- graphcomm.limiter_store: where graphcomm.limiter keeps its shared windows.
--
--   store.open(cfg) -> st | nil, err     (at connect: a bad state file is an error there)
--   st:transact(fn) -> calls fn(state, now) with exclusive access to `state` (a table
--     of key -> entry), and keeps what fn left in it; fn must not yield
--   st:close()
--
-- Kinds:
--   memory  (default)   this client only
--   file    state_file  every process of the user on this machine: the file is read and
--                       written under an exclusive flock (csrc/lua/flock.c); its clock is
--                       CLOCK_MONOTONIC, the same in every process
--   ngx     shared_dict every worker of an nginx: the state is one value of the
--                       lua_shared_dict, under a lock taken with add() (expiring after
--                       LOCK_TTL, so a worker that dies holding it blocks no one long)
--   a table with transact(fn)   the caller's own
-- A shared state that cannot be read (damaged, or another program's) starts afresh;
-- a state file with content that is not ours is never overwritten.

local type, pcall, error, setmetatable = type, pcall, error, setmetatable
local string_sub = string.sub

local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local cjson = require("cjson.safe").new()

local M = {}

local MAGIC = "graphcomm-limits 1\n"
M.MAGIC = MAGIC
M.LOCK_TTL = 0.5
local STATE_KEY, LOCK_KEY = "graphcomm-limits:state", "graphcomm-limits:lock"

local function decode(text)
  local v = cjson.decode(text)
  if type(v) ~= "table" then return {} end
  return v
end

------------------------------------------------------------------------------
-- memory
------------------------------------------------------------------------------

local Memory = {}
Memory.__index = Memory

function Memory:transact(fn) return fn(self.state, self.now()) end

------------------------------------------------------------------------------
-- file
------------------------------------------------------------------------------

local File = {}
File.__index = File

local function bad_file(path, why)
  return nil, errors.validation("option limits.state_file: " .. why,
    { errors = { { path = "limits.state_file", message = why } }, file = path })
end

function File:transact(fn)
  local f = self.f
  local ok, err = f:lock()
  if not ok then error("graphcomm.limiter: " .. err, 0) end
  local text = f:read()
  local ours = text == "" or string_sub(text, 1, #MAGIC) == MAGIC
  local state = ours and decode(string_sub(text, #MAGIC + 1)) or {}
  local done, e = pcall(fn, state, self.now())
  if done and ours then f:write(MAGIC .. (cjson.encode(state) or "{}")) end
  f:unlock()
  if not done then error(e, 0) end
end

function File:close() self.f:close() end

local function open_file(path, now)
  local f, why = core.flock(path)
  if not f then return bad_file(path, why) end
  f:lock()
  local text = f:read()
  f:unlock()
  if text ~= "" and string_sub(text, 1, #MAGIC) ~= MAGIC then
    f:close()
    return bad_file(path, "the file exists and is not a graphcomm limits file: " .. path)
  end
  return setmetatable({ f = f, now = now or core.now }, File)
end

------------------------------------------------------------------------------
-- ngx shared dict
------------------------------------------------------------------------------

local Dict = {}
Dict.__index = Dict

function Dict:lock()
  local d, ngx = self.d, self.ngx
  local deadline = nil
  while not d:add(LOCK_KEY, true, M.LOCK_TTL) do
    -- yield where the phase allows, else spin: the holder keeps it for microseconds
    if not pcall(ngx.sleep, 0.001) then
      ngx.update_time()
      deadline = deadline or ngx.now() + 2 * M.LOCK_TTL
      if ngx.now() > deadline then break end
    end
  end
end

function Dict:transact(fn)
  self:lock()
  local d = self.d
  local state = decode(d:get(STATE_KEY) or "{}")
  local done, e = pcall(fn, state, self.now())
  if done then d:set(STATE_KEY, cjson.encode(state) or "{}") end
  d:delete(LOCK_KEY)
  if not done then error(e, 0) end
end

local function open_dict(name, now)
  local ngx = rawget(_G, "ngx")
  local d = ngx and ngx.shared and ngx.shared[name]
  if not d then
    return nil, errors.validation("option limits.shared_dict: no lua_shared_dict named " .. name,
      { errors = { { path = "limits.shared_dict", message = "no such shared dict" } } })
  end
  return setmetatable({ d = d, ngx = ngx,
    now = now or function() ngx.update_time(); return ngx.now() end }, Dict)
end

------------------------------------------------------------------------------

function M.open(cfg)
  if cfg.store then return cfg.store end
  if cfg.state_file then return open_file(cfg.state_file, cfg.clock) end
  if cfg.shared_dict then return open_dict(cfg.shared_dict, cfg.clock) end
  return { memory = true }
end

-- The store of a limiter: the opened one, or memory on the limiter's clock. -> st, now,
-- own: true for the memory store, whose state only the limiter writes (st.state, no
-- text read back: the limiter need not check its entries; graphcomm.limiter, "Cost").
function M.new(cfg, now)
  local st = cfg.opened
  if not st or st.memory then
    return setmetatable({ state = {}, now = now or core.now }, Memory), now or core.now, true
  end
  return st, st.now or now, false
end

return M
