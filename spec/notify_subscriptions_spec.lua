-- spec/notify_subscriptions_spec.lua: graphcomm.subscriptions against the emulator:
-- subscribe, renew, unsubscribe, list; every option checked before anything is sent.
local emulator = require "helpers.emulator"
local notify = require "helpers.notify"
local subs = require "graphcomm.subscriptions"   -- its limits and expiration()

describe("graphcomm.subscriptions", function()
  local e, c

  setup(function() e, c = notify.emulator_and_client() end)
  teardown(function() notify.finish(e, c) end)
  before_each(function()
    e:reset()
    e:control("DELETE", "notifications/sink")
  end)

  local function graph_requests()
    local n = 0
    for _, r in ipairs(e:requests()) do
      if r.path:find("^/v1.0/subscriptions") then n = n + 1 end
    end
    return n
  end

  it("subscribes, lists, renews and unsubscribes", function()
    local sub, info = c:subscribe({ notification_url = notify.sink_url(e),
      lifecycle_url = notify.sink_url(e, "status=200"), client_state = "abc", expires_in = 3600 })
    assert.is_table(sub, tostring(info))
    assert.equal(201, info.status)
    assert.equal("created,updated", sub.changeType)
    assert.equal("abc", sub.clientState)
    assert.equal("/communications/callRecords", sub.resource)
    local list = assert(c:subscriptions())
    assert.equal(1, #list)
    assert.equal(sub.id, list[1].id)
    local renewed = assert(c:renew_subscription(sub.id, 4000 * 60))
    assert.equal(subs.expiration(4000 * 60):sub(1, 15), renewed.expirationDateTime:sub(1, 15))
    assert.is_true((c:unsubscribe(sub.id)))
    assert.same({}, (assert(c:subscriptions())))
    local ok, err = c:unsubscribe(sub.id)
    assert.is_nil(ok)
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
  end)

  it("sends the expiry asked for, within Graph's 4230 minutes, defaulting just under it", function()
    local sub = assert(c:subscribe({ notification_url = notify.sink_url(e) }))
    local req = e:requests("match=/v1.0/subscriptions")[1]
    local body = emulator.decode(req.body)
    assert.equal(subs.expiration(subs.DEFAULT_EXPIRES_IN):sub(1, 15), body.expirationDateTime:sub(1, 15))
    assert.equal(sub.expirationDateTime, body.expirationDateTime)
    assert.is_nil(body.clientState)
    assert.is_nil(body.lifecycleNotificationUrl)
  end)

  it("passes a refused handshake on as Graph's error", function()
    local sub, err = c:subscribe({ notification_url = notify.sink_url(e, "token=wrong") })
    assert.is_nil(sub)
    assert.equal("http", err.kind)
    assert.equal(400, err.status)
    assert.matches("validation", err.message)
  end)

  it("refuses bad options before sending anything", function()
    local url = notify.sink_url(e)
    local cases = {
      { {}, "notification_url" },
      { { notification_url = "http://example.com/hook" }, "notification_url" },
      { { notification_url = "https://example.com/a b" }, "notification_url" },
      { { notification_url = "ftp://127.0.0.1/" }, "notification_url" },
      { { notification_url = url, lifecycle_url = "http://10.1.1.1/x" }, "lifecycle_url" },
      { { notification_url = url, client_state = string.rep("é", 129) }, "client_state" },
      { { notification_url = url, client_state = "" }, "client_state" },
      { { notification_url = url, client_state = {} }, "client_state" },
      { { notification_url = url, expires_in = 4230 * 60 + 1 }, "expires_in" },
      { { notification_url = url, expires_in = 0 }, "expires_in" },
      { { notification_url = url, expires_in = 0 / 0 }, "expires_in" },
      { { notification_url = url, expires_in = "1h" }, "expires_in" },
      { { notification_url = url, change_type = "deleted" }, "change_type" },
    }
    for i, case in ipairs(cases) do
      local sub, err = c:subscribe(case[1])
      assert.is_nil(sub, "case " .. i)
      assert.equal("validation", err.kind, "case " .. i)
      assert.equal(case[2], err.errors[1].path, "case " .. i)
    end
    assert.equal(0, graph_requests())
    local ok = c:subscribe({ notification_url = url, client_state = string.rep("é", 128) })
    assert.is_table(ok)
  end)

  it("raises on unknown option names and wrong types, naming the nearest known name", function()
    local url = notify.sink_url(e)
    assert.has_error(function() c:subscribe{ notification_url = url, client_stat = "x" } end,
      "bad argument #1 to 'subscribe' (unknown option 'client_stat'; did you mean 'client_state'?)")
    assert.has_error(function() c:subscribe{ notification_url = url, notification_uri = url } end,
      "bad argument #1 to 'subscribe' (unknown option 'notification_uri'; did you mean 'notification_url'?)")
    assert.has_error(function() c:subscribe{ notification_url = url, zzzzzzzzzz = 1 } end,
      "bad argument #1 to 'subscribe' (unknown option 'zzzzzzzzzz')")
    assert.has_error(function() c:subscribe{ notification_url = 42 } end,
      "bad argument #1 to 'subscribe' (option notification_url: string expected, got number)")
    assert.equal(0, graph_requests())
  end)

  it("takes the option names in any case (ClientState, client-state)", function()
    local sub = assert(c:subscribe{ NotificationUrl = notify.sink_url(e), ClientState = "abc" })
    assert.equal("abc", sub.clientState)
    assert(c:unsubscribe(sub.id))
  end)

  it("checks ids and expiries of renew and unsubscribe", function()
    for _, id in ipairs({ "", "a\nb" }) do
      local ok, err = c:renew_subscription(id)
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
      ok, err = c:unsubscribe(id)
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
    end
    local ok, err = c:renew_subscription("x", 4231 * 60)
    assert.is_nil(ok)
    assert.equal("expires_in", err.errors[1].path)
    assert.equal(0, graph_requests())
    ok, err = c:renew_subscription("no/such?id")
    assert.is_nil(ok)
    assert.equal(404, err.status)
    assert.matches("/v1.0/subscriptions/no%%2Fsuch%%3Fid$", e:requests()[1].path)
  end)

  it("raises on wrong argument types", function()
    assert.has_error(function() c:subscribe("https://x") end,
      "bad argument #1 to 'subscribe' (table expected, got string)")
    assert.has_error(function() c.subscribe(nil, {}) end)
    assert.has_error(function() c.subscriptions() end)
    assert.has_error(function() c:subscriptions({ top = 5 }) end,
      "bad argument #1 to 'subscriptions' (no argument expected, got table)")
  end)

  it("refuses the dot-segment ids . and .. before sending", function()
    for _, id in ipairs({ ".", ".." }) do
      local ok, err = c:unsubscribe(id)
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
    end
    assert.equal(0, graph_requests())
  end)
end)
