-- Fault injection, redirects, the request log and the switches of the emulator, over curl.
local emu = require "helpers.emulator"

local P2P = "e523d2ed-2966-4b6b-925b-754a88034cc5"
local RECORDS = "/v1.0/communications/callRecords"

describe("emulator faults", function()
  local e, sid, path
  setup(function()
    e = emu.shared()
    e:reset()
    local _, _, body = e:request("GET", RECORDS .. "/" .. P2P .. "/sessions?$select=id")
    sid = emu.decode(body).value[1].id
    path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
  end)
  before_each(function()
    e:clear_faults()
    e:clear_requests()
  end)
  teardown(function() e:reset() end)

  it("fails the next `count` matching requests with the status, a Graph body and Retry-After", function()
    e:fault({ match = "/sessions/" .. sid, status = 429, retry_after = "1", count = 2 })
    for _ = 1, 2 do
      local status, h, body = e:request("GET", path)
      assert.equal(429, status)
      assert.equal("1", h["retry-after"])
      local err = emu.decode(body).error
      assert.equal("TooManyRequests", err.code)
      assert.equal(h["request-id"], err.innerError["request-id"])
    end
    assert.equal(200, (e:request("GET", path)))
    local rules = e:control("GET", "faults")
    assert.equal(2, rules[1].hits)
    assert.equal(0, rules[1].left)
  end)

  it("matches only the paths (and methods) it names, and takes code and message", function()
    e:fault({ match = "/sessions/" .. sid, method = "PATCH", status = 503, code = "serviceNotAvailable",
              message = "Try later", retry_after = 0.249 })
    assert.equal(200, (e:request("GET", path)))
    assert.equal(200, (e:request("GET", RECORDS .. "/" .. P2P)))
    local status, h, body = e:request("PATCH", path, "{}", { ["Content-Type"] = "application/json" })
    assert.equal(503, status)
    assert.equal("0.249", h["retry-after"])
    assert.equal("serviceNotAvailable", emu.decode(body).error.code)
    assert.equal("Try later", emu.decode(body).error.message)
  end)

  it("can answer with extra headers or a raw body of its own", function()
    e:fault({ match = "/sessions/" .. sid, status = 503, headers = { ["X-Fault"] = "yes" }, body = "<html>upstream</html>" })
    local status, h, body = e:request("GET", path)
    assert.equal(503, status)
    assert.equal("yes", h["x-fault"])
    assert.equal("<html>upstream</html>", body)
  end)

  it("delays without blocking other requests", function()
    e:fault({ match = "/sessions/" .. sid, delay_ms = 600 })
    local auth = emu.shell_quote("Authorization: Bearer " .. e.token)
    -- the slow request goes first; once the log shows it (it is then waiting), a fast one
    -- is sent and must not wait for it
    local cmd = ("curl -s -o /dev/null -w 'slow %%{http_code} %%{time_total}\\n' -H %s %s & " ..
      "until curl -s %s | grep -q %s; do :; done; " ..
      "curl -s -o /dev/null -w 'fast %%{http_code} %%{time_total}\\n' -H %s %s; wait")
      :format(auth, emu.shell_quote(e.url(path)), emu.shell_quote(e.url("/_emulator/requests?match=" .. sid)),
              emu.shell_quote(sid), auth, emu.shell_quote(e.url(RECORDS)))
    local _, out = emu.sh(cmd)
    local slow_code, slow = out:match("slow (%d+) ([%d.]+)")
    local fast_code, fast = out:match("fast (%d+) ([%d.]+)")
    assert.equal("200", slow_code, out)
    assert.equal("200", fast_code, out)
    assert.is_true(tonumber(slow) >= 0.6, out)
    assert.is_true(tonumber(fast) < 0.5, out)
    assert.is_true(out:find("fast", 1, true) < out:find("slow", 1, true), "the fast one finished first: " .. out)
  end)

  it("drops the connection without an answer", function()
    e:fault({ match = "/sessions/" .. sid, drop = true })
    local status, err, rc = e:request("GET", path)
    assert.is_nil(status)
    assert.equal(52, rc, err)   -- curl: empty reply from server
    assert.equal(200, (e:request("GET", path)))
  end)

  it("takes docs/contract.md's rule as written: reset false answers, reset true drops the connection", function()
    e:fault({ match = "/sessions/" .. sid, status = 429, retry_after = "1", delay_ms = 0, reset = false, count = 1 })
    local status, h = e:request("GET", path)
    assert.equal(429, status)
    assert.equal("1", h["retry-after"])
    assert.equal(200, (e:request("GET", path)))
    e:fault({ match = "/sessions/" .. sid, reset = true, count = 2 })
    for _ = 1, 2 do
      local st, err, rc = e:request("GET", path)
      assert.is_nil(st)
      assert.equal(52, rc, err)
    end
    assert.equal(200, (e:request("GET", path)))
  end)

  it("fails every Nth matching request", function()
    e:fault({ match = "/sessions/", every = 3, status = 429, retry_after = "0" })
    local got = {}
    for i = 1, 9 do got[i] = (e:request("GET", path)) end
    assert.same({ 200, 200, 429, 200, 200, 429, 200, 200, 429 }, got)
  end)

  it("fails a deterministic share of paths (ratio), each only per_path times when asked", function()
    local gen = e:control("POST", "callRecords", { sessions = 400 })
    e:fault({ match = "/sessions/", ratio = 0.1, status = 429, retry_after = "0", per_path = 1 })
    e:fault({ match = "/sessions/", ratio = 0.05, salt = "nf", status = 404 })
    local base = e.url(RECORDS .. "/" .. gen.id .. "/sessions/")
    local urls = {}
    for i, s in ipairs(gen.sessionIds) do urls[i] = base .. s .. "?$select=id" end
    local auth = { Authorization = "Bearer " .. e.token }
    local first = emu.http_many(urls, auth)
    local second = emu.http_many(urls, auth)
    local counts = { [200] = 0, [404] = 0, [429] = 0 }
    for _, st in ipairs(first) do counts[st] = counts[st] + 1 end
    assert.equal(400, #first)
    -- roughly the ratios asked for, and the same paths each time
    assert.is_true(counts[429] >= 20 and counts[429] <= 60, tostring(counts[429]))
    assert.is_true(counts[404] >= 5 and counts[404] <= 40, tostring(counts[404]))
    for i = 1, #first do
      if first[i] == 429 then assert.is_true(second[i] == 200 or second[i] == 404) end
      if first[i] == 404 then assert.equal(404, second[i]) end
      if first[i] == 200 then assert.equal(200, second[i]) end
    end
  end)

  it("DELETE /_emulator/faults and clear:true clear the rules", function()
    e:fault({ match = "/sessions/", status = 500, count = -1 })
    assert.equal(500, (e:request("GET", path)))
    assert.equal(500, (e:request("GET", path)))
    e:fault({ clear = true })
    assert.equal(200, (e:request("GET", path)))
    e:fault({ clear = true, match = "/sessions/", status = 504 })
    assert.equal(504, (e:request("GET", path)))
    assert.equal(200, (e:request("GET", path)))
    e:fault({ match = "/sessions/", status = 500, count = -1 })
    e:clear_faults()
    assert.equal(200, (e:request("GET", path)))
  end)

  it("rejects malformed rules with a Graph-shaped 400", function()
    local status, _, body = emu.http("POST", e.url("/_emulator/faults"), "{nope")
    assert.equal(400, status)
    assert.is_string(emu.decode(body).error.message)
    status = emu.http("POST", e.url("/_emulator/faults"), { match = 5, status = 500 })
    assert.equal(400, status)
  end)
end)

describe("emulator redirects", function()
  local e, other
  setup(function()
    e = emu.shared()
    other = emu.start()
  end)
  teardown(function()
    other:stop()
    e:control("DELETE", "redirects")
  end)

  it("redirects matching requests, {path} standing for the request's path", function()
    e:control("POST", "redirects", { match = "/callRecords/" .. P2P, status = 307, location = other.base_url .. "{path}" })
    local status, h = e:request("GET", RECORDS .. "/" .. P2P .. "?$select=id")
    assert.equal(307, status)
    assert.equal(other.base_url .. RECORDS .. "/" .. P2P .. "?$select=id", h["location"])
    assert.equal(200, (e:request("GET", RECORDS .. "/" .. P2P)), "count defaults to 1")
    -- the other instance serves the redirected request
    local s2, _, body = other:request("GET", h["location"], nil, { Authorization = "Bearer " .. other.token })
    assert.equal(200, s2)
    assert.equal(P2P, emu.decode(body).id)
  end)
end)

describe("emulator request log", function()
  local e
  setup(function() e = emu.shared() end)
  before_each(function() e:clear_requests() end)
  after_each(function() e:configure({ log = true }) end)

  it("records method, path with query, lower-case headers and body, in order", function()
    e:request("GET", RECORDS .. "?$select=id", nil, { ["X-Custom-Header"] = "one" })
    e:request("PATCH", RECORDS .. "/" .. P2P .. "/sessions/nope", '{"isTest":true}', { ["Content-Type"] = "application/json" })
    e:control("GET", "health")
    local log = e:requests()
    assert.equal(2, #log)
    assert.equal("GET", log[1].method)
    assert.equal(RECORDS .. "?$select=id", log[1].path)
    assert.equal("one", log[1].headers["x-custom-header"])
    assert.equal("Bearer " .. e.token, log[1].headers["authorization"])
    assert.equal("PATCH", log[2].method)
    assert.equal('{"isTest":true}', log[2].body)
    assert.equal("application/json", log[2].headers["content-type"])
    assert.is_true(log[2].seq > log[1].seq)
  end)

  it("keeps a body that is not UTF-8 (a gzip body) as body_base64, and match still works", function()
    local binary = "\31\139\8\0\255\254graphcomm"
    e:request("PATCH", RECORDS .. "/" .. P2P .. "/sessions/nope", binary,
      { ["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip" })
    local log = e:requests("match=" .. P2P)
    assert.equal(1, #log)
    assert.is_nil(log[1].body)
    local decoder = io.popen("printf '%s' " .. emu.shell_quote(log[1].body_base64) .. " | base64 -d")
    assert.equal(binary, decoder:read("*a"))
    decoder:close()
  end)

  it("filters with since and match, clears with DELETE, and can be switched off", function()
    e:request("GET", RECORDS)
    e:request("GET", RECORDS .. "/" .. P2P)
    local all = e:requests()
    assert.equal(2, #all)
    assert.equal(1, #e:requests("since=" .. all[1].seq))
    assert.equal(1, #e:requests("match=" .. P2P))
    assert.equal(1, #e:requests("limit=1"))
    e:clear_requests()
    assert.same({}, e:requests())
    e:configure({ log = false })
    e:request("GET", RECORDS)
    assert.same({}, e:requests())
    e:configure({ log = true })
    e:request("GET", RECORDS)
    assert.equal(1, #e:requests())
  end)

  it("keeps only the last log_max entries (10,000 unless told)", function()
    assert.equal(10000, e:control("GET", "config").log_max)
    e:configure({ log_max = 5 })
    finally(function() e:configure({ log_max = 10000 }) end)
    local urls = {}
    for i = 1, 8 do urls[i] = e.url(RECORDS .. "?$select=id&n=" .. i) end
    emu.http_many(urls, { Authorization = "Bearer " .. e.token })
    local log = e:requests()
    assert.equal(5, #log)
    assert.equal(RECORDS .. "?$select=id&n=4", log[1].path)
    assert.equal(RECORDS .. "?$select=id&n=8", log[5].path)
  end)

  it("answers control errors with Graph-shaped bodies", function()
    local status, _, body = emu.http("GET", e.url("/_emulator/nothing"))
    assert.equal(404, status)
    assert.is_string(emu.decode(body).error.code)
    status, _, body = emu.http("POST", e.url("/_emulator/config"), { nonsense = true })
    assert.equal(400, status)
    assert.is_string(emu.decode(body).error.message)
  end)
end)
