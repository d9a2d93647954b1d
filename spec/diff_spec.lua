-- graphcomm.diff (docs/contract.md section 4): offline rules, then a round trip through
-- the emulator (GET, change, diff, update_session, GET).
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"

local diff, null = graphcomm.diff, graphcomm.null

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  table.sort(out)
  return table.concat(out, ",")
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

local OLD = {
  ["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords('x')/sessions/$entity",
  ["@odata.etag"] = "W/\"1\"",
  id = "s-1",
  modalities = { "audio", "video" },
  startDateTime = "2026-11-20T09:00:00Z",
  endDateTime = "2026-11-20T09:15:12.345Z",
  isTest = false,
  failureInfo = { stage = "midcall", reason = "MediaConnectivityFailure" },
  ["segments@odata.nextLink"] = "https://graph.microsoft.com/v1.0/next",
  segments = {},
}

describe("graphcomm.diff", function()
  it("is the empty body when nothing changed", function()
    local body = assert(diff(OLD, copy(OLD)))
    assert.are.equal("", keys(body))
  end)

  it("sees no change in the same instant at another offset, an enum in another case or a PascalCase name", function()
    local new = copy(OLD)
    new.endDateTime = "2026-11-20T11:15:12.345+02:00"
    new.modalities = { "AUDIO", "Video" }
    new.startDateTime = nil
    new.StartDateTime = 1795165200            -- 2026-11-20T09:00:00Z as Unix seconds
    assert.are.equal("", keys(assert(diff(OLD, new))))
  end)

  it("sends a changed top-level value whole, normalized", function()
    local new = copy(OLD)
    new.failureInfo.reason = "Timeout"
    new.endDateTime = "2026-11-20T10:30:00.5+01:00"
    local body = assert(diff(OLD, new))
    assert.are.equal("endDateTime,failureInfo", keys(body))
    assert.are.equal("2026-11-20T09:30:00.5Z", body.endDateTime)
    assert.are.same({ stage = "midcall", reason = "Timeout" }, body.failureInfo)
  end)

  it("leaves alone what new does not mention", function()
    local body = assert(diff(OLD, { isTest = true }))
    assert.are.equal("isTest", keys(body))
    assert.is_true(body.isTest)
  end)

  it("clears with graphcomm.null", function()
    local body = assert(diff(OLD, { failureInfo = null }))
    assert.are.equal(null, body.failureInfo)
    assert.are.equal("", keys(assert(diff({ failureInfo = null }, { failureInfo = null }))))
  end)

  it("compares arrays in order", function()
    local body = assert(diff(OLD, { modalities = { "video", "audio" } }))
    assert.are.same({ "video", "audio" }, body.modalities)
  end)

  it("ignores OData annotations on either side, at any depth", function()
    local new = copy(OLD)
    new["@odata.context"] = "something else"
    new["@odata.etag"] = nil
    new["segments@odata.nextLink"] = nil
    new.failureInfo["reason@odata.type"] = "#String"
    assert.are.equal("", keys(assert(diff(OLD, new))))
  end)

  it("keeps @odata.type as part of a value", function()
    local old = { caller = { ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint", name = "A" } }
    local new = { caller = { ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint", name = "B" } }
    local body = assert(diff(old, new))
    assert.are.equal("#microsoft.graph.callRecords.participantEndpoint", body.caller["@odata.type"])
    assert.are.equal("B", body.caller.name)
  end)

  it("returns unknown names under AdditionalProperties, compared as plain JSON", function()
    local old = copy(OLD)
    old.customTag = { a = 1, list = { 1, 2 } }
    local new = copy(old)
    assert.are.equal("", keys(assert(diff(old, new))))
    new.customTag.list = { 2, 1 }
    new.extra = "x"
    local body = assert(diff(old, new))
    assert.are.equal("AdditionalProperties", keys(body))
    assert.are.same({ customTag = { a = 1, list = { 2, 1 } }, extra = "x" }, body.AdditionalProperties)
    assert.are.same({ extra = "x" }, assert(diff(old, { AdditionalProperties = { extra = "x" } })).AdditionalProperties)
  end)

  it("treats an old value the schema refuses as different", function()
    local body = assert(diff({ isTest = "yes", modalities = { "audio" } }, { isTest = false, modalities = { "audio" } }))
    assert.are.equal("isTest", keys(body))
  end)

  it("returns nil, err for an invalid new, as session does", function()
    local body, err = diff(OLD, { modalities = { "audio", "vidoe" }, endDateTime = "yesterday" })
    assert.is_nil(body)
    assert.are.equal("validation", err.kind)
    local paths = {}
    for _, e in ipairs(err.errors) do paths[#paths + 1] = e.path end
    table.sort(paths)
    assert.are.same({ "endDateTime", "modalities[2]" }, paths)
    assert.matches("video", tostring(err))
  end)

  it("returns unknown names inside a value under that object's AdditionalProperties", function()
    local body = assert(diff(OLD, { failureInfo = { stage = "midcall", reason = "x", retried = true } }))
    assert.are.same({ stage = "midcall", reason = "x", AdditionalProperties = { retried = true } }, body.failureInfo)
    assert.are.same({ modalites = { "audio" } }, assert(diff(OLD, { modalites = { "audio" } })).AdditionalProperties)
  end)

  it("raises on arguments that are not tables", function()
    assert.has_error(function() diff(nil, {}) end)
    assert.has_error(function() diff({}, "x") end)
  end)

  describe("against the emulator", function()
    local server, client
    setup(function()
      server = emu.start {}
      client = assert(graphcomm.connect { base_url = server.base_url, token = server.token })
    end)
    teardown(function()
      if client then client:close() end
      if server then server.stop() end
    end)

    it("gives a body update_session accepts, and the service then holds new", function()
      local crid = "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80"
      local record = assert(client:get_call_record(crid, { expand = "sessions" }))
      local old = record.sessions[1]
      local new = copy(old)
      new.modalities = { "audio" }
      new.failureInfo = { stage = "callSetup", reason = "NoAnswer" }
      local body = assert(diff(old, new))
      assert.are.equal("failureInfo,modalities", keys(body))
      assert(client:update_session(crid, old.id, body))
      local now = assert(client:get_session(crid, old.id))
      assert.are.same({ "audio" }, now.modalities)
      assert.are.equal("NoAnswer", now.failureInfo.reason)
      assert.are.equal(old.startDateTime, now.startDateTime)
      local again = assert(diff(now, new))
      assert.are.equal("", keys(again))
    end)
  end)
end)

describe("graphcomm.diff on integers past 2^53 read from JSON", function()
  local json = require "graphcomm.json"
  local function doc(n)
    return '{"segments":[{"id":"s","media":[{"streams":[{"packetUtilization":' .. n .. '}]}]}]}'
  end

  it("tells neighbouring Int64 values apart and sends the exact one", function()
    local old = assert(json.decode(doc("9007199254740993")))
    local same = assert(diff(old, assert(json.decode(doc("9007199254740993")))))
    assert.are.equal("", keys(same))
    local body = assert(diff(old, assert(json.decode(doc("9007199254740992")))))
    assert.are.equal("segments", keys(body))
    assert.matches('"packetUtilization":9007199254740992', graphcomm.session(body):json(), 1, true)
  end)
end)
