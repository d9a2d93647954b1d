-- make install LUA=<lua> into a DESTDIR: the installed `graphcomm` starts the Lua whose
-- module was installed (its first line names it), runs with the tree's modules, and
-- the editor types are installed beside the modules; make uninstall takes all of it
-- away again.
local cmd = require "helpers.command"
local release = require "helpers.release"
local bulk = require "helpers.bulk"

local LUAS = {
  { lua = "lua5.4", ver = "5.4", runtime = "Lua 5.4" },
  { lua = "luajit", ver = "5.1", runtime = "LuaJIT 2.1" },
  { lua = "lua5.1", ver = "5.1", runtime = "Lua 5.1" },
  { lua = "lua5.3", ver = "5.3", runtime = "Lua 5.3" },
}
local PREFIX = "/usr/local"

local function make(target, lua, dest)
  return cmd.run({ "make", "-s", "--no-print-directory", target, "LUA=" .. lua, "PREFIX=" .. PREFIX,
    "DESTDIR=" .. dest }, release.plain)
end

-- The installed command, run as the shell runs it (its #! line picks the interpreter).
local function installed(dest, l, argv)
  local root = dest .. PREFIX
  local words = { root .. "/bin/graphcomm" }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  return cmd.run(words, release.lua_env(root .. "/share/lua/" .. l.ver, root .. "/lib/lua/" .. l.ver, l.lua), nil, dest)
end

describe("make install", function()
  for _, l in ipairs(LUAS) do
    describe("LUA=" .. l.lua, function()
      local dest

      setup(function()
        dest = bulk.tmpdir()
        local code, out, err = make("install", l.lua, dest)
        assert.equal(0, code, out .. err)
      end)

      teardown(function() bulk.rmdir(dest) end)

      it("installs a graphcomm whose first line starts " .. l.lua, function()
        local text = release.read(dest .. PREFIX .. "/bin/graphcomm")
        assert.equal("#!/usr/bin/env " .. l.lua .. "\n", text:match("^[^\n]*\n"))
        -- the rest is bin/graphcomm as it is
        assert.equal(release.read("bin/graphcomm"):gsub("^[^\n]*\n", ""), (text:gsub("^[^\n]*\n", "")))
      end)

      it("which runs on " .. l.lua .. " with the module it installed", function()
        local code, out, err = installed(dest, l, { "--version" })
        assert.equal(0, code, err)
        assert.equal("graphcomm " .. release.version .. "\n", out)
        -- what-if goes through graphcomm.core and names the runtime in SdkVersion
        code, out, err = installed(dest, l, { "update", "c1", "s1", "--set", "modalities=AUDIO", "--what-if" })
        assert.equal(0, code, err)
        assert.truthy(out:find("runtimeEnvironment=" .. l.runtime .. ")", 1, true), out)
        assert.truthy(out:find('{"modalities":["audio"]}', 1, true), out)
      end)

      it("installs the LuaLS definitions under share/lua/" .. l.ver .. "/graphcomm/types", function()
        assert.equal(release.read("types/graphcomm.lua"),
          release.read(dest .. PREFIX .. "/share/lua/" .. l.ver .. "/graphcomm/types/graphcomm.lua"))
      end)
    end)
  end
end)

describe("make uninstall", function()
  it("takes away every file make install put into the tree, and its folders", function()
    local dest = bulk.tmpdir()
    local code, out, err = make("install", cmd.flavour, dest)
    assert.equal(0, code, out .. err)
    local files = release.files(dest)
    assert.truthy(#files > 30, #files .. " files installed")
    code, out, err = make("uninstall", cmd.flavour, dest)
    local left = release.files(dest)
    local p = assert(io.popen("find " .. cmd.quote(dest) .. " -name '*graphcomm*'"))
    local named = p:read("*a")
    p:close()
    bulk.rmdir(dest)
    assert.equal(0, code, out .. err)
    assert.same({}, left)
    assert.equal("", named)
  end)

  it("leaves alone what it did not install", function()
    local dest = bulk.tmpdir()
    local code, out, err = make("install", cmd.flavour, dest)
    assert.equal(0, code, out .. err)
    local share = dest .. PREFIX .. "/share/lua/" .. release.rocks_version(cmd.flavour)
    local f = assert(io.open(share .. "/graphcomm/mine.lua", "w"))
    f:write("return 1\n")
    f:close()
    f = assert(io.open(dest .. PREFIX .. "/bin/other", "w"))
    f:close()
    code, out, err = make("uninstall", cmd.flavour, dest)
    local left = release.files(dest)
    bulk.rmdir(dest)
    assert.equal(0, code, out .. err)
    assert.same({ "." .. PREFIX .. "/bin/other",
      "." .. PREFIX .. "/share/lua/" .. release.rocks_version(cmd.flavour) .. "/graphcomm/mine.lua" }, left)
  end)
end)
