-- The transports' kept URL (csrc/http/transfer.c set_url): each handle keeps the last URL
-- parsed in a CURLU and, for the same origin and a plain path, sets only the path and
-- query. What goes out must be what a full parse of the URL sends: other origins,
-- percent-encodings, queries, a bad URL between good ones, and no Accept-Encoding on
-- a PATCH from either transport; and the emulator's sized tokens the benchmarks use.
local core = require "graphcomm.core"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

describe("the transports' kept URL", function()
  local e, crid, sid

  setup(function()
    e = emu.shared()
    crid, sid = clients.first_ids(e)
  end)

  before_each(function() clients.fresh(e) end)

  local function get(path, base)
    return { method = "GET", url = (base or e.base_url) .. path,
      headers = { "Authorization: Bearer " .. e.token } }
  end

  local function logged()
    local out = {}
    for _, r in ipairs(e:requests()) do out[#out + 1] = r end
    return out
  end

  it("sends each path and query as built, through one parse or many", function()
    local h = core.http()
    local paths = {
      "/v1.0/communications/callRecords?$top=1",
      "/v1.0/communications/callRecords/" .. crid,
      "/v1.0/communications/callRecords/" .. crid .. "/sessions?$top=2&$skip=1",
      "/v1.0/communications/callRecords/no%20such%2Frecord%3F",   -- '%': parsed in full
      "/v1.0/communications/callRecords/" .. crid,
    }
    for _, p in ipairs(paths) do
      local resp = assert(h:send(get(p)))
      assert.is_number(resp.status)
    end
    h:close()
    local log = logged()
    assert.equal(#paths, #log)
    for i, p in ipairs(paths) do assert.equal(p, log[i].path) end
  end)

  it("follows a change of origin on the same handle, and back", function()
    local h = core.http()
    local p = "/v1.0/communications/callRecords/" .. crid
    local first = assert(h:send(get(p)))
    local other = assert(h:send(get(p, "http://localhost:" .. e.base_url:match(":(%d+)$"))))
    local back = assert(h:send(get(p)))
    h:close()
    assert.equal(200, first.status)
    assert.equal(200, other.status)
    assert.equal(200, back.status)
    assert.equal(1, other.new_connections)   -- a new origin: a new connection
    local log = logged()
    assert.equal(3, #log)
    assert.matches("^localhost:", log[2].headers.host)
    assert.matches("^127%.0%.0%.1:", log[3].headers.host)
  end)

  it("reports a bad URL after good ones as libcurl does, then carries on", function()
    local h = core.http()
    local p = "/v1.0/communications/callRecords/" .. crid
    assert.equal(200, assert(h:send(get(p))).status)
    local resp, err = h:send{ method = "GET", url = "http://[::1" .. p }
    assert.is_nil(resp)
    assert.equal("transport", err.kind)
    assert.equal("bad_url", err.code)
    resp, err = h:send{ method = "GET", url = e.base_url .. "/v1.0/has space" }
    assert.is_nil(resp)
    assert.equal("bad_url", err.code)
    assert.equal(200, assert(h:send(get(p))).status)
    h:close()
  end)

  it("sends no Accept-Encoding on a PATCH from either transport, and asks for it on a GET", function()
    local body = '{"isTest":true}'
    local patch = { method = "PATCH", body = body,
      url = e.base_url .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid,
      headers = { "Authorization: Bearer " .. e.token, "Content-Type: application/json" } }
    local h = core.http()
    assert.equal(204, assert(h:send(patch)).status)
    assert.equal(200, assert(h:send(get("/v1.0/communications/callRecords/" .. crid))).status)
    h:close()
    local m = core.multi{ concurrency = 2 }
    m:add(patch, "a")
    m:add(patch, "b")
    local n, deadline = 0, core.now() + 10
    while n < 2 and core.now() < deadline do
      local k, out = m:poll(1)
      for i = 0, k - 1 do assert.equal(204, out[3 * i + 2].status) end
      n = n + k
    end
    m:close()
    assert.equal(2, n)
    local log = logged()
    assert.equal(4, #log)
    assert.is_nil(log[1].headers["accept-encoding"])
    assert.is_string(log[2].headers["accept-encoding"])
    assert.is_nil(log[3].headers["accept-encoding"])
    assert.is_nil(log[4].headers["accept-encoding"])
  end)
end)

-- The benchmarks' long bearer token (bench/PROFILE.md): POST /_emulator/tokens.
describe("the emulator's sized tokens", function()
  local e
  setup(function() e = emu.shared() end)

  it("mints a JWT-shaped token of about the size asked for, which the Graph side accepts", function()
    local t = e:control("POST", "tokens", { bytes = 1500 }).access_token
    assert.is_true(#t >= 1450 and #t <= 1550, "got " .. #t .. " bytes")
    assert.matches("^[%w_-]+%.[%w_-]+%.[%w_-]+$", t)
    local status = e:request("GET", "/v1.0/communications/callRecords?$top=1", nil,
      { Authorization = "Bearer " .. t })
    assert.equal(200, status)
  end)

  it("refuses a size that is missing, not whole, or out of range", function()
    for _, body in ipairs({ "{}", '{"bytes":"1500"}', '{"bytes":99}', '{"bytes":16385}',
      '{"bytes":150.5}', "not json" }) do
      local status = emu.http("POST", e.base_url .. "/_emulator/tokens", body)
      assert.equal(400, status, body)
    end
  end)
end)
