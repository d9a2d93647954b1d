-- One easy handle carries request after request (issue 14): the transports set on a
-- handle only the options that differ from its previous request (method, body size,
-- path, query, Accept-Encoding, timeouts), so a sequence that changes each of them in
-- turn must arrive at the server exactly as sent, on core.http and on a core.multi slot.
local core = require "graphcomm.core"
local cjson = require "cjson"
local emu = require "helpers.emulator"

-- method, path (after the base), body (nil: none)
local SEQUENCE = {
  { "PATCH", "/a", '{"x":1}' },
  { "PATCH", "/a", '{"x":22}' },            -- a longer body
  { "PATCH", "/a", '{"x":33}' },            -- another body of the same size
  { "GET", "/a?$select=id" },
  { "GET", "/a" },                          -- the query dropped
  { "GET", "/b?$top=1" },
  { "HEAD", "/b" },
  { "DELETE", "/b" },
  { "POST", "/b", '{"p":1}' },
  { "PUT", "/c" },                          -- a body method without a body
  { "PATCH", "/a", '{"x":1}' },
  { "GET", "/a" },
}

local PREFIX = "/v1.0/communications/callRecords/reuse"

local function request(e, step)
  return { method = step[1], url = e.base_url .. PREFIX .. step[2], body = step[3],
    headers = { "Authorization: Bearer " .. e.token } }
end

-- The logged requests against SEQUENCE: method, path and query, body, and
-- Accept-Encoding asked for by reads (GET, POST) only.
local function check_log(e)
  local log = e:requests()
  assert.equal(#SEQUENCE, #log)
  for i, step in ipairs(SEQUENCE) do
    local r = log[i]
    local what = ("request %d (%s %s)"):format(i, step[1], step[2])
    assert.equal(step[1], r.method, what)
    assert.equal(PREFIX .. step[2], r.path, what)
    local body = r.body ~= cjson.null and r.body or ""
    assert.equal(step[3] or "", body, what)
    local reads = step[1] == "GET" or step[1] == "POST"
    assert.equal(reads, r.headers["accept-encoding"] ~= nil, what)
  end
end

describe("a transport's handle reused for changing requests", function()
  local e

  setup(function() e = emu.shared() end)
  before_each(function() e:clear_requests() end)
  after_each(function() e:clear_faults() end)

  it("sends each request of core.http as asked", function()
    local h = core.http{}
    for _, step in ipairs(SEQUENCE) do
      local resp, err = h:send(request(e, step))
      assert.is_table(resp, err and err.message)
    end
    h:close()
    check_log(e)
  end)

  it("sends each request of a core.multi slot as asked", function()
    local m = core.multi{ concurrency = 1 }
    for i, step in ipairs(SEQUENCE) do
      m:add(request(e, step), i)
      local n, out = 0, nil
      while n == 0 do n, out = m:poll(5) end
      assert.equal(i, out[1])
      assert.is_table(out[2], out[3] and out[3].message)
    end
    assert.equal(1, m:stats().handles)                 -- one slot carried them all
    m:close()
    check_log(e)
  end)

  it("sends every header line of a long list, on both transports", function()
    local headers = { "Authorization: Bearer " .. e.token }
    for k = 1, 24 do headers[#headers + 1] = ("X-Line-%d: value %d"):format(k, k) end
    local req = { method = "GET", url = e.base_url .. PREFIX .. "/a", headers = headers }
    local h = core.http{}
    assert.is_table((h:send(req)))
    h:close()
    local m = core.multi{}
    m:add(req, 1)
    local n = 0
    while n == 0 do n = m:poll(5) end
    m:close()
    local log = e:requests()
    assert.equal(2, #log)
    for _, r in ipairs(log) do
      for k = 1, 24 do assert.equal("value " .. k, r.headers["x-line-" .. k]) end
      assert.equal("Bearer " .. e.token, r.headers.authorization)
    end
  end)

  it("applies a request's own timeout, and the handle's again after it", function()
    e:fault{ match = PREFIX .. "/slow", delay_ms = 400, count = -1 }
    local h = core.http{}
    local slow = { method = "GET", url = e.base_url .. PREFIX .. "/slow", headers = {} }
    local function with_timeout(t)
      return { method = slow.method, url = slow.url, headers = slow.headers, timeout = t }
    end
    local resp, err = h:send(with_timeout(0.1))
    assert.is_nil(resp)
    assert.equal("timeout", err.code)
    resp, err = h:send(slow)
    assert.is_table(resp, err and err.message)
    resp, err = h:send(with_timeout(0.1))
    assert.is_nil(resp)
    assert.equal("timeout", err.code)
    h:close()
  end)

  -- The transports read req's fields with its metatable honoured: a __index that
  -- rewrites the header list and collects garbage must not leave C holding the old
  -- lines (under ASan a line read after it was freed aborts); the list sent is the one
  -- the table holds once every field is read.
  it("sends the header list as it is after a metamethod of the request rewrote it", function()
    local function tricky(url)
      local lines = { "X-Line: " .. ("old"):rep(40), "Authorization: Bearer " .. e.token }
      return setmetatable({ method = "GET", url = url, headers = lines }, {
        __index = function(_, k)
          if k == "timeout" then
            lines[1] = "X-Line: " .. ("new"):rep(40)
            collectgarbage()
            collectgarbage()
          end
        end })
    end
    local h = core.http{}
    local resp, err = h:send(tricky(e.base_url .. PREFIX .. "/a"))
    assert.is_table(resp, err and err.message)
    h:close()
    local m = core.multi{}
    m:add(tricky(e.base_url .. PREFIX .. "/b"), 1)
    local n = 0
    while n == 0 do n = m:poll(5) end
    m:close()
    local log = e:requests()
    assert.equal(2, #log)
    for _, r in ipairs(log) do assert.equal(("new"):rep(40), r.headers["x-line"]) end
  end)
end)
