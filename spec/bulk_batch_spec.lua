-- client:update_sessions with batch = true: Graph JSON batching against the emulator's
-- POST /$batch (at most 20 requests, dependsOn, 424), answers mapped back to items,
-- inner 429/503/504 retried on their own.
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local e

local function connect() return bulk.connect(e, 0.5) end

local function new_record(n) return bulk.new_record(e, n) end

local session_url, items_for = bulk.session_url, bulk.items_for

-- The $batch posts seen since the log was cleared, and the inner requests of each (by
-- the outer's seq when the log gives it, else the outer logged last before them: the
-- emulator runs a batch's inner requests in one go, right after logging the outer).
local function batches()
  local outer, inner, last = {}, {}, nil
  for _, r in ipairs(e:requests()) do
    if r.method == "POST" and r.path:find("/$batch", 1, true) then
      outer[#outer + 1] = r
      inner[r.seq] = {}
      last = r.seq
    elseif r.batch then
      table.insert(inner[type(r.batch) == "number" and r.batch or last], r)
    end
  end
  return outer, inner
end

describe("update_sessions{ batch = true }", function()
  setup(function() e = emu.shared() end)
  before_each(function() e:clear_requests() end)
  after_each(function() e:clear_faults() end)

  it("takes batch_size (1 to 20): smaller batches bound what a kill -9 leaves unknown", function()
    local rec = new_record(12)
    local c = connect()
    local s = c:update_sessions(items_for(rec, 12), { batch = true, batch_size = 5, concurrency = 1 })
    assert.equal(12, s.ok)
    local outer, inner = batches()
    assert.equal(3, #outer)                       -- 5 + 5 + 2
    for _, r in ipairs(outer) do assert.is_true(#inner[r.seq] <= 5) end
    for _, bad in ipairs({ 0, 21, 2.5, "5" }) do
      assert.has_error(function() c:update_sessions(items_for(rec, 1), { batch = true, batch_size = bad }) end)
    end
    c:close()
  end)

  it("sends at most 20 updates per $batch and maps each answer to its item", function()
    local rec = new_record(45)
    local c = connect()
    local items = items_for(rec, 45)
    items[7] = { rec.id, "no-such-session", { modalities = { "audio" } } }
    items[9] = { rec.id, rec.sessionIds[9], { modalities = { "smell" } } }
    local results = {}
    local s = c:update_sessions(items, { batch = true, on_result = function(i, ok, v)
      assert.is_nil(results[i])
      results[i] = { ok, v }
    end })
    assert.equal(43, s.ok)
    assert.equal(2, s.failed)
    assert.equal(3, s.requests)
    for k = 1, 45 do
      if k ~= 7 and k ~= 9 then
        assert.is_true(results[k][1])
        assert.equal(204, results[k][2].status)
      end
    end
    assert.equal(404, results[7][2].status)
    assert.equal("NotFound", results[7][2].code)
    assert.equal("validation", results[9][2].kind)
    local outer, inner = batches()
    assert.equal(3, #outer)
    local total = 0
    for _, o in ipairs(outer) do
      assert.is_true(#inner[o.seq] <= 20)
      total = total + #inner[o.seq]
    end
    assert.equal(44, total)               -- the invalid item was never sent
    local _, _, body = e:request("GET", session_url(rec, 45))
    assert.same({ "audio" }, emu.decode(body).modalities)
    c:close()
  end)

  it("retries a throttled or dropped inner request on its own", function()
    local rec = new_record(10)
    e:fault{ match = session_url(rec, 3), method = "PATCH", status = 429, retry_after = "0.2", count = 1 }
    e:fault{ match = session_url(rec, 8), method = "PATCH", drop = true, count = 1 }
    local c = connect()
    local s = c:update_sessions(items_for(rec, 10), { batch = true })
    assert.equal(10, s.ok)
    assert.equal(2, s.retried)
    -- Each waits its own time: 0.2 s (Retry-After) and 0.5 s (backoff, capped), each
    -- then goes in a batch of its own.
    local outer, inner = batches()
    assert.equal(3, #outer)
    assert.equal(10, #inner[outer[1].seq])
    assert.equal(1, #inner[outer[2].seq])
    assert.equal(session_url(rec, 3), inner[outer[2].seq][1].path)
    assert.equal(1, #inner[outer[3].seq])
    assert.equal(session_url(rec, 8), inner[outer[3].seq][1].path)
    c:close()
  end)

  it("retries the whole batch when the $batch itself is throttled", function()
    local rec = new_record(5)
    e:fault{ match = "/$batch", method = "POST", status = 503, retry_after = "0.1", count = 1 }
    local c = connect()
    local s = c:update_sessions(items_for(rec, 5), { batch = true })
    assert.equal(5, s.ok)
    assert.equal(5, s.retried)
    assert.equal(2, s.requests)
    c:close()
  end)

  it("sends the items of a throttled $batch again together, whatever the clock does", function()
    -- A transport of our own whose clock ticks on every look: the items of one answer
    -- must still fall due at one instant and go out again in one $batch.
    local t, posts = 1000, {}
    local transport = {
      now = function() t = t + 1e-6; return t end,
      sleep = function(s) t = t + s end,
      send = function(req)
        posts[#posts + 1] = req.body
        if #posts == 1 then
          return { status = 503, headers = { ["retry-after"] = "0.1" }, body = "", http_version = 1.1 }
        end
        local out = {}
        for id in req.body:gmatch('"id":"(%d+)"') do
          out[#out + 1] = '{"id":"' .. id .. '","status":204,"headers":{}}'
        end
        return { status = 200, headers = { ["content-type"] = "application/json" },
          body = '{"responses":[' .. table.concat(out, ",") .. ']}', http_version = 1.1 }
      end,
    }
    local c = assert(graphcomm.connect{ base_url = "http://127.0.0.1:9", token = "t", transport = transport })
    local items = {}
    for k = 1, 5 do items[k] = { "rec", "s" .. k, { isTest = false } } end
    local s = c:update_sessions(items, { batch = true })
    assert.equal(5, s.ok)
    assert.equal(2, s.requests)
    assert.equal(2, #posts)
    c:close()
  end)

  it("chains fixes of one session with dependsOn and reports a failed dependency (424)", function()
    local rec = new_record(2)
    e:fault{ match = session_url(rec, 1), method = "PATCH", status = 400, count = 1 }
    local c = connect()
    local results = {}
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[1], { modalities = { "video" } } },
    }, { batch = true, on_result = function(i, ok, v) results[i] = { ok, v } end })
    assert.equal(1, s.ok)
    assert.equal(2, s.failed)
    assert.equal(1, s.requests)
    assert.equal(400, results[1][2].status)
    assert.is_true(results[2][1])
    assert.equal(424, results[3][2].status)
    assert.equal("FailedDependency", results[3][2].code)
    assert.equal(1, results[3][2].depends_on)
    local outer = batches()
    local doc = emu.decode(outer[1].body)
    assert.same({ "1" }, doc.requests[3].dependsOn)
    c:close()
  end)

  it("renews a rejected token and sends the batch again, dependencies kept", function()
    local rec = new_record(3)
    local calls = 0
    local c = assert(graphcomm.connect{ base_url = e.base_url, max_retry_delay = 0.5,
      token = function()
        calls = calls + 1
        return calls == 1 and "stale-token" or e.token, 3600
      end })
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[1], { modalities = { "video" } } },
    }, { batch = true })
    assert.equal(3, s.ok)
    assert.equal(2, calls)
    assert.equal(2, s.requests)
    local _, _, body = e:request("GET", session_url(rec, 1))
    assert.same({ "video" }, emu.decode(body).modalities)
    c:close()
  end)

  it("sends a fix again after its dependency was retried", function()
    local rec = new_record(1)
    e:fault{ match = session_url(rec, 1), method = "PATCH", status = 429, retry_after = "0.1", count = 1 }
    local c = connect()
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[1], { modalities = { "video" } } },
    }, { batch = true })
    assert.equal(2, s.ok)
    local _, _, body = e:request("GET", session_url(rec, 1))
    assert.same({ "video" }, emu.decode(body).modalities)
    c:close()
  end)
end)
