-- The limiter's state file (graphcomm.limiter_store over core.flock): made 0600, read and
-- written under the lock, shared by two limiters as by two processes; files that are not
-- ours (a symbolic link, a directory, someone's data) are refused and never written.
local core = require "graphcomm.core"
local graphcomm = require "graphcomm"
local limiter = require "graphcomm.limiter"
local options = require "graphcomm.options"
local store = require "graphcomm.limiter_store"
local bulk = require "helpers.bulk"

local read = require("helpers.certs").read     -- a whole file, asserted

describe("limits state file", function()
  local dir
  setup(function() dir = bulk.tmpdir() end)
  teardown(function() bulk.rmdir(dir) end)

  local T = 0
  local function new(path, n)
    local cfg = assert(limiter.config({ state_file = path, clock = function() return T end,
      app_tenant = { requests = n or 5, per = 10 } }, "https://graph.microsoft.com", {}, options.check))
    return limiter.new(cfg)
  end
  local PATCH = { method = "PATCH" }

  it("is created 0600 and shared by every limiter that names it", function()
    local path = dir .. "/shared.state"
    local a, b = new(path), new(path)
    assert.equal(3, (a:take(a:keys(PATCH), 3)))
    assert.equal(2, (b:take(b:keys(PATCH), 5)))
    assert.equal(0, (a:take(a:keys(PATCH), 1)))
    local _, mode = require("helpers.emulator").sh("stat -c %a " .. path)
    assert.equal("600", mode:match("%d+"))
    assert.equal(store.MAGIC, read(path):sub(1, #store.MAGIC))
    a:close()
    b:close()
  end)

  it("starts afresh from a damaged state of ours", function()
    local path = dir .. "/damaged.state"
    local f = assert(io.open(path, "wb"))
    f:write(store.MAGIC .. '{"app_tenant/default/default": {"n": "lots", "s": 7}, "x": [')
    f:close()
    local a = new(path)
    assert.equal(5, (a:take(a:keys(PATCH), 9)))
    a:close()
  end)

  it("checks what another writer left between two requests: a damaged entry starts afresh",
      function()
    local path = dir .. "/between.state"
    T = 100
    local a = new(path)
    assert.equal(2, (a:take(a:keys(PATCH), 2)))
    -- A count that is not a number: taken on trust this entry would hold 4 of the 5.
    local f = assert(io.open(path, "wb"))
    f:write(store.MAGIC .. '{"app_tenant/default/default": {"n": 4, "s": [[500, "4", 100]]}}')
    f:close()
    assert.equal(5, (a:take(a:keys(PATCH), 9)))
    assert.equal(0, (a:take(a:keys(PATCH), 1)))
    local e = require("cjson").decode(read(path):sub(#store.MAGIC + 1))["app_tenant/default/default"]
    assert.equal(5, e.n)
    assert.same({ { 500, 5, 100 } }, e.s)
    a:close()
  end)

  it("refuses a file that is not a limits file, and leaves it as it was", function()
    local path = dir .. "/precious.txt"
    local f = assert(io.open(path, "wb"))
    f:write("root:x:0:0\n")
    f:close()
    local client, err = graphcomm.connect{ token = "t", base_url = "https://graph.microsoft.com",
      limits = { state_file = path } }
    assert.is_nil(client)
    assert.equal("validation", err.kind)
    assert.matches("not a graphcomm limits file", err.message)
    assert.equal("root:x:0:0\n", read(path))
  end)

  it("refuses symbolic links, directories and paths with NUL", function()
    local target = dir .. "/target"
    os.execute("ln -s " .. target .. " " .. dir .. "/link")
    local f, why = core.flock(dir .. "/link")
    assert.is_nil(f)
    assert.matches("cannot open", why)
    assert.is_nil(io.open(target, "rb"))             -- nothing created through the link
    f, why = core.flock(dir)
    assert.is_nil(f)
    assert.is_string(why)
    assert.has_error(function() core.flock("a\0b") end)
    assert.has_error(function() core.flock("") end)
    assert.has_error(function() core.flock(42) end)
  end)

  it("locks, reads, writes and closes (idempotent) through core.flock", function()
    local f = assert(core.flock(dir .. "/raw"))
    assert.is_true(f:lock())
    assert.is_true(f:write("hello"))
    assert.equal("hello", f:read())
    assert.is_true(f:write("hi"))                    -- shorter: truncated
    assert.equal("hi", f:read())
    f:unlock()
    f:close()
    f:close()
    assert.has_error(function() f:read() end, "graphcomm: the state file is closed")
  end)
end)
