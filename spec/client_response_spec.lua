-- graphcomm.response without a server: what success and Graph's error bodies become
-- (docs/contract.md section 3: the error's fields, innerError.date read as UTC, one-line tostring).
local response = require "graphcomm.response"
local errors = require "graphcomm.errors"

local REQ = { method = "PATCH", url = "https://graph.microsoft.com/v1.0/communications/callRecords/r/sessions/s",
  client_request_id = "sent-id" }

describe("response.result", function()
  it("gives true and { status, headers, request_id } on success", function()
    local ok, info = response.result({ status = 204, headers = { ["request-id"] = "rid-1" }, body = "" }, REQ)
    assert.is_true(ok)
    assert.equal(204, info.status)
    assert.same({ ["request-id"] = "rid-1" }, info.headers)
    assert.equal("rid-1", info.request_id)
    assert.equal("sent-id", info.client_request_id)
  end)

  it("reads Graph's error body into the error's fields", function()
    local body = '{"error":{"code":"TooManyRequests","message":"Slow down.","innerError":{'
      .. '"date":"2024-05-01T10:15:00","request-id":"rid-2","client-request-id":"cid-2"}}}'
    local headers = { ["retry-after"] = "0.249", ["content-type"] = "application/json" }
    local ok, err = response.result({ status = 429, headers = headers, body = body }, REQ)
    assert.is_nil(ok)
    assert.is_true(errors.is(err))
    assert.equal("http", err.kind)
    assert.equal(429, err.status)
    assert.equal("TooManyRequests", err.code)
    assert.equal("Slow down.", err.message)
    assert.equal("rid-2", err.request_id)
    assert.equal("cid-2", err.client_request_id)
    assert.equal("2024-05-01T10:15:00Z", err.date)
    assert.equal(0.249, err.retry_after)
    assert.equal(headers, err.headers)
    assert.equal("graphcomm: http 429 TooManyRequests: Slow down. (request-id rid-2)", tostring(err))
  end)

  it("reads innerError.date as UTC, keeping fractions and explicit offsets", function()
    assert.equal("2024-05-01T10:15:00.123Z", response.utc_date("2024-05-01T10:15:00.123"))
    assert.equal("2024-05-01T10:15:00+02:00", response.utc_date("2024-05-01T10:15:00+02:00"))
    assert.equal("2024-05-01T10:15:00Z", response.utc_date("2024-05-01T10:15:00Z"))
    assert.is_nil(response.utc_date(nil))
  end)

  it("falls back to the headers, the reason phrase and the id it sent", function()
    local ok, err = response.result({ status = 503, headers = { ["request-id"] = "rid-3" },
      body = "<html><body>busy</body></html>" }, REQ)
    assert.is_nil(ok)
    assert.equal("ServiceUnavailable", err.code)
    assert.equal("Service Unavailable", err.message)
    assert.equal("rid-3", err.request_id)
    assert.equal("sent-id", err.client_request_id)
    assert.is_nil(err.date)
    assert.is_nil(err.retry_after)
  end)

  it("says that Graph documents sessions as read-only when a PATCH is refused", function()
    for _, status in ipairs({ 403, 405 }) do
      local _, err = response.result({ status = status, headers = {}, body =
        '{"error":{"code":"Forbidden","message":"No."}}' }, REQ)
      assert.matches("No%. %(Graph documents call%-record sessions as read%-only%)", err.message)
    end
  end)

  it("prints on one line whatever the body holds", function()
    local _, err = response.result({ status = 502, headers = {}, body = "upstream\r\nfailed\nbadly\r" }, REQ)
    local line = tostring(err)
    assert.equal("graphcomm: http 502 BadGateway: Bad Gateway: upstream failed badly ", line)
    _, err = response.result({ status = 400, headers = {}, body =
      '{"error":{"code":"BadRequest","message":"line one\\nline two"}}' }, REQ)
    assert.equal("graphcomm: http 400 BadRequest: line one line two", tostring(err))
    assert.equal("line one\nline two", err.message)         -- the field itself is kept as sent
    local v = errors.validation("bad", { errors = { { path = "a\nb", message = "x" } } })
    v.message = nil
    assert.is_nil(tostring(v):find("[\r\n]"))
  end)
end)
