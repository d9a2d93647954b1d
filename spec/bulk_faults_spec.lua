-- 2,000 updates through a fault mix (10% throttled once, 5% not found, 2% dropped
-- connections once): every item is reported exactly once, and the emulator's request
-- log shows each item sent once plus one resend per injected fault, nothing more.
local graphcomm = require "graphcomm"
local emu = require "helpers.emulator"

local N = 2000
local e

local function mix(rec)
  local base = { match = rec.id, method = "PATCH" }
  local function rule(t)
    for k, v in pairs(base) do t[k] = v end
    return t
  end
  -- Which paths each rule hits is fixed by CRC32(path .. salt): the same every run.
  return e:fault{
    rule{ ratio = 0.05, salt = "missing", status = 404, code = "NotFound", message = "gone" },
    rule{ ratio = 0.10, salt = "throttle", per_path = 1, status = 429, retry_after = "0.2" },
    rule{ ratio = 0.02, salt = "drop", per_path = 1, drop = true },
  }.ids
end

local function hits(ids)
  local by_id = {}
  for _, r in ipairs(e:control("GET", "faults")) do by_id[r.id] = r.hits end
  return by_id[ids[1]], by_id[ids[2]], by_id[ids[3]]
end

local function run_mix(batch)
  local rec = e:control("POST", "callRecords", { sessions = N })
  local ids = mix(rec)
  e:clear_requests()
  local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token,
    max_retry_delay = 0.2 })
  local seen, results = {}, { ok = 0, failed = 0 }
  local k = 0
  local s = c:update_sessions(function()
    k = k + 1
    if k > N then return nil end
    return { rec.id, rec.sessionIds[k], { modalities = { "audio" } } }
  end, { concurrency = 16, batch = batch, on_result = function(i, ok, v)
    seen[i] = (seen[i] or 0) + 1
    if ok then
      results.ok = results.ok + 1
    else
      results.failed = results.failed + 1
      assert.equal(404, v.status)
      assert.equal("NotFound", v.code)
    end
  end })
  c:close()
  return rec, ids, s, seen, results
end

local function check(rec, ids, s, seen, results)
  for i = 1, N do assert.equal(1, seen[i], "item " .. i .. " reported " .. tostring(seen[i]) .. " times") end
  assert.equal(N, s.ok + s.failed)
  assert.same({ ok = s.ok, failed = s.failed }, results)
  local missing, throttled, dropped = hits(ids)
  -- the mix really happened (about 5%, 10% and 2% of 2,000)
  assert.is_true(missing > 40 and missing < 160, "404s: " .. missing)
  assert.is_true(throttled > 120 and throttled < 290, "429s: " .. throttled)
  assert.is_true(dropped > 15 and dropped < 75, "drops: " .. dropped)
  assert.equal(missing, s.failed)
  -- The request log: one client-request-id per item, one path per id, and exactly one
  -- extra request per throttle or drop.
  local groups, paths, total = {}, {}, 0
  for _, r in ipairs(e:requests("match=" .. rec.id)) do
    if r.method == "PATCH" then
      total = total + 1
      local id
      for hk, hv in pairs(r.headers) do
        if hk:lower() == "client-request-id" then id = hv end
      end
      assert.is_string(id)
      local g = groups[id]
      if g then
        assert.equal(g.path, r.path)
        g.n = g.n + 1
      else
        assert.is_nil(paths[r.path], "two ids for one path")
        groups[id] = { path = r.path, n = 1 }
        paths[r.path] = id
      end
    end
  end
  local n_groups = 0
  for _, g in pairs(groups) do
    n_groups = n_groups + 1
    assert.is_true(g.n <= 3)
  end
  assert.equal(N, n_groups)
  assert.equal(N + throttled + dropped, total)
end

describe("update_sessions under a fault mix", function()
  setup(function() e = emu.shared() end)
  after_each(function() e:clear_faults() end)

  it("accounts for each of 2,000 items exactly once", function()
    check(run_mix(false))
  end)

  it("does the same in batches of 20", function()
    local rec, ids, s, seen, results = run_mix(true)
    check(rec, ids, s, seen, results)
    assert.is_true(s.requests >= N / 20)
  end)
end)
