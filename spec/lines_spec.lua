-- graphcomm.lines: exact lines whatever bytes they hold (a NUL must not join two
-- lines on Lua 5.1/LuaJIT, where f:lines() stops at it), a cut last line told apart;
-- and the readers built on it: apply's input and fix's --records.
local lines = require "graphcomm.lines"
local fixes = require "graphcomm.cli.fixes"

local file_with = require("helpers.rules").file   -- a temporary file holding text

local function all(text)
  local path = file_with(text)
  local f = assert(io.open(path, "rb"))
  local out = {}
  for line, ended in lines.each(f) do out[#out + 1] = { line, ended } end
  f:close()
  os.remove(path)
  return out
end

describe("graphcomm.lines", function()
  local block = lines.BLOCK
  after_each(function() lines.BLOCK = block end)

  it("keeps a NUL inside its line and the next line whole", function()
    assert.same({ { "a\0b", true }, { "good", true } }, all("a\0b\ngood\n"))
  end)

  it("tells a cut last line from an ended one, and reads nothing from an empty file", function()
    assert.same({ { "one", true }, { "two", false } }, all("one\ntwo"))
    assert.same({ { "", true }, { "", true } }, all("\n\n"))
    assert.same({}, all(""))
  end)

  it("joins a line across blocks (the block reader of 5.1 and LuaJIT)", function()
    lines.BLOCK = 3
    local long = string.rep("x", 10) .. "\0" .. string.rep("y", 7)
    assert.same({ { long, true }, { "z", false } }, all(long .. "\nz"))
  end)

  it("ends at a read error and says why (a directory given as the file)", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local f = assert(io.open(dir, "rb"))
    local n = 0
    for _ in lines.each(f) do n = n + 1 end
    assert.equal(0, n)
    assert.matches("directory", lines.failed(f))
    f:close()
    local env = { stderr = { write = function() end } }
    local count, err = fixes.check_file(env, dir)
    assert.is_nil(count)
    assert.equal("cannot read " .. dir .. ": Is a directory", err)
    local fixcmd = require "graphcomm.fixcmd"
    local said = {}
    local code = fixcmd.run({ "/nonexistent-rule.lua", "--records", dir }, {
      stdout = env.stderr, stdin = io.stdin, getenv = function() return nil end,
      stderr = { write = function(_, ...) for _, x in ipairs({ ... }) do said[#said + 1] = x end end } })
    os.remove(dir)
    assert.equal(2, code)
    assert.truthy(table.concat(said):find("cannot read " .. dir .. ": Is a directory", 1, true))
  end)

  it("apply's input: a broken line with a NUL is one bad line, the fix after it is read", function()
    local good = '{"callRecordId":"r1","sessionId":"s1","body":{"isTest":true}}'
    local path = file_with('{"callRecordId":"r1\0junk\n' .. good .. "\n")
    local err = {}
    local env = { stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do err[#err + 1] = s end end } }
    assert.is_nil((fixes.check_file(env, path)))
    local said = table.concat(err)
    assert.matches(":1: ", said, 1, true)
    assert.is_nil(said:find(":2: ", 1, true))
    local got = {}
    for item in fixes.each(env, path) do got[#got + 1] = item end
    os.remove(path)
    assert.equal(1, #got)
    assert.equal("s1", got[1].sessionId)
    assert.equal(2, got[1].line)
  end)
end)
