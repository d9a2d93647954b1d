-- Session objects (docs/contract.md section 2): s:json(), s:totable(), s.<name>,
-- tostring(s); core.normalize; core.schema.
local h = require "helpers.session"
local core = h.core

local body = {
  Id = "s1",
  StartDateTime = "2024-01-31T10:30:00+01:00",
  Modalities = { "Audio" },
  FailureInfo = { Stage = "MIDCALL", Reason = "dropped" },
  Segments = { { Id = "g1", Media = { { Streams = { { AverageJitter = 0.015 } } } } } },
  AdditionalProperties = { custom = { 1, 2 } },
}

describe("session objects", function()
  local s = assert(core.session(body))

  it("are graphcomm.session userdata", function()
    assert.equal("userdata", type(s))
    assert.equal("graphcomm.session", getmetatable(s).__name)
  end)

  it("give the body as JSON", function()
    assert.equal('{"id":"s1","failureInfo":{"reason":"dropped","stage":"midcall"},"modalities":["audio"],'
                 .. '"startDateTime":"2024-01-31T09:30:00Z","segments":[{"id":"g1","media":[{"streams":'
                 .. '[{"averageJitter":"PT0.015S"}]}]}],"custom":[1,2]}', s:json())
    assert.equal(s:json(), core.encode(body))
    assert.equal(s:json(), core.encode(s))
  end)

  it("give a normalized deep copy with totable", function()
    local t = s:totable()
    assert.same({
      id = "s1",
      startDateTime = "2024-01-31T09:30:00Z",
      modalities = { "audio" },
      failureInfo = { stage = "midcall", reason = "dropped" },
      segments = { { id = "g1", media = { { streams = { { averageJitter = "PT0.015S" } } } } } },
      AdditionalProperties = { custom = { 1, 2 } },
    }, t)
    t.modalities[1] = "video"
    assert.equal("audio", s:totable().modalities[1])
    assert.equal(s:json(), (core.encode(t):gsub('"video"', '"audio"')))
  end)

  it("give normalized values by JSON or PascalCase name", function()
    assert.equal("2024-01-31T09:30:00Z", s.startDateTime)
    assert.equal("2024-01-31T09:30:00Z", s.StartDateTime)
    assert.equal("midcall", s.FailureInfo.stage)
    assert.same({ "audio" }, s.modalities)
    assert.same({ custom = { 1, 2 } }, s.AdditionalProperties)
    assert.is_nil(s.endDateTime)
    assert.is_nil(s.nosuchname)
    s.segments[1].id = "changed"
    assert.equal("g1", s.segments[1].id)
  end)

  it("print the first bytes of the body", function()
    assert.equal('graphcomm.session: {"id":"s1","failureInfo":{"reason":"dropped","stage":"midcal...',
                 tostring(s))
    assert.equal('graphcomm.session: {"id":"x"}', tostring(core.session{ id = "x" }))
  end)

  it("are returned as is by core.session", function()
    assert.equal(s, core.session(s))
  end)

  it("keep graphcomm.null", function()
    local n = assert(core.session{ endDateTime = core.null })
    assert.equal(core.null, n.endDateTime)
    assert.equal('{"endDateTime":null}', n:json())
  end)

  it("check their self argument", function()
    assert.has_error(function() s.json({}) end)
    assert.has_error(function() s.totable(42) end)
  end)
end)

describe("core.normalize", function()
  it("equals session(t):totable() and re-encodes to the same body", function()
    local n = core.normalize(body)
    assert.same(core.session(body):totable(), n)
    assert.equal(core.encode(body), core.encode(n))
  end)

  it("validates sub-objects with opts.type", function()
    assert.same({ stage = "callSetup" }, core.normalize({ STAGE = "callsetup" }, { type = "failureInfo" }))
    assert.same({ ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint", name = "n" },
                core.normalize({ ["@odata.type"] = "participantEndpoint", Name = "n" }, { type = "endpoint" }))
  end)
end)

describe("core.schema", function()
  it("lists the types", function()
    local names = core.schema()
    assert.equal("session", names[1])
    assert.equal(21, #names)
  end)

  it("describes a type's properties in output order", function()
    local t = core.schema("session")
    assert.equal("#microsoft.graph.callRecords.session", t.odata_type)
    local names = {}
    for i, p in ipairs(t.properties) do names[i] = p.name end
    assert.same({ "id", "callee", "caller", "endDateTime", "failureInfo", "isTest", "modalities",
                  "startDateTime", "segments" }, names)
    local m = t.properties[7]
    assert.same({ name = "modalities", kind = "enum", enum = "modality", array = true, nullable = false,
                  owner = "session",
                  values = { "unknown", "audio", "video", "videoBasedScreenSharing", "data", "screenSharing",
                             "unknownFutureValue" } }, m)
    assert.same({ "participantEndpoint", "serviceEndpoint" }, core.schema("endpoint").derived)
    assert.equal("endpoint", core.schema("participantEndpoint").base)
    assert.equal("userAgent", core.schema("participantEndpoint").properties[1].name)
    assert.has_error(function() core.schema("nope") end)
  end)
end)
