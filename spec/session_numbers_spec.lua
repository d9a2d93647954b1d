-- Numbers: Int32, Int64, Single, Double (docs/contract.md section 2).
local h = require "helpers.session"
local core = h.core
local value, value_error = h.value, h.value_error
local is_luajit = rawget(_G, "jit") ~= nil

describe("Int32 properties", function()
  it("takes integral numbers in range, written without a fraction", function()
    assert.equal("443", value("networkInfo", "port", 443))
    assert.equal("443", value("networkInfo", "port", 443.0))
    assert.equal("-2147483648", value("deviceInfo", "sentNoiseLevel", -2147483648))
    assert.equal("2147483647", value("deviceInfo", "howlingEventCount", 2147483647))
    assert.equal("0", value("networkInfo", "port", -0.0))
  end)

  it("refuses fractions, out-of-range values and non-finite numbers", function()
    assert.matches("not a whole number", value_error("networkInfo", "port", 1.5))
    assert.matches("out of range for Int32", value_error("networkInfo", "port", 2147483648))
    assert.matches("out of range for Int32", value_error("networkInfo", "port", -2147483649))
    assert.matches("out of range for Int32", value_error("networkInfo", "port", 1e300))
    assert.matches("not a finite number", value_error("networkInfo", "port", 0 / 0))
    assert.matches("not a finite number", value_error("networkInfo", "port", math.huge))
  end)

  it("refuses numeric strings and booleans", function()
    assert.equal("expected an Int32 number, got '443'", value_error("networkInfo", "port", "443"))
    assert.equal("expected an Int32 number, got true", value_error("networkInfo", "port", true))
  end)

  it("covers the newer participantEndpoint fields as Int32 (docs/contract.md section 2)", function()
    local pe = "participantEndpoint"
    assert.equal("8", value(pe, "cpuCoresCount", 8))
    assert.equal("2400", value(pe, "cpuProcessorSpeedInMhz", 2400))
    assert.matches("out of range for Int32", value_error(pe, "cpuCoresCount", 2 ^ 40))
  end)
end)

describe("Int64 properties", function()
  it("takes integers up to 2^53 exactly, and floats only when whole", function()
    assert.equal("1000000000", value("networkInfo", "linkSpeed", 1e9))
    assert.equal("9007199254740992", value("mediaStream", "packetUtilization", 2 ^ 53))
    assert.equal("-9007199254740992", value("mediaStream", "packetUtilization", -2 ^ 53))
    assert.matches("not a whole number %(Int64%)", value_error("networkInfo", "linkSpeed", 0.5))
  end)

  it("refuses floats past 2^53, which cannot tell neighbouring integers apart", function()
    local e = value_error("mediaStream", "averageBandwidthEstimate", 2 ^ 60)
    assert.matches("float beyond 2%^53", e)
    assert.matches("123LL", e)
  end)

  if math.type then
    it("takes every Lua integer, up to math.maxinteger", function()
      assert.equal("9223372036854775807", value("networkInfo", "linkSpeed", math.maxinteger))
      assert.equal("-9223372036854775808", value("networkInfo", "linkSpeed", math.mininteger))
      assert.equal("1234567890123456789",
                   value("networkInfo", "linkSpeed", math.tointeger("1234567890123456789")))
    end)
  end

  if is_luajit then
    it("takes LuaJIT int64 cdata exactly", function()
      local ll = assert(load("return 1234567890123456789LL, -9223372036854775807LL - 1, 42ULL, 18446744073709551615ULL"))
      local a, b, c, d = ll()
      assert.equal("1234567890123456789", value("networkInfo", "linkSpeed", a))
      assert.equal("-9223372036854775808", value("networkInfo", "linkSpeed", b))
      assert.equal("42", value("networkInfo", "port", c))
      assert.matches("out of range for Int64", value_error("networkInfo", "linkSpeed", d))
      local n = core.normalize({ linkSpeed = a }, { type = "networkInfo" })
      assert.equal(a, n.linkSpeed)
    end)

    it("refuses other cdata", function()
      local ffi = require "ffi"
      assert.matches("expected an Int64 number, got a cdata",
                     value_error("networkInfo", "linkSpeed", ffi.new("double", 1)))
    end)
  end
end)

