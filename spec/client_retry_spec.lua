-- The retry policy as pure functions: Retry-After forms, HTTP dates, backoff, caps.
local retry = require "graphcomm.retry"

describe("retry.http_date", function()
  it("reads the three HTTP date forms as UTC", function()
    -- date -u -d "1994-11-06 08:49:37" +%s
    assert.equal(784111777, retry.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(784111777, retry.http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.equal(784111777, retry.http_date("Sun Nov  6 08:49:37 1994"))
    assert.equal(951782400, retry.http_date("Tue, 29 Feb 2000 00:00:00 GMT"))
  end)

  it("refuses what is not a date", function()
    assert.is_nil(retry.http_date("Sun, 06 Nov 1994 25:49:37 GMT"))
    assert.is_nil(retry.http_date("tomorrow"))
    assert.is_nil(retry.http_date(nil))
  end)
end)

describe("retry.retry_after", function()
  it("takes integer and decimal seconds", function()
    assert.equal(120, retry.retry_after("120"))
    assert.equal(0.249, retry.retry_after("0.249"))
    assert.equal(0, retry.retry_after("0"))
  end)

  it("takes an HTTP date relative to now, the past meaning now", function()
    local now = 784111777
    assert.equal(30, retry.retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now))
    assert.equal(0, retry.retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now))
  end)

  it("ignores junk", function()
    assert.is_nil(retry.retry_after("soon"))
    assert.is_nil(retry.retry_after("-5"))
  end)
end)

describe("retry.backoff", function()
  it("doubles from 3 seconds and adds at most half again of jitter", function()
    local zero, almost = function() return 0 end, function() return 0.999999 end
    assert.equal(3, retry.backoff(1, zero))
    assert.equal(6, retry.backoff(2, zero))
    assert.equal(12, retry.backoff(3, zero))
    assert.is_true(retry.backoff(1, almost) < 4.5 and retry.backoff(1, almost) > 4.49)
    assert.equal(3.75, retry.backoff(1, function() return 0.5 end))
  end)
end)

describe("retry.delay", function()
  local cfg = { max_retries = 3, max_retry_delay = 180, random = function() return 0 end,
    wall_clock = function() return 784111777 end }

  it("retries 429, 503 and 504 only", function()
    assert.equal(3, retry.delay(cfg, 1, 429, {}))
    assert.equal(6, retry.delay(cfg, 2, 503, {}))
    assert.equal(12, retry.delay(cfg, 3, 504, {}))
    for _, s in ipairs({ 200, 204, 400, 401, 403, 404, 405, 500, 502 }) do
      assert.is_nil(retry.delay(cfg, 1, s, {}), "status " .. s)
    end
  end)

  it("stops after max_retries", function()
    assert.is_nil(retry.delay(cfg, 4, 429, {}))
    assert.is_nil(retry.delay({ max_retries = 0 }, 1, 429, {}))
  end)

  it("prefers Retry-After in each of its forms", function()
    assert.equal(0.249, retry.delay(cfg, 1, 429, { ["retry-after"] = "0.249" }))
    assert.equal(7, retry.delay(cfg, 1, 503, { ["retry-after"] = "7" }))
    assert.equal(30, retry.delay(cfg, 1, 503, { ["retry-after"] = "Sun, 06 Nov 1994 08:50:07 GMT" }))
  end)

  it("caps every wait at max_retry_delay", function()
    local c = { max_retries = 10, max_retry_delay = 5, random = function() return 0.9 end }
    assert.equal(5, retry.delay(c, 1, 429, { ["retry-after"] = "3600" }))
    assert.equal(5, retry.delay(c, 8, 503, {}))
    assert.equal(4.35, retry.delay(c, 1, 503, {}))
  end)

  it("retries connection failures, not other transport errors", function()
    assert.equal(3, retry.delay(cfg, 1, nil, nil, { kind = "transport", retryable = true }))
    assert.is_nil(retry.delay(cfg, 1, nil, nil, { kind = "transport", retryable = false }))
    assert.is_nil(retry.delay(cfg, 1, nil, nil, { kind = "transport", code = "tls_verify" }))
  end)
end)
