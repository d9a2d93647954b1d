-- The module graph: no require cycles, nothing loaded lazily, every client method
-- where the client is defined, and the core's method lookup raw (no Lua runs in it).
local core = require "graphcomm.core"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function modules()
  local out = { graphcomm = "lua/graphcomm.lua" }
  local p = assert(io.popen("ls lua/graphcomm/*.lua lua/graphcomm/*/*.lua"))
  for file in p:lines() do
    out[(file:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/", "."))] = file
  end
  p:close()
  return out
end

-- name -> { required module names } (every require of a graphcomm module, top level or not)
local function graph()
  local g = {}
  for name, file in pairs(modules()) do
    local deps = {}
    local text = read(file):gsub("%-%-[^\n]*", "")      -- not in comments
    for dep in text:gmatch("require%s*%(?%s*[\"'](graphcomm[%w_.]*)[\"']") do
      if dep ~= "graphcomm.core" then deps[#deps + 1] = dep end
    end
    g[name] = deps
  end
  return g
end


describe("the Lua modules", function()
  it("require one another without a cycle", function()
    local g, state = graph(), {}
    assert.is_table(g["graphcomm.cli.main"])        -- the command line's modules are held too
    local function visit(name, path)
      if state[name] == "done" then return end
      assert(state[name] ~= "open", "require cycle: " .. table.concat(path, " -> ") .. " -> " .. name)
      state[name] = "open"
      path[#path + 1] = name
      for _, dep in ipairs(g[name] or {}) do visit(dep, path) end
      path[#path] = nil
      state[name] = "done"
    end
    for name in pairs(g) do visit(name, {}) end
    -- and the check itself finds a cycle when there is one
    local ok = pcall(function()
      g, state = { a = { "b" }, b = { "a" } }, {}
      visit("a", {})
    end)
    assert.is_false(ok)
  end)

  it("keep read and bulk below the client: they never require it", function()
    local g = graph()
    for _, name in ipairs({ "graphcomm.read", "graphcomm.bulk", "graphcomm.engine",
        "graphcomm.transport", "graphcomm.ngx" }) do
      for _, dep in ipairs(g[name]) do
        assert.are_not.equal("graphcomm.client", dep, name)
        assert.are_not.equal("graphcomm", dep, name)
      end
    end
  end)

  it("load nothing lazily: no LAZY tables, no install hooks", function()
    for _, file in pairs(modules()) do
      local text = read(file)
      assert.is_nil(text:find("LAZY", 1, true), file)
      assert.is_nil(text:find("%.install%s*%("), file)
    end
    local graphcomm = require "graphcomm"
    assert.is_nil(getmetatable(graphcomm))
    assert.is_function(rawget(graphcomm, "diff"))
  end)

  it("give a client every public method at once", function()
    local c = assert(require("graphcomm").connect{ base_url = "http://127.0.0.1:9", token = "t" })
    for _, name in ipairs({ "request", "update_session", "get_session", "get_call_record",
        "sessions", "update_sessions", "close" }) do
      assert.is_function(c[name], name)
    end
    c:close()
  end)
end)

describe("core.handle_class", function()
  it("looks methods up raw: a methods table's __index never runs", function()
    local called = false
    local methods = setmetatable({ hello = function() return "hi" end },
      { __index = function() called = true; return function() end end })
    local new = core.handle_class("graphcomm.spec_handle", methods, nil)
    local obj = new({})
    assert.equal("hi", obj:hello())
    assert.is_nil(obj.missing)
    assert.is_false(called)
    obj:close()
  end)
end)
