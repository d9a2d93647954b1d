-- client:run_rule against the emulator's sample records: the three example rules in dry
-- run and apply mode, idempotent reruns, a rerun after a partial apply with the same
-- journal, and rules that fail on some sessions while the run goes on.
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"
local clients = require "helpers.client"

local EXAMPLES = emu.root .. "/examples/rules/"
local REVIEW = "5d7e9f10-2a3b-4c5d-8e6f-7a8b9c0d1e2f"   -- 2026-11-25, six sessions
local P2P = "6e8fa021-3b4c-4d5e-9f70-8b9cad1e2f30"      -- 2026-11-25, two sessions
local NEXT_DAY = "7f90b132-4c5d-4e6f-a081-9cadbe2f3041"  -- 2026-11-26
local WINDOW = { from = "2026-11-25", to = "2026-11-26" }

local function window(extra)
  local t = { from = WINDOW.from, to = WINDOW.to }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function rule(name) return assert(graphcomm.rules.load(EXAMPLES .. name .. ".lua")) end

local file = require("helpers.rules").file

-- "crid/sid" -> body, of a summary's changes
local function planned(sum)
  local out = {}
  for _, c in ipairs(sum.changes) do out[c.call_record_id .. "/" .. c.session_id] = c.body end
  return out
end

local count = require("helpers.rules").count

local function patched(server)
  local out = {}
  for _, r in ipairs(clients.patches(server)) do
    local crid, sid = r.path:match("/callRecords/([^/]+)/sessions/([^/?]+)")
    local key = crid .. "/" .. sid
    out[key] = (out[key] or 0) + 1
  end
  return out
end

