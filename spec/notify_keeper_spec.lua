-- spec/notify_keeper_spec.lua: graphcomm.keeper in examples/openresty/notify
-- (NOTIFY_KEEPER=1) against the emulator: it subscribes on its own, renews before
-- expiry, renews on reauthorizationRequired, subscribes again on subscriptionRemoved,
-- reads the gap after missed and after a restart, and keeps its subscription across one.
local emulator = require "helpers.emulator"
local notify = require "helpers.notify"

local wait_for, open_sessions = notify.wait_for, notify.open_sessions
local STATE = "keeper-" .. require("graphcomm.core").uuid4()

describe("graphcomm.keeper", function()
  local e, c

  setup(function() e, c = notify.emulator_and_client() end)
  teardown(function() notify.finish(e, c) end)
  before_each(function() e:reset() end)

  local function keeper(env, opts)
    opts = opts or {}
    opts.client_state = STATE
    opts.env = { NOTIFY_KEEPER = "1", NOTIFY_CHECK_INTERVAL = "0.3",
      NOTIFY_LOOKBACK = tostring(60 * 86400) }
    for k, v in pairs(env or {}) do opts.env[k] = v end
    return notify.start_example(e, opts)
  end

  local function subscriptions()
    local status, _, body = e:request("GET", "/v1.0/subscriptions")
    assert.equal(200, status)
    return emulator.decode(body).value
  end

  local function calls(method)
    local n = 0
    for _, r in ipairs(e:requests("match=/v1.0/subscriptions")) do
      if r.method == method then n = n + 1 end
    end
    return n
  end

  local function with(ex, f)
    local ok, err = pcall(f)
    ex.stop()
    ex.remove()
    assert(ok, err)
  end

  it("subscribes on its own and renews before the expiry, with margin", function()
    local ex = keeper({ NOTIFY_EXPIRES_IN = "60", NOTIFY_RENEW_MARGIN = "58" })
    with(ex, function()
      local sub = wait_for("a subscription", function() return subscriptions()[1] end)
      assert.equal(ex.url .. "/notify", sub.notificationUrl)
      assert.equal(ex.url .. "/lifecycle", sub.lifecycleNotificationUrl)
      assert.equal(STATE, sub.clientState)
      wait_for("a renewal", function() return calls("PATCH") >= 1 end, 200)
      local renewed = subscriptions()[1]
      assert.equal(sub.id, renewed.id)
      assert.is_true(renewed.expirationDateTime > sub.expirationDateTime)
      assert.equal(1, calls("POST"))
      local rec = e:control("POST", "callRecords", { sessions = 2, open_sessions = 2 })
      wait_for("the fix", function() return open_sessions(c, rec.id) == 0 end)
    end)
  end)

  it("handles lifecycle events: reauthorizationRequired, subscriptionRemoved, missed", function()
    local ex = keeper()
    with(ex, function()
      local sub = wait_for("a subscription", function() return subscriptions()[1] end)
      e:control("POST", "notifications/lifecycle", { subscriptionId = sub.id, event = "reauthorizationRequired" })
      wait_for("a renewal", function() return calls("PATCH") == 1 end)
      e:control("POST", "notifications/lifecycle", { subscriptionId = sub.id, event = "subscriptionRemoved" })
      local again = wait_for("a new subscription", function()
        local l = subscriptions()
        return #l == 1 and l[1].id ~= sub.id and l[1]
      end)
      assert.equal(2, calls("POST"))
      -- A change Graph never delivers, then "missed": the gap read finds the record.
      e:control("POST", "notifications/config", { paused = 1 })
      local rec = e:control("POST", "callRecords", { sessions = 2, open_sessions = 1 })
      e:control("POST", "notifications/config", { paused = 0 })
      for _, d in ipairs(notify.deliveries(e, "change")) do
        if d.resourceId == rec.id then assert.equal("missed", d.outcome) end
      end
      e:control("POST", "notifications/lifecycle", { subscriptionId = again.id, event = "missed" })
      wait_for("the missed record fixed", function() return open_sessions(c, rec.id) == 0 end)
      assert.matches("keeper: gap read since", ex.log(), 1, true)
    end)
  end)

  it("keeps its subscription across a restart and reads the gap of the downtime", function()
    local ex = keeper()
    local dir, port = ex.dir, ex.port
    local ok, err = pcall(function()
      local sub = wait_for("a subscription", function() return subscriptions()[1] end)
      wait_for("the state file", function()
        local f = io.open(dir .. "/state/keeper.json")
        if f then f:close() end
        return f ~= nil
      end)
      ex.stop()
      e:control("POST", "notifications/config", { retries = 0 })
      local rec = e:control("POST", "callRecords", { sessions = 2, open_sessions = 2 })
      wait_for("the failed delivery", function()
        for _, d in ipairs(notify.deliveries(e, "change")) do
          if d.resourceId == rec.id then return d.outcome == "failed" end
        end
      end)
      ex = keeper(nil, { dir = dir, port = port })
      wait_for("the downtime's record fixed", function() return open_sessions(c, rec.id) == 0 end)
      assert.equal(1, calls("POST"))
      assert.equal(sub.id, subscriptions()[1].id)
    end)
    ex.stop()
    ex.remove()
    assert(ok, err)
  end)

  it("refuses bad options when the code loads", function()
    local ks = require "graphcomm.keeper"
    assert.has_error(function() ks.new{ receiver = {}, notification_url = "http://example.com/x",
      client_state = "x" } end)
    assert.has_error(function() ks.new{ receiver = {}, notification_url = "https://example.com/x",
      client_state = "x", margni = 3 } end, "bad argument #1 to 'keeper.new' (unknown option 'margni'; did you mean 'margin'?)")
    assert.has_error(function() ks.new{ receiver = {}, notification_url = "https://example.com/x",
      client_state = "x", expires_in = 600, margin = 600 } end)
  end)
end)
