-- client:sessions(crid [, query]): an iterator over .../sessions that reads one page
-- at a time, following @odata.nextLink, against the emulator.
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local BIG = "2f1a1100-b174-40a0-aba7-0b405e01ed92"      -- 75 sessions

local function gets(server)
  local n = 0
  for _, r in ipairs(server:requests()) do
    if r.method == "GET" and r.path:find("/sessions", 1, true) then n = n + 1 end
  end
  return n
end

describe("client:sessions", function()
  local server, client

  setup(function()
    server = emu.shared()
    client = clients.connect(server, { max_retries = 2 })
  end)
  teardown(function()
    if client then client:close() end
  end)
  before_each(function() clients.fresh(server) end)

  it("visits every session once, in a for loop", function()
    local ids, seen = {}, {}
    for s in assert(client:sessions(BIG)) do
      assert.is_nil(seen[s.id])
      seen[s.id] = true
      ids[#ids + 1] = s.id
    end
    assert.are.equal(75, #ids)
    assert.are.equal(2, gets(server))     -- the service's page of 60, then 15
  end)

  it("reads a page only when the loop gets there", function()
    local next_session = assert(client:sessions(BIG, { top = 10, select = "id" }))
    assert.are.equal(1, gets(server))
    for _ = 1, 10 do assert.is_table(next_session()) end
    assert.are.equal(1, gets(server))
    local eleventh = next_session()
    assert.is_string(eleventh.id)
    assert.are.equal(2, gets(server))
    local n = 11
    while next_session() do n = n + 1 end
    assert.are.equal(75, n)
    assert.are.equal(8, gets(server))
    assert.is_nil(next_session())         -- stays finished
    assert.are.equal(8, gets(server))
  end)

  it("passes the query on every page", function()
    local n = 0
    for s in assert(client:sessions(BIG, { ["$top"] = 30, ["$select"] = "id,startDateTime" })) do
      assert.is_string(s.startDateTime)
      assert.is_nil(s.modalities)
      n = n + 1
    end
    assert.are.equal(75, n)
    local pages = 0
    for _, r in ipairs(server:requests()) do
      local path = r.path:gsub("%%2[Cc]", ",")        -- next links carry the query percent-encoded
      assert.truthy(path:find("$select=id,startDateTime", 1, true), r.path)
      assert.truthy(path:find("$top=30", 1, true), r.path)
      pages = pages + 1
    end
    assert.are.equal(3, pages)
  end)

  it("retries a throttled page", function()
    server:fault { match = "skiptoken", status = 429, retry_after = "0", count = 1 }
    local n = 0
    for _ in assert(client:sessions(BIG, { top = 50 })) do n = n + 1 end
    assert.are.equal(75, n)
    assert.are.equal(3, gets(server))
  end)

  it("returns nil, err when the first page is refused", function()
    local iter, err = client:sessions("no-such-record")
    assert.is_nil(iter)
    assert.are.equal("http", err.kind)
    assert.are.equal(404, err.status)
  end)

  it("raises the error value when a later page fails", function()
    server:fault { match = "skiptoken", status = 403, count = 1 }
    local n = 0
    local ok, err = pcall(function()
      for _ in assert(client:sessions(BIG, { top = 25 })) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.are.equal(25, n)
    assert.are.equal("http", err.kind)
    assert.are.equal(403, err.status)
    assert.truthy(tostring(err):find("403", 1, true))
  end)
end)
