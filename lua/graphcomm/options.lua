-- graphcomm.options: every options table of the public API is read here.
--
--   options.check(opts, known, fname, argn [, level]) -> table of Lua names
--     (level as error's, counted from the function calling check; default 2)
--     Names are matched without case, "_" or "-" (WhatIf = what_if = whatif), so
--     the cmdlet's names work wherever the Lua names do. An unknown name or a value
--     of the wrong type raises "bad argument #argn to 'fname' (...)", with a
--     did-you-mean, before anything is sent (docs/api-conventions.md).
--     known: { lua_name = "type" | "type|type" | "any" | function(v) -> ok, why }
--   options.suggest(name, candidates) -> the closest candidate | nil
--   options.config(opts [, getenv]) -> cfg | nil, err   connect's options (values
--     that are well typed but refused, a bad URL for instance, are nil, err)
--   options.CONNECT: connect's option names and types

local type, pairs, ipairs, tostring, tonumber, error, setmetatable =
      type, pairs, ipairs, tostring, tonumber, error, setmetatable
local string_lower, string_gsub, string_format, string_find, string_match, string_gmatch =
      string.lower, string.gsub, string.format, string.find, string.match, string.gmatch
local math_floor, math_min, math_max, table_sort = math.floor, math.min, math.max, table.sort

local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local retry = require "graphcomm.retry"
local auth = require "graphcomm.auth"
local redact = require "graphcomm.redact"
local controls = redact.controls
local limiter = require "graphcomm.limiter"

local M = {}

------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------

local function norm(k)
  if type(k) ~= "string" then return nil end
  return (string_gsub(string_lower(k), "[_%-]", ""))
end
M.norm = norm

