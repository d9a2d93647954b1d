-- The request builder and the client's option handling, without a network.
local request = require "graphcomm.request"
local options = require "graphcomm.options"

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function cfg(opts, env)
  local c, err = options.config(opts or {}, function(name) return (env or {})[name] end)
  assert(c, tostring(err))
  return c
end

local function header(req, name)
  for _, line in ipairs(req.headers) do
    local n, v = line:match("^([^:]+):%s*(.*)$")
    if n:lower() == name:lower() then return v end
  end
end

describe("request.session_path", function()
  it("percent-encodes ids, keeping RFC 3986 unreserved characters", function()
    assert.equal("/communications/callRecords/a-b_c.d~e/sessions/A%20B%2FC%3F%23%25",
      request.session_path("a-b_c.d~e", "A B/C?#%"))
    assert.equal("/communications/callRecords/%C3%A9/sessions/1",
      request.session_path("\195\169", "1"))
  end)

  it("refuses empty and non-string ids", function()
    local p, err = request.session_path("", "x")
    assert.is_nil(p)
    assert.equal("validation", err.kind)
    assert.equal("CallRecordId", err.errors[1].path)
    p, err = request.session_path("x", {})
    assert.is_nil(p)
    assert.equal("SessionId", err.errors[1].path)
  end)
end)

describe("request.check_url", function()
  it("allows https anywhere and http only to loopback", function()
    assert.truthy(request.check_url("https://graph.microsoft.com/v1.0"))
    for _, u in ipairs({ "http://127.0.0.1:8080/x", "http://127.9.9.9/", "http://localhost:1",
        "http://[::1]:9/" }) do
      assert.truthy(request.check_url(u), u)
    end
    for _, u in ipairs({ "http://graph.microsoft.com", "http://10.0.0.1/", "http://128.0.0.1/",
        "ftp://127.0.0.1/", "https://user@host/", "graph.microsoft.com" }) do
      local ok, err = request.check_url(u)
      assert.is_nil(ok, u)
      assert.equal("validation", err.kind)
    end
  end)

  it("compares origins by scheme, host and port", function()
    assert.is_true(request.same_origin("https://a.example/x", "https://A.example:443/y"))
    assert.is_false(request.same_origin("https://a.example/x", "http://a.example/x"))
    assert.is_false(request.same_origin("http://127.0.0.1:1/x", "http://127.0.0.1:2/x"))
    assert.is_false(request.same_origin("https://a.example/", "https://b.example/"))
  end)

  it("resolves Location headers", function()
    local base = "http://127.0.0.1:5/v1.0/a/b?x=1"
    assert.equal("http://127.0.0.1:5/z", request.resolve(base, "/z"))
    assert.equal("http://127.0.0.1:5/v1.0/a/c", request.resolve(base, "c"))
    assert.equal("https://x.example/q", request.resolve(base, "https://x.example/q"))
    assert.equal("http://h:1/q", request.resolve(base, "//h:1/q"))
  end)
end)

