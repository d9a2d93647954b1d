-- spec/notify_emulator_spec.lua: the emulator plays Graph's change notifications:
-- /v1.0/subscriptions with the validation handshake, notifications on created and
-- updated call records with the acknowledgement budget and bounded retries, lifecycle
-- events, and only loopback URLs ever contacted. Its own sink is the receiver here.
local emulator = require "helpers.emulator"
local notify = require "helpers.notify"

local decode, wait_for, deliveries, sink_url = emulator.decode, notify.wait_for, notify.deliveries,
  notify.sink_url

describe("emulator subscriptions", function()
  local e

  setup(function() e = emulator.start() end)
  teardown(function() e:stop() end)
  before_each(function()
    e:reset()
    e:control("DELETE", "notifications/sink")
  end)

  local function subscribe(fields)
    local body = { changeType = "created,updated", resource = "/communications/callRecords",
      notificationUrl = sink_url(e), expirationDateTime = notify.expiry(60), clientState = "s3cret" }
    for k, v in pairs(fields or {}) do body[k] = v end
    for k, v in pairs(body) do if v == false then body[k] = nil end end
    local status, _, text = e:request("POST", "/v1.0/subscriptions", body)
    return status, decode(text)
  end

  -- The one change delivery, once it is logged.
  local function only_delivery(what)
    return wait_for(what, function()
      local l = deliveries(e, "change")
      return #l == 1 and l[1]
    end)
  end

  local function listed()
    local status, _, text = e:request("GET", "/v1.0/subscriptions")
    assert.equal(200, status)
    return decode(text).value
  end

  it("creates a subscription after the validation handshake", function()
    local status, sub = subscribe()
    assert.equal(201, status)
    assert.matches("^%x+%-", sub.id)
    assert.equal("created,updated", sub.changeType)
    assert.equal("s3cret", sub.clientState)
    assert.equal("/communications/callRecords", sub.resource)
    local v = deliveries(e, "validation")
    assert.equal(1, #v)
    assert.equal("validated", v[1].outcome)
    assert.equal(1, #listed())
    local s2, _, text = e:request("GET", "/v1.0/subscriptions/" .. sub.id)
    assert.equal(200, s2)
    assert.equal(sub.id, decode(text).id)
  end)

  it("refuses the subscription when the handshake fails, and stores nothing", function()
    for _, q in ipairs({ "token=wrong", "token=none" }) do
      local status, body = subscribe{ notificationUrl = sink_url(e, q) }
      assert.equal(400, status)
      assert.matches("validation", body.error.message)
    end
    e:control("POST", "notifications/config", { validation_timeout_ms = 200 })
    local status, body = subscribe{ notificationUrl = sink_url(e, "delay_ms=1000") }
    assert.equal(400, status)
    assert.matches("validation request failed", body.error.message)
    assert.same({}, listed())
    assert.equal(3, #deliveries(e, "validation"))
  end)

  it("validates the lifecycle URL too", function()
    local status = subscribe{ lifecycleNotificationUrl = sink_url(e, "token=wrong") }
    assert.equal(400, status)
    assert.same({}, listed())
  end)

  it("contacts only loopback URLs: others are refused before any request", function()
    for _, url in ipairs({ "https://example.com/notify", "http://169.254.169.254/latest",
        "http://10.0.0.1/x", "ftp://127.0.0.1/x", "not a url" }) do
      local status, body = subscribe{ notificationUrl = url }
      assert.equal(400, status, url)
      assert.is_string(body.error.message)
    end
    assert.same({}, deliveries(e))
  end)

  it("refuses Graph's out-of-limit values", function()
    local cases = {
      { expirationDateTime = notify.expiry(4231) }, { expirationDateTime = notify.expiry(-1) },
      { expirationDateTime = "tomorrow" }, { clientState = string.rep("x", 129) },
      { changeType = "deleted" }, { changeType = false }, { resource = "/users" },
      { notificationUrl = false }, { colour = "red" },
    }
    for i, fields in ipairs(cases) do
      local status = subscribe(fields)
      assert.equal(400, status, "case " .. i)
    end
    assert.equal(201, (subscribe{ expirationDateTime = notify.expiry(4229) }))
  end)

  it("notifies created and updated call records, with the subscription's clientState", function()
    local _, sub = subscribe()
    local rec = e:control("POST", "callRecords", { sessions = 1 })
    local got = wait_for("the created notification", function()
      local r = notify.received(e)
      return #r >= 1 and r
    end)
    local n = got[1].value[1]
    assert.equal(sub.id, n.subscriptionId)
    assert.equal("created", n.changeType)
    assert.equal("s3cret", n.clientState)
    assert.equal(rec.id, n.resourceData.id)
    assert.equal("communications/callRecords/" .. rec.id, n.resource)
    assert.is_string(n.tenantId)
    local status = e:request("PATCH", "/v1.0/communications/callRecords/" .. rec.id .. "/sessions/"
      .. rec.sessionIds[1], { modalities = { "audio" } })
    assert.equal(204, status)
    got = wait_for("the updated notification", function()
      local r = notify.received(e)
      return #r >= 2 and r
    end)
    assert.equal("updated", got[2].value[1].changeType)
    local acked = deliveries(e, "change")
    assert.equal(2, #acked)
    assert.equal("acknowledged", acked[1].outcome)
    assert.equal(202, acked[1].status)
  end)

  it("sends only the change types asked for", function()
    subscribe{ changeType = "updated" }
    local rec = e:control("POST", "callRecords", { sessions = 1 })
    local r = e:control("POST", "notifications/send", { callRecordId = rec.id, changeType = "updated" })
    assert.equal(1, r.sent)
    wait_for("the update", function() return #deliveries(e, "change") == 1 end)
    assert.equal("updated", deliveries(e, "change")[1].changeType)
  end)

  it("retries a failing receiver a bounded number of times, then marks the delivery failed", function()
    e:control("POST", "notifications/config", { retries = 2, retry_delay_ms = 10 })
    subscribe{ notificationUrl = sink_url(e, "fail_first=2") }
    e:control("POST", "callRecords", { sessions = 1 })
    local d = only_delivery("an acknowledgement")
    assert.equal("acknowledged", d.outcome)
    assert.equal(3, d.attempts)
    e:reset()
    e:control("DELETE", "notifications/sink")
    e:control("POST", "notifications/config", { retries = 1, retry_delay_ms = 10 })
    subscribe{ notificationUrl = sink_url(e, "status=500") }
    e:control("POST", "callRecords", { sessions = 1 })
    d = only_delivery("a failed delivery")
    assert.equal("failed", d.outcome)
    assert.equal(2, d.attempts)
    assert.equal(2, #notify.received(e))
  end)

  it("holds a slow receiver to the acknowledgement budget", function()
    e:control("POST", "notifications/config", { ack_timeout_ms = 200, slow_ms = 100, retries = 1,
      retry_delay_ms = 10 })
    subscribe{ notificationUrl = sink_url(e, "delay_ms=400") }
    e:control("POST", "callRecords", { sessions = 1 })
    local d = only_delivery("a failed delivery")
    assert.equal("failed", d.outcome)
    assert.equal(2, d.attempts)
    assert.equal(2, d.slow)
  end)

  it("renews (with a new handshake) and deletes", function()
    local _, sub = subscribe()
    local new = notify.expiry(4000)
    local status, _, text = e:request("PATCH", "/v1.0/subscriptions/" .. sub.id, { expirationDateTime = new })
    assert.equal(200, status)
    assert.equal(new, decode(text).expirationDateTime)
    assert.equal(2, #deliveries(e, "validation"))
    status = e:request("PATCH", "/v1.0/subscriptions/" .. sub.id, { expirationDateTime = notify.expiry(5000) })
    assert.equal(400, status)
    status = e:request("PATCH", "/v1.0/subscriptions/" .. sub.id, { clientState = "x" })
    assert.equal(400, status)
    assert.equal(204, (e:request("DELETE", "/v1.0/subscriptions/" .. sub.id)))
    assert.equal(404, (e:request("GET", "/v1.0/subscriptions/" .. sub.id)))
    assert.equal(404, (e:request("DELETE", "/v1.0/subscriptions/" .. sub.id)))
    e:control("POST", "callRecords", { sessions = 1 })
    assert.equal(0, #deliveries(e, "change"))
  end)

  it("sends lifecycle events to the lifecycle URL; subscriptionRemoved ends the subscription", function()
    local _, sub = subscribe{ lifecycleNotificationUrl = sink_url(e, "status=200") }
    e:control("DELETE", "notifications/sink")
    e:control("POST", "notifications/lifecycle", { subscriptionId = sub.id, event = "reauthorizationRequired" })
    -- the sink may also hold a late handshake or delivery: look for the lifecycle posts
    local function lifecycle_posts(n)
      return function()
        local events = {}
        for _, r in ipairs(notify.received(e)) do
          if type(r.value) == "table" and type(r.value[1]) == "table" and r.value[1].lifecycleEvent then
            events[#events + 1] = r.value[1]
          end
        end
        return #events >= n and events
      end
    end
    local got = wait_for("the lifecycle event", lifecycle_posts(1))
    assert.equal(1, #got)
    assert.equal("reauthorizationRequired", got[1].lifecycleEvent)
    assert.equal(sub.id, got[1].subscriptionId)
    e:control("POST", "notifications/lifecycle", { subscriptionId = sub.id, event = "subscriptionRemoved" })
    got = wait_for("the removal", lifecycle_posts(2))
    assert.equal(2, #got)
    assert.same({ "reauthorizationRequired", "subscriptionRemoved" },
      { got[1].lifecycleEvent, got[2].lifecycleEvent })
    assert.equal(sub.id, got[2].subscriptionId)
    assert.same({}, listed())
    local status = emulator.http("POST", e.url("/_emulator/notifications/lifecycle"),
      { subscriptionId = sub.id, event = "bogus" })
    assert.equal(400, status)
  end)

  it("redelivers a notification with the same id when asked", function()
    subscribe()
    local rec = e:control("POST", "callRecords", { sessions = 1 })
    wait_for("the first", function() return #deliveries(e, "change") == 1 end)
    e:control("POST", "notifications/send", { callRecordId = rec.id, changeType = "created", copies = 2 })
    local l = wait_for("two more", function()
      local x = deliveries(e, "change")
      return #x == 3 and x
    end)
    assert.equal(l[2].id, l[3].id)
    assert.are_not.equal(l[1].id, l[2].id)
  end)

  it("asks for a token and answers Graph-shaped errors", function()
    local status = e:request("GET", "/v1.0/subscriptions", nil, { Authorization = false })
    assert.equal(401, status)
    assert.equal(405, (e:request("PUT", "/v1.0/subscriptions")))
    local s2, _, text = e:request("POST", "/v1.0/subscriptions", "{not json")
    assert.equal(400, s2)
    assert.is_string(decode(text).error.code)
  end)
end)
