-- DateTime values (docs/contract.md section 2): RFC 3339 strings, Unix seconds and
-- os.date("!*t")-style tables in, UTC `YYYY-MM-DDTHH:MM:SS[.f]Z` out.
local h = require "helpers.session"
local function dt(v) return h.value("session", "startDateTime", v) end
local function dt_error(v) return h.value_error("session", "startDateTime", v) end

describe("DateTime from RFC 3339 strings", function()
  it("keeps UTC instants and trims the fraction", function()
    assert.equal('"2024-01-31T09:30:00Z"', dt("2024-01-31T09:30:00Z"))
    assert.equal('"2024-01-31T09:30:00Z"', dt("2024-01-31T09:30:00.000Z"))
    assert.equal('"2024-01-31T09:30:00.5Z"', dt("2024-01-31T09:30:00.500Z"))
    assert.equal('"2024-01-31T09:30:00.1234567Z"', dt("2024-01-31T09:30:00.1234567Z"))
  end)

  it("accepts lower-case t and z and a space separator", function()
    assert.equal('"2024-01-31T09:30:00Z"', dt("2024-01-31t09:30:00z"))
    assert.equal('"2024-01-31T09:30:00Z"', dt("2024-01-31 09:30:00Z"))
  end)

  it("converts offsets to UTC, across day, month and year boundaries", function()
    assert.equal('"2024-01-31T08:30:00Z"', dt("2024-01-31T09:30:00+01:00"))
    assert.equal('"2024-02-01T03:00:00Z"', dt("2024-01-31T22:00:00-05:00"))
    assert.equal('"2023-12-31T18:30:00Z"', dt("2024-01-01T00:00:00+05:30"))
    assert.equal('"2024-03-01T00:59:00Z"', dt("2024-02-29T23:59:00-01:00"))
    assert.equal('"2024-01-31T09:30:00Z"', dt("2024-01-31T09:30:00-00:00"))
  end)

  it("rounds fractions past 7 digits to 100 ns ticks, carrying into the seconds", function()
    assert.equal('"2024-01-31T09:30:00.1234568Z"', dt("2024-01-31T09:30:00.12345678Z"))
    assert.equal('"2024-01-31T09:30:00.1234567Z"', dt("2024-01-31T09:30:00.12345674999Z"))
    assert.equal('"2025-01-01T00:00:00Z"', dt("2024-12-31T23:59:59.99999999Z"))
  end)

  it("refuses impossible dates and times", function()
    assert.matches("no such day", dt_error("2023-02-29T00:00:00Z"))
    assert.matches("no such day", dt_error("2024-04-31T00:00:00Z"))
    assert.matches("month must be 1 to 12", dt_error("2024-13-01T00:00:00Z"))
    assert.matches("hour must be 0 to 23", dt_error("2024-01-01T24:00:00Z"))
    assert.matches("minute 0 to 59", dt_error("2024-01-01T10:60:00Z"))
    assert.matches("impossible time zone offset", dt_error("2024-01-01T10:00:00+24:00"))
    assert.equal('"2024-02-29T00:00:00Z"', dt("2024-02-29T00:00:00Z"))
    assert.equal('"2000-02-29T00:00:00Z"', dt("2000-02-29T00:00:00Z"))
    assert.matches("no such day", dt_error("1900-02-29T00:00:00Z"))
  end)

  it("refuses leap seconds", function()
    assert.matches("leap seconds", dt_error("2016-12-31T23:59:60Z"))
  end)

  it("refuses text that is not RFC 3339, saying what it wanted", function()
    local bad = { "2024-01-31", "2024-01-31T09:30Z", "2024-01-31T09:30:00", "31/01/2024 09:30:00",
                  "2024-01-31T09:30:00.Z", "2024-01-31T09:30:00+0100", "2024-01-31T09:30:00Z ",
                  "", "now", "2024-1-31T09:30:00Z" }
    for _, s in ipairs(bad) do
      local e = dt_error(s)
      assert.is_truthy(e:find("expected an RFC 3339 date-time", 1, true) or e:find("time zone", 1, true), e)
    end
    assert.matches("a time zone %(Z or %+HH:MM%) is required", dt_error("2024-01-31T09:30:00"))
    assert.matches("got '2024%-01%-31'", dt_error("2024-01-31"))
  end)

  it("refuses instants outside 0001..9999 once converted to UTC", function()
    assert.matches("outside the years 0001 to 9999", dt_error("9999-12-31T23:00:00-01:00"))
    assert.matches("outside the years 0001 to 9999", dt_error("0001-01-01T00:00:00+01:00"))
    assert.equal('"0001-01-01T00:00:00Z"', dt("0001-01-01T00:00:00Z"))
    assert.equal('"9999-12-31T23:59:59.9999999Z"', dt("9999-12-31T23:59:59.9999999Z"))
    assert.matches("year outside 0001 to 9999", dt_error("0000-01-01T00:00:00Z"))
  end)
end)

describe("DateTime from Unix seconds", function()
  it("reads integers and fractions exactly as written", function()
    assert.equal('"1970-01-01T00:00:00Z"', dt(0))
    assert.equal('"2023-11-14T22:13:20Z"', dt(1700000000))
    assert.equal('"2023-11-14T22:13:20.123Z"', dt(1700000000.123))
    assert.equal('"2001-09-09T01:46:40.0000001Z"', dt(1000000000.0000001))
    assert.equal('"1969-12-31T23:59:59.5Z"', dt(-0.5))
  end)

  it("refuses NaN, infinities and years outside 0001..9999", function()
    assert.matches("outside the years", dt_error(0 / 0))
    assert.matches("outside the years", dt_error(math.huge))
    assert.matches("outside the years", dt_error(253402300800))   -- 10000-01-01
    assert.equal('"9999-12-31T23:59:59Z"', dt(253402300799))
  end)
end)

