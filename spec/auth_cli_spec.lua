-- The Azure CLI credential, with stand-in `az` scripts this spec writes: the command
-- line it runs, the token it reads (accepted by the emulator), expiry and renewal on an
-- injected clock, and the refusals (missing, not logged in, too slow, odd output).
local auth = require "graphcomm.auth"
local graphcomm = require "graphcomm"
local certs = require "helpers.certs"
local tokens = require "helpers.tokens"

local env = tokens.env

describe("Azure CLI credential", function()
  local server, ctl, kit
  setup(function() server, ctl, kit = tokens.start() end)
  teardown(function() tokens.stop(server, kit) end)

  local n = 0
  local function script(body)
    n = n + 1
    local path = kit.dir .. "/az-" .. n
    certs.write(path, "#!/bin/sh\n" .. body .. "\n")
    assert(os.execute("chmod 700 " .. path))
    return path
  end

  -- An az that records its arguments and prints what the real one prints.
  local function good_az(json)
    local args = kit.dir .. "/args-" .. (n + 1)
    return script("printf '%s\\n' \"$@\" > " .. args .. "\ncat <<'EOF'\n" .. json .. "\nEOF"), args
  end

  local function output(token, expires_on)
    return ('{ "accessToken": "%s", "expiresOn": "2030-01-01 10:00:00.000000", "expires_on": %d,'
      .. ' "subscription": "sub", "tenant": "tenant", "tokenType": "Bearer" }'):format(token, expires_on)
  end

  local function provider(cli, deps, extra)
    local opts = { base_url = server.base_url, azure_cli = cli }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return auth.new(auth.resolve(opts, env({})), deps or {})
  end

  it("runs az account get-access-token for the Graph resource and reads the token", function()
    local az, args = good_az(output(server.token, os.time() + 3600))
    local p = assert(provider({ path = az }))
    assert.equal("Azure CLI", p.kind)
    assert.equal(server.token, p:get())
    assert.same({ "account", "get-access-token", "--resource", server.base_url, "--output", "json" },
      (function() local t = {} for l in certs.read(args):gmatch("[^\n]+") do t[#t + 1] = l end return t end)())
  end)

  it("adds --tenant when tenant_id is given, and works through connect", function()
    local az, args = good_az(output(server.token, os.time() + 3600))
    local client = assert(graphcomm.connect({ base_url = server.base_url, azure_cli = { path = az },
      tenant_id = "my-tenant", getenv = env({}) }))
    local crid = ctl.generate(1)
    assert(client:get_call_record(crid))
    assert.matches("\n%-%-tenant\nmy%-tenant\n", certs.read(args))
    client:close()
  end)

  it("is found through GRAPHCOMM_AZURE_CLI and GRAPHCOMM_AZURE_CLI_PATH", function()
    local az = good_az(output(server.token, os.time() + 3600))
    local o = auth.resolve({ base_url = server.base_url }, env({ GRAPHCOMM_AZURE_CLI = "1", GRAPHCOMM_AZURE_CLI_PATH = az }))
    assert.is_true(o.azure_cli)
    assert.equal(server.token, assert(auth.new(o, {})):get())
  end)

  it("caches the token until near expires_on and runs az again after", function()
    local counter = kit.dir .. "/runs"
    local az = script("echo x >> " .. counter .. "\ncat <<EOF\n" .. output("tok-$(wc -l < " .. counter .. ")",
      os.time() + 3600) .. "\nEOF")
    local now = 0
    local p = assert(provider({ path = az }, { now = function() return now end }))
    assert.equal("tok-1", p:get())
    now = 3600 - 310
    assert.equal("tok-1", p:get())
    now = 3600 - 290
    assert.equal("tok-2", p:get())
  end)

  it("reads expiresOn (local time) from older CLIs", function()
    local at = os.date("%Y-%m-%d %H:%M:%S", os.time() + 1800) .. ".123456"
    local az = good_az(('{ "accessToken": "old-cli-token", "expiresOn": "%s", "tokenType": "Bearer" }'):format(at))
    local now = 0
    local p = assert(provider({ path = az }, { now = function() return now end }))
    assert.equal("old-cli-token", p:get())
    now = 1800 - 310
    assert.equal("old-cli-token", p:get())
  end)

  it("says clearly when az is missing, not logged in, too slow or says nothing useful", function()
    local cases = {
      { { path = kit.dir .. "/no-such-az" }, "Azure CLI not found or not executable" },
      { { path = script("echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1") },
        "Azure CLI is not logged in: run az login" },
      { { path = script("exec sleep 30"), timeout = 0.3 }, "did not answer within 0%.3 s" },
      { { path = script("echo 'not json'") }, "gave no accessToken" },
      { { path = script("echo 'ERROR: something else' >&2\nexit 3") }, "Azure CLI failed %(exit 3%): ERROR: something else" },
      { { path = script("echo '{\"accessToken\": \"a\\nb\", \"expires_on\": 1}'") }, "CR, LF or NUL" },
    }
    for _, c in ipairs(cases) do
      local p = assert(provider(c[1]))
      local token, err = p:get()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.matches(c[2], err.message)
    end
  end)

  it("refuses bad azure_cli values", function()
    for _, c in ipairs({ { "yes", "must be true or a table" }, { { timeout = -1 }, "timeout must be" },
      { { timeout = "5" }, "timeout must be" }, { { path = "" }, "path must be a non%-empty string" },
      { { paht = "az" }, "unknown field paht" }, { { path = "a\nb" }, "control characters" } }) do
      local p, err = provider(c[1])
      assert.is_nil(p)
      assert.matches(c[2], err.message)
    end
    local p, err = provider({ path = "az" }, nil, { tenant_id = "bad tenant'" })
    assert.is_nil(p)
    assert.matches("tenant_id has characters", err.message)
  end)
end)
