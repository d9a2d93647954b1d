-- core.uuid4: version 4 ids from a pool of kernel randomness (one read per 32 ids),
-- core.uuid4(prefix) with its header line, and no id handed out twice across a fork.
local core = require "graphcomm.core"

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local is_luajit = rawget(_G, "jit") ~= nil

describe("core.uuid4", function()
  it("gives distinct version 4 ids, across many refills of the pool", function()
    local seen = {}
    for _ = 1, 5000 do
      local id = core.uuid4()
      assert.matches(UUID4, id)
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("gives the id and its header line with a prefix, one value without", function()
    local id, line = core.uuid4("client-request-id: ")
    assert.matches(UUID4, id)
    assert.equal("client-request-id: " .. id, line)
    assert.equal(1, select("#", core.uuid4()))
    assert.equal(1, select("#", core.uuid4(nil)))
    assert.has_error(function() core.uuid4({}) end)
    local long = ("x"):rep(300) .. ": "          -- past the C buffer: joined another way
    id, line = core.uuid4(long)
    assert.matches(UUID4, id)
    assert.equal(long .. id, line)
    id, line = core.uuid4(12)
    assert.equal("12" .. id, line)
  end)

  if is_luajit then
    local ffi = require "ffi"
    pcall(ffi.cdef, [[
      int fork(void); int pipe(int fds[2]); long write(int fd, const void *p, unsigned long n);
      long read(int fd, void *p, unsigned long n); int close(int fd);
      int waitpid(int pid, int *status, int options); void _exit(int code);
    ]])

    it("hands a forked child none of the parent's pooled bytes", function()
      core.uuid4()                                  -- the pool holds bytes now
      local fds = ffi.new("int[2]")
      assert.equal(0, ffi.C.pipe(fds))
      local pid = ffi.C.fork()
      assert.is_true(pid >= 0)
      if pid == 0 then
        local ids = {}
        for i = 1, 8 do ids[i] = core.uuid4() end
        local text = table.concat(ids, "\n")
        ffi.C.write(fds[1], text, #text)
        ffi.C._exit(0)
      end
      ffi.C.close(fds[1])
      local buf, got = ffi.new("char[1024]"), {}
      while true do
        local n = tonumber(ffi.C.read(fds[0], buf, 1024))
        if n <= 0 then break end
        got[#got + 1] = ffi.string(buf, n)
      end
      ffi.C.close(fds[0])
      local status = ffi.new("int[1]")
      ffi.C.waitpid(pid, status, 0)
      local child = {}
      for id in table.concat(got):gmatch("[^\n]+") do child[id] = true end
      local n = 0
      for _ in pairs(child) do n = n + 1 end
      assert.equal(8, n)
      for _ = 1, 8 do assert.is_nil(child[core.uuid4()]) end
    end)
  end
end)
