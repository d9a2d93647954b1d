-- spec/notify_example_spec.lua: examples/openresty/notify end to end on Debian's nginx,
-- against the emulator: subscribe, create call records, see the fixes land; kill nginx
-- mid-run (SIGKILL) and start it again: nothing lost, nothing fixed twice. Also the
-- handshake, a wrong clientState, redeliveries, a fix that raises, and a dry run.
local emulator = require "helpers.emulator"
local notify = require "helpers.notify"

local wait_for, patch_counts, open_sessions = notify.wait_for, notify.patch_counts, notify.open_sessions
local STATE = "c1ient-state-" .. require("graphcomm.core").uuid4()

local function start_example(e, opts)
  opts = opts or {}
  opts.client_state = STATE
  return notify.start_example(e, opts)
end

describe("examples/openresty/notify", function()
  local e, c

  setup(function() e, c = notify.emulator_and_client() end)
  teardown(function() notify.finish(e, c) end)
  before_each(function() e:reset() end)

  it("fixes records as they are created, survives a SIGKILL mid-run, fixes each session once", function()
    -- Graph's retries, bounded: a notification sent while nginx is down is delivered again.
    e:control("POST", "notifications/config", { retries = 300, retry_delay_ms = 100 })
    local ex = start_example(e)
    local ok, err = pcall(function()
      local sub = assert(c:subscribe({ notification_url = ex.url .. "/notify",
        lifecycle_url = ex.url .. "/lifecycle", client_state = STATE, expires_in = 3600 }))
      assert.is_string(sub.id)
      -- Each record read takes 150 ms, so that a backlog is queued when nginx is killed.
      e:fault{ match = "$expand=sessions", method = "GET", delay_ms = 150, count = -1 }
      local records = {}
      for i = 1, 12 do records[i] = e:control("POST", "callRecords", { sessions = 3, open_sessions = 2 }) end
      wait_for("some fixes", function() local _, n = patch_counts(e); return n >= 4 end)
      ex.stop(true)
      assert.is_nil((emulator.http("GET", ex.url .. "/status", nil, nil, { timeout = 2 })))
      for i = 13, 16 do records[i] = e:control("POST", "callRecords", { sessions = 3, open_sessions = 2 }) end
      ex = start_example(e, { dir = ex.dir, port = ex.port })
      wait_for("every session fixed", function()
        local _, n = patch_counts(e)
        return n >= 32
      end, 600)
      wait_for("an idle receiver", function()
        local s = ex.status()
        return s.queue == 0 and s.ready
      end)
      wait_for("every notification acknowledged", function()
        for _, d in ipairs(notify.deliveries(e, "change")) do
          if d.outcome ~= "acknowledged" then return false end
        end
        return true
      end, 600)
      local counts, total = patch_counts(e)
      assert.equal(32, total)
      for path, n in pairs(counts) do assert.equal(1, n, path) end
      for _, r in ipairs(records) do assert.equal(0, open_sessions(c, r.id)) end
      -- The kill left a backlog (each read takes 150 ms): the restart took it from the journal.
      local log = ex.log()
      assert.matches("replayed %d+ queued notification%(s%)", log)
      local journal = assert(io.open(ex.dir .. "/state/notify.journal")):read("*a")
      assert.matches("\nD\t", "\n" .. journal)
    end)
    ex.stop()
    ex.remove()
    assert(ok, err)
  end)

  describe("one receiver", function()
    local ex, sub

    setup(function() ex = start_example(e, { max_tries = 3 }) end)
    teardown(function()
      ex.stop()
      ex.remove()
    end)
    before_each(function()
      sub = assert(c:subscribe({ notification_url = ex.url .. "/notify", client_state = STATE }))
    end)

    local function post(body, query)
      return emulator.http("POST", ex.url .. "/notify" .. (query or ""), body,
        { ["Content-Type"] = "application/json" })
    end

    it("answers the validation handshake with the decoded token, as text/plain", function()
      local status, headers, body = post(nil, "?validationToken=" .. "a%20b%26c%3D%3Cd%3E")
      assert.equal(200, status)
      assert.matches("^text/plain", headers["content-type"])
      assert.equal("nosniff", headers["x-content-type-options"])
      assert.equal("a b&c=<d>", body)
      status = emulator.http("GET", ex.url .. "/notify")
      assert.equal(405, status)
    end)

    it("drops notifications whose clientState differs, reading nothing", function()
      assert(c:unsubscribe(sub.id))
      local rec = e:control("POST", "callRecords", { sessions = 1, open_sessions = 1 })
      local before = ex.status()
      e:clear_requests()
      local n = { subscriptionId = sub.id, changeType = "created",
        resource = "communications/callRecords/" .. rec.id, resourceData = { id = rec.id } }
      for _, cs in ipairs({ STATE .. "x", STATE:sub(1, -2), "", false }) do
        n.clientState = cs or nil
        assert.equal(202, (post({ value = { n } })))
      end
      local after = ex.status()
      assert.equal(before.dropped + 4, after.dropped)
      assert.equal(before.queued, after.queued)
      for _, bad in ipairs({ "{", "[]", '{"value":3}' }) do assert.equal(400, (post(bad))) end
      n.clientState, n.changeType = STATE, "deleted"
      assert.equal(202, (post({ value = { n } })))
      assert.equal(before.dropped + 5, ex.status().dropped)
      assert.same({}, e:requests("match=" .. rec.id))
      assert.not_matches(STATE, ex.log(), 1, true)
    end)

    it("processes a redelivered notification once", function()
      local before = ex.status()
      local rec = e:control("POST", "callRecords", { sessions = 2, open_sessions = 2 })
      wait_for("the fix", function() return ex.status().done > before.done end)
      e:control("POST", "notifications/send", { callRecordId = rec.id, changeType = "created", copies = 3 })
      wait_for("three duplicates", function() return ex.status().duplicates >= before.duplicates + 3 end)
      local counts = patch_counts(e)
      local n = 0
      for path, k in pairs(counts) do
        if path:find(rec.id, 1, true) then n = n + 1; assert.equal(1, k, path) end
      end
      assert.equal(2, n)
    end)

    it("retries a record whose read fails, a bounded number of times, logging its id", function()
      -- the fault names this record, so that earlier tests' items still retrying in the
      -- receiver neither take its three failures nor end the wait for it
      local id = "6e6e0000-0000-4000-8000-00000000fa17"
      e:fault{ match = id .. "?$expand=sessions", method = "GET", status = 500, count = 3 }
      e:control("POST", "callRecords", { id = id, sessions = 1, open_sessions = 1 })
      local last = "call record " .. id .. " (created, try 3 of 3)"
      wait_for("the record given up", function() return ex.log():find(last, 1, true) end)
      local log, pat = ex.log(), id:gsub("%-", "%%-")
      for try = 1, 3 do
        assert.matches("call record " .. pat .. " %(created, try " .. try .. " of 3%)", log)
      end
      assert.is_nil(log:find("call record " .. id .. " (created, try 4", 1, true))
      local reads = 0
      for _, r in ipairs(e:requests("match=" .. id)) do if r.method == "GET" then reads = reads + 1 end end
      assert.equal(3, reads)
      e:clear_faults()
    end)
  end)

  it("keeps a notification whose fix raised, and fixes it on a later try", function()
    local handler = os.tmpname()
    local f = assert(io.open(handler, "w"))
    f:write([=[
local notify = require "graphcomm.notify"
local M, raised = {}, {}
local function fix(session)
  if type(session.endDateTime) == "string" then return nil end
  raised[session.id] = (raised[session.id] or 0) + 1
  if raised[session.id] <= 2 then error("not yet for " .. session.id) end
  return { endDateTime = session.segments[#session.segments].endDateTime }
end
M.receiver = notify.new{ client_state = os.getenv("NOTIFY_CLIENT_STATE"), fix = fix,
  retry_delay = 0.05, max_tries = 5 }
function M.init_worker() M.receiver:init_worker() end
return M
]=])
    f:close()
    local ex = start_example(e, { handler = handler })
    os.remove(handler)
    local ok, err = pcall(function()
      assert(c:subscribe({ notification_url = ex.url .. "/notify", client_state = STATE }))
      local rec = e:control("POST", "callRecords", { sessions = 1, open_sessions = 1 })
      wait_for("the fix", function() return ex.status().fixed == 1 end)
      local st = ex.status()
      assert.equal(2, st.errors)
      assert.equal(2, st.retries)
      assert.equal(1, st.fixed)
      assert.equal(0, open_sessions(c, rec.id))
      local log = ex.log()
      assert.matches("call record " .. rec.id:gsub("%-", "%%-") .. " %(created, try 1 of 5%): the fix function raised", log)
    end)
    ex.stop()
    ex.remove()
    assert(ok, err)
  end)

  it("with a dry run, logs the updates and sends none", function()
    local ex = start_example(e, { dry_run = true })
    local ok, err = pcall(function()
      assert(c:subscribe({ notification_url = ex.url .. "/notify", client_state = STATE }))
      e:control("POST", "callRecords", { sessions = 3, open_sessions = 2 })
      wait_for("the previews", function() return ex.status().previews == 2 end)
      wait_for("done", function() return ex.status().done == 1 end)
      local _, n = patch_counts(e)
      assert.equal(0, n)
      local log = ex.log()
      assert.matches("dry run: PATCH http", log)
    end)
    ex.stop()
    ex.remove()
    assert(ok, err)
  end)
end)