describe("Single and Double properties", function()
  it("writes the shortest text that reads back to the same double", function()
    assert.equal("0.1", value("mediaStream", "averagePacketLossRate", 0.1))
    assert.equal("0.30000000000000004", value("mediaStream", "averagePacketLossRate", 0.1 + 0.2))
    assert.equal("0.3333333333333333", value("mediaStream", "averagePacketLossRate", 1 / 3))
    assert.equal("12.5", value("mediaStream", "averageVideoFrameRate", 12.5))
    assert.equal("-0.015625", value("deviceInfo", "micGlitchRate", -0.015625))
    assert.equal("1e-07", value("deviceInfo", "micGlitchRate", 1e-7))
    assert.equal("3.4e+38", value("deviceInfo", "micGlitchRate", 3.4e38))
    assert.equal("9007199254740992", value("deviceInfo", "micGlitchRate", 2 ^ 53))
    assert.equal("0", value("deviceInfo", "micGlitchRate", 0))
    -- subnormals carry fewer digits than %.15g would print
    assert.equal("5e-324", value("deviceInfo", "micGlitchRate", 5e-324))
    assert.equal("-1e-320", value("deviceInfo", "micGlitchRate", -1e-320))
    assert.equal("1.119e-320", value("deviceInfo", "micGlitchRate", 1.119e-320))
  end)

  it("round-trips awkward doubles exactly", function()
    local samples = { 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308 / 1e270,
                      123456.789, 0.000123456789, 98765.4321e-10, 2 ^ -30, 1 - 2 ^ -53,
                      4.35, 1.005, 100.1, 3.14159265358979 }
    for _, d in ipairs(samples) do
      local text = h.json({ avg = d }, { type = "mediaStream", allow_unknown = true })
      local back = h.cjson.decode(text).avg
      assert.equal(d, back)
      assert.equal(d, tonumber(text:match(":(.-)}$")))
    end
  end)

  it("is locale-proof: a decimal-comma locale changes nothing", function()
    local out = h.run_lua([[
      assert(os.setlocale("de_DE.UTF-8", "numeric"), "no de_DE locale")
      assert(rawget(_G, "jit") or string.format("%.1f", 1.5) == "1,5")
      local core = require "graphcomm.core"
      io.write(core.encode({ averagePacketLossRate = 0.30000000000000004, maxPacketLossRate = 1.5e-30,
                             averageJitter = 0.25 }, { type = "mediaStream" }))
    ]], "LOCPATH=" .. h.comma_locale())
    assert.equal('{"averageJitter":"PT0.25S","averagePacketLossRate":0.30000000000000004,'
                 .. '"maxPacketLossRate":1.5e-30}', out)
  end)

  it("refuses values outside float32 for Single, and NaN or infinities", function()
    assert.matches("outside the range of a Single",
                   value_error("mediaStream", "averagePacketLossRate", 3.5e38))
    assert.matches("outside the range of a Single",
                   value_error("mediaStream", "averagePacketLossRate", -1e39))
    assert.matches("not a finite number", value_error("mediaStream", "maxPacketLossRate", 0 / 0))
    assert.matches("not a finite number", value_error("mediaStream", "maxPacketLossRate", -math.huge))
  end)

  it("refuses numeric strings and booleans", function()
    assert.equal("expected a number (Single), got '0.5'",
                 value_error("mediaStream", "averagePacketLossRate", "0.5"))
    assert.equal("expected a number (Single), got false",
                 value_error("mediaStream", "averagePacketLossRate", false))
  end)

  it("keeps numbers as numbers in the normalized copy", function()
    local n = core.normalize({ port = 443.0, micGlitch = 1 }, { type = "networkInfo", allow_unknown = true })
    assert.equal(443, n.port)
    if math.type then assert.equal("integer", math.type(n.port)) end
  end)
end)