describe("request.build", function()
  it("sends the headers Graph SDKs send", function()
    local c = cfg({ base_url = "https://graph.microsoft.com/" })
    local req = assert(request.build(c, { method = "PATCH",
      path = request.session_path("r", "s"), body = "{}" }, "Bearer T"))
    assert.equal("https://graph.microsoft.com/v1.0/communications/callRecords/r/sessions/s", req.url)
    assert.equal("PATCH", req.method)
    assert.equal("Bearer T", header(req, "Authorization"))
    assert.equal("application/json", header(req, "Content-Type"))
    assert.equal("application/json", header(req, "Accept"))
    local runtime = rawget(_G, "jit") and "LuaJIT 2.1" or _VERSION
    assert.equal("graphcomm-lua/" .. require("graphcomm.core").version
      .. " (hostOS=linux; runtimeEnvironment=" .. runtime .. ")", header(req, "SdkVersion"))
    assert.matches("^graphcomm%-lua/", header(req, "User-Agent"))
    assert.matches(UUID4, header(req, "client-request-id"))
    assert.equal(header(req, "client-request-id"), req.client_request_id)
    assert.equal(100, req.timeout)
    assert.equal(10, req.connect_timeout)
  end)

  it("gives every request a fresh id unless the caller gives one", function()
    local c = cfg({ base_url = "http://127.0.0.1:1" })
    local a = request.build(c, { path = "/x" }, "Bearer T")
    local b = request.build(c, { path = "/x" }, "Bearer T")
    assert.are_not.equal(a.client_request_id, b.client_request_id)
    local own = request.build(c, { path = "/x", headers = { ["Client-Request-Id"] = "mine-1" } })
    assert.equal("mine-1", own.client_request_id)
    assert.equal("mine-1", header(own, "client-request-id"))
    local c2 = cfg({ base_url = "http://127.0.0.1:1", headers = { ["client-request-id"] = "all" } })
    assert.equal("all", request.build(c2, { path = "/x" }).client_request_id)
  end)

  it("uses the chosen API version and user agent, and per-request headers", function()
    local c = cfg({ environment = "usgov", api_version = "beta", user_agent = "fixer/1",
      headers = { ["X-Team"] = "a" } })
    local req = request.build(c, { path = "/x", headers = { ["X-Team"] = "b", Prefer = "p" } })
    assert.equal("https://graph.microsoft.us/beta/x", req.url)
    assert.equal("fixer/1", header(req, "User-Agent"))
    assert.equal("b", header(req, "X-Team"))
    assert.equal("p", header(req, "Prefer"))
    local timed = request.build(cfg({ timeout = 7, connect_timeout = 3 }), { path = "/x" })
    assert.equal(7, timed.timeout)
    assert.equal(3, timed.connect_timeout)
  end)

  it("refuses CR, LF and NUL in header values and tokens", function()
    local c = cfg({ base_url = "http://127.0.0.1:1" })
    for _, bad in ipairs({ "a\rb", "a\nb", "a\0b" }) do
      local req, err = request.build(c, { path = "/x", headers = { ["X-A"] = bad } }, "Bearer T")
      assert.is_nil(req)
      assert.equal("validation", err.kind)
      req, err = request.build(c, { path = "/x" }, "Bearer " .. bad)
      assert.is_nil(req)
      assert.equal("auth", err.kind)
      assert.is_nil(options.config({ base_url = "http://127.0.0.1:1", headers = { X = bad } }))
    end
  end)

  it("drops credentials for another origin and counts retries", function()
    local c = cfg({ base_url = "http://127.0.0.1:1", headers = { Cookie = "c=1",
      ["Proxy-Authorization"] = "Basic x" } })
    local req = request.build(c, { url = "http://127.0.0.2:1/y", cross_origin = true,
      retry_attempt = 2 }, "Bearer T")
    assert.is_nil(header(req, "Authorization"))
    assert.is_nil(header(req, "Cookie"))
    assert.is_nil(header(req, "Proxy-Authorization"))
    assert.equal("2", header(req, "Retry-Attempt"))
    local same = request.build(c, { path = "/y" }, "Bearer T")
    assert.equal("c=1", header(same, "Cookie"))
    assert.is_nil(header(same, "Retry-Attempt"))
  end)

  it("redacts the token in the header map", function()
    local c = cfg({ base_url = "http://127.0.0.1:1" })
    local map = request.header_map(request.build(c, { path = "/x" }, "Bearer secret-token"))
    assert.equal("Bearer <redacted>", map.Authorization)
  end)

  it("builds OData queries in a stable order", function()
    assert.equal("?$select=id,modalities&$expand=sessions($expand=segments)&$top=10",
      request.query({ top = 10, ["$expand"] = "sessions($expand=segments)", select = "id,modalities" }))
    assert.equal("?$filter=startDateTime%20ge%202024-01-01T00:00:00Z",
      request.query({ filter = "startDateTime ge 2024-01-01T00:00:00Z" }))
  end)
end)

describe("options.config", function()
  it("has the documented defaults", function()
    local c = cfg()
    assert.equal("https://graph.microsoft.com/v1.0", c.prefix)
    assert.equal(100, c.timeout)
    assert.equal(10, c.connect_timeout)
    assert.equal(3, c.max_retries)
    assert.equal(180, c.max_retry_delay)
    assert.equal(16 * 1024 * 1024, c.max_response_bytes)
  end)

  it("knows the national clouds", function()
    assert.equal("https://graph.microsoft.us/v1.0", cfg({ environment = "USGov" }).prefix)
    assert.equal("https://dod-graph.microsoft.us/v1.0", cfg({ environment = "USGovDoD" }).prefix)
    assert.equal("https://microsoftgraph.chinacloudapi.cn/v1.0", cfg({ environment = "China" }).prefix)
    local c, err = options.config({ environment = "Mars" }, function() end)
    assert.is_nil(c)
    assert.equal("validation", err.kind)
  end)

  it("falls back to the environment, explicit options winning", function()
    local env = { GRAPHCOMM_BASE_URL = "http://127.0.0.1:9", GRAPHCOMM_CA_FILE = "/ca.pem" }
    local c = cfg({}, env)
    assert.equal("http://127.0.0.1:9/v1.0", c.prefix)
    assert.equal("/ca.pem", c.ca_file)
    c = cfg({ base_url = "https://graph.microsoft.com", ca_file = "/mine.pem" }, env)
    assert.equal("https://graph.microsoft.com/v1.0", c.prefix)
    assert.equal("/mine.pem", c.ca_file)
    assert.equal("https://graph.microsoft.us/v1.0", cfg({ environment = "USGov" }, env).prefix)
  end)

  it("refuses bad option values", function()
    for _, o in ipairs({ { max_retries = 11 }, { max_retries = -1 },
        { api_version = "v2" }, { http_version = "9" }, { base_url = "http://x.example" },
        { compress = -1 }, { compress = 0/0 }, { proxy = "http://p\r\n" } }) do
      local c, err = options.config(o, function() end)
      assert.is_nil(c)
      assert.equal("validation", err.kind)
    end
    assert.equal(10, cfg({ max_retries = 10 }).max_retries)
  end)

  it("raises for option values of the wrong type, naming the option", function()
    for name, v in pairs({ timeout = "x", debug = "yes", compress = "gzip", headers = "h" }) do
      local ok, err = pcall(options.check, { [name] = v }, options.CONNECT, "connect", 1)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'connect' %(option " .. name, err)
    end
  end)
end)
