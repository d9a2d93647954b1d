-- graphcomm.auth: credential providers. The request builder asks a provider
-- for a bearer token; providers know nothing of sessions.
--
--   local opts2 = auth.resolve(opts [, getenv])         -- environment fallbacks, precedence
--   local provider, err = auth.new(opts2, deps)
--   provider:get([force_refresh]) -> token | nil, err   (err.kind == "auth")
--   provider:invalidate()                               -- after a 401 InvalidAuthenticationToken
--   provider.renewable                                  -- false for a fixed token string
--
-- Credentials (docs/credentials.md has the variables and the precedence): token (string,
-- or function returning token[, expires_in]); tenant_id + client_id + client_secret |
-- client_certificate [+ client_certificate_key, client_certificate_password,
-- send_certificate_chain] | federated_token_file against authority; managed_identity;
-- azure_cli. token_cache = true keeps tokens in a private file cache.
-- deps = { send = transport send, now = monotonic clock in seconds, sleep = optional
-- (lets a coroutine wait for another's token request: OpenResty), sleep_yields = optional
-- boolean (default: any sleep but core.sleep yields), redact = optional graphcomm.redact
-- set every secret is registered with, time = wall clock (os.time) }.

local type, tostring, tonumber, pcall, setmetatable, pairs, error =
      type, tostring, tonumber, pcall, setmetatable, pairs, error
local co_running, co_status = coroutine.running, coroutine.status
local concat = table.concat
local math_min = math.min

local util = require "graphcomm.auth_util"
local endpoint = require "graphcomm.auth_endpoint"
local chain = require "graphcomm.auth_chain"

local auth_error, core, check_token, pack = util.error, util.core, util.check_token, util.pack

local M = {}

M.error = auth_error
M.form_encode = util.form_encode
M.clouds = endpoint.clouds
M.resolve = chain.resolve

-- The connect options this module adds to the client's (name -> accepted Lua types;
-- the values are checked further here). graphcomm.options merges them in.
M.OPTIONS = {
  managed_identity = "boolean|table", federated_token_file = "string",
  send_certificate_chain = "boolean", azure_cli = "boolean|table",
  token_cache = "boolean|string|table",
}

------------------------------------------------------------------------------
-- Caching providers (token function, identity endpoints)
------------------------------------------------------------------------------

-- Renew 5 minutes before expiry, or at half-life for tokens shorter than 10 minutes.
local function refresh_margin(lifetime)
  if lifetime >= 600 then return 300 end
  return lifetime / 2
end
M.refresh_margin = refresh_margin

-- One token request at a time per provider, when callers are coroutines that can wait
-- (a sleep that yields, as ngx.sleep does). The request in flight belongs to the
-- coroutine that sent it; a caller waits for it only while that coroutine is suspended
-- (its send is working), at most until the request's own timeout, through the injected
-- sleep and clock. A dead owner (it raised), an owner up the caller's own stack, or a
-- sleep that blocks the process (nothing else can run meanwhile) means no wait: the
-- caller sends a request itself. Token functions have no in-flight mark at all: each
-- caller calls the function (it may yield, or never come back), and only a re-entrant
-- call from inside it is refused.
local MAIN = {}          -- stands for the main thread where coroutine.running() is nil (5.1)
local WAIT_FIRST, WAIT_MAX = 0.005, 0.25

local Cached = {}
Cached.__index = Cached
Cached.__tostring = function(self) return "graphcomm.auth (" .. self.kind .. ")" end

local function current()
  local co = co_running()
  return co or MAIN
end

-- Whether the flight's owner may still finish it: suspended (its send yielded), or
-- "running" while it is not the caller: OpenResty reports its request coroutines so
-- while they wait on nginx. Dead, or "normal" (the owner resumed the caller: waiting
-- would deadlock) means it never will.
local function owner_alive(flight)
  if flight.owner == MAIN then return false end
  local s = co_status(flight.owner)
  return s == "suspended" or (s == "running" and flight.owner ~= co_running())
end

-- Waits (bounded) while another coroutine's request for this provider is in flight;
-- true when it ended meanwhile.
local function wait_for(self, flight)
  if not self._can_wait then return false end
  local step, waited, limit = WAIT_FIRST, 0, self._wait_limit
  while self._flight == flight and owner_alive(flight)
        and self._now() < flight.deadline and waited < limit do
    self._sleep(step)
    waited = waited + step
    step = math_min(step * 2, WAIT_MAX)
  end
  return self._flight ~= flight
