-- Property specs for graphcomm's Lua parsers (issue 11; the C header parser has its
-- libFuzzer target in fuzz/): id percent-encoding, base URLs, Retry-After, the
-- journal reader and JSON decoding. Inputs come from a xorshift32 PRNG written here,
-- so every Lua draws the same cases; a failure names the seed and the input.
local request = require "graphcomm.request"
local options = require "graphcomm.options"
local retry = require "graphcomm.retry"
local journal = require "graphcomm.journal"
local json = require "graphcomm.json"

local SEED = 0x2545F491

-- xorshift32 in plain arithmetic (no bit library: Lua 5.1 has none).
local function prng(seed)
  local x = seed % 4294967296
  local function xor(a, b)
    local r, bit = 0, 1
    while a > 0 or b > 0 do
      if a % 2 ~= b % 2 then r = r + bit end
      a, b, bit = (a - a % 2) / 2, (b - b % 2) / 2, bit * 2
    end
    return r
  end
  local function step()
    x = xor(x, (x * 8192) % 4294967296)          -- x ^= x << 13
    x = xor(x, (x - x % 131072) / 131072)        -- x ^= x >> 17
    x = xor(x, (x * 32) % 4294967296)            -- x ^= x << 5
    return x
  end
  local r = {}
  function r.int(lo, hi) return lo + step() % (hi - lo + 1) end
  function r.pick(t) return t[r.int(1, #t)] end
  return r
end

local function show(s)
  s = tostring(s)
  if #s > 300 then s = s:sub(1, 300) .. "...(" .. #s .. " bytes)" end
  return (string.format("%q", s):gsub("\r", "\\r"):gsub("%z", "\\0"))
end

local function fail(name, input, why)
  error(string.format("%s: seed 0x%X, input %s: %s", name, SEED, show(input), why), 0)
end

local PIECES = { "\0", "\r", "\n", "%", "/", "?", "#", ".", "..", "%2e", "%00", "\195\169",
  "\226\130\172", "\240\159\152\128", "\255", "\192\175", "\237\160\128", "a", "Z", "9",
  "-", "_", "~", " ", "+", "@", ":", "[", "]", "\\" }

local function random_bytes(r, max)
  local out = {}
  for k = 1, r.int(0, max) do
    out[k] = r.int(1, 3) == 1 and string.char(r.int(0, 255)) or r.pick(PIECES)
  end
  return table.concat(out)
end

-- Mutates s: inserts, deletes or replaces pieces (from `extra` or PIECES).
local function mutate(r, s, extra)
  for _ = 1, r.int(1, 4) do
    local at = r.int(0, #s)
    local op = r.int(1, 3)
    local piece = r.int(1, 2) == 1 and r.pick(extra) or r.pick(PIECES)
    if op == 1 then
      s = s:sub(1, at) .. piece .. s:sub(at + 1)
    elseif op == 2 then
      s = s:sub(1, at) .. s:sub(at + r.int(1, 4))
    else
      s = s:sub(1, at) .. piece .. s:sub(at + #piece + 1)
    end
  end
  return s
end

local function pdecode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

describe("property: request ids", function()
  local CASES = 3000

  -- A segment holds only unreserved characters and %XX, and decodes back to the id.
  local function check_segment(name, input, seg)
    local rest = seg:gsub("%%%x%x", "")
    if rest:find("[^A-Za-z0-9%-%._~]") then fail(name, input, "segment " .. show(seg)) end
    if seg:find("%%") and seg:gsub("%%%x%x", ""):find("%%") then
      fail(name, input, "stray % in " .. show(seg))
    end
    if pdecode(seg) ~= input then fail(name, input, "decodes to " .. show(pdecode(seg))) end
  end

  local function refused(name, input, ok, p, err)
    if not ok then fail(name, input, "raised " .. tostring(p)) end
    if p ~= nil then return false end
    if type(err) ~= "table" or err.kind ~= "validation" then
      fail(name, input, "no validation error: " .. tostring(err))
    end
    return true
  end

  local function id(r)
    local k = r.int(1, 12)
    if k == 1 then return "." elseif k == 2 then return ".." elseif k == 3 then return "" end
    if k == 4 then return r.pick({ 1, true, {}, false }) end
    return random_bytes(r, 24)
  end

  it("encode, refuse . and .., and decode back to the id", function()
    local r = prng(SEED)
    for _ = 1, CASES do
      local c, s = id(r), id(r)
      local ok, p, err = pcall(request.session_path, c, s)
      -- numbers are ids too (their tostring); other non-strings are refused
      local bad = function(v) return type(v) ~= "string" and type(v) ~= "number" or v == "" or v == "." or v == ".." end
      if not refused("session_path", tostring(c) .. "|" .. tostring(s), ok, p, err) then
        if bad(c) or bad(s) then fail("session_path", tostring(c) .. "|" .. tostring(s), "accepted") end
        local cs, ss = p:match("^/communications/callRecords/([^/]*)/sessions/([^/]*)$")
        if not cs then fail("session_path", tostring(c) .. "|" .. tostring(s), "path " .. show(p)) end
        check_segment("session_path", tostring(c), cs)
        check_segment("session_path", tostring(s), ss)
      elseif not (bad(c) or bad(s)) then
        fail("session_path", tostring(c) .. "|" .. tostring(s), "refused a valid id")
      end
      ok, p, err = pcall(request.subscription_path, c)
      if not refused("subscription_path", tostring(c), ok, p, err) then
        if bad(c) then fail("subscription_path", tostring(c), "accepted") end
        check_segment("subscription_path", tostring(c), p:match("^/subscriptions/([^/]*)$") or "/")
      elseif not bad(c) then
        fail("subscription_path", tostring(c), "refused a valid id")
      end
      if type(c) == "string" then check_segment("encode_id", c, request.encode_id(c)) end
    end
  end)

  it("core.path: nil for an id request.lua must check, the path for the rest", function()
    local core = require "graphcomm.core"
    assert.equal("/a/x%20y/b/c", core.path("/a/", "x y", "/b/", "c"))
    for _, bad in ipairs({ "", ".", "..", 12, true, {} }) do
      assert.is_nil(core.path("/a/", bad, "/b/", "c"), tostring(bad))
      assert.is_nil(core.path("/a/", "c", "/b/", bad), tostring(bad))
    end
    assert.equal("/a/...", core.path("/a/", "..."))
    assert.equal("/a/.x", core.path("/a/", ".x"))
    assert.equal("/communications/callRecords/1/sessions/2.5", request.session_path(1, 2.5))
    assert.has_error(function() core.path("/a/", "x", {}) end)
    assert.has_error(function() core.path({}, "x") end)
    -- the refused id's position and why, the first one in order
    assert.same({ nil, 4, "empty" }, { core.path("/a/", "c", "/b/", "") })
    assert.same({ nil, 2, "dot" }, { core.path("/a/", "..", "/b/", "") })
    assert.same({ nil, 2, "number" }, { core.path("/a/", 12, "/b/", ".") })
    assert.same({ nil, 2, "type" }, { core.path("/a/", true) })
  end)

  it("names the refused id and says why, whichever id and however it is wrong", function()
    local cases = {
      { { "", "s" }, "CallRecordId", "CallRecordId is empty", "must not be empty" },
      { { "c", ".." }, "SessionId", "SessionId must not be ..", "must not be . or .." },
      { { 7, "" }, "SessionId", "SessionId is empty", "must not be empty" },
      { { "c", false }, "SessionId", "SessionId must be a string, got boolean", "must be a string" },
      { { {}, 1 }, "CallRecordId", "CallRecordId must be a string, got table", "must be a string" },
    }
    for _, case in ipairs(cases) do
      local p, err = request.session_path(case[1][1], case[1][2])
      assert.is_nil(p)
      assert.equal("validation", err.kind)
      assert.equal(case[3], err.message)
      assert.same({ { path = case[2], message = case[4] } }, err.errors)
    end
    local p, err = request.record_path(".")
    assert.is_nil(p)
    assert.equal("CallRecordId must not be .", err.message)
    p, err = request.subscription_path(nil)
    assert.is_nil(p)
    assert.equal("id must be a string, got nil", err.message)
    assert.equal("/subscriptions/5", request.subscription_path(5))
  end)

  it("encodes one id, whatever else a call passes along (a gsub's count)", function()
    local core = require "graphcomm.core"
    assert.equal("ab", core.encode_id("ab", "x"))
    assert.equal("a%20b", core.encode_id("a b", "x"))
    assert.equal("a%20b", core.encode_id("a b", "/t/", "c d"))
    assert.equal("a%20b", core.encode_id(("a_b"):gsub("_", " ")))
  end)
end)

describe("property: base URLs", function()
  local CASES = 4000
  local SEEDS = { "https://graph.microsoft.com", "https://graph.microsoft.us/", "http://127.0.0.1:8080",
    "http://localhost:9/root/", "https://[::1]:443/a/b", "http://[::1]", "HTTPS://Graph.Example.COM:8443/x",
    "http://10.0.0.1", "http://127.0.0.1.example.com", "https://h/v1.0", "https://h/beta/" }
  local EXTRA = { "@", "user:pw@", "?", "#", "?a=1", "#f", ":0", ":65535", ":65536", ":", "::",
    ":99999999999999999999", ":-1", ":8o", "/v1.0", "/V1.0/", "/beta", "/BETA", "/./", "/../", "/.",
    "//", "http://", "https://", "ftp://", "\0", "\r\n", "\t", "[", "]", "[::1]", "127.0.0.1",
    "localhost", "%40", "%2F", "\127" }

  local function check_accepted(input, u)
    local name = "parse_base_url"
    if u:find("[%z\1-\32\127?#]") then fail(name, input, "kept " .. show(u)) end
    local scheme, authority, path = u:match("^(%a[%w+.-]*)://([^/]*)(.*)$")
    if scheme ~= "http" and scheme ~= "https" then fail(name, input, "scheme of " .. show(u)) end
    if authority:find("@", 1, true) then fail(name, input, "userinfo in " .. show(u)) end
    local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
    if not host then host, port = authority:match("^([%w%-%.]+)(.*)$") end
    if not host or host == "" then fail(name, input, "no host in " .. show(u)) end
    if port ~= "" then
      local n = tonumber(port:match("^:(%d+)$"))
      if not n or n < 1 or n > 65535 then fail(name, input, "port of " .. show(u)) end
    end
    local lower = path:lower()
    if lower:find("/v1%.0/?$") or lower:find("/beta/?$") then fail(name, input, "version in " .. show(u)) end
    -- plain http only to loopback: request.prepare's check on the accepted URL
    local ok, s, h = pcall(request.check_url, (u:gsub("/+$", "")))
    if not ok then fail("check_url", u, "raised " .. tostring(s)) end
    if s == "http" and not request.is_loopback(h) then fail("check_url", u, "plain http to " .. h) end
    if s == "http" and not (h == "localhost" or h == "::1" or h:find("^127%.%d+%.%d+%.%d+$")) then
      fail("check_url", u, "loopback? " .. h)
    end
  end

  it("never raise; what is accepted is a clean http(s) root", function()
    local r = prng(SEED + 1)
    local accepted = 0
    for k = 1, CASES do
      local input = k % 5 == 0 and random_bytes(r, 40) or mutate(r, r.pick(SEEDS), EXTRA)
      local ok, u, err = pcall(options.parse_base_url, input)
      if not ok then fail("parse_base_url", input, "raised " .. tostring(u)) end
      if u == nil then
        if type(err) ~= "table" or err.kind ~= "validation" then fail("parse_base_url", input, "no error") end
      else
        accepted = accepted + 1
        check_accepted(input, u)
      end
    end
    assert.is_true(accepted > CASES / 20, "too few accepted: " .. accepted)
  end)
end)

describe("property: Retry-After", function()
  local CASES = 5000
  local DAYS = { "Sun", "Mon", "Sunday", "Xyz", "" }
  local MONTHS = { "Jan", "Feb", "nov", "DEC", "Foo", "" }

  local function value(r)
    local k = r.int(1, 9)
    local n = r.int(0, 99999)
    if k == 1 then return tostring(n) end
    if k == 2 then return n .. "." .. r.int(0, 999) end
    if k == 3 then return string.rep("9", r.int(10, 400)) .. (r.int(0, 1) == 1 and ".5" or "") end
    if k == 4 then return r.pick({ "-1", "-0", "NaN", "nan", "inf", "-inf", "1e400", "0x10", " 5 ", "1e3", ".5", "5." }) end
    if k == 5 then
      return string.format("%s, %02d %s %04d %02d:%02d:%02d GMT", r.pick(DAYS), r.int(0, 40), r.pick(MONTHS),
        r.int(0, 9999), r.int(0, 30), r.int(0, 70), r.int(0, 70))
    end
    if k == 6 then
      return string.format("%s, %02d-%s-%02d %02d:%02d:%02d GMT", r.pick(DAYS), r.int(0, 40), r.pick(MONTHS),
        r.int(0, 99), r.int(0, 30), r.int(0, 70), r.int(0, 70))
    end
    if k == 7 then
      return string.format("%s %s %2d %02d:%02d:%02d %04d", r.pick(DAYS), r.pick(MONTHS), r.int(0, 40),
        r.int(0, 30), r.int(0, 70), r.int(0, 70), r.int(0, 9999))
    end
    if k == 8 then return mutate(r, "Sun, 06 Nov 1994 08:49:37 GMT", { "9", " ", ",", "-", ":" }) end
    return random_bytes(r, 30)
  end

  it("never raises; a delay is finite and within [0, max_retry_delay]", function()
    local r = prng(SEED + 2)
    local now = 1700000000
    for _ = 1, CASES do
      local v = value(r)
      local cap = r.pick({ 0, 1, 30, 180, 3600 })
      local cfg = { max_retries = 10, max_retry_delay = cap, wall_clock = function() return now end,
        random = function() return r.int(0, 999) / 1000 end }
      local ok, d = pcall(retry.delay, cfg, r.int(1, 10), r.pick({ 429, 503, 504 }), { ["retry-after"] = v })
      if not ok then fail("retry.delay", v, "raised " .. tostring(d)) end
      if type(d) ~= "number" or d ~= d or d < 0 or d > cap then
        fail("retry.delay", v, "delay " .. tostring(d) .. " with max_retry_delay " .. cap)
      end
      ok, d = pcall(retry.retry_after, v, now)
      if not ok then fail("retry.retry_after", v, "raised " .. tostring(d)) end
      if d ~= nil and (type(d) ~= "number" or d ~= d or d < 0) then
        fail("retry.retry_after", v, "gave " .. tostring(d))
      end
    end
  end)
end)

describe("property: journal reading", function()
  local CASES = 150

  local function record(i, ok, crid, sid, digest)
    return string.format('{"i":%d,"ok":%s,"callRecordId":"%s","sessionId":"%s","digest":"%s","at":"x"}',
      i, ok and "true" or "false", crid, sid, digest)
  end

  -- A random file: its text, and the last complete record of each position.
  local function file(r)
    local parts, last = {}, {}
    for k = 1, r.int(0, 12) do
      local i, okv, c, s, d = r.int(1, 5), r.int(1, 3) > 1, r.pick({ "c1", "c2" }), r.pick({ "s1", "s2" }),
        r.pick({ "d1", "d2" })
      local kind = r.int(1, 7)
      if kind <= 3 then
        parts[k] = record(i, okv, c, s, d) .. (r.int(1, 4) == 1 and "\r\n" or "\n")
        last[i] = { ok = okv, c = c, s = s, d = d }
      elseif kind == 4 then
        parts[k] = random_bytes(r, 40):gsub("\n", "") .. "\n"
      elseif kind == 5 then
        parts[k] = string.rep("\0", r.int(1, 8)) .. "\n"
      elseif kind == 6 then
        parts[k] = string.rep("x", r.int(10000, 70000)) .. "\n"
      else
        parts[k] = "\n"
      end
    end
    local cut = r.int(1, 3) == 1
    if cut then
      local full = record(r.int(1, 5), true, "c1", "s1", "d1")
      parts[#parts + 1] = full:sub(1, r.int(1, #full - 1))
    end
    return table.concat(parts), last, cut
  end

  local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
  end

  it("keeps the record after a line holding NUL bytes (found by the property below)", function()
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    local f = assert(io.open(path, "wb"))
    f:write("x\0y\n" .. record(1, true, "c1", "s1", "d1") .. "\n\0\n" .. record(2, true, "c2", "s2", "d2") .. "\n")
    f:close()
    local j = assert(journal.open(path))
    assert.is_true(j:done(1, "c1", "s1", "d1"))
    assert.is_true(j:done(2, "c2", "s2", "d2"))
    j:close()
  end)

  it("never raises; only complete valid records are done; a write after a cut starts a line", function()
    local r = prng(SEED + 3)
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    for _ = 1, CASES do
      local text, last, cut = file(r)
      local f = assert(io.open(path, "wb"))
      f:write(text)
      f:close()
      local ok, j, err = pcall(journal.open, path)
      if not ok or not j then fail("journal.open", text, "raised or refused: " .. tostring(j or err)) end
      for i = 1, 5 do
        for _, c in ipairs({ "c1", "c2" }) do
          for _, s in ipairs({ "s1", "s2" }) do
            for _, d in ipairs({ "d1", "d2" }) do
              local want = last[i] ~= nil and last[i].ok and last[i].c == c and last[i].s == s and last[i].d == d
              if j:done(i, c, s, d) ~= (want and true or false) then
                fail("journal done", text, string.format("done(%d,%s,%s,%s) should be %s", i, c, s, d, tostring(want)))
              end
            end
          end
        end
      end
      assert(j:write({ i = 9, ok = true, callRecordId = "c9", sessionId = "s9", digest = "d9" }))
      assert(j:close())
      local after = slurp(path)
      local added = after:sub(#text + 1)
      local want_start = cut and "\n{" or "{"
      if added:sub(1, #want_start) ~= want_start then
        fail("journal write", text, "appended " .. show(added:sub(1, 40)))
      end
      local again = assert(journal.open(path))
      if not again:done(9, "c9", "s9", "d9") then fail("journal reopen", text, "record 9 not done") end
      again:close()
    end
  end)
end)

describe("property: JSON decoding", function()
  local CASES = 4000
  local SEEDS = { '{"a":[],"b":{},"c":[1,2.5,-3e2,"x\\u00e9\\n"],"d":null,"e":true}',
    '[[],[[]],{"k":[ ]}]', '{"id":12345678901234567890,"n":-9223372036854775808}',
    '"\\ud83d\\ude00"', '[1,[2,[3,[4,[5]]]]]', '{"s":"[] [ ] 1234567890123456789"}' }
  local EXTRA = { "[", "]", "{", "}", '"', "\\", "\\u", "\\ud800", ",", ":", "-", "1e999", "0.",
    "12345678901234567", "99999999999999999999", "null", "true", "NaN", "Infinity", "[]" }

  -- Exact digits of a decoded integer: Lua integer, double, LuaJIT int64 cdata, or
  -- Lua 5.1's { "digits" }.
  local function digits(v)
    if type(v) == "number" then
      if math.type and math.type(v) == "integer" then return string.format("%d", v) end
      if v ~= math.floor(v) or v >= 2 ^ 53 or v <= -2 ^ 53 then return nil end
      return string.format("%.0f", v)
    end
    if type(v) == "table" and getmetatable(v) == json.int64_mt then return v[1] end
    if type(v) == "cdata" then return (tostring(v):gsub("U?LL$", "")) end
    return nil
  end

  local function in_int64(d)
    local neg = d:sub(1, 1) == "-"
    local m = neg and d:sub(2) or d
    local lim = neg and "9223372036854775808" or "9223372036854775807"
    return #m < #lim or (#m == #lim and m <= lim)
  end

  it("never raises on random and mutated text", function()
    local r = prng(SEED + 4)
    for k = 1, CASES do
      local input = k % 4 == 0 and random_bytes(r, 60) or mutate(r, r.pick(SEEDS), EXTRA)
      local ok, v, err = pcall(json.decode, input)
      if not ok then fail("json.decode", input, "raised " .. tostring(v)) end
      if v == nil and type(err) ~= "string" then fail("json.decode", input, "nil without an error") end
    end
  end)

  it("refuses a lone minus beside [] or a long integer (found by the property above)", function()
    for _, text in ipairs({ "[[],-]", '{"a":[],"b":-}', "[12345678901234567890,-]", "[[],-e]", "[[],-.]" }) do
      local ok, v, err = pcall(json.decode, text)
      assert.is_true(ok, text .. ": " .. tostring(v))
      assert.is_nil(v, text)
      assert.is_string(err, text)
    end
  end)

  it("keeps integers past 2^53 exact, or refuses them", function()
    local r = prng(SEED + 5)
    for _ = 1, CASES do
      local d = tostring(r.int(1, 9))
      for _ = 1, r.int(0, 24) do d = d .. r.int(0, 9) end
      if r.int(1, 2) == 1 then d = "-" .. d end
      local text = r.pick({ "[" .. d .. "]", '{"n":' .. d .. '}', '[[],' .. d .. ']', '{"a":[ ],"n":[' .. d .. ']}' })
      local ok, v, err = pcall(json.decode, text)
      if not ok then fail("json.decode", text, "raised " .. tostring(v)) end
      if v ~= nil then
        local n = v.n or v[2] or v[1]
        if type(n) == "table" and getmetatable(n) ~= json.int64_mt then n = n[1] end
        local got = digits(n)
        if not in_int64(d) then fail("json.decode", text, "accepted an integer past 64 bits: " .. tostring(got)) end
        if got ~= d then fail("json.decode", text, "rounded to " .. tostring(got)) end
      elseif in_int64(d) then
        fail("json.decode", text, "refused: " .. tostring(err))
      end
    end
  end)
end)
