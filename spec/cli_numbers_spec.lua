-- Int64 values past 2^53 through every JSON read of the `graphcomm` command: get prints
-- them exactly, update --body and --set send them exactly, apply's input keeps them (on
-- every Lua: 5.1 holds them as graphcomm.json's marked { digits }).
local emu = require "helpers.emulator"
local cmd = require "helpers.command"
local bulk = require "helpers.bulk"


local graphcomm = cmd.graphcomm

local function body_with(n)
  return '{"segments":[{"id":"seg","media":[{"streams":[{"packetUtilization":' .. n .. '}]}]}]}'
end

describe("graphcomm and integers past 2^53", function()
  local e, env, rec, path, dir

  -- The session's stored text, as the emulator holds it (read without any Lua decoder).
  local function stored()
    local _, _, text = e:request("GET", path .. "?$select=id,segments")
    return text
  end

  setup(function()
    e = emu.shared()
    env = { GRAPHCOMM_BASE_URL = e.base_url, GRAPHCOMM_TOKEN = e.token }
    rec = bulk.new_record(e, 1)
    path = bulk.session_url(rec, 1)
    dir = bulk.tmpdir()
    assert.equal(204, (e:request("PATCH", path, body_with("9007199254740993"),
      { ["Content-Type"] = "application/json" })))
  end)
  teardown(function() bulk.rmdir(dir) end)

  it("get prints them exactly, and update --body sends that output back exactly", function()
    local code, out, err = graphcomm({ "get", rec.id, rec.sessionIds[1], "--select", "id,segments" }, env)
    assert.equal(0, code, err)
    assert.matches('"packetUtilization": 9007199254740993', out, 1, true)
    local file = dir .. "/session.json"
    local f = assert(io.open(file, "w"))
    f:write((out:gsub("9007199254740993", "9007199254740995")))
    f:close()
    code, out, err = graphcomm({ "update", rec.id, rec.sessionIds[1], "--body", file, "--what-if" }, env)
    assert.equal(0, code, err)
    assert.matches('"packetUtilization":9007199254740995', out, 1, true)
    code, _, err = graphcomm({ "update", rec.id, rec.sessionIds[1], "--body", file }, env)
    assert.equal(0, code, err)
    assert.matches('"packetUtilization":9007199254740995', stored(), 1, true)
  end)

  it("update --set reads them exactly", function()
    local code, out, err = graphcomm({ "update", rec.id, rec.sessionIds[1], "--what-if", "--set",
      'segments=[{"id":"seg","media":[{"streams":[{"packetUtilization":-9007199254740997}]}]}]' }, env)
    assert.equal(0, code, err)
    assert.matches('"packetUtilization":-9007199254740997', out, 1, true)
  end)

  it("apply sends them exactly from its input", function()
    local file = dir .. "/fixes.jsonl"
    local f = assert(io.open(file, "w"))
    f:write('{"callRecordId":"', rec.id, '","sessionId":"', rec.sessionIds[1], '","body":',
      body_with("9223372036854775807"), "}\n")
    f:close()
    local code, out, err = graphcomm({ "apply", file }, env)
    assert.equal(0, code, out .. err)
    assert.matches('"packetUtilization":9223372036854775807', stored(), 1, true)
  end)
end)