describe("client:run_rule", function()
  local server, client

  setup(function()
    server = emu.shared()
    client = clients.connect(server)
  end)
  teardown(function()
    client:close()
    server:reset()
  end)
  before_each(function()
    server:reset()
    clients.fresh(server)
  end)

  describe("missing_end_time.lua", function()
    it("plans the last segment's end for the sessions without one, sending nothing", function()
      local sum = assert(client:run_rule(rule("missing_end_time"), window()))
      assert.same({ records = 2, skipped = 0, sessions = 8, unchanged = 6, planned = 2, errors = 0 },
        { records = sum.records, skipped = sum.skipped, sessions = sum.sessions,
          unchanged = sum.unchanged, planned = sum.planned, errors = sum.errors })
      local p = planned(sum)
      local review = assert(client:get_call_record(REVIEW, { expand = "sessions($expand=segments)" }))
      local open = review.sessions[2]
      assert.is_nil(open.endDateTime)
      assert.same({ endDateTime = open.segments[2].endDateTime }, p[REVIEW .. "/" .. open.id])
      assert.same({ { name = "endDateTime", new = open.segments[2].endDateTime } }, sum.changes[1].diff)
      assert.equal(0, count(patched(server)))
      assert.is_nil(sum.applied)
    end)

    it("applies them, and a second run finds nothing to send", function()
      local sum = assert(client:run_rule(rule("missing_end_time"), window({ apply = true })))
      assert.equal(2, sum.applied.ok)
      assert.equal(0, sum.applied.failed)
      local p, sent = planned(sum), patched(server)
      assert.equal(2, count(sent))
      for key in pairs(p) do assert.equal(1, sent[key], key) end
      for key, body in pairs(p) do
        local crid, sid = key:match("^(.-)/(.*)$")
        assert.equal(body.endDateTime, assert(client:get_session(crid, sid)).endDateTime)
      end
      clients.fresh(server)
      local again = assert(client:run_rule(rule("missing_end_time"), window({ apply = true })))
      assert.equal(0, again.planned)
      assert.equal(8, again.unchanged)
      assert.equal(0, count(patched(server)))
    end)

    it("takes the record ids instead of a window, reporting one that does not exist", function()
      local seen = {}
      local sum = assert(client:run_rule(rule("missing_end_time"),
        { records = { NEXT_DAY, "no-such-record", P2P }, on_error = function(e) seen[#seen + 1] = e end }))
      assert.equal(2, sum.records)
      assert.equal(2, sum.planned)
      assert.equal(1, sum.errors)
      assert.equal(404, seen[1].status)
      assert.equal("no-such-record", seen[1].call_record_id)
      assert.same({ NEXT_DAY, P2P }, { sum.changes[1].call_record_id, sum.changes[2].call_record_id })
    end)

    it("after a partial apply, a rerun with the same journal sends only what is left", function()
      local journal = os.tmpname()
      local wide = { from = "2026-11-20", to = "2026-11-27" }
      local results = 0
      local first = assert(client:run_rule(rule("missing_end_time"), {
        from = wide.from, to = wide.to, apply = true, journal = journal, concurrency = 1,
        on_result = function() results = results + 1 end,
        should_stop = function() return results >= 3 end }))
      assert.equal(7, first.planned)        -- records 1, 2 (two), 3, 5, 6, 7
      assert.is_true(first.applied.interrupted)
      local done = first.applied.ok
      assert.truthy(done >= 3 and done < 7, done)
      local after_first = patched(server)
      clients.fresh(server)
      local second = assert(client:run_rule(rule("missing_end_time"), {
        from = wide.from, to = wide.to, apply = true, journal = journal }))
      assert.equal(7 - done, second.planned)
      assert.equal(7 - done, second.applied.ok)
      local after_second = patched(server)
      assert.equal(7 - done, count(after_second))
      for key in pairs(after_second) do assert.is_nil(after_first[key], key) end
      os.remove(journal)
    end)
  end)

  describe("failure_reason.lua", function()
    it("plans one spelling of each reason and leaves the canonical ones", function()
      local sum = assert(client:run_rule(rule("failure_reason"), window()))
      assert.equal(2, sum.planned)
      local bodies = {}
      for _, body in pairs(planned(sum)) do bodies[#bodies + 1] = body.failureInfo.reason .. "@" .. body.failureInfo.stage end
      table.sort(bodies)
      assert.same({ "CallSetupTimeout@callSetup", "MediaConnectivityFailure@midcall" }, bodies)
      assert.equal(0, count(patched(server)))
    end)

    it("applies them", function()
      local sum = assert(client:run_rule(rule("failure_reason"), window({ apply = true })))
      assert.equal(2, sum.applied.ok)
      for key in pairs(planned(sum)) do
        local crid, sid = key:match("^(.-)/(.*)$")
        local reason = assert(client:get_session(crid, sid)).failureInfo.reason
        assert.truthy(reason == "CallSetupTimeout" or reason == "MediaConnectivityFailure", reason)
      end
      assert.equal(0, assert(client:run_rule(rule("failure_reason"), window())).planned)
    end)
  end)

  describe("modalities_from_media.lua", function()
    it("skips, unread, the records where() refuses; plans the lists the streams give", function()
      local sum = assert(client:run_rule(rule("modalities_from_media"), window()))
      assert.equal(1, sum.skipped)                     -- the audio-only peer-to-peer call
      assert.equal(1, sum.records)
      for _, r in ipairs(server:requests()) do
        assert.is_nil(r.path:find(P2P, 1, true), r.path)
      end
      local lists = {}
      for _, body in pairs(planned(sum)) do lists[#lists + 1] = table.concat(body.modalities, "+") end
      table.sort(lists)
      assert.same({ "audio", "audio+video" }, lists)
      assert.equal(4, sum.unchanged)                   -- returned as they are: no request
    end)

    it("applies them", function()
      local sum = assert(client:run_rule(rule("modalities_from_media"), window({ apply = true })))
      assert.equal(2, sum.applied.ok)
      assert.equal(2, count(patched(server)))
      assert.equal(0, assert(client:run_rule(rule("modalities_from_media"), window())).planned)
    end)
  end)

  describe("a rule that fails", function()
    it("is reported with the ids and the run goes on; stop_on_error sends nothing", function()
      local path = file([[return { fix = function(s)
        if s.failureInfo and s.failureInfo ~= graphcomm.null then error("cannot handle " .. s.id) end
        if s.endDateTime == nil then return { endDateTime = graphcomm.last_segment_end(s) } end
      end }]])
      local sum = assert(client:run_rule(path, window({ apply = true })))
      assert.equal(3, sum.errors)
      assert.equal(2, sum.applied.ok)
      for _, e in ipairs(sum.failures) do
        assert.equal("RuleError", e.code)
        assert.is_string(e.call_record_id)
        assert.truthy(e.message:find("cannot handle " .. e.session_id, 1, true), e.message)
      end
      server:reset()
      clients.fresh(server)
      local stopped = assert(client:run_rule(path, window({ apply = true, stop_on_error = true })))
      assert.equal("rule_error", stopped.stopped)
      assert.equal(1, stopped.errors)
      assert.is_nil(stopped.applied)
      assert.equal(0, count(patched(server)))
      os.remove(path)
    end)

    it("returning an invalid body or a non-table sends nothing", function()
      for _, ret in ipairs({ "{ endDateTime = 'soon' }", "'endDateTime'", "{ endTime = 1 }" }) do
        local path = file("return { fix = function() return " .. ret .. " end }")
        local sum = assert(client:run_rule(path, window({ apply = true })))
        assert.equal(8, sum.errors, ret)
        assert.equal(0, sum.planned)
        assert.equal(0, count(patched(server)))
        assert.is_string(sum.failures[1].call_record_id)
        assert.is_string(sum.failures[1].session_id)
        os.remove(path)
      end
    end)

    it("that does not load is nil, err; misuse raises", function()
      local sum, err = client:run_rule("/nonexistent/rule.lua", window())
      assert.is_nil(sum)
      assert.equal("validation", err.kind)
      assert.has_error(function() client:run_rule(rule("failure_reason"), { form = "2026-11-25" }) end,
        "bad argument #2 to 'run_rule' (unknown option 'form'; did you mean 'from'?)")
      assert.has_error(function() client:run_rule(42, window()) end)
      local none
      none, err = client:run_rule(rule("failure_reason"), { from = "2026-11-25" })
      assert.is_nil(none)
      assert.matches("needs from and to", err.message)
      none, err = client:run_rule(rule("failure_reason"), { from = "last week", to = "2026-11-26" })
      assert.is_nil(none)
      assert.matches("option from: not a DateTime", err.message)
      assert.equal(0, #server:requests())
    end)
  end)
end)
