-- The file token cache (token_cache, GRAPHCOMM_TOKEN_CACHE): one private file per
-- credential, keyed by authority, tenant, client and scope, holding the access token and
-- its expiry only; read by the next process; refused when others may read it.
local auth = require "graphcomm.auth"
local cjson = require "cjson"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"
local emu = require "helpers.emulator"

local env = tokens.env

local function mode(path)
  return certs.capture("stat -c %a " .. emu.shell_quote(path))
end

local function files(dir)
  local out = {}
  for line in certs.capture("ls -A " .. emu.shell_quote(dir)):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("file token cache", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local function app() return ctl.secret_app() end

  local n = 0
  local function folder()
    n = n + 1
    return kit.dir .. "/cache-" .. n .. "/graphcomm"
  end

  local function provider(a, cache, deps, vars)
    deps = deps or {}
    deps.send = ctl.send
    return auth.new(auth.resolve({ base_url = server.base_url, tenant_id = a.tenant, client_id = a.client_id,
      client_secret = a.client_secret, token_cache = cache }, env(vars or {})), deps)
  end

  local function requests(a) return #ctl.log(tokens.token_path(a.tenant)) end

  it("lets the next process use the token, in a 0600 file in a 0700 folder, without the secret", function()
    local a, dir = app(), folder()
    local first = assert(assert(provider(a, { path = dir })):get())
    assert.equal("700", mode(dir))
    local list = files(dir)
    assert.equal(1, #list)
    assert.matches("^%x+%.json$", list[1])
    assert.equal("600", mode(dir .. "/" .. list[1]))
    local text = certs.read(dir .. "/" .. list[1])
    assert.is_nil(text:find(a.client_secret, 1, true))
    local stored = cjson.decode(text)
    assert.equal(first, stored.access_token)
    local keys = {}
    for k in pairs(stored) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "access_token", "expires_on", "key" }, keys)
    -- a new provider (the next CLI run) takes it from the file
    assert.equal(first, assert(provider(a, { path = dir })):get())
    assert.equal(1, requests(a))
  end)

  it("keys by credential: another client gets a file of its own", function()
    local a, b, dir = app(), app(), folder()
    local ta = assert(assert(provider(a, { path = dir })):get())
    local tb = assert(assert(provider(b, { path = dir })):get())
    assert.not_equal(ta, tb)
    assert.equal(2, #files(dir))
  end)

  it("does not use a token near its expiry, nor one a 401 refused", function()
    local a, dir = app(), folder()
    local first = assert(assert(provider(a, { path = dir })):get())
    local later = assert(provider(a, { path = dir }, { time = function() return os.time() + 3599 - 30 end }))
    local second = assert(later:get())
    assert.not_equal(first, second)
    local p = assert(provider(a, { path = dir }))
    assert.equal(second, p:get())
    p:invalidate()
    local third = assert(p:get())
    assert.not_equal(second, third)
    assert.equal(third, assert(provider(a, { path = dir })):get())   -- the renewal was stored
    assert.equal(3, requests(a))
  end)

  it("lives under $XDG_CACHE_HOME/graphcomm, or ~/.cache/graphcomm, when turned on by variable", function()
    local a = app()
    local xdg = kit.dir .. "/xdg-" .. tokens.unique("x")
    assert(provider(a, nil, nil, { GRAPHCOMM_TOKEN_CACHE = "1", XDG_CACHE_HOME = xdg })):get()
    assert.equal(1, #files(xdg .. "/graphcomm"))
    local home = kit.dir .. "/home-" .. tokens.unique("h")
    assert(os.execute("mkdir -p " .. home))
    assert(provider(a, true, nil, { HOME = home })):get()
    assert.equal("700", mode(home .. "/.cache/graphcomm"))
    local p, err = provider(a, true, nil, {})
    assert.is_nil(p)
    assert.matches("neither XDG_CACHE_HOME nor HOME", err.message)
  end)

  it("refuses a folder or a file others may read, and a symlink", function()
    local a, dir = app(), folder()
    assert(assert(provider(a, { path = dir })):get())
    assert(os.execute("chmod 755 " .. dir))
    local p, err = provider(a, { path = dir })
    assert.is_nil(p)
    assert.matches("may be read by others", err.message)
    assert(os.execute("chmod 700 " .. dir))
    local file = dir .. "/" .. files(dir)[1]
    assert(os.execute("chmod 644 " .. file))
    p, err = provider(a, { path = dir })
    assert.is_nil(p)
    assert.matches("may be read by others %(chmod 600 it%)", err.message)
    os.remove(file)
    assert(os.execute("ln -s /etc/passwd " .. file))
    p, err = provider(a, { path = dir })
    assert.is_nil(p)
    assert.matches("not a regular file", err.message)
    assert.equal(1, requests(a))
  end)

  it("refuses bad token_cache values", function()
    local a = app()
    for _, c in ipairs({ { "yes", "must be true" }, { { path = 3 }, "path must be a non%-empty string" },
      { { dir = "/tmp" }, "unknown field dir" } }) do
      local p, err = provider(a, c[1])
      assert.is_nil(p)
      assert.matches(c[2], err.message)
    end
  end)
end)
