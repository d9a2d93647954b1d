-- graphcomm.auth_cache: token caches shared beyond one provider, keyed by authority,
-- tenant, client and scope, holding the access token and its expiry, nothing else.
--   file: for the CLI (it runs once per command). One file per credential under
--     $XDG_CACHE_HOME/graphcomm (~/.cache/graphcomm), named by the SHA-256 of the key.
--     The folder is made 0700 and files written 0600; a file or folder someone else may
--     read (or that is not ours, or is a symlink) is refused.
--   shared_dict: for nginx workers (token_cache = { shared_dict = "name" }, a
--     lua_shared_dict). One fetch at a time per credential across the workers: the one
--     that wins dict:add of the lock key fetches, the others wait (ngx.sleep, bounded)
--     for its token to appear.
--
--   cache.settings(value, env) -> settings | nil, err
--     value: true | "file" | { path = } | { shared_dict = name }
--   cache.open(settings, key_parts) -> store | nil, err
--   store:get(time, margin) -> token, expires_on | nil     store:put(token, expires_on, time)
--   store:lock(seconds) -> owned, store:unlock()           (shared_dict only)

local type, tostring, tonumber, pcall, pairs, setmetatable =
      type, tostring, tonumber, pcall, pairs, setmetatable
local concat = table.concat

local util = require "graphcomm.auth_util"
local redact = require "graphcomm.redact"

local auth_error, core, cjson = util.error, util.core, util.cjson

local M = {}

function M.settings(value, env)
  env = env or {}
  if value == true or value == "file" then value = {} end
  if type(value) ~= "table" then
    local got = type(value) == "string" and (redact.shown(value)) or type(value)
    return nil, auth_error("token_cache must be true, \"file\" or { path = folder }, got " .. got)
  end
  for k in pairs(value) do
    if k ~= "path" and k ~= "shared_dict" then
      return nil, auth_error("token_cache: unknown field " .. tostring(k) .. " (path, shared_dict)")
    end
  end
  if value.shared_dict ~= nil then
    if value.path ~= nil then return nil, auth_error("token_cache: give path or shared_dict, not both") end
    local name, err = util.string_option(value.shared_dict, "token_cache.shared_dict")
    if err then return nil, err end
    local ngx = rawget(_G, "ngx")
    local dict = type(ngx) == "table" and type(ngx.shared) == "table" and ngx.shared[name]
    if not dict then
      return nil, auth_error("token_cache.shared_dict: no lua_shared_dict named " .. name
        .. " (it exists inside nginx only)")
    end
    return { dict = dict, name = name }
  end
  local path, err = util.string_option(value.path, "token_cache.path")
  if err then return nil, err end
  if not path then
    local base = env.xdg_cache_home or (env.home and env.home .. "/.cache")
    if not base then
      return nil, auth_error("token_cache: neither XDG_CACHE_HOME nor HOME is set (give token_cache = { path = })")
    end
    path = base .. "/graphcomm"
  end
  return { path = path }
end

-- The folder must be ours alone; created (0700) when missing, its parent too.
local function check_folder(path, create)
  local kind, private = core.private_stat(path)
  if not kind then return nil, auth_error("token_cache: " .. tostring(private)) end
  if kind == "missing" and create then
    local parent = path:match("^(.+)/[^/]+$")
    if parent and core.private_stat(parent) == "missing" then core.mkdir_private(parent) end
    local ok, err = core.mkdir_private(path)
    if not ok then return nil, auth_error("token_cache: " .. tostring(err)) end
    kind, private = core.private_stat(path)
  end
  if kind ~= "dir" then return nil, auth_error("token_cache: " .. path .. " is not a folder") end
  if not private then
    return nil, auth_error("token_cache: refused: " .. path .. " may be read by others"
      .. " (chmod 700 it, or give token_cache = { path = } a private folder)")
  end
  return true
end

local Store = {}
Store.__index = Store

-- The cached token while it has more than `margin` seconds left, else nil.
function Store:get(time, margin)
  local kind, private = core.private_stat(self.file)
  if kind ~= "file" then return nil end
  if not private then
    return nil, auth_error("token_cache: refused: " .. self.file .. " may be read by others")
  end
  local f = io.open(self.file, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local ok, v = pcall(cjson.decode, text or "")
  if not ok or type(v) ~= "table" or v.key ~= self.key then return nil end
  local on = tonumber(v.expires_on)
  if type(v.access_token) ~= "string" or not on or on - time() <= (margin or 0) then return nil end
  if not util.check_token(v.access_token, "cached token") then return nil end
  return v.access_token, on
end

function Store:put(token, expires_on)
  local ok, err = check_folder(self.dir, true)
  if not ok then return nil, err end
  ok, err = core.write_private(self.file, cjson.encode({ key = self.key,
    access_token = token, expires_on = expires_on }))
  if not ok then return nil, auth_error("token_cache: " .. tostring(err)) end
  return true
end

------------------------------------------------------------------------------
-- The shared dict (nginx workers)
------------------------------------------------------------------------------

local Shared = {}
Shared.__index = Shared

local function decode_entry(text)
  local ok, v = pcall(cjson.decode, text or "")
  if ok and type(v) == "table" then return v end
  return nil
end

function Shared:get(time, margin)
  local v = decode_entry(self.dict:get(self.key))
  local on = v and tonumber(v.expires_on)
  if not on or type(v.access_token) ~= "string" or on - time() <= (margin or 0) then return nil end
  if not util.check_token(v.access_token, "cached token") then return nil end
  return v.access_token, on
end

function Shared:put(token, expires_on, time)
  local ttl = expires_on - time()
  if ttl <= 0 then return true end
  local ok, err = self.dict:set(self.key, cjson.encode({ access_token = token, expires_on = expires_on }), ttl)
  if not ok then return nil, auth_error("token_cache: " .. self.name .. ": " .. tostring(err)) end
  return true
end

-- Only one worker gets it; it lapses by itself should that worker die mid-fetch.
function Shared:lock(seconds)
  return self.dict:add(self.lock_key, true, seconds) == true
end

function Shared:unlock() self.dict:delete(self.lock_key) end

local function key_of(parts)
  local t = {}
  for i = 1, 4 do t[i] = tostring(parts[i] or "") end
  return concat(t, "\n")
end

-- parts = { authority, tenant, client, scope } (nil parts written as "").
function M.open(settings, parts)
  if not (core and core.private_stat and core.sha256) then
    return nil, auth_error("token_cache needs graphcomm.core")
  end
  local key = key_of(parts)
  if settings.dict then
    local k = "graphcomm:token:" .. core.sha256(key)
    return setmetatable({ dict = settings.dict, name = settings.name, key = k, lock_key = k .. ":lock" }, Shared)
  end
  local ok, err = check_folder(settings.path, true)
  if not ok then return nil, err end
  local file = settings.path .. "/" .. core.sha256(key) .. ".json"
  local kind, private = core.private_stat(file)
  if kind == "file" and not private then
    return nil, auth_error("token_cache: refused: " .. file .. " may be read by others (chmod 600 it)")
  end
  if kind ~= "file" and kind ~= "missing" then
    return nil, auth_error("token_cache: " .. file .. " is not a regular file")
  end
  return setmetatable({ dir = settings.path, file = file, key = key }, Store)
end

return M
