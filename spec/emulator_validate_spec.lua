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

  it("follows the schema's abstract and open flags (the metadata's, unless a difference says otherwise)", function()
    local schema = require "graphcomm_emulator.schema"
    local ua = schema.types["microsoft.graph.callRecords.userAgent"]
    local id = schema.types["microsoft.graph.identity"]
    local was_abstract, was_open = ua.abstract, id.open
    local ok, err = pcall(function()
      ua.abstract, id.open = true, "any"   -- what the metadata says, without the differences
      local bare, errs = check('{"callee":{"userAgent":{"applicationVersion":"1"}}}')
      assert.is_nil(bare)
      assert.same({ "callee.userAgent" }, paths(errs))
      assert.matches("is abstract: name a derived type", errs[1].message)
      assert.is_nil((check('{"callee":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.userAgent"}}}')))
      assert.is_true(check('{"callee":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"voicemail"}}}'))
      assert.is_true(check('{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"associatedIdentity":{"nickname":{"any":[1,"json"]},"displayName":"d"}}}'))
      local _, typed = check('{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"associatedIdentity":{"nickname":"x","displayName":5}}}')
      assert.same({ "caller.associatedIdentity.displayName" }, paths(typed))
    end)
    ua.abstract, id.open = was_abstract, was_open
    assert(ok, err)
    assert.is_nil((check('{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
      '"associatedIdentity":{"nickname":"x"}}}')))
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

-- The emulator's schema is read from Microsoft's metadata (reference/): what the core
-- accepts there, the emulator does too, through real HTTP.
describe("emulator schema from the metadata, over HTTP", function()
  local emu = require "helpers.emulator"
  local clients = require "helpers.client"
  local core = require "graphcomm.core"
  local e, client, crid, sid, path

  setup(function()
    e = emu.shared()
    e:reset()
    client = clients.connect(e)
    crid, sid = clients.ids(client)
    path = "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid
  end)
  teardown(function()
    client:close()
    e:reset()
  end)

  local function patch(body)
    local status, _, text = e:request("PATCH", path, body, { ["Content-Type"] = "application/json" })
    return status, text ~= "" and emu.decode(text) or nil
  end

  local function stored()
    local _, _, text = e:request("GET", path)
    return emu.decode(text)
  end

  -- A caller whose identity is a derived identitySet holding both userIdentity types.
  local CALLER = {
    ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint",
    associatedIdentity = { ["@odata.type"] = "#microsoft.graph.callRecords.userIdentity", id = "a1",
      userPrincipalName = "ada@contoso.example" },
    identity = { ["@odata.type"] = "#microsoft.graph.communicationsIdentitySet", endpointType = "default",
      phone = { id = "+15550100" },
      user = { ["@odata.type"] = "#microsoft.graph.userIdentity", id = "u1", displayName = "Ada",
        ipAddress = "203.0.113.7", userPrincipalName = "ada@contoso.example" } },
  }

  it("takes a communicationsIdentitySet where an identitySet is declared, and userIdentity.ipAddress", function()
    local body = assert(core.encode({ caller = CALLER }))
    local status, err = patch(body)
    assert.equal(204, status, err and err.error.message)
    local s = stored()
    assert.equal("#microsoft.graph.communicationsIdentitySet", s.caller.identity["@odata.type"])
    assert.equal("203.0.113.7", s.caller.identity.user.ipAddress)
    assert.equal("default", s.caller.identity.endpointType)
  end)

  it("takes the same body from graphcomm's client (the core and the emulator agree)", function()
    local caller = {}
    for k, v in pairs(CALLER) do caller[k] = v end
    caller.name = "desk phone"
    local ok, info = client:update_session(crid, sid, { caller = caller })
    assert.is_true(ok, info and tostring(info))
    assert.equal(204, info.status)
    assert.equal("desk phone", stored().caller.name)
  end)

  it("takes a userAgent without @odata.type, as the core does (a listed difference)", function()
    assert.equal(204, (patch('{"callee":{"userAgent":{"applicationVersion":"1.2"}}}')))
    assert.truthy(core.encode({ callee = { userAgent = { applicationVersion = "1.2" } } }))
  end)

  it("refuses a type that does not derive from the declared one, and a sibling's property", function()
    local cases = {
      { '{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"identity":{"@odata.type":"#microsoft.graph.userIdentity"}}}',
        "caller.identity.@odata.type", "is not #microsoft.graph.identitySet or a type derived from it" },
      { '{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"associatedIdentity":{"@odata.type":"#microsoft.graph.callRecords.userIdentity","ipAddress":"::1"}}}',
        "caller.associatedIdentity.ipAddress",
        "The property 'ipAddress' does not exist on type 'microsoft.graph.callRecords.userIdentity'" },
      { '{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"associatedIdentity":{"displayName":"x","userPrincipalName":"y"}}}',
        "caller.associatedIdentity.userPrincipalName", "does not exist on type 'microsoft.graph.identity'" },
      { '{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"associatedIdentity":{"displayName":"x","nickname":"y"}}}',
        "caller.associatedIdentity.nickname", "does not exist on type 'microsoft.graph.identity'" },
      { '{"callee":{"@odata.type":"#microsoft.graph.callRecords.segment"}}',
        "callee.@odata.type", "is not #microsoft.graph.callRecords.endpoint or a type derived from it" },
      { '{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint",' ..
        '"identity":{"@odata.type":"#microsoft.graph.communicationsIdentitySet","endpointType":"fax"}}}',
        "caller.identity.endpointType", "'fax' is not a valid endpointType value" },
    }
    for _, c in ipairs(cases) do
      local status, err = patch(c[1])
      assert.equal(400, status, c[1])
      assert.equal(c[2], err.error.details[1].target)
      assert.truthy(err.error.message:find(c[3], 1, true), err.error.message)
      -- the core refuses each before sending
      assert.is_nil((core.encode(require("cjson").decode(c[1]))), c[1])
    end
    assert.is_nil(stored().caller.identity and stored().caller.identity.endpointType == "fax" or nil)
  end)
end)
