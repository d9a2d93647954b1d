-- Strings, booleans, enums, arrays, objects, null and generic JSON
-- (docs/contract.md section 2).
local h = require "helpers.session"
local core, cjson = h.core, h.cjson
local value, value_error = h.value, h.value_error

describe("strings", function()
  it("are escaped per RFC 8259, UTF-8 passed through", function()
    assert.equal([["a\"b\\c/d"]], value("failureInfo", "reason", 'a"b\\c/d'))
    assert.equal([["\n\r\t\b\f\u0000\u001f\u0001"]], value("failureInfo", "reason", "\n\r\t\b\f\0\31\1"))
    assert.equal('"h\195\169 \226\130\172 \240\159\147\158 \127"', value("failureInfo", "reason", "h\195\169 \226\130\172 \240\159\147\158 \127"))
    assert.equal('""', value("failureInfo", "reason", ""))
  end)

  it("round-trip through cjson for every byte below 0x80", function()
    local t = {}
    for i = 0, 127 do t[#t + 1] = string.char(i) end
    local s = table.concat(t)
    assert.equal(s, cjson.decode(h.json{ id = s }).id)
  end)

  it("must be valid UTF-8 (no overlongs, surrogates, or code points past U+10FFFF)", function()
    local bad = { "\192\175", "\224\128\175", "\237\160\128", "\244\144\128\128", "\245\128\128\128",
                  "\128", "ab\195", "\226\130", "\255", "x\195\040" }
    for _, s in ipairs(bad) do
      assert.matches("^invalid UTF%-8 at byte %d+$", value_error("failureInfo", "reason", s))
    end
    assert.equal("invalid UTF-8 at byte 3", value_error("failureInfo", "reason", "ab\255cd"))
  end)

  it("are Lua strings only", function()
    assert.equal("expected a string, got 12", value_error("session", "id", 12))
    assert.equal("expected a string, got a table", value_error("session", "id", {}))
  end)
end)

describe("booleans", function()
  it("take Lua booleans only", function()
    assert.equal("true", value("session", "isTest", true))
    assert.equal("false", value("mediaStream", "wasMediaBypassed", false))
    assert.equal("expected a boolean, got 'true'", value_error("session", "isTest", "true"))
    assert.equal("expected a boolean, got 1", value_error("mediaStream", "isAudioForwardErrorCorrectionUsed", 1))
  end)
end)

describe("enums", function()
  it("take the listed values in any case, written canonically", function()
    assert.equal('"videoBasedScreenSharing"', value("session", "modalities", { "VIDEOBASEDSCREENSHARING" })
      :match("^%[(.*)%]$"))
    assert.equal('"callerToCallee"', value("mediaStream", "streamDirection", "CallerToCallee"))
    assert.equal('"frequency24GHz"', value("networkInfo", "wifiBand", "frequency24ghz"))
    assert.equal('"wifi80211ax"', value("networkInfo", "wifiRadioType", "Wifi80211AX"))
    assert.equal('"satinFullband"', value("mediaStream", "audioCodec", "satinfullband"))
    assert.equal('"h264uc"', value("mediaStream", "videoCodec", "H264UC"))
  end)

  it("take the union of the seed's and the reference's values", function()
    assert.equal('["unknown","unknownFutureValue"]', value("session", "modalities", { "unknown", "unknownFutureValue" }))
    assert.equal('"azureCommunicationServices"', value("clientUserAgent", "productFamily", "azureCommunicationServices"))
    assert.equal('"skypeForBusinessVoipPhone"', value("communicationsIdentitySet", "endpointType", "skypeForBusinessVoipPhone"))
  end)

  it("refuse other values, listing the allowed ones and hinting the closest", function()
    assert.equal("expected a failureStage (one of unknown, callSetup, midcall, unknownFutureValue), "
                 .. "got 'midcal' (did you mean 'midcall'?)", value_error("failureInfo", "stage", "midcal"))
    assert.equal("expected a mediaStreamDirection (one of callerToCallee, calleeToCaller), got 3",
                 value_error("mediaStream", "streamDirection", 3))
    assert.equal("modalities[2]: expected a modality (one of unknown, audio, video, videoBasedScreenSharing, "
                 .. "data, screenSharing, unknownFutureValue), got 'audoi' (did you mean 'audio'?)",
                 h.error{ modalities = { "video", "audoi" } })
  end)
end)

describe("arrays", function()
  it("are Lua sequences; {} is written []", function()
    assert.equal('{"modalities":[]}', h.json{ modalities = {} })
    assert.equal('{"segments":[]}', h.json{ segments = {} })
    assert.equal('{"segments":[{},{"id":"b"}]}', h.json{ segments = { {}, { id = "b" } } })
  end)

  it("take the empty-array markers", function()
    assert.equal('{"segments":[]}', h.json{ segments = core.empty_array })
    assert.equal('{"segments":[]}', h.json{ segments = setmetatable({}, core.array_mt) })
  end)

  it("refuse holes and non-integer keys", function()
    assert.equal("modalities: array has a hole: index 2 is missing", h.error{ modalities = { "audio", nil, "video" } })
    assert.equal("modalities: array has a hole: index 1 is missing", h.error{ modalities = { [2] = "audio" } })
    assert.equal("segments: expected an array (a Lua sequence), but it has the key 'id'", h.error{ segments = { id = "x" } })
    assert.equal("modalities: expected an array (a Lua sequence), but it has the key 1.5",
                 h.error{ modalities = { "audio", [1.5] = "video" } })
    assert.equal("modalities: expected an array (a Lua sequence), got 'audio'", h.error{ modalities = "audio" })
  end)

  it("refuse null elements", function()
    assert.equal("segments[1]: null cannot be an element of segments", h.error{ segments = { core.null } })
  end)
end)

describe("objects", function()
  it("must be tables", function()
    assert.equal("failureInfo: expected an object (failureInfo), got 'oops'", h.error{ failureInfo = "oops" })
    assert.equal("segments[1].callee: expected an object (endpoint), got true", h.error{ segments = { { callee = true } } })
  end)

  it("write {} when empty", function()
    assert.equal('{"failureInfo":{}}', h.json{ failureInfo = {} })
  end)
end)

describe("graphcomm.null", function()
  it("is a light userdata equal to cjson.null", function()
    assert.equal("userdata", type(core.null))
    assert.equal(cjson.null, core.null)
  end)

  it("writes null for nullable properties at every depth", function()
    assert.equal('{"endDateTime":null,"failureInfo":null,"segments":null}',
                 h.json{ endDateTime = core.null, failureInfo = cjson.null, segments = core.null })
    assert.equal('{"segments":[{"media":[{"streams":[{"averageJitter":null}]}]}]}',
                 h.json{ segments = { { media = { { streams = { { averageJitter = core.null } } } } } } })
  end)

  it("is an error for non-nullable properties", function()
    assert.equal("modalities: null is not allowed: modalities is not nullable", h.error{ modalities = core.null })
    assert.equal("id: null is not allowed: id is not nullable", h.error{ id = core.null })
    assert.equal("failureInfo.stage: null is not allowed: stage is not nullable",
                 h.error{ failureInfo = { stage = core.null } })
    assert.equal("segments[1].media[1].callerNetwork.traceRouteHops: null is not allowed: traceRouteHops is not nullable",
                 h.error{ segments = { { media = { { callerNetwork = { traceRouteHops = core.null } } } } } })
  end)

  it("is kept as graphcomm.null in the normalized copy", function()
    assert.equal(core.null, core.normalize{ endDateTime = core.null }.endDateTime)
  end)
end)

describe("feedback tokens", function()
  it("take any names with boolean values, sorted", function()
    assert.equal('{"tokens":{"AudioEcho":false,"NoSound":true}}',
                 h.json({ tokens = { NoSound = true, AudioEcho = false } }, { type = "userFeedback" }))
    assert.same({ tokens = { NoSound = true } }, core.normalize({ tokens = { NoSound = true } }, { type = "userFeedback" }))
  end)

  it("refuse non-boolean values", function()
    assert.equal("tokens.NoSound: feedback tokens are booleans, got 'yes'",
                 h.error({ tokens = { NoSound = "yes" } }, { type = "userFeedback" }))
  end)
end)

describe("generic JSON (AdditionalProperties)", function()
  local function extra(v) return h.json{ AdditionalProperties = { x = v } }:match('^{"x":(.*)}$') end

  it("writes every JSON shape", function()
    assert.equal('{"a":[1,2.5,"s",true,null,{}],"b":{}}', extra{ a = { 1, 2.5, "s", true, core.null, {} }, b = {} })
    assert.equal("[]", extra(core.empty_array))
    assert.equal("[]", extra(setmetatable({}, core.array_mt)))
    assert.equal("[1]", extra(setmetatable({ 1 }, core.array_mt)))
  end)

  it("honours cjson.empty_array, cjson.array_mt and cjson.empty_array_mt where cjson has them", function()
    -- Debian's lua-cjson 2.1.0 lacks these (OpenResty's has them): the encoder
    -- finds them through package.loaded.cjson, so a stand-in module shows it.
    local real = package.loaded.cjson
    local marker, amt, eamt = {}, {}, {}
    package.loaded.cjson = setmetatable({ empty_array = core.empty_array, array_mt = amt, empty_array_mt = eamt },
                                        { __index = real })
    local ok, a, b, c = pcall(function()
      return extra(setmetatable({}, amt)), extra(setmetatable({}, eamt)), extra(setmetatable({}, { marker }))
    end)
    package.loaded.cjson = real
    assert.is_true(ok, a)
    assert.equal("[]", a)
    assert.equal("[]", b)
    assert.equal("{}", c)
  end)

  it("refuses tables that are neither arrays nor objects, and values without a JSON form", function()
    assert.equal("x: a table must be an array (keys 1..n) or an object (string keys): this one has mixed keys",
                 h.error{ AdditionalProperties = { x = { 1, a = 2 } } })
    assert.equal("x: a table must be an array (keys 1..n) or an object (string keys): this one has holes",
                 h.error{ AdditionalProperties = { x = { [1] = 1, [3] = 3 } } })
    assert.equal("x: nan cannot be written as JSON", h.error{ AdditionalProperties = { x = 0 / 0 } })
    assert.equal("x: a thread cannot be written as JSON", h.error{ AdditionalProperties = { x = coroutine.create(function() end) } })
    assert.equal("x[2]: invalid UTF-8 at byte 1", h.error{ AdditionalProperties = { x = { "ok", "\255" } } })
  end)

  it("keeps marker metatables and values in the normalized copy", function()
    local n = core.normalize{ AdditionalProperties = { e = setmetatable({}, core.array_mt), m = core.empty_array, s = "x" } }
    assert.equal(core.array_mt, getmetatable(n.AdditionalProperties.e))
    assert.equal(core.empty_array, n.AdditionalProperties.m)
    assert.equal('{"e":[],"m":[],"s":"x"}', h.json(n))
  end)
end)
