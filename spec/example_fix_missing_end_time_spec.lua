-- examples/fix_missing_end_time.lua, run as a user would against a private emulator:
-- what-if first (nothing sent), then the fixes (one bulk call), then a rerun finds
-- nothing left to fix.
local cjson = require "cjson"
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"
local cmd = require "helpers.command"

local RECORDS = {
  "e523d2ed-2966-4b6b-925b-754a88034cc5",   -- peer to peer: one session never closed
  "2f1a1100-b174-40a0-aba7-0b405e01ed92",   -- 75 sessions: two never closed, one past the first page
  "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80",   -- one session ends before it starts
}

-- "2026-11-20T09:15:12.345Z" -> seconds since 2026-11-01 (the fixtures are all in November 2026).
local function seconds(text)
  local d, h, m, sec = assert(text:match("^2026%-11%-(%d%d)T(%d%d):(%d%d):([%d.]+)Z$"))
  return ((tonumber(d) * 24 + tonumber(h)) * 60 + tonumber(m)) * 60 + tonumber(sec)
end

local function keys(t)
  local k = {}
  for n in pairs(t) do k[#k + 1] = n end
  table.sort(k)
  return k
end

local function count(text, word)
  local n = 0
  for _ in text:gmatch(word) do n = n + 1 end
  return n
end

describe("examples/fix_missing_end_time.lua", function()
  local server, env

  local function run(extra)
    local argv = { cmd.lua, "examples/fix_missing_end_time.lua" }
    for _, id in ipairs(RECORDS) do argv[#argv + 1] = id end
    if extra then argv[#argv + 1] = extra end
    return cmd.run(argv, env)
  end

  local function patches()
    local out = {}
    for _, r in ipairs(server:requests()) do
      if r.method == "PATCH" then out[#out + 1] = r end
    end
    return out
  end

  setup(function()
    server = emu.start {}
    local build = os.getenv("GRAPHCOMM_BUILD") or ("build/" .. cmd.flavour)
    env = { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token,
            LUA_PATH = "lua/?.lua;lua/?/init.lua;;", LUA_CPATH = build .. "/?.so;;" }
  end)
  teardown(function()
    if server then server.stop() end
  end)

  it("shows the fixes with --what-if and sends nothing", function()
    server:clear_requests()
    local code, out, err = run("--what-if")
    assert.are.equal(0, code, err)
    assert.are.equal(4, count(out, "What if: PATCH "), out)
    assert.truthy(out:find("4 fix(es) shown, none sent", 1, true), out)
    assert.truthy(out:find("call record 2f1a1100-b174-40a0-aba7-0b405e01ed92: 75 sessions", 1, true), out)
    assert.are.equal(0, #patches())
  end)

  it("applies the smallest fixes, after which every session ends after it starts", function()
    server:clear_requests()
    local code, out, err = run()
    assert.are.equal(0, code, err .. out)
    assert.truthy(out:find("applied 4 fix(es), 0 failed", 1, true), out)
    local sent = patches()
    assert.are.equal(4, #sent)
    for _, r in ipairs(sent) do
      assert.are.same({ "endDateTime" }, keys(cjson.decode(r.body)))
    end
    local client = assert(graphcomm.connect { base_url = server.base_url, token = server.token })
    for _, id in ipairs(RECORDS) do
      local record = assert(client:get_call_record(id, { expand = "sessions($expand=segments)" }))
      for _, s in ipairs(record.sessions) do
        assert.is_string(s.endDateTime, s.id)
        assert.is_true(seconds(s.endDateTime) >= seconds(s.startDateTime), s.id)
        assert.is_true(seconds(s.endDateTime) >= seconds(s.segments[#s.segments].endDateTime), s.id)
      end
    end
    client:close()
  end)

  it("finds nothing left to fix on a second run", function()
    local code, out, err = run()
    assert.are.equal(0, code, err)
    assert.truthy(out:find("0 fix(es) needed", 1, true), out)
  end)
end)