end

-- Plain Lua 5.1 cannot yield across pcall, and a transport inside a coroutine
-- (OpenResty-style) yields: there an error raised kills the coroutine, which the
-- waiters see (dead owner).
local plain_51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

local function guarded(self, me)
  if plain_51 and me ~= MAIN then return true, self._fetch(self) end
  return pcall(self._fetch, self)
end

-- One fetch by `me`; a single-flight provider marks it in flight meanwhile.
local function fetch(self, me)
  local flight
  if self._single then
    flight = { owner = me, deadline = self._now() + self._wait_limit }
    self._flight = flight
  else
    self._inside[me] = true
  end
  local r = pack(guarded(self, me))
  if flight then
    if self._flight == flight then self._flight = nil end
  else
    self._inside[me] = nil
  end
  if not r[1] then return nil, auth_error("token request failed: " .. tostring(r[2])) end
  return r[2], r[3]
end

local function remember(self, token, expires_in, now)
  if expires_in and expires_in > 0 then
    self._cache = { token = token, expires_at = now + expires_in,
                    refresh_at = now + expires_in - refresh_margin(expires_in) }
  else
    self._cache = nil
  end
end

-- A token another process left in the file cache, while it has a few minutes left.
local function from_store(self, now)
  local token, expires_on = self._store:get(self._time, 60)
  if not token then return nil, expires_on end
  if token == self._bad then return nil end     -- the one a 401 just refused
  remember(self, token, expires_on - self._time(), now)
  return token
end

