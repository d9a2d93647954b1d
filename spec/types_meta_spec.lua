-- types/graphcomm.lua, the LuaLS definitions: what scripts/gen-types.lua writes now
-- (it fails when the schema or the generator moved on: run `make types`), every
-- schema type a ---@class with its own properties, enums as string-literal unions,
-- and the facade's and the client's functions as the code has them.
local cmd = require "helpers.command"
local release = require "helpers.release"
local bulk = require "helpers.bulk"
local core = require "graphcomm.core"

local FILE = "types/graphcomm.lua"
local text = release.read(FILE)

local function escape(s) return (s:gsub("%p", "%%%0")) end

local function has_line(line)
  return text:find("\n" .. escape(line) .. "\n") ~= nil
end

-- The names after `function <owner>` in the file.
local function defined(owner, sep)
  local out = {}
  for name in text:gmatch("\nfunction " .. escape(owner .. sep) .. "([%w_]+)%(") do out[#out + 1] = name end
  table.sort(out)
  return out
end

local function sorted_keys(...)
  local seen, out = {}, {}
  for i = 1, select("#", ...) do
    for k in pairs((select(i, ...))) do
      if not seen[k] then seen[k] = true; out[#out + 1] = k end
    end
  end
  table.sort(out)
  return out
end

describe("types/graphcomm.lua", function()
  it("is what scripts/gen-types.lua writes now (run `make types` when this fails)", function()
    local dir = bulk.tmpdir()
    local build = os.getenv("GRAPHCOMM_BUILD") or ("build/" .. cmd.flavour)
    local env = { GRAPHCOMM_BUILD = build }
    if not os.getenv("ASAN_OPTIONS") then for k, v in pairs(release.plain) do env[k] = v end end
    finally(function() bulk.rmdir(dir) end)
    local code, _, err = cmd.run({ cmd.lua, "scripts/gen-types.lua", dir }, env)
    assert.equal(0, code, err)
    assert.equal(text, release.read(dir .. "/graphcomm.lua"))
  end)

  it("is a LuaLS meta file for require 'graphcomm' that Lua can load", function()
    assert.truthy(text:find("^%-%-%-@meta graphcomm\n"))
    local chunk = assert(loadfile(FILE))
    local g = chunk()
    assert.equal("function", type(g.session))
    assert.equal("function", type(g.connect))
  end)

  it("has every schema type as a ---@class with its own properties, base types as parents", function()
    for _, name in ipairs(core.schema()) do
      local t = core.schema(name)
      assert.truthy(has_line("---@class callRecords." .. name .. (t.base and (": callRecords." .. t.base) or "")), name)
      local body = text:match("\n%-%-%-@class callRecords%." .. name .. "([:\n].-)\n\n")
      assert.truthy(body, name)
      local own = {}
      for _, p in ipairs(t.properties) do
        if p.owner == name then
          own[#own + 1] = p.name
          assert.truthy(body:find("\n%-%-%-@field " .. p.name .. "%? "), name .. "." .. p.name)
        end
      end
      local fields = 0
      for f in body:gmatch("%-%-%-@field ([%w_]+)%?") do
        if f ~= "AdditionalProperties" then fields = fields + 1 end
      end
      assert.equal(#own, fields, name)
    end
  end)

  it("writes each kind of value as the encoder takes it", function()
    assert.truthy(has_line("---@field modalities? callRecords.modality[]"))
    assert.truthy(has_line("---@field startDateTime? string|number|osdateparam|graphcomm.Null"))
    assert.truthy(has_line("---@field cpuCoresCount? integer|graphcomm.Null"))
    assert.truthy(has_line("---@field segments? callRecords.segment[]|graphcomm.Null"))
    assert.truthy(has_line("---@field [string] boolean"))              -- feedbackTokenSet is open
    assert.truthy(has_line("---@field AdditionalProperties? table<string, any>"))
  end)

  it("has every enum as a union of its string literals", function()
    local seen = 0
    for _, name in ipairs(core.schema()) do
      for _, p in ipairs(core.schema(name).properties) do
        if p.enum then
          local lits = {}
          for i, v in ipairs(p.values) do lits[i] = '"' .. v .. '"' end
          assert.truthy(has_line("---@alias callRecords." .. p.enum .. " " .. table.concat(lits, "|")), p.enum)
          seen = seen + 1
        end
      end
    end
    assert.truthy(seen > 10)
  end)

  it("has the facade's functions, as graphcomm has them", function()
    local graphcomm = require "graphcomm"
    local funcs = {}
    for k, v in pairs(graphcomm) do
      if type(v) == "function" then funcs[k] = true end
    end
    assert.same(sorted_keys(funcs), defined("graphcomm", "."))
    assert.truthy(has_line('---@field _VERSION string "' .. release.version .. '"'))
  end)

  it("has the client's methods, as client.lua defines them (and close)", function()
    local src = release.read("lua/graphcomm/client.lua")
    local names = { close = true }                   -- from core.handle_class
    for name in src:gmatch("\nfunction methods%.([%w_]+)%(") do names[name] = true end
    assert.same(sorted_keys(names), defined("Client", ":"))
    local c = assert(require("graphcomm").connect{ token = "t", base_url = "http://127.0.0.1:9" })
    for name in pairs(names) do assert.equal("function", type(c[name]), name) end
    c:close()
    assert.same({ "json", "totable" }, defined("Session", ":"))
  end)

  it("has a type for every option name the code checks (a hint in gen-types.lua's HINTS)", function()
    local untyped = {}
    for name in text:gmatch("\n%-%-%-@field ([%w_]+)%? any") do untyped[#untyped + 1] = name end
    assert.same({}, untyped)
    for _, class in ipairs({ "SessionOptions", "ConnectOptions", "UpdateOptions", "BulkOptions", "Query" }) do
      assert.truthy(has_line("---@class graphcomm." .. class), class)
    end
    for name in pairs(require("graphcomm.options").CONNECT) do
      assert.truthy(text:find("\n%-%-%-@field " .. name .. "%? "), name)
    end
  end)

  it("has the error object's fields (DESIGN.md section 3)", function()
    for _, f in ipairs({ "kind graphcomm.ErrorKind", "message string", "status integer?", "code string?",
        "request_id string?", "client_request_id string?", "date string?", "retry_after number?",
        "headers table<string, string>?", "errors graphcomm.ValidationProblem[]?" }) do
      assert.truthy(text:find("\n%-%-%-@field " .. escape(f)), f)
    end
    assert.truthy(has_line('---@alias graphcomm.ErrorKind "validation"|"http"|"transport"|"auth"|"declined"'))
  end)
end)
