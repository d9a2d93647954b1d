-- The emulator's throttling (emulator/lua/graphcomm_emulator/throttle.lua): switched on
-- by POST /_emulator/throttle or `emulator/start --throttle`, answering 429 with
-- Retry-After and the x-ms-throttle-* headers as Graph does. Windows of 20 s and more
-- keep the counts fixed for the length of a spec.
local emu = require "helpers.emulator"

local P2P = "e523d2ed-2966-4b6b-925b-754a88034cc5"
local RECORDS = "/v1.0/communications/callRecords"

describe("emulator throttling", function()
  local e, sid
  setup(function()
    e = emu.shared()
    e:reset()
    local _, _, body = e:request("GET", RECORDS .. "/" .. P2P .. "/sessions?$select=id")
    sid = emu.decode(body).value[1].id
  end)
  before_each(function() e:reset() end)
  teardown(function() e:reset() end)

  local function patch()
    return e:request("PATCH", RECORDS .. "/" .. P2P .. "/sessions/" .. sid, { isTest = true })
  end

  it("is off until switched on, and says so", function()
    local d = e:control("GET", "throttle")
    assert.is_false(d.enabled)
    for _ = 1, 30 do assert.equal(204, (patch())) end
  end)

  it("answers 429 past the limit, with Retry-After, the throttle headers and a Graph error", function()
    local d = e:control("POST", "throttle", { app_tenant = { requests = 5, per = 30 } })
    assert.is_true(d.enabled)
    for i = 1, 5 do
      local status, h = patch()
      assert.equal(204, status)
      if i == 4 then
        assert.equal("0.80", h["x-ms-throttle-limit-percentage"])
        assert.matches("^Tenant_Application/ReadWrite/", h["x-ms-throttle-scope"])
      end
    end
    local status, h, body = patch()
    assert.equal(429, status)
    local ra = tonumber(h["retry-after"])
    assert.is_true(ra >= 29 and ra <= 31, h["retry-after"])
    assert.matches("^Tenant_Application/ReadWrite/[%x-]+/[%x-]+$", h["x-ms-throttle-scope"])
    assert.equal("1.00", h["x-ms-throttle-limit-percentage"])
    assert.matches("app_tenant allows 5 requests per 30 s", h["x-ms-throttle-information"])
    local err = emu.decode(body).error
    assert.equal("TooManyRequests", err.code)
    assert.is_string(err.innerError["request-id"])
    d = e:control("GET", "throttle")
    assert.same({ 5, 1 }, { d.admitted, d.throttled })
    e:control("DELETE", "throttle")
    assert.equal(204, (patch()))
  end)

  it("gives decimal Retry-After when asked", function()
    e:control("POST", "throttle", { app_tenant = { requests = 1, per = 20 }, decimal_retry_after = true })
    assert.equal(204, (patch()))
    local status, h = patch()
    assert.equal(429, status)
    assert.matches("^%d+%.%d%d%d$", h["retry-after"])
  end)

  it("counts reads per call record, first pages apart from later pages", function()
    e:control("POST", "throttle", { record_first = { requests = 2, per = 60 },
      record_pages = { requests = 1, per = 60 } })
    local first = RECORDS .. "/" .. P2P .. "/sessions?$top=1"
    assert.equal(200, (e:request("GET", first)))
    assert.equal(200, (e:request("GET", RECORDS .. "/" .. P2P)))
    local status, h = e:request("GET", first)
    assert.equal(429, status)
    assert.matches("^CallRecord/", h["x-ms-throttle-scope"])
    assert.equal(200, (e:request("GET", first .. "&$skiptoken=1")))
    assert.equal(429, (e:request("GET", first .. "&$skiptoken=2")))
    assert.equal(200, (e:request("GET", RECORDS)))          -- the list is no record's read
    assert.equal(204, (patch()))                           -- writes are not reads
  end)

  it("counts each request inside a $batch, not the $batch itself", function()
    e:control("POST", "throttle", { app_tenant = { requests = 3, per = 60 } })
    local reqs = {}
    for i = 1, 4 do
      reqs[i] = { id = tostring(i), method = "PATCH", url = "/communications/callRecords/" .. P2P
        .. "/sessions/" .. sid, headers = { ["Content-Type"] = "application/json" },
        body = { isTest = true } }
    end
    local status, _, body = e:request("POST", "/v1.0/$batch", { requests = reqs })
    assert.equal(200, status)
    local by = {}
    for _, r in ipairs(emu.decode(body).responses) do by[r.id] = r end
    assert.same({ 204, 204, 204, 429 }, { by["1"].status, by["2"].status, by["3"].status, by["4"].status })
    assert.is_string(by["4"].headers["Retry-After"])
    assert.matches("^Tenant_Application/", by["4"].headers["x-ms-throttle-scope"])
    assert.equal(429, (patch()))
  end)

  it("refuses bad settings with 400 and keeps the last good ones", function()
    e:control("POST", "throttle", { app = { requests = 100, per = 10 } })
    for _, bad in ipairs({ '{"app_tenatn": {"requests": 1, "per": 1}}', '{"app": {"requests": 0, "per": 1}}',
        '{"app": {"requests": 1.5, "per": 1}}', '{"app": {"requests": 1, "per": 0}}',
        '{"app": {"requests": 1, "per": "2"}}', '{"limits": "fast"}', '{}', '[1]', 'not json',
        '{"decimal_retry_after": 1, "app": {"requests": 1, "per": 1}}' }) do
      local status, _, body = emu.http("POST", e.url("/_emulator/throttle"), bad,
        { ["Content-Type"] = "application/json" })
      assert.equal(400, status, bad)
      assert.is_string(emu.decode(body).error.message)
    end
    local d = e:control("GET", "throttle")
    assert.equal(100, d.config.scopes.app.requests)
    assert.equal(405, (emu.http("PUT", e.url("/_emulator/throttle"), "{}")))
  end)

  it("starts with the documented numbers under --throttle, kept across a reset", function()
    local t = emu.start{ throttle = true }
    local d = t:control("GET", "throttle")
    assert.is_true(d.enabled)
    local s = d.config.scopes
    assert.same({ requests = 1500, per = 20 }, s.app_tenant)
    assert.same({ requests = 10000, per = 20 }, s.tenant)
    assert.same({ requests = 130000, per = 10 }, s.app)
    assert.same({ requests = 10, per = 20 }, s.record_first)
    assert.same({ requests = 50, per = 300 }, s.record_pages)
    t:control("DELETE", "throttle")
    t:reset()
    assert.is_true(t:control("GET", "throttle").enabled)
    t:stop()
  end)

  it("never admits more than the limit across workers", function()
    local t = emu.start{ workers = 2 }
    local _, _, body = t:request("GET", RECORDS .. "/" .. P2P .. "/sessions?$select=id")
    local tsid = emu.decode(body).value[1].id
    t:control("POST", "throttle", { app_tenant = { requests = 40, per = 60 } })
    local cfg = os.tmpname()
    local f = assert(io.open(cfg, "wb"))
    f:write(('header = "Authorization: Bearer %s"\n'):format(t.token))
    for _ = 1, 60 do
      f:write(('url = "%s"\noutput = "/dev/null"\n'):format(t.url(RECORDS .. "/" .. P2P .. "/sessions/" .. tsid)))
    end
    f:close()
    -- two curl processes at once, each on its own connection (so on either worker)
    local q = emu.shell_quote(cfg)
    local rc, out = emu.sh("for k in 1 2; do curl -s -K " .. q .. " -w '%{http_code}\\n' & done; wait")
    os.remove(cfg)
    assert.equal(0, rc)
    local n200, n429 = 0, 0
    for code in out:gmatch("%d%d%d") do
      if code == "200" then n200 = n200 + 1 elseif code == "429" then n429 = n429 + 1 end
    end
    assert.same({ 40, 80 }, { n200, n429 })
    t:stop()
  end)
end)
