-- Release hygiene: one version (lua/graphcomm/version.lua) that the facade, the core,
-- the command, the SdkVersion header and the versioned rockspec all carry; the
-- versioned rockspec is what scripts/gen-rockspec.lua writes from the scm one; the
-- licence and the changelog are there and agree with them.
local cmd = require "helpers.command"
local release = require "helpers.release"
local graphcomm = require "graphcomm"

local VERSION = release.version

local function ls(pattern)
  local out, p = {}, assert(io.popen("ls " .. pattern .. " 2>/dev/null"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

describe("the version", function()
  it("is a semantic version, kept in lua/graphcomm/version.lua only", function()
    assert.truthy(VERSION:match("^%d+%.%d+%.%d+$"), VERSION)
    -- no other file spells a version literal for graphcomm
    local p = assert(io.popen("grep -rlE 'GRAPHCOMM_VERSION|version = \"[0-9]' csrc lua bin 2>/dev/null"))
    local found = p:read("*a")
    p:close()
    assert.equal("", found)
  end)

  it("is graphcomm._VERSION, graphcomm.version and core.version", function()
    assert.equal(VERSION, graphcomm._VERSION)
    assert.equal(VERSION, graphcomm.version)
    assert.equal(VERSION, require("graphcomm.core").version)
  end)

  it("is what `graphcomm --version` prints", function()
    local code, out, err = cmd.run({ cmd.lua, "bin/graphcomm", "--version" })
    assert.equal(0, code, err)
    assert.equal("graphcomm " .. VERSION .. "\n", out)
    assert.equal("", err)
  end)

  it("is in the SdkVersion and User-Agent headers of a request", function()
    local client = assert(graphcomm.connect{ token = "t", base_url = "http://127.0.0.1:9" })
    local req = assert(client:update_session("c1", "s1", { modalities = { "audio" } }, { what_if = true }))
    client:close()
    local runtime = rawget(_G, "jit") and "LuaJIT" or _VERSION
    local sdk, ua
    for k, v in pairs(req.headers) do
      if k:lower() == "sdkversion" then sdk = v end
      if k:lower() == "user-agent" then ua = v end
    end
    assert.equal("graphcomm-lua/" .. VERSION .. " (hostOS=linux; runtimeEnvironment=",
      sdk:sub(1, #("graphcomm-lua/" .. VERSION .. " (hostOS=linux; runtimeEnvironment=")))
    assert.truthy(sdk:find(runtime, 1, true), sdk)
    assert.equal("graphcomm-lua/" .. VERSION, ua)
  end)
end)

describe("the versioned rockspec", function()
  local name = "graphcomm-" .. VERSION .. "-1.rockspec"

  it("is the only one beside the scm rockspec, named for the version", function()
    assert.same({ name, "graphcomm-scm-1.rockspec" }, ls("graphcomm-*.rockspec"))
  end)

  it("carries the version, format 3.0, busted tests and the dist tarball as its source", function()
    local spec = release.load_rockspec(name)
    assert.equal("graphcomm", spec.package)
    assert.equal(VERSION .. "-1", spec.version)
    assert.equal("3.0", spec.rockspec_format)
    assert.same({ type = "busted" }, spec.test)
    assert.equal("graphcomm-" .. VERSION .. ".tar.gz", spec.source.url)
    assert.equal("graphcomm-" .. VERSION, spec.source.dir)
    assert.equal("MIT", spec.description.license)
  end)

  it("builds what the scm rockspec builds", function()
    local v, scm = release.load_rockspec(name), release.load_rockspec("graphcomm-scm-1.rockspec")
    assert.same(scm.build, v.build)
    assert.same(scm.dependencies, v.dependencies)
    assert.same(scm.external_dependencies, v.external_dependencies)
    assert.same(scm.test, v.test)
  end)

  it("is what scripts/gen-rockspec.lua writes now (run `make rockspec` when this fails)", function()
    local dir = require("helpers.bulk").tmpdir()
    finally(function() os.execute("rm -rf " .. cmd.quote(dir)) end)
    local code, _, err = cmd.run({ cmd.lua, "scripts/gen-rockspec.lua", dir }, release.plain)
    assert.equal(0, code, err)
    assert.equal(release.read(name), release.read(dir .. "/" .. name))
  end)

  it("is refused by the generator when the scm rockspec lost its version line", function()
    local dir = require("helpers.bulk").tmpdir()
    local scm = release.read("graphcomm-scm-1.rockspec"):gsub('\nversion = "scm%-1"\n', "\n")
    local f = assert(io.open(dir .. "/graphcomm-scm-1.rockspec", "w"))
    f:write(scm)
    f:close()
    os.execute("mkdir -p " .. dir .. "/lua/graphcomm && cp lua/graphcomm/version.lua " .. dir .. "/lua/graphcomm/")
    local code, _, err = cmd.run({ cmd.lua, (os.getenv("PWD") or ".") .. "/scripts/gen-rockspec.lua", dir },
      release.plain, nil, dir)
    local written = io.open(dir .. "/" .. name, "r")
    os.execute("rm -rf " .. cmd.quote(dir))
    assert.are_not.equal(0, code)
    assert.truthy(err:find("expected one version line, found 0", 1, true), err)
    assert.falsy(written)
  end)
end)

describe("LICENSE and CHANGELOG.md", function()
  it("LICENSE is the MIT licence of the graphcomm authors, as the rockspecs say", function()
    local text = release.read("LICENSE")
    assert.truthy(text:find("^MIT License\n"))
    assert.truthy(text:find("Copyright %(c%) %d%d%d%d the graphcomm authors\n"))
    assert.truthy(text:find("Permission is hereby granted, free of charge", 1, true))
    assert.equal("MIT", release.load_rockspec("graphcomm-scm-1.rockspec").description.license)
  end)

  it("CHANGELOG.md has Unreleased on top, then this version with a date", function()
    local text = release.read("CHANGELOG.md")
    assert.truthy(text:find("^# Changelog\n"))
    local unreleased = text:find("\n## %[Unreleased%]\n")
    local this = text:find("\n## %[" .. VERSION:gsub("%.", "%%.") .. "%] %- %d%d%d%d%-%d%d%-%d%d\n")
    assert.truthy(unreleased, "no Unreleased section")
    assert.truthy(this, "no section for " .. VERSION)
    assert.truthy(unreleased < this)
    -- no version heading above this one but Unreleased
    local first = text:match("\n## %[([^%]]+)%]")
    assert.equal("Unreleased", first)
  end)
end)
