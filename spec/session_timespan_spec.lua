-- TimeSpan values (docs/contract.md section 2): ISO 8601 durations or seconds in,
-- .NET XmlConvert's canonical form out.
local h = require "helpers.session"
local function ts(v) return h.value("mediaStream", "averageJitter", v) end
local function ts_error(v) return h.value_error("mediaStream", "averageJitter", v) end

describe("TimeSpan from seconds", function()
  it("writes XmlConvert's form", function()
    assert.equal('"PT1.5S"', ts(1.5))
    assert.equal('"PT1M30S"', ts(90))
    assert.equal('"P1DT1H"', ts(90000))
    assert.equal('"PT0S"', ts(0))
    assert.equal('"PT0.015S"', ts(0.015))
    assert.equal('"PT1H"', ts(3600))
    assert.equal('"P1D"', ts(86400))
    assert.equal('"P2DT3M0.5S"', ts(2 * 86400 + 180.5))
    assert.equal('"PT0.0000001S"', ts(1e-7))
  end)

  it("writes negative durations with a leading minus", function()
    assert.equal('"-PT1.5S"', ts(-1.5))
    assert.equal('"-P1DT1H"', ts(-90000))
  end)

  it("rounds to 100 ns ticks", function()
    assert.equal('"PT0.0000001S"', ts(0.00000005))
    assert.equal('"PT0S"', ts(0.00000004))
  end)

  it("refuses NaN and values past TimeSpan's range", function()
    assert.matches("too large", ts_error(0 / 0))
    assert.matches("too large", ts_error(1e300))
    assert.matches("too large", ts_error(-math.huge))
  end)
end)

describe("TimeSpan from ISO 8601 text", function()
  it("re-canonicalises", function()
    assert.equal('"PT0.01S"', ts("PT0.010S"))
    assert.equal('"PT1M30S"', ts("PT90S"))
    assert.equal('"PT1H30M"', ts("PT90M"))
    assert.equal('"P1DT2H"', ts("P1DT2H"))
    assert.equal('"P1DT1H"', ts("PT25H"))
    assert.equal('"-PT15M"', ts("-PT15M"))
    assert.equal('"PT0S"', ts("PT0S"))
    assert.equal('"PT0S"', ts("P0D"))
    assert.equal('"PT0S"', ts("-PT0S"))
    assert.equal('"P3D"', ts("P3D"))
    assert.equal('"PT0.1234568S"', ts("PT0.12345678S"))
    assert.equal('"PT1S"', ts("pt1s"))
  end)

  it("refuses years, months and weeks, which have no fixed length", function()
    assert.matches("no fixed length", ts_error("P1Y"))
    assert.matches("no fixed length", ts_error("P1M"))
    assert.matches("no fixed length", ts_error("P2W"))
    assert.equal('"PT1M"', ts("PT1M"))   -- M after T is minutes
  end)

  it("refuses malformed durations", function()
    local bad = { "", "P", "PT", "1S", "PT1", "PTS", "PT1.S", "PT.5S", "PT1H1H", "PT1S1M",
                  "P1H", "PT1D", "PT1.5M", "+PT1S", "PT-1S", "PT1S ", "15 ms", "P1DT", "--PT1S" }
    for _, s in ipairs(bad) do
      local e = ts_error(s)
      assert.is_truthy(e:find("ISO 8601 duration", 1, true) or e:find("only seconds may have a fraction", 1, true), s .. " -> " .. e)
    end
    assert.matches("got 'PT1'", ts_error("PT1"))
    assert.matches("only seconds may have a fraction", ts_error("PT1.5M"))
  end)

  it("refuses durations past TimeSpan's range", function()
    assert.matches("too large", ts_error("P10675200D"))
    assert.matches("too large", ts_error("PT99999999999999999999S"))
    assert.equal('"P10675199D"', ts("P10675199D"))
  end)

  it("refuses wrong types", function()
    assert.matches("^expected an ISO 8601 duration", ts_error(true))
    assert.matches("^expected an ISO 8601 duration", ts_error({}))
  end)
end)

describe("TimeSpan properties", function()
  it("include the newer averageFreezeDuration and rmsFreezeDuration, and trace route hops", function()
    assert.equal('"PT0.2S"', h.value("mediaStream", "averageFreezeDuration", 0.2))
    assert.equal('"PT0.3S"', h.value("mediaStream", "rmsFreezeDuration", "PT0.300S"))
    assert.equal('"PT0.02S"', h.value("traceRouteHop", "roundTripTime", 0.02))
  end)

  it("report the exact path at depth", function()
    local e = h.error{ segments = { { media = { {}, { streams = { { averageJitter = "abc" } } } } } } }
    assert.equal("segments[1].media[2].streams[1].averageJitter: expected an ISO 8601 duration "
                 .. "such as PT0.015S, P1DT2H or -PT15M, got 'abc'", e)
    e = h.error{ segments = { { media = { { callerNetwork = { traceRouteHops = { {}, { roundTripTime = "P1Y" } } } } } } } }
    assert.matches("^segments%[1%]%.media%[1%]%.callerNetwork%.traceRouteHops%[2%]%.roundTripTime: years", e)
  end)
end)
