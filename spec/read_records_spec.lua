-- client:get_session and client:get_call_record against the emulator, including the
-- nested paging of a record with 75 sessions (60 inline, the rest behind
-- sessions@odata.nextLink), retries on the way and failures of a later page.
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local BIG = "2f1a1100-b174-40a0-aba7-0b405e01ed92"      -- 75 sessions
local SMALL = "e523d2ed-2966-4b6b-925b-754a88034cc5"    -- 2 sessions

local function gets(server)
  local n, paths = 0, {}
  for _, r in ipairs(server:requests()) do
    if r.method == "GET" and r.path:find("/communications/", 1, true) then
      n = n + 1
      paths[n] = r.path
    end
  end
  return n, paths
end

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("reading records", function()
  local server, client, sids

  setup(function()
    server = emu.shared()
    client = clients.connect(server, { max_retries = 2 })
    sids = {}
    for s in assert(client:sessions(BIG, { select = "id" })) do sids[#sids + 1] = s.id end
  end)
  teardown(function()
    if client then client:close() end
  end)
  before_each(function() clients.fresh(server) end)

  describe("get_session", function()
    it("returns the session decoded, with the response's details", function()
      local s, info = client:get_session(BIG, sids[61])
      assert.is_table(s)
      assert.are.equal(sids[61], s.id)
      assert.is_table(s.modalities)
      assert.is_string(s.startDateTime)
      assert.are.equal(200, info.status)
      assert.is_string(info.request_id)
    end)

    it("sends the query, names with or without $", function()
      local s = assert(client:get_session(BIG, sids[1], { ["$select"] = "id,modalities" }))
      assert.are.equal(sids[1], s.id)
      assert.is_nil(s.startDateTime)
      assert.is_table(s.modalities)
      local _, paths = gets(server)
      assert.truthy(paths[1]:find("?$select=id,modalities", 1, true), paths[1])
    end)

    it("gives Graph's refusal as an error value", function()
      local s, err = client:get_session(BIG, "no-such-session")
      assert.is_nil(s)
      assert.are.equal("http", err.kind)
      assert.are.equal(404, err.status)
      assert.is_string(err.code)
      assert.is_string(err.request_id)
      assert.truthy(tostring(err):find("404", 1, true))
    end)

    it("refuses empty ids without sending anything", function()
      local s, err = client:get_session("", "x")
      assert.is_nil(s)
      assert.are.equal("validation", err.kind)
      s, err = client:get_call_record("")
      assert.is_nil(s)
      assert.are.equal("validation", err.kind)
      assert.are.equal(0, (gets(server)))
    end)
  end)

  describe("get_call_record", function()
    it("follows sessions@odata.nextLink until every session is in the record", function()
      local record, info = client:get_call_record(BIG, { expand = "sessions($expand=segments)" })
      assert.is_table(record, tostring(info))
      assert.are.equal(BIG, record.id)
      assert.are.equal(75, #record.sessions)
      assert.is_nil(record["sessions@odata.nextLink"])
      local seen = {}
      for i, s in ipairs(record.sessions) do
        assert.are.equal(sids[i], s.id)
        assert.is_nil(seen[s.id])
        seen[s.id] = true
        assert.is_true(#s.segments >= 1)
        assert.is_string(s.segments[1].media[1].streams[1].streamDirection)
      end
      local n, paths = gets(server)
      assert.are.equal(2, n)
      assert.truthy(paths[2]:find("$skiptoken=60", 1, true), paths[2])
      assert.truthy(paths[2]:find("$expand=segments", 1, true), paths[2])
    end)

    it("reads a record whole in one request when it has no more sessions than a page", function()
      local record = assert(client:get_call_record(SMALL, { expand = "sessions" }))
      assert.are.equal(2, #record.sessions)
      assert.are.equal(1, (gets(server)))
    end)

    it("returns only what $select asks, and no sessions unless expanded", function()
      local record = assert(client:get_call_record(BIG, { select = "id,type" }))
      assert.are.equal("groupCall", record.type)
      assert.is_nil(record.sessions)
      assert.are.equal(3, count_keys(record))          -- @odata.context, id, type
    end)

    it("retries a page that is throttled on the way", function()
      server:fault { match = "skiptoken", status = 503, retry_after = "0", count = 1 }
      local record = assert(client:get_call_record(BIG, { expand = "sessions" }))
      assert.are.equal(75, #record.sessions)
      assert.are.equal(3, (gets(server)))
    end)

    it("gives the error of a later page that fails, not a partial record", function()
      server:fault { match = "skiptoken", status = 404, count = 1 }
      local record, err = client:get_call_record(BIG, { expand = "sessions" })
      assert.is_nil(record)
      assert.are.equal("http", err.kind)
      assert.are.equal(404, err.status)
    end)

    it("gives Graph's refusal for an unknown record", function()
      local record, err = client:get_call_record("no-such-record")
      assert.is_nil(record)
      assert.are.equal(404, err.status)
    end)
  end)
end)

describe("next links to another origin", function()
  -- A server of our own (a transport table) whose pages point elsewhere: the token must
  -- not follow them (docs/contract.md section 8).
  local function serving(pages)
    local seen = {}
    local transport = { send = function(req)
      seen[#seen + 1] = req.url
      return { status = 200, headers = { ["content-type"] = "application/json" },
        body = assert(pages[#seen]), http_version = 1.1 }
    end }
    local c = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = "secret-t",
      transport = transport })
    return c, seen
  end

  it("refuses them in get_call_record, having sent nothing there", function()
    local c, seen = serving({ '{"id":"r","sessions":[{"id":"s1"}],'
      .. '"sessions@odata.nextLink":"https://elsewhere.example/v1.0/x?$skiptoken=1"}' })
    local rec, err = c:get_call_record("r", { expand = "sessions" })
    assert.is_nil(rec)
    assert.equal("http", err.kind)
    assert.equal("ForeignNextLink", err.code)
    assert.equal(1, #seen)
    c:close()
  end)

  it("refuses them in sessions, after the first page", function()
    local c, seen = serving({ '{"value":[{"id":"s1"}],'
      .. '"@odata.nextLink":"http://127.0.0.1:10/v1.0/communications/callRecords/r/sessions?$skiptoken=1"}' })
    local n = 0
    local ok, err = pcall(function()
      for _ in assert(c:sessions("r")) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.equal(1, n)
    assert.equal("ForeignNextLink", err.code)
    assert.equal(1, #seen)
    c:close()
  end)
end)

describe("reading with wrong argument types", function()
  it("raises for a query that is not a table, naming the method, and sends nothing", function()
    local sent = 0
    local c = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = "t",
      transport = { send = function() sent = sent + 1 end } })
    for _, case in ipairs({
      { function() return c:get_session("r", "s", 5) end, "bad argument #3 to 'get_session' %(table expected, got number%)" },
      { function() return c:get_call_record("r", "$top=1") end, "bad argument #2 to 'get_call_record' %(table expected, got string%)" },
      { function() return c:sessions("r", true) end, "bad argument #2 to 'sessions' %(table expected, got boolean%)" },
    }) do
      local ok, msg = pcall(case[1])
      assert.is_false(ok)
      assert.matches(case[2], msg)
    end
    assert.equal(0, sent)
    c:close()
  end)
end)
