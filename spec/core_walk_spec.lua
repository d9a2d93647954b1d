-- The encoder walk's safety (issue 11): nothing it reads dies while it is used, no
-- user Lua code runs inside it, LuaJIT int64 cdata are told by their ctype, and its
-- work is bounded by the input and max_bytes whatever the table graph. Run under
-- ASan (make check) and valgrind (make check-valgrind), where a use-after-free
-- shows as a report, not only as a wrong answer.
local core = require "graphcomm.core"

local is_luajit = rawget(_G, "jit") ~= nil

-- A finalizer that empties a table while the walk lists its keys. The collector's
-- timing depends on the size of the heap, and busted's is large: the check runs in
-- a fresh interpreter (the one running the specs, so ASan's wrapper under make
-- check; under valgrind, valgrind again), where finalizers run many times within
-- one walk and the removed keys are freed before the walk is through with them.
local CHILD = [[
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or ("build/" .. (rawget(_G, "jit") and "luajit"
  or _VERSION:gsub("Lua ", "lua")))) .. "/?.so;" .. package.cpath
local core = require "graphcomm.core"
local victim, bad_inner
local armed = true
local fired = 0
local function arm()
  local gc = function()
    if not armed then return end
    fired = fired + 1
    if victim then for k in pairs(victim) do victim[k] = nil end end
    local v = core.encode{ id = "inner", modalities = { "video" } }   -- nested in the walk
    if v ~= '{"id":"inner","modalities":["video"]}' then bad_inner = tostring(v) end
    arm()
  end
  if rawget(_G, "newproxy") then getmetatable(newproxy(true)).__gc = gc
  else setmetatable({}, { __gc = gc }) end
end
local function body()   -- long keys that nothing else refers to
  local t = {}
  for i = 1, 3000 do t[string.rep("k", 45) .. i .. string.rep("z", 10)] = i end
  return t
end
local KEY = "^" .. string.rep("k", 45) .. "%d+" .. string.rep("z", 10) .. "$"
local function check(fn, res, err)
  if fn == "encode" and res then
    for k in res:gmatch('"(k+%d+z+)"') do assert(k:match(KEY), k) end
  elseif res then
    local n = fn == "session" and res:totable() or res
    for k in pairs(n.AdditionalProperties.x) do assert(k:match(KEY), k) end
  else
    assert(err.kind == "validation", tostring(err))
    for _, e in ipairs(err.errors) do
      local k = e.path:match("^x%.([^.]*)")
      assert(not k or k:match(KEY), e.path)
    end
  end
end
-- (This schedule made the walk of the previous code read freed keys, under ASan and
-- valgrind alike: where in a walk a collection ends depends on every allocation.)
if _VERSION == "Lua 5.4" then collectgarbage("incremental", 0, 1000, 0)
else collectgarbage("setpause", 10) end
arm()
for _, fn in ipairs{ "normalize", "encode", "session" } do
  for _ = 1, 30 do
    victim = body()
    local res, err = core[fn]{ AdditionalProperties = { x = victim } }
    victim = nil
    check(fn, res, err)
  end
end
-- The outer walks meanwhile keep their own buffer: the same body, the same text.
local ap = {}
for i = 1, 3000 do ap["key" .. i] = string.rep("v", 20) .. i end
local first = core.encode{ id = "outer", AdditionalProperties = ap }
for _ = 1, 5 do assert(core.encode{ id = "outer", AdditionalProperties = ap } == first) end
armed = false
assert(not bad_inner, bad_inner)
io.write("ok ", fired, "\n")
]]

