-- graphcomm.redact: every form a secret can travel in is scrubbed; controls shown escaped.
local redact = require "graphcomm.redact"

local SECRET = "s3cr:et/with+ sp&ce=\"q\"\\tail"

describe("graphcomm.redact", function()
  it("ignores nil, empty, non-string and short values", function()
    local r = redact.new()
    r:add(nil); r:add(""); r:add("abc"); r:add(12345); r:add({})
    assert.equal("abc 12345 x", r:scrub("abc 12345 x"))
    assert.is_false(r:finds("abc"))
  end)

  it("scrubs the raw value, every occurrence, with no pattern reading", function()
    local r = redact.new()
    r:add("a.b%c")
    assert.equal("x <redacted> y <redacted>", r:scrub("x a.b%c y a.b%c"))
    assert.equal("axb%c", r:scrub("axb%c"))      -- "." is not a pattern
    local r2 = redact.new():add(SECRET)
    assert.equal("[<redacted>]", r2:scrub("[" .. SECRET .. "]"))
  end)

  it("scrubs percent-encoded forms in upper and lower hex, and form encoding", function()
    local r = redact.new():add(SECRET)
    local upper = SECRET:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
    local lower = SECRET:gsub("[^%w%-%._~]", function(c) return ("%%%02x"):format(c:byte()) end)
    local form = SECRET:gsub("[^%w%-%._~ ]", function(c) return ("%%%02X"):format(c:byte()) end)
      :gsub(" ", "+")
    for _, f in ipairs({ upper, lower, form }) do
      assert.are_not.equal(SECRET, f)
      assert.equal("q=<redacted>&x=1", r:scrub("q=" .. f .. "&x=1"))
    end
  end)

  it("scrubs the JSON-escaped form, with and without escaped slashes", function()
    local r = redact.new():add(SECRET)
    local esc = SECRET:gsub('[\\"]', "\\%0")
    assert.equal('{"message":"bad <redacted>"}', r:scrub('{"message":"bad ' .. esc .. '"}'))
    assert.equal('"<redacted>"', r:scrub('"' .. esc:gsub("/", "\\/") .. '"'))
    local r2 = redact.new():add("line\nbreak\ttab")
    assert.equal("<redacted>", r2:scrub("line\\nbreak\\ttab"))
  end)

  it("scrubs base64 and base64url, padded or not, and inside a longer value", function()
    assert.equal("c2VjcmV0", redact.base64("secret"))
    assert.equal("YQ==", redact.base64("a"))
    assert.equal("YWI=", redact.base64("ab"))
    local value = "ab?>~ab?>~ab?>~ab?>"       -- its base64 holds + and /
    local r = redact.new():add(value)
    local b = redact.base64(value)
    assert.truthy(b:find("[+/]"))
    local url = b:gsub("+", "-"):gsub("/", "_")
    assert.equal("<redacted>", r:scrub(b))
    assert.equal("<redacted>", r:scrub((b:gsub("=+$", ""))))
    assert.equal("<redacted>", r:scrub(url))
    -- Basic credentials: "user:" shifts the value in the encoding
    for _, user in ipairs({ "", "u:", "us:", "use:" }) do
      local basic = redact.base64(user .. value)
      assert.is_true(r:finds("Authorization: Basic " .. basic), user)
      assert.is_nil(r:scrub(basic):find(b:sub(5, 12), 1, true))
    end
  end)

  it("keeps sets apart (one per client)", function()
    local a, b = redact.new():add("first-secret"), redact.new():add("second-secret")
    assert.equal("<redacted> second-secret", a:scrub("first-secret second-secret"))
    assert.equal("first-secret <redacted>", b:scrub("first-secret second-secret"))
  end)

  it("replaces a longer form whole even when a shorter secret is inside it", function()
    local r = redact.new():add("abcd"):add("abcdefgh")
    assert.equal("<redacted>!", r:scrub("abcdefgh!"))
  end)

  it("passes non-strings through scrub", function()
    local r = redact.new():add("secret")
    assert.is_nil(r:scrub(nil))
    assert.equal(5, r:scrub(5))
  end)

  it("shows control characters and escapes escaped", function()
    assert.equal("a\\nb\\rc\\td", redact.controls("a\nb\rc\td"))
    assert.equal("\\x1b[31mred\\x1b[0m", redact.controls("\27[31mred\27[0m"))
    assert.equal("\\x00\\x07\\x7f", redact.controls("\0\7\127"))
    assert.equal("csi \\xc2\\x9b2J", redact.controls("csi \194\1552J"))
    assert.equal("caf\195\169 ok", redact.controls("caf\195\169 ok"))
    assert.is_nil(redact.controls(nil))
  end)
end)
