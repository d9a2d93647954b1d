-- The limiter's windows and its answers to throttling signals, on an injected clock
-- (graphcomm.limiter; nothing is sent), and connect's `limits` option.
local graphcomm = require "graphcomm"
local limiter = require "graphcomm.limiter"
local options = require "graphcomm.options"

local T = 0
local function clock() return T end

local function new(limits, base)
  limits = limits or {}
  if limits.clock == nil then limits.clock = clock end
  local cfg = assert(limiter.config(limits, base or "https://graph.microsoft.com", {}, options.check))
  return limiter.new(cfg)
end

local PATCH = { method = "PATCH", path = "/communications/callRecords/r1/sessions/s1" }

-- Every window of `per` seconds holds at most n of the grant times.
local function max_in_window(times, per)
  table.sort(times)
  local best, j = 0, 1
  for i = 1, #times do
    while times[i] - times[j] >= per do j = j + 1 end
    if i - j + 1 > best then best = i - j + 1 end
  end
  return best
end

describe("limiter windows", function()
  before_each(function() T = 1000 end)

  it("lets N go in a window, then says when the next one may", function()
    local lim = new{ app_tenant = { requests = 3, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    assert.same({ 3, 0 }, { lim:take(keys, 5) })
    local g, wait = lim:take(keys, 1)
    assert.equal(0, g)
    assert.near(10, wait, 1e-9)
    T = 1009.9
    assert.equal(0, (lim:take(keys, 1)))
    T = 1010
    assert.equal(3, (lim:take(keys, 3)))
  end)

  it("takes all or nothing when asked (a $batch), cut to the smallest limit", function()
    local lim = new{ app_tenant = { requests = 5, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    assert.equal(3, (lim:take(keys, 3, true)))
    assert.equal(0, (lim:take(keys, 3, true)))     -- 2 free, 3 asked
    assert.equal(2, (lim:take(keys, 2, true)))
    T = 1010
    assert.equal(5, (lim:take(keys, 20, true)))    -- 20 asked, the limit is 5
  end)

  it("gives back what was not sent", function()
    local lim = new{ app_tenant = { requests = 4, per = 10 } }
    local keys = lim:keys(PATCH)
    assert.equal(4, (lim:take(keys, 4)))
    lim:give(keys, 3)
    assert.equal(3, (lim:take(keys, 5)))
  end)

  it("never lets more than N into any window, whatever the pattern of takes", function()
    local lim = new{ app_tenant = { requests = 7, per = 2 }, margin = 0 }
    local keys, times = lim:keys(PATCH), {}
    math.randomseed(7)
    for _ = 1, 3000 do
      T = T + math.random() * 0.05
      local g = lim:take(keys, math.random(1, 4))
      for _ = 1, g do times[#times + 1] = T end
      if math.random() < 0.1 then lim:give(keys, 0) end
    end
    assert.is_true(#times > 200)
    assert.is_true(max_in_window(times, 2) <= 7)
  end)

  it("keeps a window open until W + margin after the latest answer", function()
    local lim = new{ app_tenant = { requests = 2, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(2, (lim:take(keys, 2)))
    T = 1003                                       -- the answers come back 3 s later
    lim:answered(PATCH, { status = 204, headers = {} })
    T = 1012
    assert.equal(0, (lim:take(keys, 1)))
    T = 1013.5
    assert.equal(2, (lim:take(keys, 2)))
  end)

  it("keeps a slow request in the window after newer ones went, until W after its answer", function()
    local lim = new{ app_tenant = { requests = 3, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1)))           -- a request that will be slow
    local slow = lim.taken_at
    T = 1005
    assert.equal(1, (lim:take(keys, 1)))           -- a newer one, answered at once
    local quick = lim.taken_at
    lim:answered(PATCH, { status = 204, headers = {} }, quick)
    T = 1008                                       -- the slow one arrived late and is answered
    lim:answered(PATCH, { status = 204, headers = {} }, slow)
    T = 1011                                       -- its take is 11 s old, its answer 3 s
    assert.equal(1, (lim:take(keys, 3)))           -- so both still count
    T = 1018.6
    assert.equal(2, (lim:take(keys, 3)))           -- the slow one left 10.5 s after its answer
  end)

  it("gives back from the take's own slot, never a newer one's", function()
    local lim = new{ app_tenant = { requests = 2, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1)))
    local unsent = lim.taken_at
    T = 1001
    assert.equal(1, (lim:take(keys, 1)))           -- another's request, sent
    lim:give(keys, 1, unsent)
    T = 1010.6                                     -- the first slot would have left by now
    assert.equal(1, (lim:take(keys, 2)))           -- the sent one still counts (until 1011.5)
  end)

  it("moves the count of an answer with a low x-ms-throttle-limit-percentage too", function()
    local lim = new{ app_tenant = { requests = 2, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1)))
    local sent = lim.taken_at
    T = 1008
    lim:answered(PATCH, { status = 204, headers = { ["x-ms-throttle-limit-percentage"] = "0.5" } }, sent)
    T = 1012
    assert.equal(1, (lim:take(keys, 2)))
  end)

  it("a $batch's answer moves all its requests; its inner answers move nothing", function()
    local lim = new{ app_tenant = { requests = 5, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    local body = '{"requests":[{"method":"PATCH"},{"method":"PATCH"},{"method":"PATCH"}]}'
    local batch = { method = "POST", path = "/$batch", body = body }
    assert.equal(3, (lim:take(keys, 3, true)))
    local sent = lim.taken_at
    T = 1011                                       -- its slot left: counted again, all three
    lim:answered(batch, { status = 200, headers = {} }, sent)
    for _ = 1, 3 do lim:answered(PATCH, { status = 204, headers = {} }, sent, true) end
    assert.equal(2, (lim:take(keys, 5)))
  end)

  it("counts from when it left a request whose token fetch held it after its take", function()
    local lim = new{ app_tenant = { requests = 1, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1)))
    local taken = lim.taken_at
    T = 1004                                       -- the token came 4 s later
    assert.equal(1004, lim:sent(PATCH, taken))
    T = 1011
    assert.equal(0, (lim:take(keys, 1)))           -- counted until 1014.5, not 1010.5
    assert.equal(1011, lim:sent(PATCH, 1011))      -- at once: nothing moves
  end)

  it("keeps a request under way counted past its window until its answer, or PENDING_MAX", function()
    local lim = new{ app_tenant = { requests = 1, per = 10 }, margin = 0.5 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1, false, false, true)))
    local sent = lim.taken_at
    T = 1015                                       -- still no answer, 15 s on
    local g, wait = lim:take(keys, 1)
    assert.equal(0, g)
    assert.equal(limiter.POLL, wait)
    lim:answered(PATCH, nil, sent)                 -- a transport failure: counted from now
    T = 1025.4
    assert.equal(0, (lim:take(keys, 1)))
    T = 1025.6
    assert.equal(1, (lim:take(keys, 1, false, false, true)))
    T = T + 10.5 + limiter.PENDING_MAX             -- never answered (its process died)
    assert.equal(1, (lim:take(keys, 1)))
  end)

  it("counts again a request whose answer came after its window had left", function()
    local lim = new{ app_tenant = { requests = 2, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    assert.equal(1, (lim:take(keys, 1)))
    local sent = lim.taken_at
    T = 1011
    assert.equal(2, (lim:take(keys, 2)))           -- its window left: 2 free
    lim:give(keys, 2)
    lim:answered(PATCH, { status = 204, headers = {} }, sent)   -- Graph counted it late
    assert.equal(1, (lim:take(keys, 2)))
  end)

  it("counts a $batch as the requests inside it, other requests as one", function()
    local lim = new()
    local body = '{"requests":[{"id":"1","method":"PATCH","url":"/a"},{"id":"2","method":"PATCH","url":"/b"},'
      .. '{"id":"3", "method" : "GET","url":"/c"}]}'
    assert.equal(3, lim:cost({ method = "POST", path = "/$batch", body = body }))
    assert.equal(1, lim:cost(PATCH))
  end)
end)

describe("limiter scopes", function()
  before_each(function() T = 50 end)

  it("counts writes against app, tenant and app per tenant; record reads also per record", function()
    local lim = new{ tenant_id = "t1", app_id = "a1" }
    local names = function(keys)
      local out = {}
      for _, k in ipairs(keys) do out[#out + 1] = k[2] end
      return out
    end
    assert.same({ "app/a1", "tenant/t1", "app_tenant/a1/t1" }, names(lim:keys(PATCH)))
    assert.same({ "app/a1", "tenant/t1", "app_tenant/a1/t1", "record_first/t1/r9" },
      names(lim:keys({ method = "GET", path = "/communications/callRecords/r9" })))
    assert.same({ "app/a1", "tenant/t1", "app_tenant/a1/t1", "record_pages/t1/r9" },
      names(lim:keys({ method = "GET",
        url = "https://graph.microsoft.com/v1.0/communications/callRecords/r9/sessions?$skiptoken=60" })))
    assert.same({ "app/a1", "tenant/t1", "app_tenant/a1/t1" },
      names(lim:keys({ method = "GET", path = "/communications/callRecords" })))
  end)

  it("holds reads of one record at its own limit while others go", function()
    local lim = new{ record_first = { requests = 2, per = 20 } }
    local r1 = lim:keys({ method = "GET", path = "/communications/callRecords/r1" })
    local r2 = lim:keys({ method = "GET", path = "/communications/callRecords/r2" })
    assert.equal(2, (lim:take(r1, 5)))
    assert.equal(0, (lim:take(r1, 1)))
    assert.equal(2, (lim:take(r2, 2)))
    assert.equal(1, (lim:take(lim:keys(PATCH), 1)))
  end)
end)

describe("limiter signals", function()
  before_each(function() T = 100 end)

  local SCOPE = "Tenant_Application/ReadWrite/a1/t1"

  it("a 429 pauses the scope it names for its Retry-After, then halves its rate and recovers", function()
    local lim = new{ app_tenant = { requests = 10, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    assert.equal(4, lim:signal(keys, 429, { ["retry-after"] = "4", ["x-ms-throttle-scope"] = SCOPE }))
    local g, wait = lim:take(keys, 1)
    assert.equal(0, g)
    assert.near(4, wait, 1e-9)
    T = 104
    assert.equal(5, (lim:take(keys, 10)))           -- half the rate after the pause
    T = 124                                         -- two windows on: 0.5 + 2 * 0.25 = 1
    assert.equal(10, (lim:take(keys, 10)))
  end)

  it("a 429's pause holds one call no longer than max_wait; a full window still does", function()
    local lim = new{ app_tenant = { requests = 10, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    lim:signal(keys, 429, { ["retry-after"] = "3600", ["x-ms-throttle-scope"] = SCOPE })
    local slept = 0
    local function sleep(s) slept = slept + s; T = T + s end
    assert.equal(180, lim:admit(PATCH, sleep, 180))
    assert.equal(180, slept)
    assert.equal(T, lim.taken_at)                   -- counted when it went
    lim:answered(PATCH, { status = 204, headers = {} }, lim.taken_at)
    assert.equal(0, (lim:take(keys, 1)))            -- the pause itself stands
    slept = 0
    assert.equal(3420, lim:admit(PATCH, sleep))     -- no bound: the whole pause
    assert.equal(3420, slept)
    local full = new{ app_tenant = { requests = 2, per = 300 }, margin = 0 }
    assert.equal(2, (full:take(keys, 2)))
    slept = 0
    assert.equal(300, full:admit(PATCH, sleep, 180)) -- the window is no pause: 300 s
    assert.equal(300, slept)
    assert.equal(1, (full:take(keys, 2)))           -- it and one more: the limit
  end)

  it("halves once for a storm of 429s, not once per answer", function()
    local lim = new{ app_tenant = { requests = 16, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    for _ = 1, 16 do lim:signal(keys, 429, { ["retry-after"] = "2" }) end
    T = 102
    assert.equal(8, (lim:take(keys, 16)))
  end)

  it("a 429 naming the tenant holds every request of the tenant, not the app elsewhere", function()
    local lim = new{ tenant_id = "t1", app_id = "a1" }
    lim:signal(lim:keys(PATCH), 429, { ["retry-after"] = "3",
      ["x-ms-throttle-scope"] = "Tenant/ReadWrite/a1/t1" })
    assert.equal(0, (lim:take(lim:keys({ method = "GET", path = "/communications/callRecords/r1" }), 1)))
    assert.equal(0, (lim:take(lim:keys(PATCH), 1)))
    local other = new{ tenant_id = "t2", app_id = "a1" }   -- its own store: nothing shared
    assert.equal(1, (other:take(other:keys(PATCH), 1)))
  end)

  it("a 429 naming no scope pauses every scope of the request; a bad Retry-After pauses 1 s", function()
    local lim = new{ app_tenant = { requests = 10, per = 10 } }
    local keys = lim:keys(PATCH)
    assert.equal(1, lim:signal(keys, 429, { ["retry-after"] = "soon" }))
    assert.equal(0, (lim:take(keys, 1)))
    T = 101
    assert.is_true(lim:take(keys, 1) > 0)
    assert.equal(3600, lim:signal(keys, 429, { ["retry-after"] = "999999999" }))
  end)

  it("slows when Graph reports more use than this client made, not for its own use", function()
    local lim = new{ app_tenant = { requests = 10, per = 10 }, margin = 0 }
    local keys = lim:keys(PATCH)
    assert.equal(9, (lim:take(keys, 9)))
    lim:answered(PATCH, { status = 204, headers = { ["x-ms-throttle-limit-percentage"] = "0.95" } })
    T = 110
    assert.equal(10, (lim:take(keys, 10)))           -- 0.95 was this client's own use
    T = 120
    assert.equal(1, (lim:take(keys, 1)))
    lim:answered(PATCH, { status = 204, headers = { ["x-ms-throttle-limit-percentage"] = "90" } })
    assert.equal(7, (lim:take(keys, 10)))            -- someone else uses it: 0.8 of 10, 1 sent
    T = 131
    assert.equal(10, (lim:take(keys, 10)))           -- recovered a window later
  end)

  it("reads a damaged shared state as empty", function()
    local state = { ["app_tenant/default/default"] = { n = "x", s = { 1, 2 } }, junk = 5,
      ["app/default"] = { n = 1, s = { { 1, "two", 3 } } } }
    local store = { transact = function(_, fn) return fn(state, T) end }
    local lim = new{ store = store, app_tenant = { requests = 3, per = 10 } }
    assert.equal(3, (lim:take(lim:keys(PATCH), 3)))
    assert.is_nil(state.junk)
  end)

  it("checks a caller's store in every transaction: an entry damaged between two takes is dropped",
      function()
    local state = {}
    local store = { transact = function(_, fn) return fn(state, T) end }
    local lim = new{ store = store, app_tenant = { requests = 3, per = 10 } }
    local keys = lim:keys(PATCH)
    assert.equal(2, (lim:take(keys, 2)))
    local e = state["app_tenant/default/default"]
    assert.equal(2, e.n)
    e.s[1][2] = "2"            -- not a count: taken on trust, 2 of the 3 would stay held
    assert.equal(3, (lim:take(keys, 3)))
    assert.equal(3, state["app_tenant/default/default"].n)
    assert.equal(0, (lim:take(keys, 1)))
  end)
end)

describe("connect{ limits = }", function()
  local function cfg(opts)
    opts.token = opts.token or "t"
    local c = assert(graphcomm.connect(opts))
    c:close()
    return assert(options.config(opts, opts.getenv))
  end

  it("is on with the documented numbers for Graph, off against loopback unless asked", function()
    local c = cfg{ base_url = "https://graph.microsoft.com" }
    assert.same({ requests = 1500, per = 20 }, c.limits.scopes.app_tenant)
    assert.same({ requests = 10000, per = 20 }, c.limits.scopes.tenant)
    assert.same({ requests = 130000, per = 10 }, c.limits.scopes.app)
    assert.same({ requests = 10, per = 20 }, c.limits.scopes.record_first)
    assert.same({ requests = 50, per = 300 }, c.limits.scopes.record_pages)
    assert.is_false(cfg{ base_url = "http://127.0.0.1:9" }.limits)
    assert.is_false(cfg{ base_url = "https://graph.microsoft.com", limits = false }.limits)
    local on = cfg{ base_url = "http://127.0.0.1:9", limits = { app_tenant = { requests = 30, per = 2 },
      tenant = false } }
    assert.same({ requests = 30, per = 2 }, on.limits.scopes.app_tenant)
    assert.is_nil(on.limits.scopes.tenant)
    assert.same({ requests = 130000, per = 10 }, on.limits.scopes.app)
  end)

  it("reads GRAPHCOMM_LIMITS and names the scopes after tenant_id and client_id", function()
    local env = { GRAPHCOMM_LIMITS = '{"app_tenant": {"requests": 7, "per": 1}}' }
    local c = cfg{ base_url = "http://127.0.0.1:9", getenv = function(k) return env[k] end,
      tenant_id = "tid", client_id = "cid", client_secret = "s", token = "t" }
    assert.same({ requests = 7, per = 1 }, c.limits.scopes.app_tenant)
    assert.equal("tid", c.limits.tenant)
    assert.equal("cid", c.limits.app)
    env.GRAPHCOMM_LIMITS = "off"
    assert.is_false(cfg{ base_url = "https://graph.microsoft.com",
      getenv = function(k) return env[k] end }.limits)
    env.GRAPHCOMM_LIMITS = "[1,"
    local client, err = graphcomm.connect{ token = "t", getenv = function(k) return env[k] end }
    assert.is_nil(client)
    assert.equal("validation", err.kind)
    assert.matches("GRAPHCOMM_LIMITS", err.message)
  end)

  it("refuses unknown names with a hint, and bad values, before anything is sent", function()
    assert.has_error(function() graphcomm.connect{ token = "t", limits = { app_tenat = {} } } end,
      "bad argument #1 to 'connect' (unknown option 'app_tenat'; did you mean 'app_tenant'?)")
    for _, bad in ipairs({ { app = { requests = 0, per = 1 } }, { app = { requests = 1.5, per = 1 } },
        { app = { requests = 1, per = 0 } }, { app = { requests = 1, per = -1 } },
        { app = { reqs = 1 } }, { app = "fast" }, { margin = -1 }, { slow_at = 0 } }) do
      assert.has_error(function() graphcomm.connect{ token = "t", limits = bad } end)
    end
    assert.has_error(function() graphcomm.connect{ token = "t", limits = "on" } end)
    for _, bad in ipairs({ { tenant_id = "a/b" }, { app_id = "" }, { tenant_id = "x\ny" },
        { state_file = "/tmp/x", shared_dict = "d" }, { store = {} },
        { shared_dict = "no_such_dict" } }) do
      local client, err = graphcomm.connect{ token = "t", limits = bad }
      assert.is_nil(client)
      assert.equal("validation", err.kind)
    end
  end)
end)

describe("graphcomm apply's progress line", function()
  it("shows the time held by the limits once there is a second of it", function()
    local progress = require "graphcomm.cli.progress"
    assert.matches("throttled 0:03", progress.line(10, 100, 0, 5, nil, 3.2))
    assert.is_nil(progress.line(10, 100, 0, 5, nil, 0.4):find("throttled", 1, true))
    assert.is_nil(progress.line(10, 100, 0, 5):find("throttled", 1, true))
    assert.is_true(#progress.line(10, 100, 0, 5, 40, 3.2) <= 39)   -- still fits the width
  end)
end)

describe("limiter signals naming a scope switched off", function()
  it("pause every scope of the request", function()
    local lim = limiter.new(assert(limiter.config({ clock = function() return 5 end, tenant = false },
      "https://graph.microsoft.com", {}, options.check)))
    local keys = lim:keys({ method = "PATCH" })
    lim:signal(keys, 429, { ["retry-after"] = "2", ["x-ms-throttle-scope"] = "Tenant/ReadWrite/a/t" })
    assert.equal(0, (lim:take(keys, 1)))
  end)
end)
