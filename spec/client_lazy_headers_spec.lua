-- Response headers (issue 14): the libcurl transports keep the header block (resp.head,
-- as received, unless head = false) and build resp.headers and the two ids from it in C,
-- in one pass; the response and a result's info are plain tables with their headers in
-- them. The client's own transport leaves head out and its answer becomes the info.
local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local FIELDS = { body = true, client_request_id = true, headers = true, http_version = true,
  request_id = true, status = true }

-- The set of names pairs(t) lists.
local function listed(t)
  local seen = {}
  for k in pairs(t) do seen[k] = true end
  return seen
end

describe("lazy response headers", function()
  local e, client, crid, sid

  setup(function()
    e = emu.shared()
    client = clients.connect(e)
    crid, sid = clients.ids(client)
  end)

  teardown(function() client:close() end)

  before_each(function() clients.fresh(e) end)

  local function update()
    local ok, info = client:update_session(crid, sid, { modalities = { "audio" } })
    assert.is_true(ok, info)
    return info
  end

  it("gives info.headers as a plain table of lower-case names, the ids agreeing", function()
    local info = update()
    local h = info.headers
    assert.is_table(h)
    assert.is_nil(getmetatable(h))
    assert.equal(h, info.headers)                    -- built once, then kept
    assert.equal(h, rawget(info, "headers"))
    assert.is_string(h["request-id"])
    assert.equal(h["request-id"], info.request_id)
    assert.equal(h["client-request-id"], info.client_request_id)
    for k, v in pairs(h) do
      assert.equal(k:lower(), k)
      assert.is_string(v)
    end
    assert.is_nil(h["Request-Id"])
    assert.is_nil(info.no_such_field)
  end)

  it("gives info as a plain table: pairs and cjson.encode see headers at once", function()
    local info = update()
    assert.is_nil(getmetatable(info))
    assert.same(FIELDS, listed(info))
    local text = require("cjson").encode(info)
    assert.truthy(text:find('"headers":{', 1, true), text)
  end)

  it("reads mixed-case and repeated ids as the headers table does", function()
    e:fault({ match = "/sessions/" .. sid, method = "PATCH", status = 204,
      headers = { ["X-Mixed-Case"] = "Value", ["Request-ID"] = "second-id",
        ["CLIENT-request-ID"] = "their-id" }, body = "" })
    local info = update()
    assert.equal("Value", info.headers["x-mixed-case"])
    assert.matches("second%-id", info.headers["request-id"])
    assert.equal(info.headers["request-id"], info.request_id)
    assert.matches("their%-id", info.headers["client-request-id"])
    assert.equal(info.headers["client-request-id"], info.client_request_id)
  end)

  it("keeps the block as received and builds resp.headers at once in core.http", function()
    local h = core.http{}
    local resp = assert(h:send{ method = "GET", url = e.base_url .. "/v1.0/communications/callRecords/"
      .. crid .. "?$select=id", headers = { "Authorization: Bearer " .. e.token } })
    h:close()
    assert.equal(200, resp.status)
    assert.matches("^HTTP/[%d.]+ 200", resp.head)
    assert.matches("\nContent%-Type: ", resp.head)          -- names not lower-cased in head
    assert.is_nil(getmetatable(resp))
    local headers = rawget(resp, "headers")
    assert.is_table(headers)
    assert.is_nil(getmetatable(headers))
    assert.matches("^application/json", headers["content-type"])
    assert.equal(headers["request-id"], resp.request_id)
    assert.equal(headers["client-request-id"], resp.client_request_id)
    assert.is_nil(resp.something_else)
  end)

  it("gives the same plain response from core.multi, ids from the headers", function()
    local m = core.multi{}
    m:add({ method = "GET", url = e.base_url .. "/v1.0/communications/callRecords/" .. crid
      .. "?$select=id", headers = { "Authorization: Bearer " .. e.token } }, "key")
    local n, out = 0, nil
    while n == 0 do n, out = m:poll(5) end
    m:close()
    assert.equal("key", out[1])
    local resp = assert(out[2], out[3])
    assert.equal(200, resp.status)
    assert.is_nil(getmetatable(resp))
    assert.matches("\nContent%-Type: ", resp.head)
    local headers = rawget(resp, "headers")
    assert.matches("^application/json", headers["content-type"])
    assert.is_string(resp.request_id)
    assert.equal(headers["request-id"], resp.request_id)
    assert.equal(headers["client-request-id"], resp.client_request_id)
  end)

  it("leaves head out of core.http's and core.multi's answers with head = false", function()
    local req = { method = "GET", url = e.base_url .. "/v1.0/communications/callRecords/" .. crid
      .. "?$select=id", headers = { "Authorization: Bearer " .. e.token } }
    local h = core.http{ head = false }
    local resp = assert(h:send(req))
    h:close()
    local m = core.multi{ head = false }
    m:add(req, "key")
    local n, out = 0, nil
    while n == 0 do n, out = m:poll(5) end
    m:close()
    for _, r in ipairs{ resp, assert(out[2], out[3]) } do
      assert.equal(200, r.status)
      assert.is_nil(r.head)
      assert.matches("^application/json", r.headers["content-type"])
      assert.equal(r.headers["request-id"], r.request_id)
      assert.is_string(r.request_id)
    end
  end)

  it("refuses a head option that is not a boolean, in both transports", function()
    for _, make in ipairs{ core.http, core.multi } do
      local ok, err = pcall(make, { head = "no" })
      assert.is_false(ok)
      assert.matches("head must be a boolean, got string", err)
    end
  end)

  it("gives a caller's transport's answer back untouched, the info a table of its own", function()
    local h = core.http{}
    local kept
    local c = graphcomm.connect{ base_url = e.base_url, token = e.token, transport = {
      send = function(req)
        local resp, err = h:send(req)
        kept = resp
        return resp, err
      end } }
    local ok, info = c:update_session(crid, sid, { modalities = { "audio" } })
    c:close()
    h:close()
    assert.is_true(ok, info)
    assert.are_not.equal(kept, info)
    assert.same(FIELDS, listed(info))
    assert.is_string(kept.head)                  -- the caller's table keeps its fields
    assert.is_number(kept.new_connections)
    assert.equal(kept.headers, info.headers)
  end)

  it("takes the request's id into an own answer that has none", function()
    local response = require "graphcomm.response"
    local resp = { status = 204, headers = {}, body = "", http_version = 1.1, new_connections = 0 }
    local ok, info = response.result(resp, { client_request_id = "the-request-id" }, true)
    assert.is_true(ok)
    assert.equal(resp, info)
    assert.equal("the-request-id", info.client_request_id)
    assert.is_nil(info.new_connections)
    assert.is_nil(info.request_id)
  end)
end)
