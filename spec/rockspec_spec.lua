-- The rockspec lists what the builtin backend builds (it takes no globs):
-- every csrc/*/*.c (the C core lives in group folders), every lua/graphcomm/*.lua and
-- lua/graphcomm/cli/*.lua must be in it.
local load_rockspec = require("helpers.release").load_rockspec

local function ls(pattern)
  local out, p = {}, assert(io.popen("ls " .. pattern .. " 2>/dev/null"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

describe("graphcomm-scm-1.rockspec", function()
  local spec = load_rockspec("graphcomm-scm-1.rockspec")

  it("builds graphcomm.core from every csrc/*/*.c, linking curl, crypto and zlib", function()
    local core = spec.build.modules["graphcomm.core"]
    local sources = {}
    for i, s in ipairs(core.sources) do sources[i] = s end
    table.sort(sources)
    assert.same(ls("csrc/*.c csrc/*/*.c"), sources)
    assert.same({ "csrc" }, core.incdirs and { core.incdirs[1] })
    assert.same({ "curl", "crypto", "z" }, core.libraries)
    assert.same({ library = "curl" }, spec.external_dependencies.CURL)
  end)

  it("installs every Lua module and the command", function()
    local want = { "lua/graphcomm.lua" }
    for _, f in ipairs(ls("lua/graphcomm/*.lua lua/graphcomm/*/*.lua")) do want[#want + 1] = f end
    table.sort(want)
    local have = {}
    for name, file in pairs(spec.build.modules) do
      if type(file) == "string" then
        have[#have + 1] = file
        assert.equal(name, file:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/", "."), nil)
      end
    end
    table.sort(have)
    assert.same(want, have)
    assert.equal("bin/graphcomm", spec.build.install.bin.graphcomm)
  end)

  it("copies the emulator into the rock, beside its bin/graphcomm, with the metadata it reads", function()
    assert.same({ "emulator", "reference" }, spec.build.copy_directories)
  end)
end)

describe("make install", function()
  it("puts the emulator at $(PREFIX)/share/graphcomm/emulator, start and stop executable, reference/ beside", function()
    local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
    local dest = os.tmpname()
    os.remove(dest)
    local ok = os.execute("env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS "
      .. "make -s install LUA=" .. flavour .. " PREFIX=/usr/local DESTDIR=" .. dest
      .. " >/dev/null 2>&1")
    local emu = dest .. "/usr/local/share/graphcomm/emulator"
    local function mode(path)
      local p = assert(io.popen("stat -c %A " .. path .. " 2>/dev/null"))
      local m = p:read("*l")
      p:close()
      return m
    end
    local start, stop, app = mode(emu .. "/start"), mode(emu .. "/stop"),
      mode(emu .. "/lua/graphcomm_emulator/app.lua")
    local ref = {}   -- what its schema is read from, readable by nginx's unprivileged workers
    for _, f in ipairs({ "graph-v1.0-callrecords.csdl.xml", "differences.lua", "graph-metadata.LICENSE" }) do
      ref[#ref + 1] = mode(emu .. "/reference/" .. f)
    end
    local conf = io.open(emu .. "/nginx.conf.in", "r")
    if conf then conf:close() end
    os.execute("rm -rf " .. dest)
    assert.truthy(ok == true or ok == 0)
    assert.equal("-rwxr-xr-x", start)
    assert.equal("-rwxr-xr-x", stop)
    assert.equal("-rw-r--r--", app)
    assert.truthy(conf)
    assert.same({ "-rw-r--r--", "-rw-r--r--", "-rw-r--r--" }, ref)
  end)
end)
