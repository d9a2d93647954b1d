-- Property names (docs/contract.md section 2): camelCase, PascalCase, any case;
-- unknown names, did-you-mean hints, AdditionalProperties, allow_unknown,
-- @odata.type and derived types, output order.
local h = require "helpers.session"
local core = h.core

describe("property names", function()
  it("match camelCase, PascalCase and any case, written in the JSON spelling", function()
    assert.equal('{"startDateTime":"2024-01-01T00:00:00Z"}', h.json{ startDateTime = 1704067200 })
    assert.equal('{"startDateTime":"2024-01-01T00:00:00Z"}', h.json{ StartDateTime = 1704067200 })
    assert.equal('{"startDateTime":"2024-01-01T00:00:00Z"}', h.json{ STARTDATETIME = 1704067200 })
    assert.equal('{"startDateTime":"2024-01-01T00:00:00Z"}', h.json{ startdatetime = 1704067200 })
  end)

  it("map IPAddress to ipAddress and ReflexiveIPAddress to reflexiveIPAddress", function()
    local body = h.json({ IPAddress = "10.0.0.1", ReflexiveIPAddress = "1.2.3.4", RelayIPAddress = "5.6.7.8" },
                        { type = "networkInfo" })
    assert.equal('{"ipAddress":"10.0.0.1","reflexiveIPAddress":"1.2.3.4","relayIPAddress":"5.6.7.8"}', body)
  end)

  it("refuse a property given twice in two spellings", function()
    assert.equal("id: given twice, in two spellings", h.error{ id = "a", Id = "b" })
  end)

  it("refuse non-string keys in objects", function()
    assert.equal(": object keys must be strings, got key 1", h.error{ "x" })
    assert.equal("callee: object keys must be strings, got key true", h.error{ callee = { [true] = 1 } })
  end)
end)

describe("unknown names", function()
  it("are errors with a did-you-mean hint", function()
    assert.equal("modalites: unknown property (did you mean 'modalities'?)",
                 h.error{ modalites = { "audio" } })
    assert.equal("segments[1].media[1].streams[1].zzz: unknown property",
                 h.error{ segments = { { media = { { streams = { { zzz = 1 } } } } } } })
    assert.equal("failureInfo.reson: unknown property (did you mean 'reason'?)",
                 h.error{ failureInfo = { reson = "x" } })
    assert.equal("callee.userAgent.HeaderValu: unknown property (did you mean 'headerValue'?)",
                 h.error{ callee = { userAgent = { HeaderValu = "x" } } })
  end)

  it("hint the correct spelling of the schema's own misspelling", function()
    assert.equal("cpuInsufficientEventRatio: unknown property (did you mean 'cpuInsufficentEventRatio'?)",
                 h.error({ cpuInsufficientEventRatio = 0.5 }, { type = "deviceInfo" }))
  end)

  it("are written as generic JSON with opts.allow_unknown, sorted after the schema's", function()
    local body = h.json({ zeta = { 1, 2 }, modalities = { "audio" }, alpha = { b = true } }, { allow_unknown = true })
    assert.equal('{"modalities":["audio"],"alpha":{"b":true},"zeta":[1,2]}', body)
    assert.equal('{"failureInfo":{"reason":"x","extra":1}}',
                 h.json({ failureInfo = { reason = "x", extra = 1 } }, { allow_unknown = true }))
  end)

  it("are kept under AdditionalProperties in the normalized copy", function()
    local n = core.normalize({ zeta = 1, id = "x" }, { allow_unknown = true })
    assert.same({ id = "x", AdditionalProperties = { zeta = 1 } }, n)
    assert.equal('{"id":"x","zeta":1}', h.json(n))
  end)
end)

describe("AdditionalProperties", function()
  it("copies generic JSON into the object, on every object type, sorted by key", function()
    local body = h.json{
      AdditionalProperties = { zz = "last", aa = { nested = { 1, "two", false } } },
      id = "s1",
      callee = { AdditionalProperties = { ["x-tag"] = 7 } },
      segments = { { media = { { streams = { { additionalProperties = { note = "n" }, streamId = "1" } } } } } },
    }
    assert.equal('{"id":"s1","callee":{"x-tag":7},"segments":[{"media":[{"streams":[{"streamId":"1",'
                 .. '"note":"n"}]}]}],"aa":{"nested":[1,"two",false]},"zz":"last"}', body)
  end)

  it("refuses a key that names a schema property", function()
    assert.equal("AdditionalProperties.Modalities: 'Modalities' is a property of session: set it "
                 .. "directly, not in AdditionalProperties",
                 h.error{ AdditionalProperties = { Modalities = { "audio" } } })
    assert.equal("segments[1].AdditionalProperties.id: 'id' is a property of segment: set it "
                 .. "directly, not in AdditionalProperties",
                 h.error{ segments = { { AdditionalProperties = { id = "x" } } } })
  end)

  it("refuses a non-table, non-string keys, and a name also given directly", function()
    assert.equal("AdditionalProperties: expected a table of extra properties, got 'x'",
                 h.error{ AdditionalProperties = "x" })
    assert.equal("AdditionalProperties: keys must be strings, got key 1",
                 h.error{ AdditionalProperties = { "x" } })
    assert.equal("AdditionalProperties.foo: given twice (directly and in AdditionalProperties)",
                 h.error({ foo = 1, AdditionalProperties = { foo = 2 } }, { allow_unknown = true }))
  end)

  it("checks the values it copies (paths are JSON locations)", function()
    assert.equal("callee.bad: a function cannot be written as JSON",
                 h.error{ callee = { AdditionalProperties = { bad = print } } })
  end)
end)

