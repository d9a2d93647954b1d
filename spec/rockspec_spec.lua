-- The rockspec lists what the builtin backend builds (it takes no globs):
-- every csrc/*.c and every lua/graphcomm/*.lua must be in it.
local function load_rockspec(path)
  local env = {}
  local f = assert(io.open(path, "r"))
  local src = f:read("*a")
  f:close()
  local chunk
  if setfenv then
    chunk = assert(loadstring(src, path))
    setfenv(chunk, env)
  else
    chunk = assert(load(src, path, "t", env))
  end
  chunk()
  return env
end

local function ls(pattern)
  local out, p = {}, assert(io.popen("ls " .. pattern .. " 2>/dev/null"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

describe("graphcomm-scm-1.rockspec", function()
  local spec = load_rockspec("graphcomm-scm-1.rockspec")

  it("builds graphcomm.core from every csrc/*.c, linking curl, crypto and zlib", function()
    local core = spec.build.modules["graphcomm.core"]
    local sources = {}
    for i, s in ipairs(core.sources) do sources[i] = s end
    table.sort(sources)
    assert.same(ls("csrc/*.c"), sources)
    assert.same({ "curl", "crypto", "z" }, core.libraries)
    assert.same({ library = "curl" }, spec.external_dependencies.CURL)
  end)

  it("installs every Lua module and the command", function()
    local want = { "lua/graphcomm.lua" }
    for _, f in ipairs(ls("lua/graphcomm/*.lua")) do want[#want + 1] = f end
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
end)
