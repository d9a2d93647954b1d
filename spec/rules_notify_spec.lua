-- The same rule file in the OpenResty receiver: notify.new{ rule = path } on Debian's
-- nginx against the emulator (examples/openresty/notify/run with a handler of its own).
local emulator = require "helpers.emulator"
local notify = require "helpers.notify"
local receiver = require "graphcomm.notify"

local wait_for, patch_counts, open_sessions = notify.wait_for, notify.patch_counts, notify.open_sessions
local STATE = "rules-state-" .. require("graphcomm.core").uuid4()
local RULE = emulator.root .. "/examples/rules/missing_end_time.lua"

local file = require("helpers.rules").file
local count = require("helpers.rules").count

local function handler(rule_path)
  return file(([=[
local notify = require "graphcomm.notify"
local M = {}
M.receiver = notify.new{ client_state = os.getenv("NOTIFY_CLIENT_STATE"), rule = %q,
  retry_delay = 0.05, max_tries = 2 }
function M.init_worker() M.receiver:init_worker() end
return M
]=]):format(rule_path))
end

describe("notify.new{ rule = }", function()
  it("loads the rule when made, and refuses one that does not load or a fix beside it", function()
    assert.is_table(receiver.new{ client_state = "s", rule = RULE })
    local bad = file("return 1")
    for _, opts in ipairs({ { rule = bad }, { rule = "/nonexistent.lua" }, { rule = 42 },
        { rule = RULE, fix = function() end } }) do
      opts.client_state = "s"
      assert.has_error(function() receiver.new(opts) end)
    end
    local ok, err = pcall(receiver.new, { client_state = "s", rule = bad })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("must return a table", 1, true), tostring(err))
    os.remove(bad)
  end)

  describe("in nginx", function()
    local e, c
    setup(function() e, c = notify.emulator_and_client() end)
    teardown(function() notify.finish(e, c) end)
    before_each(function() e:reset() end)

    local function run(rule_path, f)
      local h = handler(rule_path)
      local ex = notify.start_example(e, { client_state = STATE, handler = h })
      os.remove(h)
      local ok, err = pcall(f, ex)
      if not ok then err = tostring(err) .. "\n" .. ex.log():sub(-2000) end
      ex.stop()
      ex.remove()
      assert(ok, err)
    end

    it("fixes the sessions the rule fixes, and only those", function()
      run(RULE, function(ex)
        assert(c:subscribe({ notification_url = ex.url .. "/notify", client_state = STATE }))
        local rec = e:control("POST", "callRecords", { sessions = 3, open_sessions = 2 })
        -- its own updates come back as "updated" notifications: fixed already, no request
        wait_for("the fixes", function()
          local st = ex.status()
          return st.fixed >= 2 and st.queue == 0 and st.done == st.queued
        end)
        assert.equal(0, open_sessions(c, rec.id))
        -- the two open sessions, never the closed one (a record's "created" and "updated"
        -- notifications may be processed side by side: a session can be sent twice)
        local counts = patch_counts(e)
        assert.equal(2, count(counts))
      end)
    end)

    it("skips the records the rule's where refuses, sending nothing", function()
      local skip = file("return { where = function(r) return r.type == 'none' end, fix = function() return { isTest = true } end }")
      run(skip, function(ex)
        assert(c:subscribe({ notification_url = ex.url .. "/notify", client_state = STATE }))
        local rec = e:control("POST", "callRecords", { sessions = 2, open_sessions = 1 })
        wait_for("the record", function() return ex.status().done >= 1 end)
        assert.equal(0, ex.status().fixed)
        assert.equal(1, open_sessions(c, rec.id))
        local _, total = patch_counts(e)
        assert.equal(0, total)
      end)
      os.remove(skip)
    end)
  end)
end)