describe("@odata.type", function()
  it("naming the object's own type is kept, first", function()
    assert.equal('{"@odata.type":"#microsoft.graph.callRecords.session","id":"x"}',
                 h.json{ id = "x", ["@odata.type"] = "#microsoft.graph.callRecords.session" })
    assert.equal('{"failureInfo":{"@odata.type":"#microsoft.graph.callRecords.failureInfo","stage":"midcall"}}',
                 h.json{ failureInfo = { stage = "midcall", ["@odata.type"] = "microsoft.graph.callRecords.failureInfo" } })
  end)

  it("is written on the root with opts.odata_type", function()
    assert.equal('{"@odata.type":"#microsoft.graph.callRecords.session","id":"x"}',
                 h.json({ id = "x" }, { odata_type = true }))
  end)

  it("selects participantEndpoint and serviceEndpoint with their properties", function()
    local body = h.json{ caller = { ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint",
                                    name = "laptop", cpuCoresCount = 8, userAgent = { headerValue = "ua" },
                                    feedback = { rating = "GOOD", tokens = { NoSound = true } } },
                         callee = { ["@odata.type"] = "#microsoft.graph.callRecords.serviceEndpoint" } }
    assert.equal('{"callee":{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint"},'
                 .. '"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",'
                 .. '"userAgent":{"headerValue":"ua"},"cpuCoresCount":8,'
                 .. '"feedback":{"rating":"good","tokens":{"NoSound":true}},"name":"laptop"}}', body)
  end)

  it("selects clientUserAgent and serviceUserAgent", function()
    local body = h.json({ userAgent = { ["@odata.type"] = "#microsoft.graph.callRecords.clientUserAgent",
                                        platform = "macos", productFamily = "Teams", applicationVersion = "1" } },
                        { type = "endpoint" })
    assert.equal('{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent",'
                 .. '"applicationVersion":"1","platform":"macOS","productFamily":"teams"}}', body)
    body = h.json({ userAgent = { ["@odata.type"] = "#microsoft.graph.callRecords.serviceUserAgent", role = "voicemail" } },
                  { type = "endpoint" })
    assert.equal('{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"voicemail"}}', body)
  end)

  it("selects communicationsIdentitySet and userIdentity", function()
    local body = h.json({ ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint",
      identity = { ["@odata.type"] = "#microsoft.graph.communicationsIdentitySet", endpointType = "skypeforbusiness",
                   user = { id = "u1", displayName = "U" } },
      associatedIdentity = { ["@odata.type"] = "#microsoft.graph.callRecords.userIdentity", userPrincipalName = "u@x" } },
      { type = "endpoint" })
    assert.equal('{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",'
                 .. '"associatedIdentity":{"@odata.type":"#microsoft.graph.callRecords.userIdentity","userPrincipalName":"u@x"},'
                 .. '"identity":{"@odata.type":"#microsoft.graph.communicationsIdentitySet",'
                 .. '"user":{"displayName":"U","id":"u1"},"endpointType":"skypeForBusiness"}}', body)
  end)

  it("refuses derived properties without the derived type, saying which to set", function()
    assert.equal('caller.cpuName: a property of participantEndpoint only: set "@odata.type" to '
                 .. '"#microsoft.graph.callRecords.participantEndpoint"', h.error{ caller = { cpuName = "x" } })
    assert.equal('caller.cpuName: a property of participantEndpoint only: set "@odata.type" to '
                 .. '"#microsoft.graph.callRecords.participantEndpoint"',
                 h.error{ caller = { cpuName = "x", ["@odata.type"] = "#microsoft.graph.callRecords.serviceEndpoint" } })
  end)

  it("refuses types that are not the object's own or derived from it", function()
    local e = h.error{ caller = { ["@odata.type"] = "#microsoft.graph.callRecords.session" } }
    assert.equal("caller.@odata.type: expected #microsoft.graph.callRecords.endpoint, "
                 .. "#microsoft.graph.callRecords.participantEndpoint, #microsoft.graph.callRecords.serviceEndpoint, "
                 .. "got '#microsoft.graph.callRecords.session'", e)
    assert.matches("^@odata.type: expected #microsoft.graph.callRecords.session, got 1$",
                   h.error{ ["@odata.type"] = 1 })
  end)
end)

describe("output order", function()
  it("is @odata.type, then the reference's order, then extra names sorted by key", function()
    local body = h.json({ segments = {}, startDateTime = 0, modalities = {}, isTest = false, failureInfo = {},
                          endDateTime = 0, caller = {}, callee = {}, id = "1", ["@odata.type"] = "session",
                          b = 1, a = 2 }, { allow_unknown = true })
    assert.equal('{"@odata.type":"#microsoft.graph.callRecords.session","id":"1","callee":{},"caller":{},'
                 .. '"endDateTime":"1970-01-01T00:00:00Z","failureInfo":{},"isTest":false,"modalities":[],'
                 .. '"startDateTime":"1970-01-01T00:00:00Z","segments":[],"a":2,"b":1}', body)
  end)

  it("is deterministic for tables built in any order", function()
    local a, b = {}, {}
    local names = { "wifiBand", "port", "subnet", "dnsSuffix", "linkSpeed", "macAddress", "wifiChannel" }
    local vals = { wifiBand = "unknown", port = 1, subnet = "s", dnsSuffix = "d", linkSpeed = 2, macAddress = "m", wifiChannel = 3 }
    for i = 1, #names do a[names[i]] = vals[names[i]] end
    for i = #names, 1, -1 do b[names[i]] = vals[names[i]] end
    assert.equal(h.json(a, { type = "networkInfo" }), h.json(b, { type = "networkInfo" }))
  end)
end)
