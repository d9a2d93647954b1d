-- bin/graphcomm before `make`, or installed without its dependencies: --help and
-- --version need neither graphcomm.core nor lua-cjson; anything else that lacks one
-- says in one line what to run (no traceback), exit 2.
local cmd = require "helpers.command"
local release = require "helpers.release"
local bulk = require "helpers.bulk"

local HERE = assert(io.popen("pwd")):read("*l")
local LUA = cmd.flavour
local LUAV = release.rocks_version(LUA)

-- A checkout as a fresh clone has it: bin/ and lua/, nothing built.
local function fresh_clone()
  local dir = bulk.tmpdir()
  assert(os.execute("cp -R bin lua " .. cmd.quote(dir) .. "/"))
  return dir
end

-- Lua's module paths without /usr/local and the like, where another graphcomm may be
-- installed: lua-cjson's folder only, unless a case says otherwise.
local function env(extra)
  local e = release.lua_env("/nonexistent", "/nonexistent")
  e.GRAPHCOMM_BUILD = false
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function run(dir, argv, extra)
  local words = { LUA, dir .. "/bin/graphcomm" }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  return cmd.run(words, env(extra), nil, dir)
end

local function one_line(err)
  assert.truthy(err:find("^graphcomm: [^\n]+\n$"), err)
  assert.falsy(err:find("traceback", 1, true), err)
end

-- What the command prints with everything in place.
local function reference(argv)
  local words = { LUA, "bin/graphcomm" }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  local code, out = cmd.run(words, env({ GRAPHCOMM_BUILD = HERE .. "/build/" .. LUA }))
  assert.equal(0, code)
  return out
end

describe("bin/graphcomm in a fresh clone (nothing built)", function()
  local dir
  setup(function() dir = fresh_clone() end)
  teardown(function() bulk.rmdir(dir) end)

  it("prints --version", function()
    local code, out, err = run(dir, { "--version" })
    assert.equal(0, code, err)
    assert.equal("graphcomm " .. release.version .. "\n", out)
    assert.equal("", err)
  end)

  for _, argv in ipairs({ { "--help" }, { "-h" }, { "update", "--help" }, { "get", "--help" } }) do
    it("prints `" .. table.concat(argv, " ") .. "` as with everything built", function()
      local code, out, err = run(dir, argv)
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(reference(argv), out)
    end)
  end

  it("says in one line to run make for this Lua, for any other command", function()
    for _, argv in ipairs({ { "get", "c1" }, { "update", "c1", "s1", "--set", "isTest=true", "--what-if" } }) do
      local code, out, err = run(dir, argv)
      assert.equal(2, code)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find("graphcomm.core is not built for " .. LUA .. ": run `make LUA=" .. LUA .. "` in ", 1, true), err)
    end
  end)

  it("says lua-cjson is missing, and how to install it, when only the core is there", function()
    local code, out, err = run(dir, { "get", "c1" },
      { GRAPHCOMM_BUILD = HERE .. "/build/" .. LUA, LUA_CPATH = "/nonexistent/?.so" })
    assert.equal(2, code)
    assert.equal("", out)
    one_line(err)
    assert.truthy(err:find("lua-cjson is not installed for " .. LUA, 1, true), err)
    assert.truthy(err:find("`luarocks --lua-version " .. LUAV .. " install lua-cjson`", 1, true), err)
    -- help still prints without lua-cjson
    code, out, err = run(dir, { "--help" }, { GRAPHCOMM_BUILD = HERE .. "/build/" .. LUA, LUA_CPATH = "/nonexistent/?.so" })
    assert.equal(0, code, err)
    assert.equal(reference({ "--help" }), out)
  end)

  it("says the core does not load, and to rebuild it, when the file is not a module", function()
    assert(os.execute("mkdir -p " .. dir .. "/broken/graphcomm && echo junk >" .. dir .. "/broken/graphcomm/core.so"))
    local code, out, err = run(dir, { "get", "c1" }, { GRAPHCOMM_BUILD = dir .. "/broken" })
    assert.equal(2, code)
    assert.equal("", out)
    one_line(err)
    assert.truthy(err:find("graphcomm.core does not load in " .. LUA .. " (" .. dir .. "/broken/graphcomm/core.so: ", 1, true), err)
    assert.truthy(err:find("rebuild it with `make LUA=" .. LUA .. "`", 1, true), err)
  end)
end)

describe("an installed bin/graphcomm (no checkout beside it)", function()
  local dir
  setup(function()
    dir = bulk.tmpdir()
    assert(os.execute("mkdir -p " .. dir .. "/bin && cp bin/graphcomm " .. dir .. "/bin/"))
  end)
  teardown(function() bulk.rmdir(dir) end)

  it("without graphcomm.core says to install it for this Lua (make install or luarocks)", function()
    local code, out, err = run(dir, { "get", "c1" }, { LUA_PATH = HERE .. "/lua/?.lua" })
    assert.equal(2, code)
    assert.equal("", out)
    one_line(err)
    assert.truthy(err:find("graphcomm.core is not installed for " .. LUA, 1, true), err)
    assert.truthy(err:find("`make install LUA=" .. LUA .. "`", 1, true), err)
    assert.truthy(err:find("`luarocks --lua-version " .. LUAV .. " install graphcomm`", 1, true), err)
  end)

  it("without any graphcomm module says to install graphcomm for this Lua", function()
    for _, argv in ipairs({ { "--version" }, { "--help" }, { "get", "c1" } }) do
      local code, out, err = run(dir, argv, { LUA_PATH = "/nonexistent/?.lua" })
      assert.equal(2, code)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find("the graphcomm modules are not installed for " .. LUA, 1, true), err)
    end
  end)
end)

describe("graphcomm.launch.problem", function()
  local launch = require "graphcomm.launch"

  it("tells a lua-cjson that does not load from one that is missing", function()
    local msg = launch.problem("cjson", "error loading module 'cjson' from file 'c.so':\n\tc.so: undefined symbol: x",
      { lua = "lua5.4" })
    assert.equal("graphcomm: lua-cjson does not load in lua5.4 (c.so: undefined symbol: x): reinstall it with "
      .. "`apt-get install lua-cjson` or `luarocks --lua-version 5.4 install lua-cjson`", msg)
  end)

  it("names luarocks' Lua version 5.1 for LuaJIT", function()
    local msg = launch.problem("graphcomm.core", "module 'graphcomm.core' not found:\n\tno file", { lua = "luajit" })
    assert.equal("graphcomm: graphcomm.core is not installed for luajit: run `make install LUA=luajit` in "
      .. "graphcomm's source, or `luarocks --lua-version 5.1 install graphcomm`", msg)
  end)

  it("gives the loader's reason, the last line of its error", function()
    local msg = launch.problem("graphcomm.core", "error loading module 'graphcomm.core' from file 'x.so':\n\tx.so: file too short",
      { lua = "lua5.3", checkout = "/src" })
    assert.equal("graphcomm: graphcomm.core does not load in lua5.3 (x.so: file too short): "
      .. "rebuild it with `make LUA=lua5.3` in /src", msg)
  end)
end)
