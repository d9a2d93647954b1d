-- The emulator's own JSON reader/writer and schema rules, run in-process (no nginx):
-- they are plain Lua modules under emulator/lua, loadable by any Lua.
local json = require "graphcomm_emulator.json"
local validate = require "graphcomm_emulator.validate"

local function fixture_text()
  local emu_root = require("helpers.emulator").root
  local f = assert(io.open(emu_root .. "/emulator/fixtures/callrecords.json", "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function check(text)
  local v = assert(json.decode(text))
  return validate.check(v)
end

local function paths(errs)
  local out = {}
  for i, e in ipairs(errs) do out[i] = e.path end
  return out
end

describe("emulator json", function()
  it("keeps number text, key order and the array/object difference through a round trip", function()
    local text = '{"b":9223372036854775807,"a":[],"c":{},"d":0.1,"e":-1.5e-7,"f":[1,{"x":null}],"g":"\\u00e9\\ud83d\\ude00\\n"}'
    local v = assert(json.decode(text))
    assert.equal(text:gsub("\\u00e9", "\195\169"):gsub("\\ud83d\\ude00", "\240\159\152\128"), json.encode(v))
    assert.same({ "b", "a", "c", "d", "e", "f", "g" }, json.keys(v))
    assert.is_true(json.is_array(v.a))
    assert.is_true(json.is_object(v.c))
    assert.equal(json.null, v.f[2].x)
  end)

  it("writes plain Lua numbers as the shortest text that reads back", function()
    assert.equal("[0.1,0.30000000000000004,3,-2,1e+300]", json.encode({ 0.1, 0.1 + 0.2, 3, -2, 1e300 }))
  end)

  it("refuses malformed JSON with a position, and invalid UTF-8", function()
    for _, bad in ipairs({ "", "{", '{"a":1,}', "[1 2]", "01", "1.", '"\\x"', '"a', "nul", "{} x",
                           '"\\ud800"', '"\1"', '{"a" 1}', "[1,]", "-", "1e" }) do
      local v, err = json.decode(bad)
      assert.is_nil(v, bad)
      assert.is_string(err, bad)
    end
    local v, err = json.decode('"\192\175"')
    assert.is_nil(v)
    assert.matches("UTF%-8", err)
  end)

  it("stops nesting before the C stack does", function()
    local v, err = json.decode(string.rep("[", 300) .. string.rep("]", 300))
    assert.is_nil(v)
    assert.matches("too deep", err)
  end)
end)

describe("emulator schema validation", function()
  it("accepts every session in the fixtures", function()
    local data = assert(json.decode(fixture_text()))
    local n = 0
    for _, rec in ipairs(data.records) do
      for _, s in ipairs(rec.sessions) do
        local ok, errs = validate.check(s)
        assert.is_true(ok, errs and (errs[1].path .. ": " .. errs[1].message))
        n = n + 1
      end
    end
    assert.is_true(n > 60)
  end)

  it("accepts the kinds of values the reference allows", function()
    assert.is_true(check([[{"@odata.type":"#microsoft.graph.callRecords.session","id":"x","modalities":["audio","unknown"],
      "startDateTime":"2026-11-27T13:40:00.1234567+01:00","endDateTime":null,"isTest":false,
      "caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","cpuCoresCount":8,"name":"pc",
        "feedback":{"rating":"good","tokens":{"NoSound":true,"AnyName":false}},
        "userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"windows","productFamily":"teams"}},
      "callee":{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint",
        "userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"voicemail"}},
      "failureInfo":{"stage":"midcall","reason":null},
      "segments":[{"id":"s","media":[{"label":"main-audio","streams":[{"averageJitter":"PT0.015S","maxJitter":"-P1DT2H",
        "averageBandwidthEstimate":9223372036854775807,"packetUtilization":-9223372036854775808,
        "averagePacketLossRate":3.4e38,"streamDirection":"callerToCallee","wasMediaBypassed":true,"rmsFreezeDuration":"P3D"}],
        "callerNetwork":{"linkSpeed":1000000000,"port":2147483647,"traceRouteHops":[{"hopCount":1,"roundTripTime":"PT1M30S"}]}}]}]}]]))
  end)

  it("reports every problem at once, with 1-based paths and JSON names", function()
    local ok, errs = check([[{"modalites":["audio"],"modalities":["Audio","sound"],"startDateTime":"2026-02-30T00:00:00Z",
      "endDateTime":"2026-11-27 13:40:00Z","isTest":"yes","id":null,
      "segments":[{"media":[{},{"streams":[{"averageJitter":"1s","packetUtilization":9223372036854775808,
        "averagePacketLossRate":3.5e38,"wasMediaBypassed":1,"streamDirection":"sideways","maxJitter":"P1M"}],
        "callerNetwork":{"port":2147483648,"linkSpeed":1.5,"traceRouteHops":null}}]}],
      "caller":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","userAgent":{"platform":"windows"}}}]])
    assert.is_nil(ok)
    assert.same({
      "modalites", "modalities[1]", "modalities[2]", "startDateTime", "endDateTime", "isTest", "id",
      "segments[1].media[2].streams[1].averageJitter", "segments[1].media[2].streams[1].packetUtilization",
      "segments[1].media[2].streams[1].averagePacketLossRate", "segments[1].media[2].streams[1].wasMediaBypassed",
      "segments[1].media[2].streams[1].streamDirection", "segments[1].media[2].streams[1].maxJitter",
      "segments[1].media[2].callerNetwork.port", "segments[1].media[2].callerNetwork.linkSpeed",
      "segments[1].media[2].callerNetwork.traceRouteHops",
      "caller.@odata.type", "caller.userAgent.platform",
    }, paths(errs))
    assert.matches("Did you mean 'modalities'", errs[1].message)
    assert.matches("Did you mean 'audio'", errs[2].message)
  end)

  it("needs an object at the top and refuses unknown names unless told otherwise", function()
    assert.is_nil((check("[]")))
    assert.is_nil((check('"x"')))
    assert.is_nil((check('{"AdditionalThing":1}')))
    assert.is_true(validate.check(assert(json.decode('{"AdditionalThing":{"a":[1]}}')), { allow_unknown = true }))
  end)

  it("checks DateTime and TimeSpan text the way Graph reads them", function()
    for _, good in ipairs({ "2024-02-29T00:00:00Z", "2026-11-27T13:40:00.5-05:30", "2026-11-27t13:40:00z" }) do
      assert.is_nil(validate.datetime_problem(good), good)
    end
    for _, bad in ipairs({ "2026-02-29T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T13:40:60Z",
                           "2026-11-27T13:40:00", "2026-11-27T13:40:00.12345678Z", "27/11/2026" }) do
      assert.is_string(validate.datetime_problem(bad), bad)
    end
    for _, good in ipairs({ "PT0.015S", "P1DT2H", "-PT15M", "P1D", "PT1H30M5.25S", "PT0S" }) do
      assert.is_nil(validate.timespan_problem(good), good)
    end
    for _, bad in ipairs({ "P", "PT", "P1Y", "P1M", "P1W", "PT1.S", "PT1M1H", "PT0.12345678S", "1s", "PDT1S" }) do
      assert.is_string(validate.timespan_problem(bad), bad)
    end
  end)
end)
