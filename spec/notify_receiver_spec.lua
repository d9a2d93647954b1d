-- spec/notify_receiver_spec.lua: the parts of graphcomm.notify that need no nginx: the
-- constant-time comparison, reading a changeNotificationCollection (hostile ones too),
-- the de-duplication key, and the options checked when the receiver is made.
-- (The receiver inside nginx: spec/notify_example_spec.lua.)
local notify = require "graphcomm.notify"
local cjson = require "cjson"
local fake = require "helpers.dict"

local function collection(items) return cjson.encode({ value = items }) end

local function change(fields)
  local n = { subscriptionId = "sub-1", changeType = "created", clientState = "secret",
    resource = "communications/callRecords/r1", resourceData = { id = "r1" }, tenantId = "t" }
  for k, v in pairs(fields or {}) do n[k] = v end
  for k, v in pairs(n) do if v == false then n[k] = nil end end
  return n
end

describe("graphcomm.notify", function()
  it("compares clientState exactly, whatever the lengths", function()
    assert.is_true(notify.equal("secret", "secret"))
    assert.is_true(notify.equal("", ""))
    for _, other in ipairs({ "secreT", "secre", "secrets", "", "\0secret", "secret\0" }) do
      assert.is_false(notify.equal(other, "secret"), other)
    end
    assert.is_false(notify.equal(nil, "secret"))
    assert.is_false(notify.equal(42, "42"))
    assert.is_false(notify.equal({}, "secret"))
  end)

  it("keeps the notifications whose clientState and shape are right", function()
    local items, dropped = notify.parse(collection({ change(), change{ clientState = "wrong" },
      change{ clientState = false }, change{ changeType = "deleted" }, change{ resourceData = false },
      change{ resourceData = { id = 7 } }, change{ resourceData = { id = "a\nb" } },
      change{ resourceData = { id = string.rep("x", 257) } }, change{ subscriptionId = false },
      "text", 5, change{ changeType = "updated" } }), "secret")
    assert.equal(2, #items)
    assert.equal(10, dropped)
    assert.equal("sub-1|r1|created", notify.key(items[1]))
    assert.equal("sub-1|r1|updated", notify.key(items[2]))
  end)

  it("refuses what is not a collection", function()
    for _, text in ipairs({ "", "{", "[]", "null", '{"value":"x"}', '{"value":3}', "\0" }) do
      local items, why = notify.parse(text, "secret")
      assert.is_nil(items, text)
      assert.matches("changeNotificationCollection", why)
    end
    local items, dropped = notify.parse('{"value":[]}', "secret")
    assert.same({}, items)
    assert.equal(0, dropped)
  end)

  it("reads lifecycle notifications apart", function()
    local n = { subscriptionId = "sub-1", clientState = "secret", lifecycleEvent = "missed" }
    local items, dropped = notify.parse(collection({ n, change() }), "secret", true)
    assert.equal(1, #items)
    assert.equal(1, dropped)
    assert.equal("missed", items[1].lifecycleEvent)
  end)

  it("checks its options when made", function()
    local fix = function() end
    assert.is_table(notify.new{ client_state = "s", fix = fix })
    local bad = {
      { fix = fix }, { client_state = "", fix = fix }, { client_state = string.rep("x", 129), fix = fix },
      { client_state = "s" }, { client_state = "s", fix = "f" }, { client_state = "s", fix = fix, max_tries = 0 },
      { client_state = "s", fix = fix, retry_delay = 0 / 0 }, { client_state = "s", fix = fix, connect = "x" },
      { client_state = "s", fix = fix, journal = 3 },
    }
    for i, opts in ipairs(bad) do
      assert.has_error(function() notify.new(opts) end, nil, "case " .. i)
    end
    assert.has_error(function() notify.new{ client_state = "s", fix = fix, dry = true } end,
      "bad argument #1 to 'notify.new' (unknown option 'dry')")
    assert.has_error(function() notify.new{ client_state = "s", fix = fix, dry_rnu = true } end,
      "bad argument #1 to 'notify.new' (unknown option 'dry_rnu'; did you mean 'dry_run'?)")
    assert.has_error(function() notify.new{ client_state = "s", fix = fix, dry_run = "yes" } end,
      "bad argument #1 to 'notify.new' (option dry_run: boolean expected, got string)")
    assert.is_true(notify.new{ client_state = "s", fix = fix, DryRun = true }.dry_run)
    assert.has_error(function() notify.new("x") end)
  end)

  it("needs nginx for the rest", function()
    local r = notify.new{ client_state = "s", fix = function() end }
    assert.has_error(function() r:handle() end, "graphcomm.notify runs inside nginx (lua-nginx-module)")
  end)
end)

describe("graphcomm.keeper", function()
  it("reads Graph's expiry times as UTC", function()
    local keeper = require "graphcomm.keeper"
    assert.equal(0, keeper.epoch("1970-01-01T00:00:00Z"))
    assert.equal(1796169600, keeper.epoch("2026-12-02T00:00:00.1234567Z"))
    assert.is_nil(keeper.epoch("tomorrow"))
  end)
end)

-- The receiver's queue steps against a dict of this spec's own standing in for
-- ngx.shared (the receiver inside nginx: spec/notify_example_spec.lua): the order of
-- its steps, which another worker's steps may fall between.
describe("graphcomm.notify's receiver, between two workers' steps", function()
  local dict = fake.new

  local function with_ngx(d, fn)
    fake.with_ngx({ shared = { graphcomm_notify = d }, now = function() return 1000 end,
      worker = { pid = function() return 4242 end }, timer = { at = function() return true end },
      log = function() end, ERR = 4, WARN = 5, INFO = 7 }, fn)
  end

  it("puts an item back for a retry only once it has let go of its locks", function()
    local d, ops = dict()
    with_ngx(d, function()
      local r = notify.new{ client_state = "secret", fix = function() end, max_tries = 3,
        client = function() return nil, "Graph is down" end }
      r:process({ key = "sub-1|r1|created", rid = "r1", ct = "created", tries = 0 })
    end)
    local at = {}
    for i, op in ipairs(ops) do at[op] = at[op] or i end
    local text = table.concat(ops, "\n")
    assert.truthy(at["rpush queue"], text)
    assert.is_true(at["delete lock:sub-1|r1|created"] < at["rpush queue"], text)
    assert.is_true(at["delete record:r1"] < at["rpush queue"], text)
    assert.equal(1, #d.list)
    local back = cjson.decode(d.list[1])
    assert.equal(1, back.tries)
    assert.equal(1000 + 2, back.not_before)
    assert.is_nil(d.data["lock:sub-1|r1|created"])
  end)

  it("lets go of its locks and puts an item back when processing it raises", function()
    -- a misuse error from the client (update_session's on a fix's non-table body, say)
    local d, ops = dict()
    local client = { get_call_record = function() error("bad argument #2 to 'get_call_record'") end }
    with_ngx(d, function()
      local r = notify.new{ client_state = "secret", fix = function() end, max_tries = 3,
        client = function() return client end }
      r:process({ key = "sub-1|r1|created", rid = "r1", ct = "created", tries = 0 })
    end)
    local text = table.concat(ops, "\n")
    assert.is_nil(d.data["lock:sub-1|r1|created"], text)
    assert.is_nil(d.data["record:r1"], text)
    assert.equal(1, #d.list, text)
    assert.equal(1, cjson.decode(d.list[1]).tries)
  end)
end)