describe("DateTime from date tables", function()
  it("reads year, month, day with hour, min, sec defaulting to 0", function()
    assert.equal('"2024-01-31T00:00:00Z"', dt({ year = 2024, month = 1, day = 31 }))
    assert.equal('"2024-01-31T09:30:15Z"',
                 dt({ year = 2024, month = 1, day = 31, hour = 9, min = 30, sec = 15 }))
    assert.equal('"2024-01-31T09:30:15.25Z"',
                 dt({ year = 2024, month = 1, day = 31, hour = 9, min = 30, sec = 15.25 }))
  end)

  it("rounds sec to 100 ns ticks, carrying into the minute as text does (60 itself is a leap second)", function()
    assert.equal('"2024-12-31T23:59:59.9999999Z"', dt({ year = 2024, month = 12, day = 31, hour = 23, min = 59,
                                                       sec = 59.99999994 }))
    assert.equal('"2025-01-01T00:00:00Z"', dt({ year = 2024, month = 12, day = 31, hour = 23, min = 59,
                                               sec = 59.99999999 }))
    assert.matches("outside the years", dt_error({ year = 9999, month = 12, day = 31, hour = 23, min = 59,
                                                  sec = 59.99999999 }))
    assert.matches("leap seconds", dt_error({ year = 2016, month = 12, day = 31, hour = 23, min = 59, sec = 60.5 }))
  end)

  it("round-trips os.date('!*t') (isdst, yday and wday are ignored)", function()
    local t = os.date("!*t", 1700000000)
    assert.equal('"2023-11-14T22:13:20Z"', dt(t))
  end)

  it("reads the table as UTC whatever the process's TZ", function()
    local out = h.run_lua([[
      local core = require "graphcomm.core"
      io.write(core.encode{ startDateTime = { year = 2024, month = 7, day = 1, hour = 12 },
                            endDateTime = os.date("!*t", 1700000000) })
    ]], "TZ=Asia/Kolkata")
    assert.equal('{"endDateTime":"2023-11-14T22:13:20Z","startDateTime":"2024-07-01T12:00:00Z"}', out)
  end)

  it("reads the table as UTC in a zone with daylight saving, even at an hour the zone skips", function()
    -- 2024-03-10 02:30 does not exist in New York (clocks go from 02:00 to 03:00): mktime
    -- would move it; read as UTC it is an ordinary instant. July is in daylight time there.
    local code = [[
      local core = require "graphcomm.core"
      -- the zone is in effect (tzdata present): local noon is not UTC noon
      assert(os.getenv("TZ") == "UTC" or os.time{ year = 2024, month = 7, day = 1, hour = 12 } ~= 1719835200)
      io.write(core.encode{ startDateTime = { year = 2024, month = 3, day = 10, hour = 2, min = 30 },
                            endDateTime = { year = 2024, month = 7, day = 1, hour = 12, isdst = true } })
    ]]
    local want = '{"endDateTime":"2024-07-01T12:00:00Z","startDateTime":"2024-03-10T02:30:00Z"}'
    assert.equal(want, h.run_lua(code, "TZ=America/New_York"))
    assert.equal(want, h.run_lua(code, "TZ=UTC"))
  end)

  it("refuses missing fields, impossible dates, leap seconds and stray keys", function()
    assert.matches("needs year, month and day", dt_error({ year = 2024, month = 1 }))
    assert.matches("no such day", dt_error({ year = 2023, month = 2, day = 29 }))
    assert.matches("month must be 1 to 12", dt_error({ year = 2023, month = 0, day = 1 }))
    assert.matches("leap seconds", dt_error({ year = 2016, month = 12, day = 31, hour = 23, min = 59, sec = 60 }))
    assert.matches("hour must be 0 to 23", dt_error({ year = 2016, month = 12, day = 31, hour = 24 }))
    assert.matches("whole numbers", dt_error({ year = 2016.5, month = 12, day = 31 }))
    assert.matches("must be numbers", dt_error({ year = "2016", month = 12, day = 31 }))
    assert.matches("takes only year", dt_error({ year = 2016, month = 12, day = 31, tz = "UTC" }))
    assert.matches("takes only year", dt_error({ 2016, 12, 31 }))
  end)
end)

describe("DateTime wrong types and depth", function()
  it("refuses booleans and other types", function()
    assert.matches("^expected a date%-time", dt_error(true))
  end)

  it("applies at every depth, with the exact path", function()
    local e = h.error{ segments = { {}, { media = { { streams = { { startDateTime = "2023-02-30T00:00:00Z" } } } } } } }
    assert.equal("segments[2].media[1].streams[1].startDateTime: impossible date: no such day "
                 .. "in that month, got '2023-02-30T00:00:00Z'", e)
  end)

  it("normalizes to the canonical string", function()
    local n = h.core.normalize{ startDateTime = 1700000000.5, endDateTime = "2024-01-01T01:00:00+01:00" }
    assert.equal("2023-11-14T22:13:20.5Z", n.startDateTime)
    assert.equal("2024-01-01T00:00:00Z", n.endDateTime)
  end)
end)
