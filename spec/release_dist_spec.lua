-- make dist writes the source tarball the versioned rockspec builds from, offline:
-- `luarocks build` of the rockspec beside the tarball into a temporary tree, `luarocks
-- pack` of what it installed (a binary rock) and of the sources (a source rock), and
-- each rock built or installed again into a tree of its own, where the module loads.
-- Luarocks builds for the Lua running the specs (--lua-version 5.1 for LuaJIT).
local cmd = require "helpers.command"
local release = require "helpers.release"
local bulk = require "helpers.bulk"

local VERSION = release.version
local DIST = "graphcomm-" .. VERSION
local ROCKSPEC = DIST .. "-1.rockspec"
local LUAV = release.rocks_version(cmd.flavour)

-- --lua-dir: Debian's Luas, not the first lua5.x on PATH (make check's ASan pass puts a
-- wrapper there, beside which luarocks would look for the headers).
local function luarocks(dir, ...)
  local argv = { "luarocks", "--lua-version", LUAV, "--lua-dir", "/usr", ... }
  return cmd.run(argv, release.plain, nil, dir)
end

-- Runs Lua code in the tree with its modules first on the paths (then Lua's defaults,
-- for lua-cjson: nothing else on them holds graphcomm).
local function in_tree(tree, code)
  local env = release.lua_env(tree .. "/share/lua/" .. LUAV, tree .. "/lib/lua/" .. LUAV)
  return cmd.run({ cmd.lua, "-e", code }, env, nil, tree)
end

local LOADS = [[
  local g = require "graphcomm"
  io.write(g._VERSION, " ", require("graphcomm.core").encode{ id = "s1", modalities = { "AUDIO" } })
]]

local function loads(tree)
  local code, out, err = in_tree(tree, LOADS)
  assert.equal(0, code, err)
  assert.equal(VERSION .. ' {"id":"s1","modalities":["audio"]}', out)
end

describe("make dist", function()
  local dir

  setup(function()
    dir = bulk.tmpdir()
    local code, out, err = cmd.run({ "make", "-s", "--no-print-directory", "dist", "DIST_DIR=" .. dir }, release.plain)
    assert.equal(0, code, out .. err)
    assert.equal(dir .. "/" .. DIST .. ".tar.gz\n", out)
    assert(os.execute("cp " .. ROCKSPEC .. " " .. cmd.quote(dir) .. "/"))
  end)

  teardown(function() bulk.rmdir(dir) end)

  it("writes graphcomm-<version>.tar.gz holding every file the rockspec builds or installs", function()
    local p = assert(io.popen("tar tzf " .. cmd.quote(dir .. "/" .. DIST .. ".tar.gz")))
    local have = {}
    for line in p:lines() do have[line] = true end
    p:close()
    local spec = release.load_rockspec(ROCKSPEC)
    local want = { "LICENSE", "CHANGELOG.md", ROCKSPEC, "graphcomm-scm-1.rockspec", "emulator/start" }
    for _, file in ipairs(spec.build.modules["graphcomm.core"].sources) do want[#want + 1] = file end
    for _, file in pairs(spec.build.modules) do
      if type(file) == "string" then want[#want + 1] = file end
    end
    for _, t in pairs(spec.build.install) do
      for _, file in pairs(t) do want[#want + 1] = file end
    end
    for _, file in ipairs(want) do assert.truthy(have[DIST .. "/" .. file], file) end
    for name in pairs(have) do assert.truthy(name:find("^" .. DIST:gsub("%p", "%%%0") .. "/"), name) end
  end)

  it("builds with `luarocks build` of the versioned rockspec offline; `luarocks pack` packs it", function()
    local tree = dir .. "/tree"
    local code, out, err = luarocks(dir, "build", ROCKSPEC, "--tree", tree, "--deps-mode=none")
    assert.equal(0, code, out .. err)
    loads(tree)
    -- the LuaLS definitions sit where make install puts them
    assert.equal(release.read("types/graphcomm.lua"),
      release.read(tree .. "/share/lua/" .. LUAV .. "/graphcomm/types/graphcomm.lua"))
    -- a binary rock of what was built, installed into a second tree
    code, out, err = luarocks(dir, "pack", "graphcomm", VERSION .. "-1", "--tree", tree)
    assert.equal(0, code, out .. err)
    local rock = out:match("Packed: (%S+%.rock)")
    assert.truthy(rock, out)
    code, out, err = luarocks(dir, "install", rock, "--tree", dir .. "/tree2", "--deps-mode=none")
    assert.equal(0, code, out .. err)
    loads(dir .. "/tree2")
  end)

  it("makes, with the tarball beside the rockspec, a source rock that builds", function()
    -- luarocks pack fetches the source from a folder of its own: it is told where the
    -- tarball is (the one change made to the rockspec's copy)
    local copy = release.read(ROCKSPEC):gsub('url = "' .. DIST:gsub("%p", "%%%0") .. '%.tar%.gz"',
      'url = "file://' .. dir .. "/" .. DIST .. '.tar.gz"')
    local sub = dir .. "/src"
    assert(os.execute("mkdir -p " .. cmd.quote(sub)))
    local f = assert(io.open(sub .. "/" .. ROCKSPEC, "w"))
    f:write(copy)
    f:close()
    local code, out, err = luarocks(sub, "pack", ROCKSPEC)
    assert.equal(0, code, out .. err)
    code, out, err = luarocks(sub, "build", DIST .. "-1.src.rock", "--tree", dir .. "/tree3", "--deps-mode=none")
    assert.equal(0, code, out .. err)
    loads(dir .. "/tree3")
  end)
end)
