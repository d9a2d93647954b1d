-- graphcomm.json: how answers are decoded (lua-cjson, empty arrays kept) and how
-- `graphcomm get` prints them.
local json = require "graphcomm.json"
local core = require "graphcomm.core"

describe("graphcomm.json", function()
  it("keeps [] apart from {}, at any depth, and leaves strings alone", function()
    local v = assert(json.decode('{"a":[],"b":{},"c":[ [ ] ,{"d":[]}],"s":"x[]y\\"[ ]","t":"[]"}'))
    assert.are.equal(json.array_mt, getmetatable(v.a))
    assert.is_nil(getmetatable(v.b))
    assert.are.equal(json.array_mt, getmetatable(v.c[1]))
    assert.are.equal(json.array_mt, getmetatable(v.c[2].d))
    assert.are.equal('x[]y"[ ]', v.s)
    assert.are.equal("[]", v.t)
    -- The encoder takes the marks: unknown names keep their shape on the way back.
    assert.are.equal('{"a":[],"b":{}}', core.encode({ AdditionalProperties = { a = v.a, b = v.b } }))
  end)

  it("decodes null as graphcomm.null and reports bad JSON as nil, message", function()
    assert.are.equal(core.null, json.decode('{"x":null}').x)
    local v, err = json.decode('{"x":')
    assert.is_nil(v)
    assert.is_string(err)
    assert.is_nil((json.decode("NaN")))
  end)

  it("prints indented JSON with sorted keys and numbers as written", function()
    local v = assert(json.decode('{"b":[1,2.5,0.1,1e300,-0.0,3],"a":{"z":true,"y":null,"x":"\\u0001\\n\\"é"},"e":[],"o":{}}'))
    assert.are.equal(table.concat({
      "{",
      '  "a": {',
      '    "x": "\\u0001\\n\\"é",',
      '    "y": null,',
      '    "z": true',
      "  },",
      '  "b": [',
      "    1,",
      "    2.5,",
      "    0.1,",
      "    1e+300,",
      "    -0,",
      "    3",
      "  ],",
      '  "e": [],',
      '  "o": {}',
      "}" }, "\n"), json.pretty(v))
  end)
end)

describe("graphcomm.json integers past 2^53", function()
  it("decodes them exactly (an integer on 5.3+, int64 cdata on LuaJIT, a marked { digits } on 5.1), and the encoder writes them back", function()
    local text = '{"a":9007199254740993,"b":[-9223372036854775808,9223372036854775807],"s":"9007199254740993","f":1.5e300}'
    local v, err = json.decode(text)
    assert.is_table(v, err)
    if not (math.type or rawget(_G, "jit")) then
      assert.equal(core.int64_mt, getmetatable(v.a))
      assert.same({ "9007199254740993" }, v.a)
      assert.equal(json.int64_mt, core.int64_mt)
    end
    assert.equal("9007199254740993", (tostring(v.a):gsub("LL$", "")))
    assert.equal("-9223372036854775808", (tostring(v.b[1]):gsub("LL$", "")))
    assert.equal("9223372036854775807", (tostring(v.b[2]):gsub("LL$", "")))
    assert.equal("9007199254740993", v.s)
    assert.equal(1.5e300, v.f)
    assert.matches('"a": 9007199254740993,', json.pretty(v), 1, true)
    assert.equal('{"x":9007199254740993}', core.encode({ AdditionalProperties = { x = v.a } }))
    local s = assert(core.encode({ segments = { { media = { { streams = { { packetUtilization = v.a } } } } } } }))
    assert.matches('"packetUtilization":9007199254740993', s, 1, true)
    local top = assert(json.decode("-9007199254740993"))
    assert.equal("-9007199254740993", (tostring(top):gsub("LL$", "")))
    local n = assert(core.normalize({ segments = { { media = { { streams = { { packetUtilization = v.a } } } } } } }))
    assert.equal("9007199254740993", (tostring(n.segments[1].media[1].streams[1].packetUtilization):gsub("LL$", "")))
  end)

  it("refuses a marked integer that is not one", function()
    for _, bad in ipairs({ { "12x" }, { "" }, { 5 }, { "99999999999999999999" } }) do
      local body = { segments = { { media = { { streams = { { packetUtilization = setmetatable(bad, core.int64_mt) } } } } } } }
      assert.is_nil((core.encode(body)), tostring(bad[1]))
    end
    assert.is_nil((core.encode({ segments = { { media = { { callerNetwork = { port = setmetatable({ "9007199254740993" }, core.int64_mt) } } } } } })))
  end)

  it("refuses an integer outside the 64-bit range instead of rounding it", function()
    for _, text in ipairs({ "[9223372036854775808]", '{"x":-9223372036854775809}', "123456789012345678901234" }) do
      local v, err = json.decode(text)
      assert.is_nil(v, text)
      assert.matches("cannot be kept exactly", err)
    end
  end)

  it("leaves shorter integers, floats and digits inside strings as they were", function()
    local v = assert(json.decode('{"n":9007199254740992,"m":-12,"e":1e16,"d":12345678901234567.5,"s":"12345678901234567890","k":[]}'))
    assert.equal(9007199254740992, v.n)
    assert.equal(-12, v.m)
    assert.equal(1e16, v.e)
    assert.equal(12345678901234567.5, v.d)
    assert.equal("12345678901234567890", v.s)
    assert.equal(json.array_mt, getmetatable(v.k))
  end)

  it("cannot be fooled by a string that imitates its marks", function()
    local v = assert(json.decode('{"a":["\\u0000graphcomm:empty-array\\u0000"],"b":"\\u0000graphcomm:1234567890123456789"}'))
    assert.equal(1, #v.a)
    assert.equal("\0graphcomm:1234567890123456789", v.b)
  end)
end)
