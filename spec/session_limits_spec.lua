-- Limits: depth, cycles and body size are errors, never crashes (docs/contract.md
-- section 2); the buffer survives errors and nested calls.
local h = require "helpers.session"
local core = h.core

describe("nesting", function()
  it("refuses generic JSON deeper than 64 tables", function()
    local t = {}
    local deep = t
    for _ = 1, 70 do deep.n = {} deep = deep.n end
    local e = h.error{ AdditionalProperties = { x = t } }
    assert.matches("nested deeper than 64 tables$", e)
    assert.matches("^x%.n%.n%.n", e)
  end)

  it("accepts generic JSON up to the cap", function()
    local t = {}
    local deep = t
    for _ = 1, 60 do deep.n = {} deep = deep.n end
    assert.is_string(core.encode{ AdditionalProperties = { x = t } })
  end)

  it("stops cycles in generic JSON", function()
    local t = { a = 1 }
    t.self = t
    assert.equal("x.self: cycle: this table contains itself", h.error{ AdditionalProperties = { x = t } })
    local arr = {}
    arr[1] = arr
    assert.equal("x[1]: cycle: this table contains itself", h.error({ x = arr }, { allow_unknown = true }))
  end)

  it("stops cycles through schema properties", function()
    local s = {}
    s.segments = { s }
    assert.equal("segments[1]: cycle: this table contains itself", h.error(s))
    local seg = {}
    seg.media = { { streams = { {} } } }
    seg.media[1].streams[1].AdditionalProperties = { back = seg }
    assert.equal("segments[1].media[1].streams[1].back: cycle: this table contains itself",
                 h.error{ segments = { seg } })
  end)

  it("lets the same table appear twice when it is not a cycle", function()
    local ua = { headerValue = "x" }
    assert.equal('{"callee":{"userAgent":{"headerValue":"x"}},"caller":{"userAgent":{"headerValue":"x"}}}',
                 h.json{ callee = { userAgent = ua }, caller = { userAgent = ua } })
  end)
end)

describe("max_bytes", function()
  local big = { failureInfo = { reason = string.rep("r", 5000) } }

  it("refuses bodies over opts.max_bytes with one error and an empty path", function()
    local _, err = core.encode(big, { max_bytes = 1000 })
    assert.equal(1, #err.errors)
    assert.equal("", err.errors[1].path)
    assert.equal("the body is larger than max_bytes (1000 bytes)", err.errors[1].message)
    assert.equal("graphcomm: validation failed: 1 error: the body is larger than max_bytes (1000 bytes)", tostring(err))
  end)

  it("accepts a body of exactly max_bytes", function()
    local body = h.json(big)
    assert.equal(body, core.encode(big, { max_bytes = #body }))
    assert.is_nil(core.encode(big, { max_bytes = #body - 1 }))
  end)

  it("defaults to 4 MiB", function()
    local huge = { failureInfo = { reason = string.rep("x", 4 * 1024 * 1024) } }
    local _, err = core.encode(huge)
    assert.equal("the body is larger than max_bytes (4194304 bytes)", err.errors[1].message)
    assert.is_string(core.encode(huge, { max_bytes = 5 * 1024 * 1024 }))
  end)

  it("still reports the other errors", function()
    local _, err = core.encode({ failureInfo = { reason = string.rep("r", 5000), stage = "no" } }, { max_bytes = 100 })
    assert.equal(2, #err.errors)
  end)
end)

describe("the reused buffer", function()
  local good = { id = "x", modalities = { "audio" } }
  local first = h.json(good)

  it("gives the same output after errors", function()
    for _ = 1, 3 do
      assert.is_nil(core.encode{ id = 1 })
      assert.equal(first, core.encode(good))
    end
  end)

  if rawget(_G, "jit") then
    it("never runs a cdata's __tostring, so no encode nests there (LuaJIT)", function()
      local ffi = require "ffi"
      ffi.cdef "typedef struct { int x; } gc_spec_nested;"
      local inner
      local T = ffi.metatype("gc_spec_nested", { __tostring = function()
        inner = core.encode{ id = "inner", modalities = { "video" } }
        return "not a number"
      end })
      local body, err = core.encode{ id = "outer", segments = { { media = { { callerNetwork = { linkSpeed = T() } } } } } }
      assert.is_nil(body)
      assert.equal("segments[1].media[1].callerNetwork.linkSpeed: expected an Int64 number, got a cdata",
                   err.errors[1].path .. ": " .. err.errors[1].message)
      assert.is_nil(inner)   -- nesting through a finalizer: spec/core_walk_spec.lua
      assert.equal(first, core.encode(good))
    end)
  end

  it("is not kept when it grew very large", function()
    local huge = { failureInfo = { reason = string.rep("x", 2 * 1024 * 1024) } }
    assert.equal(2 * 1024 * 1024 + 29, #core.encode(huge))
    assert.equal('{"id":"y"}', core.encode{ id = "y" })
  end)
end)
