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