-- Optimal string alignment distance (insertions, deletions, substitutions and
-- transpositions of neighbours), on the normalized names.
local function distance(a, b)
  local prev2, prev, cur = {}, {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur = { [0] = i }
    local ca = a:sub(i, i)
    for j = 1, #b do
      local cb = b:sub(j, j)
      local cost = ca == cb and 0 or 1
      local d = math_min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and ca == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == cb then
        d = math_min(d, prev2[j - 2] + 1)
      end
      cur[j] = d
    end
    prev2, prev = prev, cur
  end
  return prev[#b]
end

function M.suggest(name, candidates)
  local n = norm(name)
  if not n then return nil end
  local best, best_d
  local sorted = {}
  for _, c in ipairs(candidates) do sorted[#sorted + 1] = c end
  table_sort(sorted)
  for _, c in ipairs(sorted) do
    local d = distance(n, norm(c))
    if not best_d or d < best_d then best, best_d = c, d end
  end
  -- close enough to be a slip: a third of the name, at least 2 edits for short ones
  if best and best_d <= math_max(2, math_floor(#n / 3)) then return best end
  return nil
end

------------------------------------------------------------------------------
-- Checking a table of options
------------------------------------------------------------------------------

-- "unknown option 'k'; did you mean 'name'?" (the hint when a candidate is close).
function M.unknown(what, k, candidates)
  local hint = M.suggest(k, candidates)
  return "unknown " .. what .. " '" .. tostring(k) .. "'"
    .. (hint and ("; did you mean '" .. hint .. "'?") or "")
end

local function type_ok(want, v)
  if want == "any" then return true end
  if type(want) == "function" then return want(v) end
  local tv = type(v)
  for t in string_gmatch(want, "[^|]+") do
    if t == tv then return true end
    if t == "integer" and tv == "number" and v % 1 == 0 then return true end
  end
  return false, (string_gsub(want, "|", " or ")) .. " expected, got " .. tv
end

local function raise(fname, argn, level, message)
  error(string_format("bad argument #%d to '%s' (%s)", argn, fname, message), level + 2)
end

local cache = setmetatable({}, { __mode = "k" })

-- norm(name) -> Lua name, and the list of names, for a known table (built once).
local function index(known)
  local ix = cache[known]
  if ix then return ix end
  ix = { by_norm = {}, names = {} }
  for name in pairs(known) do
    ix.by_norm[norm(name)] = name
    ix.names[#ix.names + 1] = name
  end
  cache[known] = ix
  return ix
end

function M.check(opts, known, fname, argn, level)
  level = level or 2   -- as error's: 1 is the function calling check
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    raise(fname, argn, level, "table expected, got " .. type(opts))
  end
  local ix, out = index(known), {}
  for k, v in pairs(opts) do
    local name = ix.by_norm[norm(k)]
    if not name then raise(fname, argn, level, M.unknown("option", k, ix.names)) end
    if out[name] ~= nil then
      raise(fname, argn, level, "option " .. name .. " given twice (as '" .. tostring(k) .. "')")
    end
    local ok, why = type_ok(known[name], v)
    if not ok then raise(fname, argn, level, "option " .. name .. ": " .. tostring(why)) end
    out[name] = v
  end
  return out
end

------------------------------------------------------------------------------
-- connect
------------------------------------------------------------------------------

local function positive_integer(v)
  if type(v) == "number" and v >= 1 and v % 1 == 0 then return true end
  return false, "positive integer expected, got " .. tostring(v)
end

M.CONNECT = {
  base_url = "string", environment = "string", api_version = "string",
  token = "string|function", tenant_id = "string", client_id = "string",
  client_secret = "string", client_certificate = "string",
  client_certificate_key = "string", client_certificate_password = "string",
  authority = "string", scope = "string",
  timeout = "number", connect_timeout = "number", max_retries = "number",
  max_retry_delay = "number", max_response_bytes = "number", max_pages = positive_integer,
  ca_file = "string", proxy = "string", http_version = "string|number",
  headers = "table", user_agent = "string", compress = "boolean|number",
  debug = "function", on_retry = "function", transport = "string|table", thread_pool = "string",
  thread_vm_pool_size = "number", getenv = "function", random = "function",
  limits = "boolean|table",   -- graphcomm.limiter (docs/throttling.md)
}
-- Options the credentials code knows beyond these (graphcomm.auth may list them).
if type(auth.OPTIONS) == "table" then
  for k, v in pairs(auth.OPTIONS) do if M.CONNECT[k] == nil then M.CONNECT[k] = v end end
end

-- token_cache's table is an options table too: a misspelt field raises at connect, even
-- when the credential in use (a static token) never reads the cache.
local CACHE_FIELDS = { "path", "shared_dict" }
M.CONNECT.token_cache = function(v)
  local tv = type(v)
  if tv == "boolean" or v == "file" then return true end
  if tv == "string" then   -- a token given here by mistake is not echoed (redact.shown)
    local shown, whole = redact.shown(v)
    if not whole then return false, shown .. " is not \"file\"" end
    return false, M.unknown("value", v, { "file" }) .. " (true, \"file\" or a table)"
  end
  if tv ~= "table" then return false, "boolean, \"file\" or table expected, got " .. tv end
  for k in pairs(v) do
    if k ~= "path" and k ~= "shared_dict" then
      return false, M.unknown("field", k, CACHE_FIELDS) .. " (path, shared_dict)"
    end
  end
  return true
end

M.DEFAULTS = { api_version = "v1.0", timeout = 100, connect_timeout = 10, max_retries = 3,
  max_retry_delay = 180, max_response_bytes = 16 * 1024 * 1024, compress_min = 1024,
  max_pages = 1000 }
-- A wait longer than a day is no retry: it is a hang (and overflows timers).
M.MAX_RETRY_DELAY = 86400

local function bad_option(name, message)
  return nil, errors.validation("option " .. name .. " " .. message,
    { errors = { { path = name, message = message } } })
end

local function env(getenv, name)
  local v = getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

local function cloud(name)
  for k, v in pairs(auth.clouds) do
    if string_lower(k) == string_lower(name) then return v end
  end
  return nil
end

local function number_option(cfg, opts, name, min, max)
  local v = opts[name]
  if v == nil then v = M.DEFAULTS[name] end
  if type(v) ~= "number" or v ~= v or v < min or (max and v > max) then
    return bad_option(name, "must be a number" .. (max and string_format(" from %g to %g", min, max)
      or string_format(" >= %g", min)) .. ", got " .. tostring(opts[name]))
  end
  cfg[name] = v
  return true
end

local function base_url(opts, getenv)
  if opts.base_url ~= nil then return opts.base_url, "base_url" end
  if opts.environment ~= nil then
    local c = cloud(opts.environment)
    if not c then
      return bad_option("environment", "must be Global, USGov, USGovDoD or China, got "
        .. tostring(opts.environment))
    end
    return c.graph, "environment"
  end
  local from_env = env(getenv, "GRAPHCOMM_BASE_URL")
  if from_env then return from_env, "GRAPHCOMM_BASE_URL" end
  return auth.clouds.Global.graph, "base_url"
end

-- Strict reading of a base URL: http(s), a host, a port from 1 to 65535, a path;
-- no userinfo, query, fragment, control characters or spaces.
function M.parse_base_url(url, what)
  what = what or "base_url"
  local function bad(why) return bad_option(what, why .. ": " .. controls(url)) end
  if string_find(url, "[%z\1-\32\127]") then return bad("must not contain spaces or control characters") end
  if string_find(url, "[?#]") then return bad("must not have a query or fragment") end
  local scheme, authority, path = string_match(url, "^(%a[%w+.-]*)://([^/]*)(.*)$")
  if not scheme then return bad("must be an absolute http(s) URL") end
  scheme = string_lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return bad("must be http or https") end
  if string_find(authority, "@", 1, true) then return bad("must not carry user information") end
  local host, port = string_match(authority, "^(%[[%x:.]+%])(.*)$")
  if not host then host, port = string_match(authority, "^([%w%-%.]*)(.*)$") end
  if not host or host == "" then return bad("must name a host") end
  if port ~= "" then
    local digits = string_match(port, "^:(%d+)$")
    local n = digits and tonumber(digits)
    if not n or n < 1 or n > 65535 then return bad("must have a port from 1 to 65535") end
  end
  if string_find(path, "/%.%.?/") or string_find(path, "/%.%.?$") then
    return bad("must not have . or .. segments")
  end
  -- the version is api_version's: a base URL holding it would become /v1.0/v1.0/... (404)
  local version = string_match(string_lower(path), "/(v1%.0)/?$") or string_match(string_lower(path), "/(beta)/?$")
  if version then
    return bad("must not end in /" .. version .. " (graphcomm adds the version: drop it, and"
      .. " choose beta with api_version)")
  end
  return scheme .. "://" .. authority .. path
end

local function http_version(v)
  if v == nil then return nil end
  if v == 2 then return "2" end
  if v == 1.1 then return "1.1" end
  if v == 1 or v == 1.0 then return "1.0" end
  local known = { ["1.0"] = true, ["1.1"] = true, ["2"] = true, ["2tls"] = true,
    ["2-prior-knowledge"] = true }
  if known[v] then return v end
  return nil, true
end

local function strings(cfg, opts, getenv)
  cfg.ca_file = opts.ca_file or env(getenv, "GRAPHCOMM_CA_FILE")
  cfg.proxy = opts.proxy
  cfg.user_agent = opts.user_agent
  for _, name in ipairs({ "ca_file", "proxy", "user_agent" }) do
    local s = cfg[name]
    if s ~= nil and (type(s) ~= "string" or string_find(s, "[\r\n%z]")) then
      return bad_option(name, "must be a string without CR, LF or NUL")
    end
  end
  return true
end

local function numbers(cfg, opts)
  for _, spec in ipairs({ { "timeout", 0 }, { "connect_timeout", 0 },
      { "max_retries", 0, retry.MAX_RETRIES }, { "max_retry_delay", 0 },
      { "max_response_bytes", 1 }, { "max_pages", 1 } }) do
    local ok, err = number_option(cfg, opts, spec[1], spec[2], spec[3])
    if not ok then return nil, err end
  end
  cfg.max_retries = math_floor(cfg.max_retries)
  if cfg.max_retry_delay > M.MAX_RETRY_DELAY then cfg.max_retry_delay = M.MAX_RETRY_DELAY end
  return true
end

-- What a client's target lacks, as one-line warnings (connect gives them to debug).
-- Microsoft's national-cloud availability tables list call records as not offered in
-- the China cloud operated by 21Vianet.
function M.cloud_warnings(url)
  local host = string_lower(string_match(url, "^%a[%w+.-]*://([^/:]*)") or "")
  if host == "microsoftgraph.chinacloudapi.cn" then
    return { "call records are not offered in the China cloud operated by 21Vianet"
      .. " (Microsoft's national-cloud availability); requests for them will fail there" }
  end
  return {}
end

-- opts (and the environment through getenv) -> cfg for request.prepare and the transport.
-- opts has been through check(opts, CONNECT) (names and types); values are checked here.
function M.config(opts, getenv)
  getenv = getenv or os.getenv
  local cfg, ok, err, what = {}, nil, nil, nil
  cfg.base_url, what = base_url(opts, getenv)
  if not cfg.base_url then return nil, what end
  cfg.base_url, err = M.parse_base_url(cfg.base_url, what)
  if not cfg.base_url then return nil, err end
  local v = opts.api_version or M.DEFAULTS.api_version
  if v ~= "v1.0" and v ~= "beta" then return bad_option("api_version", "must be v1.0 or beta") end
  cfg.api_version = v
  cfg.warnings = M.cloud_warnings(cfg.base_url)
  ok, err = numbers(cfg, opts)
  if not ok then return nil, err end
  ok, err = strings(cfg, opts, getenv)
  if not ok then return nil, err end
  local hv, bad = http_version(opts.http_version)
  if bad then return bad_option("http_version", "must be 1.0, 1.1, 2, 2tls or 2-prior-knowledge") end
  cfg.http_version = hv
  cfg.headers = opts.headers
  local c = opts.compress
  if type(c) == "number" and not (c >= 0) then
    return bad_option("compress", "must be a boolean or a minimum body size in bytes")
  end
  cfg.compress_min = (c == true and M.DEFAULTS.compress_min) or (type(c) == "number" and c) or nil
  cfg.debug = opts.debug
  cfg.on_retry = opts.on_retry      -- fn(seconds, { attempt, status, code, url }) before a wait
  cfg.random = opts.random          -- jitter source, for tests
  cfg.limits, err = limiter.config(opts.limits, cfg.base_url, opts, M.check, getenv)
  if cfg.limits == nil then return nil, err end
  return request.prepare(cfg)
end

return M
