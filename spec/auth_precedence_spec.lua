-- The credential chain: explicit options, GRAPHCOMM_TOKEN, the AZURE_* secret,
-- certificate and federated token, managed identity (only when enabled), the Azure
-- CLI (only when enabled); and the "no credentials" error naming every source looked
-- at and why it was passed over, with no value of any variable in it.
local auth = require "graphcomm.auth"
local tokens = require "helpers.tokens"

local env = tokens.env

local function resolve(vars, opts)
  return auth.resolve(opts or { base_url = "http://127.0.0.1:9" }, env(vars))
end

local function kind_of(vars, opts)
  local o = resolve(vars, opts)
  for _, k in ipairs({ "token", "client_secret", "client_certificate", "federated_token_file",
                       "managed_identity", "azure_cli" }) do
    if o[k] ~= nil then return k end
  end
  return nil
end

describe("the credential chain", function()
  local ids = { AZURE_TENANT_ID = "tenant-1", AZURE_CLIENT_ID = "client-1" }
  local function with(extra)
    local v = {}
    for k, x in pairs(ids) do v[k] = x end
    for k, x in pairs(extra) do v[k] = x end
    return v
  end

  it("goes in the documented order", function()
    local all = with({ GRAPHCOMM_TOKEN = "tok", AZURE_CLIENT_SECRET = "sec",
      AZURE_CLIENT_CERTIFICATE_PATH = "/c.pem", AZURE_FEDERATED_TOKEN_FILE = "/f",
      GRAPHCOMM_MANAGED_IDENTITY = "1", GRAPHCOMM_AZURE_CLI = "1" })
    local order = { { "GRAPHCOMM_TOKEN", "token" }, { "AZURE_CLIENT_SECRET", "client_secret" },
      { "AZURE_CLIENT_CERTIFICATE_PATH", "client_certificate" },
      { "AZURE_FEDERATED_TOKEN_FILE", "federated_token_file" },
      { "GRAPHCOMM_MANAGED_IDENTITY", "managed_identity" }, { "GRAPHCOMM_AZURE_CLI", "azure_cli" } }
    for _, step in ipairs(order) do
      assert.equal(step[2], kind_of(all), step[1])
      all[step[1]] = nil
    end
    assert.is_nil(kind_of(all))
  end)

  it("lets any explicit credential option win over every variable", function()
    local all = with({ GRAPHCOMM_TOKEN = "tok", AZURE_CLIENT_SECRET = "sec" })
    for _, k in ipairs({ "client_certificate", "federated_token_file", "managed_identity", "azure_cli" }) do
      local o = resolve(all, { [k] = k == "managed_identity" and true or (k == "azure_cli" and true or "/x") })
      assert.is_nil(o.token, k)
      assert.is_nil(o.client_secret, k)
    end
  end)

  it("passes over an AZURE_* credential without its ids, and says so", function()
    assert.equal("managed_identity", kind_of({ AZURE_CLIENT_SECRET = "sec", AZURE_TENANT_ID = "t",
      GRAPHCOMM_MANAGED_IDENTITY = "1" }))
    local o = resolve({ AZURE_CLIENT_SECRET = "the-secret-value", AZURE_TENANT_ID = "t" })
    local p, err = auth.new(o, { send = function() error("nothing may be sent") end })
    assert.is_nil(p)
    local text = tostring(err)
    assert.matches("AZURE_CLIENT_SECRET: set, but AZURE_CLIENT_ID not", text)
    assert.is_nil(text:find("the-secret-value", 1, true))
  end)

  it("names every source tried and why it was skipped", function()
    local _, err = auth.new(resolve({}), {})
    local text = tostring(err)
    assert.equal("auth", err.kind)
    for _, part in ipairs({ "explicit options: none given", "GRAPHCOMM_TOKEN: not set",
      "AZURE_CLIENT_SECRET: not set", "AZURE_CLIENT_CERTIFICATE_PATH: not set",
      "AZURE_FEDERATED_TOKEN_FILE: not set",
      "managed identity: not enabled %(managed_identity = true or GRAPHCOMM_MANAGED_IDENTITY=1%)",
      "Azure CLI: not enabled %(azure_cli = true or GRAPHCOMM_AZURE_CLI=1%)" }) do
      assert.matches(part, text)
    end
  end)

  it("says when an enabling variable has a value it does not understand", function()
    local _, err = auth.new(resolve({ GRAPHCOMM_MANAGED_IDENTITY = "sometimes", GRAPHCOMM_AZURE_CLI = "perhaps" }), {})
    local text = tostring(err)
    assert.matches("GRAPHCOMM_MANAGED_IDENTITY has a value graphcomm does not understand", text)
    assert.matches("GRAPHCOMM_AZURE_CLI has a value graphcomm does not understand", text)
    assert.is_nil(text:find("sometimes", 1, true))
  end)

  it("treats empty variables as unset and accepts true/yes/1 and imds", function()
    assert.is_nil(kind_of({ GRAPHCOMM_TOKEN = "", GRAPHCOMM_MANAGED_IDENTITY = "0" }))
    for _, v in ipairs({ "1", "true", "TRUE", "yes", "imds" }) do
      assert.equal("managed_identity", kind_of({ GRAPHCOMM_MANAGED_IDENTITY = v }))
    end
    assert.is_true(resolve({ GRAPHCOMM_MANAGED_IDENTITY = "imds" })._env.default_imds)
    assert.is_nil(resolve({ GRAPHCOMM_MANAGED_IDENTITY = "1" })._env.default_imds)
  end)

  it("turns the file cache on with GRAPHCOMM_TOKEN_CACHE", function()
    assert.is_true(resolve({ GRAPHCOMM_TOKEN_CACHE = "1" }).token_cache)
    assert.is_nil(resolve({}).token_cache)
    assert.equal(false, resolve({ GRAPHCOMM_TOKEN_CACHE = "1" }, { token_cache = false }).token_cache)
  end)
end)