-- Another worker holds the shared dict's lock: wait (bounded) for its token there.
-- -> token, or nil, owned: true once this one took the lock, let go with no token
-- stored (the other's fetch failed), rather than wait out the limit for nothing.
local function wait_for_store(self, now)
  if not self._can_wait then return nil end
  local step, waited, limit = WAIT_FIRST, 0, self._wait_limit
  while waited < limit and self._now() < now + limit do
    self._sleep(step)
    waited = waited + step
    step = math_min(step * 2, WAIT_MAX)
    local t = from_store(self, now)
    if t then return t end
    if self._store:lock(limit) then return nil, true end
  end
  return nil
end

local function busy(self, me)
  if self._single then return self._flight and self._flight.owner == me end
  return self._inside[me]
end

function Cached:get(force_refresh)
  local token, err = self:_get(force_refresh)
  if not token then return nil, util.scrub(err, self._redact) end
  return token
end

function Cached:_get(force_refresh)
  local now = self._now()
  local c = self._cache
  if c and not force_refresh and now < c.refresh_at then return c.token end
  local me = current()
  if busy(self, me) then
    return nil, auth_error("a token request is already in progress (called from inside it)")
  end
  if not force_refresh and self._store then
    local t, serr = from_store(self, now)
    if t or serr then return t, serr end
  end
  local flight = self._flight
  if flight and wait_for(self, flight) then
    -- The other coroutine's fresh token serves this caller too, even a forced one.
    if self._cache and self._cache ~= c then return self._cache.token end
  end
  local store = self._store
  local owned = store and store.lock and store:lock(self._wait_limit)
  if store and store.lock and not owned then
    local t
    t, owned = wait_for_store(self, now)
    if t then return t end
  end
  if owned and not force_refresh then
    -- Another worker may have stored its token and let go of the lock between
    -- from_store above and the lock: that token serves, no second fetch.
    local t = from_store(self, now)
    if t then store:unlock(); return t end
  end
  local token, expires_in = fetch(self, me)
  if not token then
    if owned then store:unlock() end
    -- A failed early renewal keeps the token that is still valid.
    if c and not force_refresh and now < c.expires_at and self._cache == c then return c.token end
    return nil, expires_in
  end
  remember(self, token, expires_in, now)
  if store and expires_in and expires_in > 0 then
    store:put(token, self._time() + expires_in, self._time)   -- best effort: the token is good anyway
  end
  -- Unlocked only once the token is in the store: a worker that takes the lock next
  -- finds it there (the check above) instead of fetching again.
  if owned then store:unlock() end
  return token
end

function Cached:invalidate()
  self._bad = self._cache and self._cache.token
  self._cache = nil
end

local function new_cached(kind, fetcher, d, fields)
  local p = setmetatable({ kind = kind, renewable = true, _fetch = fetcher,
    _now = d.now, _sleep = d.sleep, _time = d.time, _redact = d.redact,
    _can_wait = d.sleep_yields,
    _wait_limit = d.wait_limit, _single = fields ~= nil, _inside = setmetatable({}, { __mode = "k" }) },
    Cached)
  for k, v in pairs(fields or {}) do p[k] = v end
  return p
end

------------------------------------------------------------------------------
-- Provider: a fixed token string
------------------------------------------------------------------------------

local Static = {}
Static.__index = Static
Static.__tostring = function() return "graphcomm.auth (token)" end

function Static:get() return self._token() end
function Static:invalidate() end  -- nothing to renew: the 401 stands

local function new_static(token, d)
  local ok, err = check_token(token, "token")
  if not ok then return nil, err end
  d.redact:add(token)
  -- Kept in a closure, not a field, so that dumping the provider shows no token.
  return setmetatable({ kind = "token", renewable = false,
    _token = function() return token end }, Static)
end

------------------------------------------------------------------------------
-- Provider: a function returning token[, expires_in]
------------------------------------------------------------------------------

-- Calls the user's function; whatever goes wrong becomes an auth error.
local function call_token_function(fn)
  local r = pack(pcall(fn))
  if not r[1] then
    return nil, auth_error("token function failed: " .. tostring(r[2]))
  end
  local token, extra = r[2], r[3]
  if token == nil or token == false then
    local msg = extra ~= nil and tostring(extra) or "no token"
    return nil, auth_error("token function: " .. msg)
  end
  local ok, err = check_token(token, "token from the token function")
  if not ok then return nil, err end
  local expires_in = nil
  if extra ~= nil then
    expires_in = tonumber(extra)
    if not expires_in or expires_in ~= expires_in then
      return nil, auth_error("token function: expires_in must be a number of seconds")
    end
  end
  -- Without expires_in the function is asked every time: it does its own caching.
  return token, expires_in
end

local function new_function(fn, d)
  return new_cached("token function", function() return call_token_function(fn) end, d)
end

------------------------------------------------------------------------------
-- Providers against identity endpoints
------------------------------------------------------------------------------

local function need_send(d)
  if type(d.send) ~= "function" then
    error("auth.new: this credential needs deps.send (a transport's send)", 4)
  end
  if not util.cjson then return nil, auth_error("this credential needs lua-cjson") end
  return true
end

-- The proof of a client-credentials request: secret, certificate or federated token.
local function client_proof(opts, cfg, d)
  if opts.client_secret ~= nil then
    local secret = opts.client_secret
    if type(secret) ~= "string" or secret == "" then
      return nil, auth_error("client_secret must be a non-empty string")
    end
    d.redact:add(secret)
    return endpoint.secret_proof(secret), "client secret"
  end
  if opts.client_certificate ~= nil then
    local cert_mod = require "graphcomm.auth_cert"
    local cert, err = cert_mod.load(opts, d.redact)
    if not cert then return nil, err end
    return endpoint.assertion_proof(function()
      return cert_mod.assertion(cert, cfg.client_id, cfg.token_url, d.time)
    end), "client certificate"
  end
  local federated = require "graphcomm.auth_federated"
  local ok, err = federated.check(opts.federated_token_file)
  if not ok then return nil, err end
  return endpoint.assertion_proof(federated.assertion(opts.federated_token_file, d.time)),
    "federated token"
end

local function open_store(opts, parts)
  if opts.token_cache == nil or opts.token_cache == false then return nil end
  local cache = require "graphcomm.auth_cache"
  local s, err = cache.settings(opts.token_cache, opts._env)
  if not s then return false, err end
  return cache.open(s, parts)
end

local function with_store(p, opts, parts)
  local store, err = open_store(opts, parts)
  if store == false or (store == nil and err) then return nil, err end
  p._store = store
  return p
end

local function new_client_credentials(opts, d)
  local ok, err = need_send(d)
  if not ok then return nil, err end
  local cfg
  cfg, err = endpoint.config(opts)
  if not cfg then return nil, err end
  local proof, kind = client_proof(opts, cfg, d)
  if not proof then return nil, kind end
  local p = new_cached(kind, endpoint.fetcher(cfg, proof, d.send, d.redact, d.time), d,
    { tenant_id = cfg.tenant_id, client_id = cfg.client_id, authority = cfg.authority,
      token_url = cfg.token_url, scope = cfg.scope })
  return with_store(p, opts, { cfg.authority, cfg.tenant_id, cfg.client_id, cfg.scope })
end

-- The resource managed identity and the Azure CLI ask for: the Graph origin (a
-- scope's /.default taken off).
local function resource_of(opts)
  if type(opts.scope) == "string" then return (opts.scope:gsub("/%.default$", "")) end
  local origin, err = endpoint.graph_origin(opts)
  if not origin then return nil, err end
  return origin
end

local function env_with_client(opts)
  local env = {}
  for k, v in pairs(opts._env or {}) do env[k] = v end
  env.client_id = opts.client_id or env.client_id
  return env
end

local function new_managed(opts, d)
  local ok, err = need_send(d)
  if not ok then return nil, err end
  local managed = require "graphcomm.auth_managed"
  local s
  s, err = managed.settings(opts.managed_identity, env_with_client(opts))
  if not s then return nil, err end
  local resource
  resource, err = resource_of(opts)
  if not resource then return nil, err end
  local cfg = { timeout = opts.timeout, connect_timeout = opts.connect_timeout }
  -- One fetch may retry (auth_managed): a wait for it lasts as long as all its tries.
  d.wait_limit = d.wait_limit * (managed.RETRIES + 1) + managed.RETRIES * managed.MAX_RETRY_WAIT
  local p = new_cached("managed identity", managed.fetcher(s, resource, cfg, d.send, d.redact, d.time, d.sleep),
    d, { flow = s.flow, endpoint = s.url, client_id = s.client_id, scope = resource })
  return with_store(p, opts, { s.url, s.flow, s.client_id or s.object_id or s.mi_res_id or "", resource })
end

local function new_cli(opts, d)
  local cli = require "graphcomm.auth_cli"
  local s, err = cli.settings(opts.azure_cli, opts._env)
  if not s then return nil, err end
  local resource
  resource, err = resource_of(opts)
  if not resource then return nil, err end
  if opts.tenant_id ~= nil and (type(opts.tenant_id) ~= "string" or not opts.tenant_id:find("^[%w%.%-_]+$")) then
    return nil, auth_error("tenant_id has characters it cannot have")
  end
  -- The CLI's own timeout bounds a wait for it.
  d.wait_limit = s.timeout + 5
  local p = new_cached("Azure CLI", cli.fetcher(s, resource, opts.tenant_id, d.redact, d.time), d,
    { scope = resource })
  return with_store(p, opts, { "azure-cli", opts.tenant_id, s.path, resource })
end

------------------------------------------------------------------------------
-- Construction
------------------------------------------------------------------------------

local function default_now()
  if core and core.now then return core.now() end
  return os.time()
end

local function request_bound(opts)
  local t = tonumber(opts.timeout) or 100
  local c = tonumber(opts.connect_timeout) or 10
  return t + c
end

local function no_credentials(opts)
  local tried = chain.tried(opts)
  if tried then
    return nil, auth_error("no credentials; tried: " .. concat(tried, "; "))
  end
  return nil, auth_error("no credentials: give token, or tenant_id + client_id + "
    .. "client_secret or client_certificate (or set GRAPHCOMM_TOKEN or AZURE_*)")
end

local function build(opts, d)
  local token = opts.token
  if type(token) == "function" then return new_function(token, d) end
  if token ~= nil then return new_static(token, d) end
  if opts.client_secret ~= nil or opts.client_certificate ~= nil or opts.federated_token_file ~= nil then
    return new_client_credentials(opts, d)
  end
  if opts.managed_identity ~= nil and opts.managed_identity ~= false then return new_managed(opts, d) end
  if opts.azure_cli ~= nil and opts.azure_cli ~= false then return new_cli(opts, d) end
  return no_credentials(opts)
end

-- The provider for opts (already resolved: see auth.resolve). A token wins
-- over client credentials given alongside it.
function M.new(opts, deps)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'auth.new' (table expected, got " .. type(opts) .. ")", 2)
  end
  deps = deps or {}
  local d = { send = deps.send, now = deps.now or default_now, sleep = deps.sleep,
    redact = deps.redact or util.new_redact(), time = deps.time or os.time,
    wait_limit = request_bound(opts) }
  -- Waiting for another coroutine's request only makes sense with a sleep that lets it
  -- run (ngx.sleep); core.sleep blocks the process. deps.sleep_yields says so outright.
  d.sleep_yields = deps.sleep ~= nil and deps.sleep ~= (core and core.sleep)
  if deps.sleep_yields ~= nil then d.sleep_yields = deps.sleep ~= nil and deps.sleep_yields == true end
  local p, err = build(opts, d)
  if not p then return nil, util.scrub(err, d.redact) end
  return p
end

return M
