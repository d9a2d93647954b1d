-- A session object's table view (s:totable(), s.<name>, core.normalize(s)) is made
-- from its JSON text on first use (csrc/json/entries.c, readback.c): it must be
-- exactly what normalizing the table at creation gave (values, number subtypes,
-- markers, boxes), and later changes to the caller's table must not reach it.
local h = require "helpers.session"
local core, cjson = h.core, h.cjson

local is53 = math.type ~= nil
local ffi = rawget(_G, "jit") and require "ffi"

-- Deep equality that also tells 3 from 3.0, keeps metatables and -0.0.
local function exact(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then
    error(path .. ": " .. type(a) .. " vs " .. type(b), 0)
  elseif type(a) == "table" then
    if getmetatable(a) ~= getmetatable(b) then error(path .. ": metatables differ", 0) end
    for k, v in pairs(a) do exact(v, b[k], path .. "." .. tostring(k)) end
    for k in pairs(b) do
      if a[k] == nil then error(path .. "." .. tostring(k) .. ": missing", 0) end
    end
  elseif type(a) == "number" then
    if is53 and math.type(a) ~= math.type(b) then
      error(path .. ": " .. math.type(a) .. " vs " .. math.type(b), 0)
    end
    if a ~= b or (a == 0 and 1 / a ~= 1 / b) then
      error(path .. ": " .. tostring(a) .. " vs " .. tostring(b), 0)
    end
  elseif a ~= b then
    error(path .. ": " .. tostring(a) .. " vs " .. tostring(b), 0)
  end
  return true
end

-- Checks s against the table it was made of: text, view, each property.
local function check(tbl, opts)
  local want = assert(core.normalize(tbl, opts))
  local s = assert(core.session(tbl, opts))
  assert.equal(core.encode(tbl, opts), s:json())
  exact(want, s:totable())
  for k, v in pairs(want) do
    if k ~= "@odata.type" then exact(v, s[k], k) end
  end
  exact(want, core.normalize(assert(core.session(tbl, opts))))
  return s
end

local strings = {
  id = "a \"quoted\" \\ back\\slash / \1\2\8\9\10\12\13\31 \127 é 中 😀 \226\128\168",
  caller = { userAgent = { headerValue = "" } },
}

describe("a session object's table view", function()
  it("equals the normalized table for a realistic body", function()
    check({
      Id = "s1", StartDateTime = "2024-01-31T10:30:00+01:00", EndDateTime = 1706700000.25,
      Modalities = { "Audio", "VIDEO" }, IsTest = false,
      FailureInfo = { Stage = "MIDCALL", Reason = "dropped" },
      Caller = { ["@odata.type"] = "participantEndpoint", UserAgent = { HeaderValue = "Teams" },
                 Feedback = { Rating = "good", Tokens = { NoSound = true, Echo = false } } },
      Segments = { { Id = "g1", Media = { { Label = "main-audio",
        CallerNetwork = { Port = 50012, LinkSpeed = 866700000, DelayEventRatio = 0.01,
                          TraceRouteHops = { { HopCount = 1, RoundTripTime = 0.002 } } },
        CallerDevice = { MicGlitchRate = 0.5, HowlingEventCount = 0 },
        Streams = { { AverageJitter = 0.015, MaxJitter = "PT0.062S", AveragePacketLossRate = 0.001,
                      AverageBandwidthEstimate = 9000000, WasMediaBypassed = false } } } } } },
    })
  end)

  it("keeps strings byte for byte (escapes, controls, UTF-8)", function()
    check(strings)
  end)

  it("keeps extra properties under AdditionalProperties", function()
    check({ id = "x", AdditionalProperties = {
      ["x-ticket"] = "INC1", n = 1, f = 0.5, big = 1e300, tiny = -2.5e-300, neg = -7,
      nested = { a = { b = { "c", 1, true, core.null } }, e = {} }, yes = true, none = core.null,
    } })
    check({ id = "x", segments = { { id = "g", custom = { 1, 2 } } } }, { allow_unknown = true })
  end)

  it("keeps options: type, odata_type, derived types, max_bytes", function()
    check({ id = "g1", media = { { label = "m" } } }, { type = "segment" })
    check({ ["@odata.type"] = "participantEndpoint", name = "n" }, { type = "endpoint" })
    check({ id = "s" }, { odata_type = true })
    check({ id = "s" }, { max_bytes = 11 })
  end)

  it("keeps graphcomm.null and empty schema arrays", function()
    check({ endDateTime = core.null, modalities = {}, segments = core.empty_array })
  end)

  it("keeps numbers of every kind and subtype", function()
    local stream = { averageJitter = 1, averagePacketLossRate = 0.25, maxPacketLossRate = 0,
                     averageAudioDegradation = -0.0, averageBandwidthEstimate = 2 ^ 40,
                     averageVideoFrameRate = 1e-7, lowVideoProcessingCapabilityRatio = 3e38 }
    check({ segments = { { media = { { streams = { stream } } } } } })
    check({ AdditionalProperties = { z = -0.0, i = 12, w = 2 ^ 60, h = 123456.789 } })
    if is53 then
      stream.averagePacketLossRate = 3.0   -- a whole float: written "3", still a float in the view
      stream.averageBandwidthEstimate = math.maxinteger
      local s = check({ segments = { { media = { { streams = { stream } } } } } })
      assert.equal("float", math.type(s.segments[1].media[1].streams[1].averagePacketLossRate))
      s = check({ AdditionalProperties = { f = 3.0, big = math.mininteger, huge = 2.0 ^ 53 } })
      assert.equal("float", math.type(s.AdditionalProperties.f))
      assert.equal("integer", math.type(s.AdditionalProperties.big))
      local many = {}                    -- more whole floats than the object lists
      for i = 1, 40 do many[i] = i % 2 == 0 and i + 0.0 or i end
      s = check({ AdditionalProperties = { many = many } })
      assert.equal("float", math.type(s.AdditionalProperties.many[40]))
      assert.equal("integer", math.type(s.AdditionalProperties.many[39]))
    end
  end)

  it("keeps 64-bit boxes and array markers as the caller gave them", function()
    local boxed = ffi and ffi.new("int64_t", 2 ^ 53) + 1
               or setmetatable({ "9007199254740993" }, core.int64_mt)
    local s = check({ segments = { { media = { { streams = { { averageBandwidthEstimate = boxed } } } } } },
                      AdditionalProperties = { big = boxed } })
    if ffi then
      assert.equal(tostring(boxed), tostring(s.AdditionalProperties.big))
    else
      assert.equal("9007199254740993", s.AdditionalProperties.big[1])
    end
    s = check({ AdditionalProperties = { a = cjson.empty_array or core.empty_array, b = setmetatable({}, cjson.empty_array_mt or core.array_mt),
                                         c = setmetatable({}, core.array_mt), d = core.empty_array } })
    assert.equal(cjson.empty_array or core.empty_array, s.AdditionalProperties.a)
    assert.equal(core.array_mt, getmetatable(s.AdditionalProperties.c))
    assert.equal('{"a":[],"b":[],"c":[],"d":[]}', s:json())
  end)

  it("reports the errors core.encode does, also after a value that makes it build at once", function()
    local marked = { AdditionalProperties = { a = core.empty_array } }
    for _, t in ipairs{
      { segments = { marked, { id = 5, media = { { streams = { { averageJitter = "x" } } } } } } },
      { modalities = { "nope" }, segments = { marked } },
      { segments = { marked }, AdditionalProperties = { bad = function() end } },
    } do
      local _, want = core.encode(t)
      local s, err = core.session(t)
      assert.is_nil(s)
      assert.same(want.errors, err.errors)
      assert.equal(tostring(want), tostring(err))
    end
    local ok = check({ segments = { marked, { id = "g2" } } })
    assert.equal('{"segments":[{"a":[]},{"id":"g2"}]}', ok:json())
  end)

  it("is a snapshot: later changes to the caller's table do not reach it", function()
    local streams = { { averageJitter = "PT0.01S" } }
    local t = { id = "s1", modalities = { "audio" }, segments = { { id = "g", media = { { streams = streams } } } },
                AdditionalProperties = { extra = { deep = "v" } } }
    local want = core.normalize(t)
    local s = assert(core.session(t))
    t.id, t.modalities[1], streams[1].averageJitter, t.AdditionalProperties.extra.deep = "x", "video", 5, "w"
    t.segments = nil
    exact(want, s:totable())
    assert.equal("s1", s.id)
    assert.equal("PT0.01S", s.segments[1].media[1].streams[1].averageJitter)
  end)

  it("gives a fresh copy each time, and the same after the first use", function()
    local s = assert(core.session{ modalities = { "audio" }, AdditionalProperties = { x = { 1 } } })
    local a = s.modalities
    a[1] = "video"
    assert.equal("audio", s.modalities[1])
    local t1, t2 = s:totable(), s:totable()
    assert.is_false(rawequal(t1, t2))
    t1.AdditionalProperties.x[1] = 2
    exact(t2, s:totable())
    assert.equal('{"modalities":["audio"],"x":[1]}', s:json())
  end)

  it("is built right when first used inside a finalizer, and by many sessions", function()
    local list, seen = {}, {}
    for i = 1, 50 do list[i] = assert(core.session{ id = "s" .. i, modalities = { "audio" } }) end
    for i = 1, 50 do
      local function fin() seen[i] = list[i].id end
      if newproxy then
        getmetatable(newproxy(true)).__gc = fin
      else
        setmetatable({}, { __gc = fin })
      end
    end
    collectgarbage()
    collectgarbage()
    for i = 50, 1, -1 do
      assert.equal("s" .. i, seen[i])
      assert.equal("s" .. i, list[i]:totable().id)
    end
  end)
end)
