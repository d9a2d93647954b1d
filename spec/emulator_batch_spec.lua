-- POST /$batch on the emulator, over curl.
local emu = require "helpers.emulator"

local P2P = "e523d2ed-2966-4b6b-925b-754a88034cc5"
local RECORDS = "/v1.0/communications/callRecords"

describe("emulator $batch", function()
  local e, sids
  setup(function()
    e = emu.shared()
    e:reset()
    local _, _, body = e:request("GET", RECORDS .. "/" .. P2P .. "/sessions?$select=id")
    sids = {}
    for i, s in ipairs(emu.decode(body).value) do sids[i] = s.id end
  end)
  before_each(function()
    e:reset()
  end)
  teardown(function() e:reset() end)

  local function batch(requests, path)
    local status, h, body = e:request("POST", path or "/v1.0/$batch", { requests = requests })
    assert(status, h)
    return status, emu.decode(body)
  end

  local function by_id(resp)
    local out = {}
    for _, r in ipairs(resp.responses) do out[r.id] = r end
    return out
  end

  local function patch(id, sid, body, extra)
    local r = { id = id, method = "PATCH", url = "/communications/callRecords/" .. P2P .. "/sessions/" .. sid,
      headers = { ["Content-Type"] = "application/json" }, body = body }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end

  it("runs each request through the same handlers and answers each by id", function()
    local status, resp = batch({
      patch("1", sids[1], { isTest = true }),
      { id = "2", method = "GET", url = "/communications/callRecords/" .. P2P .. "/sessions/" .. sids[1] .. "?$select=id,isTest", dependsOn = { "1" } },
      patch("3", sids[2], { modalities = { "sound" } }),
      { id = "4", method = "GET", url = "communications/callRecords/nope" },
    })
    assert.equal(200, status)
    local r = by_id(resp)
    assert.equal(204, r["1"].status)
    assert.equal(200, r["2"].status)
    assert.is_true(r["2"].body.isTest)
    assert.equal(400, r["3"].status)
    assert.equal("modalities[1]", r["3"].body.error.details[1].target)
    assert.equal(404, r["4"].status)
    assert.equal("NotFound", r["4"].body.error.code)
    -- the PATCH inside the batch really changed the stored session
    local _, _, s = e:request("GET", RECORDS .. "/" .. P2P .. "/sessions/" .. sids[1])
    assert.is_true(emu.decode(s).isTest)
  end)

  it("answers 424 for requests whose dependency failed, and skips them", function()
    local _, resp = batch({
      patch("1", "nope", { isTest = true }),
      patch("2", sids[1], { isTest = true }, { dependsOn = { "1" } }),
      patch("3", sids[2], { isTest = true }, { dependsOn = { "2" } }),
    })
    local r = by_id(resp)
    assert.equal(404, r["1"].status)
    assert.equal(424, r["2"].status)
    assert.equal("FailedDependency", r["2"].body.error.code)
    assert.equal(424, r["3"].status)
    local _, _, s = e:request("GET", RECORDS .. "/" .. P2P .. "/sessions/" .. sids[1])
    assert.is_false(emu.decode(s).isTest)
  end)

  it("takes at most 20 requests", function()
    local reqs = {}
    for i = 1, 20 do reqs[i] = { id = tostring(i), method = "GET", url = "/communications/callRecords/" .. P2P .. "?$select=id" } end
    local status, resp = batch(reqs)
    assert.equal(200, status)
    assert.equal(20, #resp.responses)
    reqs[21] = { id = "21", method = "GET", url = "/communications/callRecords" }
    status, resp = batch(reqs)
    assert.equal(400, status)
    assert.equal("BadRequest", resp.error.code)
    assert.matches("20", resp.error.message)
  end)

  it("refuses malformed batches as a whole with a Graph error body", function()
    local cases = {
      {},                                                                  -- empty
      { { id = "1", method = "GET" } },                                   -- no url
      { { id = "1", method = "GET", url = "https://graph.microsoft.com/v1.0/me" } },
      { { id = "1", method = "GET", url = "/x" }, { id = "1", method = "GET", url = "/y" } },
      { { id = "1", method = "GET", url = "/x", dependsOn = { "2" } }, { id = "2", method = "GET", url = "/y" } },
      { { id = "1", method = "PATCH", url = "/x", body = { a = 1 } } },   -- body without Content-Type
    }
    for i, c in ipairs(cases) do
      local status, resp = batch(c)
      assert.equal(400, status, "case " .. i)
      assert.equal("BadRequest", resp.error.code)
    end
    local status, _, body = e:request("POST", "/v1.0/$batch", "{not json", { ["Content-Type"] = "application/json" })
    assert.equal(400, status)
    assert.equal("BadRequest", emu.decode(body).error.code)
    status = e:request("GET", "/v1.0/$batch")
    assert.equal(405, status)
  end)

  it("applies faults to the inner requests, with Retry-After in their headers", function()
    e:fault({ match = "/sessions/" .. sids[2], status = 429, retry_after = "3" })
    local _, resp = batch({ patch("a", sids[1], { isTest = true }), patch("b", sids[2], { isTest = true }) })
    local r = by_id(resp)
    assert.equal(204, r.a.status)
    assert.equal(429, r.b.status)
    assert.equal("3", r.b.headers["Retry-After"])
    assert.equal("TooManyRequests", r.b.body.error.code)
    e:clear_faults()
  end)

  it("needs a token, and logs the inner requests after the batch itself", function()
    local status = e:request("POST", "/v1.0/$batch", { requests = { { id = "1", method = "GET", url = "/communications/callRecords" } } },
      { Authorization = false })
    assert.equal(401, status)
    e:clear_requests()
    batch({ patch("1", sids[1], { isTest = true }) }, "/beta/$batch")
    local log = e:requests()
    assert.equal(2, #log)
    assert.equal("/beta/$batch", log[1].path)
    assert.equal("/beta/communications/callRecords/" .. P2P .. "/sessions/" .. sids[1], log[2].path)
    assert.is_truthy(log[2].batch)
    assert.equal('{"isTest":true}', log[2].body)
  end)
end)
