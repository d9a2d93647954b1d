-- The errors a newcomer meets first, as the command line says them: each names what to
-- do, in the user's terms (environment variables, commands), and nothing is sent.
local emu = require "helpers.emulator"
local cmd = require "helpers.command"

local CRID = "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80"

local graphcomm = cmd.graphcomm

describe("graphcomm's first errors", function()
  local server
  setup(function() server = emu.shared() end)

  it("a 401 says to check the token, its expiry and its audience", function()
    local env = { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = "not-the-token" }
    local code, out, err = graphcomm({ "get", CRID }, env)
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("401", 1, true), err)
    for _, word in ipairs({ "GRAPHCOMM_TOKEN", "expired", "audience (aud)", server.base_url }) do
      assert.truthy(err:find(word, 1, true), word .. " in " .. err)
    end
    assert.falsy(err:find("not-the-token", 1, true))
  end)

  it("no credentials names the variables to set, not Lua option names", function()
    local code, out, err = graphcomm({ "get", CRID }, { GRAPHCOMM_BASE_URL = server.base_url })
    assert.equal(2, code)
    assert.equal("", out)
    for _, word in ipairs({ "no credentials", "GRAPHCOMM_TOKEN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET" }) do
      assert.truthy(err:find(word, 1, true), word .. " in " .. err)
    end
    assert.falsy(err:find("managed_identity = true", 1, true), err)
    assert.falsy(err:find("explicit options", 1, true), err)
    assert.equal(1, select(2, err:gsub("\n", "")))        -- one line
    code, _, err = graphcomm({ "apply", "-" }, { GRAPHCOMM_BASE_URL = server.base_url })
    assert.equal(2, code)
    assert.truthy(err:find("graphcomm apply: no credentials: set GRAPHCOMM_TOKEN", 1, true), err)
  end)

  it("a base URL ending in /v1.0 or /beta is refused, saying to drop it; nothing is sent", function()
    for _, suffix in ipairs({ "/v1.0", "/v1.0/", "/beta", "/V1.0" }) do
      local env = { GRAPHCOMM_BASE_URL = server.base_url .. suffix, GRAPHCOMM_TOKEN = server.token }
      local code, out, err = graphcomm({ "get", CRID }, env)
      assert.equal(2, code, suffix)
      assert.equal("", out)
      assert.truthy(err:find("GRAPHCOMM_BASE_URL must not end in /" .. suffix:lower():gsub("/$", ""):sub(2), 1, true), err)
      assert.truthy(err:find("drop it", 1, true), err)
    end
    -- and the library: connect refuses it the same way; a path before it is fine
    local graphcomm_lib = require "graphcomm"
    local c, err = graphcomm_lib.connect { base_url = "http://127.0.0.1:9/v1.0", token = "t" }
    assert.is_nil(c)
    assert.equal("validation", err.kind)
    assert.truthy(tostring(err):find("must not end in /v1.0", 1, true))
    c = assert(graphcomm_lib.connect { base_url = "http://127.0.0.1:9/v1.0x", token = "t" })
    c:close()
    c = assert(graphcomm_lib.connect { base_url = "http://127.0.0.1:9/graph/", token = "t" })
    c:close()
  end)

  it("an untrusted certificate says to set GRAPHCOMM_CA_FILE", function()
    local tls = emu.start { tls = true }
    local code, out, err = graphcomm({ "get", CRID }, { GRAPHCOMM_BASE_URL = tls.base_url,
      GRAPHCOMM_TOKEN = tls.token })
    local code2, out2 = graphcomm({ "get", CRID, "--select", "id" }, { GRAPHCOMM_BASE_URL = tls.base_url,
      GRAPHCOMM_TOKEN = tls.token, GRAPHCOMM_CA_FILE = tls.ca_file })
    tls.stop()
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("set GRAPHCOMM_CA_FILE", 1, true), err)
    assert.truthy(err:find("graphcomm emulator --tls", 1, true), err)
    assert.equal(0, code2)
    assert.truthy(out2:find(CRID, 1, true))
  end)

  it("a journal whose folder is missing says to make it, not 'validation failed'", function()
    local fixes = os.tmpname()
    local f = assert(io.open(fixes, "w"))
    f:write('{"callRecordId": "' .. CRID .. '", "sessionId": "s", "body": {"isTest": true}}\n')
    f:close()
    local before = #server:requests()
    local code, out, err = graphcomm({ "apply", fixes, "--journal", "/nonexistent-graphcomm/j.journal" },
      { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token })
    os.remove(fixes)
    assert.equal(2, code)
    assert.equal("", out)
    assert.truthy(err:find("mkdir -p /nonexistent-graphcomm", 1, true), err)
    assert.falsy(err:find("validation failed", 1, true), err)
    assert.equal(before, #server:requests())
  end)

  it("warns that call records are not offered in 21Vianet's China cloud", function()
    -- --what-if sends nothing: no traffic leaves 127.0.0.1
    local code, _, err = graphcomm({ "update", CRID, "s", "--set", "isTest=true", "--what-if" },
      { GRAPHCOMM_BASE_URL = "https://microsoftgraph.chinacloudapi.cn", GRAPHCOMM_TOKEN = "t" })
    assert.equal(0, code, err)
    assert.truthy(err:find("graphcomm: warning: call records are not offered in the China cloud operated by 21Vianet",
      1, true), err)
    local lines = {}
    local c = assert(require("graphcomm").connect { environment = "China", token = "t",
      debug = function(line) lines[#lines + 1] = line end })
    c:close()
    assert.equal(1, #lines)
    assert.matches("^%* warning: call records are not offered in the China cloud", lines[1])
    lines = {}
    c = assert(require("graphcomm").connect { environment = "Global", token = "t",
      debug = function(line) lines[#lines + 1] = line end })
    c:close()
    assert.equal(0, #lines)
    local _, _, err2 = graphcomm({ "update", CRID, "s", "--set", "isTest=true", "--what-if" },
      { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = "t" })
    assert.falsy(err2:find("warning", 1, true))
  end)
end)