describe("the walk while a finalizer empties the table", function()
  it("reads only live keys (encode, session, normalize); an encode nested there has its own buffer", function()
    local lua = require("helpers.command").lua   -- by name: make check's ASan wrapper is first in PATH
    local prefix = (os.getenv("LD_PRELOAD") or ""):match("vgpreload")
      and "valgrind --quiet --error-exitcode=99 " or ""
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(CHILD)
    f:close()
    local p = assert(io.popen(prefix .. lua .. " " .. path .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    local fired = tonumber(out:match("^ok (%d+)\n$"))
    assert(fired, out)
    assert.is_true(fired > 10, "the finalizer ran only " .. fired .. " times")
  end)
end)

describe("no user Lua code inside the walk", function()
  local calls
  local function count() calls = calls + 1 end
  local spy_mt = {
    __index = function() count() end, __newindex = function() count() end,
    __len = function() count() return 0 end, __pairs = function(t) count() return next, t end,
    __ipairs = function(t) count() return ipairs(t) end,
    __tostring = function() count() return "spy" end, __eq = function() count() return true end,
    __lt = function() count() return true end, __le = function() count() return true end,
    __concat = function() count() return "" end, __call = function() count() end,
  }
  local function spy(t) return setmetatable(t, spy_mt) end

  before_each(function() calls = 0 end)

  it("reads tables raw, whatever their metatables", function()
    local body = spy{
      id = "s1", modalities = spy{ "audio" },
      caller = spy{ ["@odata.type"] = "#microsoft.graph.callRecords.participantEndpoint",
                    userAgent = spy{ headerValue = "x" },
                    feedback = spy{ tokens = spy{ NoSound = true } } },
      segments = spy{ spy{ media = spy{ spy{ streams = spy{ spy{ averageJitter = "PT1S" } } } } } },
      AdditionalProperties = spy{ list = spy{ 1, 2, spy{ a = spy{} } }, obj = spy{ b = "c" } },
    }
    for _, fn in ipairs{ "encode", "normalize", "session" } do
      assert.truthy(core[fn](body))
    end
    local _, err = core.encode(spy{ bogus = spy{}, segments = spy{ n = 1 },
                                    AdditionalProperties = spy{ x = spy{ 1, y = 2 } } })
    assert.equal("validation", err.kind)
    assert.equal(0, calls)
  end)

  it("looks up the cjson markers raw", function()
    local saved_cjson, saved_safe = package.loaded.cjson, package.loaded["cjson.safe"]
    local saved_mt = getmetatable(package.loaded)
    package.loaded.cjson = spy{}
    package.loaded["cjson.safe"] = nil
    setmetatable(package.loaded, spy_mt)
    local ok, err = pcall(function()
      assert.truthy(core.encode{ AdditionalProperties = { a = {}, b = setmetatable({}, {}) } })
    end)
    setmetatable(package.loaded, saved_mt)
    package.loaded.cjson, package.loaded["cjson.safe"] = saved_cjson, saved_safe
    assert(ok, err)
    assert.equal(0, calls)
  end)

  if is_luajit then
    local ffi = require "ffi"
    local tostrings = 0
    pcall(ffi.cdef, "typedef struct { int v; } graphcomm_spec_box;")
    local box_t = ffi.metatype("graphcomm_spec_box", {
      __tostring = function() tostrings = tostrings + 1 collectgarbage() return "5LL" end })

    it("refuses a struct cdata whose __tostring reads like an int64, without calling it", function()
      for _, prop in ipairs{ "linkSpeed", "port" } do
        local body, err = core.encode({ [prop] = box_t(1) }, { type = "networkInfo" })
        assert.is_nil(body)
        assert.matches("expected an Int.. number, got a cdata", err.errors[1].message)
      end
      local body, err = core.encode{ AdditionalProperties = { x = box_t(1) } }
      assert.is_nil(body)
      assert.matches("a cdata cannot be written as JSON", err.errors[1].message)
      assert.equal(0, tostrings)
    end)

    it("still takes int64_t and uint64_t cdata, qualifiers aside", function()
      local v = ffi.new("const int64_t", -5)
      assert.equal('{"linkSpeed":-5,"port":7}',
                   core.encode({ linkSpeed = v, port = ffi.new("uint64_t", 7) }, { type = "networkInfo" }))
      assert.equal('{"x":-9223372036854775808}',
                   core.encode{ AdditionalProperties = { x = assert(load("return -9223372036854775807LL - 1"))() } })
    end)
  end
end)

describe("bounded work", function()
  it("stops a table reached by 2^60 paths at max_bytes", function()
    local n = 1
    for _ = 1, 60 do n = { n, n } end
    local body, err = core.encode{ AdditionalProperties = { x = n } }
    assert.is_nil(body)
    assert.matches("larger than max_bytes", tostring(err))
    local s, err2 = core.session({ AdditionalProperties = { x = n } }, { max_bytes = 1000 })
    assert.is_nil(s)
    assert.matches("larger than max_bytes %(1000 bytes%)", tostring(err2))
  end)

  it("stops objects shared by 2^60 paths too", function()
    local n = { leaf = "v" }
    for _ = 1, 60 do n = { a = n, b = n } end
    local body, err = core.normalize({ AdditionalProperties = { x = n } }, { max_bytes = 100000 })
    assert.is_nil(body)
    assert.matches("larger than max_bytes", tostring(err))
  end)

  it("bounds the work on a large erroneous table shared many times", function()
    local big = { x = 1 }
    for i = 1, 20000 do big[i] = i end
    local arr = {}
    for i = 1, 20000 do arr[i] = big end
    local body, err = core.encode({ AdditionalProperties = { x = arr } }, { max_bytes = 65536 })
    assert.is_nil(body)
    assert.matches("mixed keys", tostring(err))
    assert.matches("^the body takes more work to check than max_bytes %(65536 bytes%) allows",
                   err.errors[#err.errors].message)
    assert.is_true(#err.errors < 100)
  end)

  it("still lists every error of a normal body", function()
    local segs = {}
    for i = 1, 30 do segs[i] = { id = i, bogus = true } end
    local _, err = core.encode{ segments = segs, modalities = { "nope" } }
    assert.equal(61, #err.errors)
  end)
end)

-- True when s is well-formed UTF-8 (any Lua).
local function utf8_ok(s)
  local i = 1
  while i <= #s do
    local c = s:byte(i)
    local n = c < 0x80 and 0 or c >= 0xF0 and 3 or c >= 0xE0 and 2 or c >= 0xC2 and 1 or -1
    if n < 0 then return false end
    for j = i + 1, i + n do
      local d = s:byte(j)
      if not d or d < 0x80 or d > 0xBF then return false end
    end
    i = i + n + 1
  end
  return true
end

describe("tostring(session)", function()
  it("cuts at a character boundary", function()
    for pad = 40, 60 do
      local s = assert(core.session{ id = string.rep("a", pad) .. string.rep("\195\169\226\130\172\240\159\152\128", 10) })
      local text = tostring(s)
      assert.is_true(utf8_ok(text), text)
      assert.matches("%.%.%.$", text)
      assert.is_true(#text <= #"graphcomm.session: " + 60 + 3)
    end
  end)
end)
