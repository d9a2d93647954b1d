-- update_sessions: dry runs, fail-fast, stopping, and any transport.
local emulator = require "helpers.emulator"
local bulk = require "helpers.bulk"
local core = require "graphcomm.core"

describe("update_sessions control", function()
  local e

  setup(function() e = emulator.shared() end)
  before_each(function() e:clear_faults(); e:clear_requests() end)

  local function patches()
    local n = 0
    for _, r in ipairs(e:requests()) do if r.method == "PATCH" then n = n + 1 end end
    return n
  end

  it("what_if validates every item, reports each request, sends nothing", function()
    local rec = bulk.new_record(e, 3)
    local items = bulk.items_for(rec, 3)
    items[2] = { rec.id, rec.sessionIds[2], { modalitez = { "audio" } } }
    local seen = {}
    local c = bulk.connect(e, 0.01)
    local s = c:update_sessions(items, { what_if = true, on_result = function(i, ok, v)
      seen[i] = { ok = ok, v = v }
    end })
    assert.equal(2, s.what_if)
    assert.equal(1, s.failed)
    assert.equal(0, s.ok)
    assert.is_true(seen[1].ok)
    assert.equal("what_if", seen[1].v.status)
    assert.equal("PATCH", seen[1].v.request.method)
    assert.equal(e.base_url .. bulk.session_url(rec, 1), seen[1].v.request.url)
    assert.equal('{"modalities":["audio"]}', seen[1].v.request.body)
    assert.equal("Bearer <redacted>", seen[1].v.request.headers.Authorization)
    assert.is_false(seen[2].ok)
    assert.equal("validation", seen[2].v.kind)
    assert.equal(0, #e:requests())
    c:close()
  end)

  it("max_failures stops after that many identical systematic refusals (read-only Graph)", function()
    local ro = emulator.start{ read_only = true }
    finally(ro.stop)
    local rec = ro:control("POST", "callRecords", { sessions = 40 })
    local c = bulk.connect(ro, 0.01)
    local s = c:update_sessions(bulk.items_for(rec, 40), { max_failures = 5, concurrency = 2 })
    assert.equal("max_failures", s.stopped)
    assert.matches("5 consecutive failures with status 405", s.message)
    assert.equal(0, s.ok)
    assert.is_true(s.failed >= 5 and s.failed <= 7, "failed " .. s.failed)
    assert.is_true(#ro:requests() <= 7)
    -- 0: never stop
    ro:clear_requests()
    s = c:update_sessions(bulk.items_for(rec, 30), { max_failures = 0 })
    assert.is_nil(s.stopped)
    assert.equal(30, s.failed)
    -- the default stops at 20
    s = c:update_sessions(bulk.items_for(rec, 40), { concurrency = 1 })
    assert.equal("max_failures", s.stopped)
    assert.equal(20, s.failed)
    c:close()
  end)

  it("should_stop, polled between items, stops taking new ones; those in flight finish", function()
    local rec = bulk.new_record(e, 20)
    local c = bulk.connect(e, 0.01)
    local polls = 0
    local s = c:update_sessions(bulk.items_for(rec, 20), { concurrency = 2,
      should_stop = function() polls = polls + 1; return polls > 5 end })
    assert.is_true(s.interrupted)
    assert.equal(5, s.ok)
    assert.equal(0, s.failed)
    assert.equal(5, patches())
    c:close()
  end)

  it("runs over a caller's transport table (send only)", function()
    local rec = bulk.new_record(e, 10)
    local h = core.http{}
    local sent = 0
    local c = bulk.connect(e, 0.01, { transport = { send = function(req)
      sent = sent + 1
      return h:send(req)
    end } })
    local s = c:update_sessions(bulk.items_for(rec, 10))
    assert.equal(10, s.ok)
    assert.equal(10, sent)
    s = c:update_sessions(bulk.items_for(rec, 10), { batch = true })
    assert.equal(10, s.ok)
    assert.equal(11, sent)
    c:close()
    h:close()
  end)

  it("runs over a caller's transport with its own multi", function()
    local rec = bulk.new_record(e, 6)
    local made = 0
    local c = bulk.connect(e, 0.01, { transport = {
      send = function() error("not used") end,
      multi = function(n) made = n; return core.multi{ concurrency = n } end } })
    local s = c:update_sessions(bulk.items_for(rec, 6), { concurrency = 3 })
    assert.equal(6, s.ok)
    assert.equal(3, made)
    c:close()
  end)

  it("works over http_version = 2-prior-knowledge: 500 items all succeed", function()
    local rec = bulk.new_record(e, 500)
    local c = bulk.connect(e, 0.01, { http_version = "2-prior-knowledge", base_url = e.h2c_url })
    local s = c:update_sessions(bulk.items_for(rec, 500))
    assert.equal(500, s.ok, "failed " .. s.failed)
    c:close()
  end)
end)
