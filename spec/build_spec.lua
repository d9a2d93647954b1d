-- DESIGN §6: the same sources build for Lua 5.1, 5.3, 5.4 and LuaJIT 2.1, and
-- `make LUA=<lua>` leaves the module at build/<lua>/graphcomm/core.so, where that
-- interpreter loads it (make is a no-op when scripts/check has built them already).
local cmd = require "helpers.command"

local BODY = '{"id":"s1","segments":[{"media":[{"streams":[{"averageBandwidthEstimate":9007199254740992,'
  .. '"averageJitter":"PT1.5S"}]}]}]}'

local LUAS = {
  { lua = "lua5.4", version = "Lua 5.4" },
  { lua = "luajit", version = "Lua 5.1", jit = true },
  { lua = "lua5.1", version = "Lua 5.1" },
  { lua = "lua5.3", version = "Lua 5.3" },
}

describe("make LUA=<lua>", function()
  for _, l in ipairs(LUAS) do
    it("builds build/" .. l.lua .. "/graphcomm/core.so, which " .. l.lua .. " loads and runs", function()
      local code, out, err = cmd.run({ "make", "-s", "--no-print-directory", "LUA=" .. l.lua })
      assert.equal(0, code, out .. err)
      local so = "build/" .. l.lua .. "/graphcomm/core.so"
      local f = io.open(so, "rb")
      assert.is_truthy(f, so .. " is missing")
      f:close()
      -- the module is looked for only there
      code, out, err = cmd.run({ l.lua, "-e", [[
        package.path, package.cpath = "", "build/]] .. l.lua .. [[/?.so"
        local core = require "graphcomm.core"
        io.write(_VERSION, rawget(_G, "jit") and " jit" or "", "\n", core.encode{ id = "s1",
          segments = { { media = { { streams = { { averageBandwidthEstimate = 2 ^ 53, averageJitter = 1.5 } } } } } } })
      ]] })
      assert.equal(0, code, err)
      assert.equal(l.version .. (l.jit and " jit" or "") .. "\n" .. BODY, out)
    end)
  end
end)
