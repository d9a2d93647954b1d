-- Memory stays flat however many items stream through update_sessions: a child process
-- streams 2,000 and then 20,000 items from an iterator (each with its own body table) to
-- the emulator and reports its peak RSS (VmHWM); the larger run may not peak 30% higher.
-- (bench/bulk.lua does the same at 10,000 and 100,000.) The child runs without ASan,
-- whose quarantine keeps freed memory on purpose: under the ASan pass it uses the plain
-- build beside the sanitized one.
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local CHILD = [[
local n, crid, sids_text = tonumber(arg[1]), arg[2], arg[3]
local graphcomm = require "graphcomm"
local sids = {}
for id in sids_text:gmatch("[^,]+") do sids[#sids + 1] = id end
local c = assert(graphcomm.connect{ base_url = os.getenv("GRAPHCOMM_BASE_URL"),
  token = os.getenv("GRAPHCOMM_TOKEN") })
local i = 0
local s = c:update_sessions(function()
  i = i + 1
  if i > n then return nil end
  return { crid, sids[(i - 1) % #sids + 1], { modalities = { "audio", "video" },
    failureInfo = { reason = "memory " .. i, stage = "midcall" } } }
end, { concurrency = 16 })
local f = io.open("/proc/self/status")
local hwm = f:read("*a"):match("VmHWM:%s*(%d+)")
f:close()
print("ok " .. s.ok .. " failed " .. s.failed .. " hwm " .. hwm)
]]

describe("update_sessions memory", function()
  local e, dir

  setup(function()
    e = emu.shared()
    dir = bulk.tmpdir()
  end)
  teardown(function() bulk.rmdir(dir) end)

  it("peaks no higher with 20,000 items than 30% over 2,000", function()
    local rec = e:control("POST", "callRecords", { sessions = 500 })
    local script = dir .. "/child.lua"
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    local function run(n)
      local cmd = bulk.child(e, script, n .. " " .. rec.id .. " "
        .. emu.shell_quote(table.concat(rec.sessionIds, ",")) .. " 2>&1")
      local p = io.popen(cmd)
      local out = p:read("*a")
      p:close()
      local ok, failed, hwm = out:match("ok (%d+) failed (%d+) hwm (%d+)")
      assert(hwm, "the child failed: " .. out)
      assert.equal(n, tonumber(ok))
      assert.equal(0, tonumber(failed))
      return tonumber(hwm)
    end
    local small = run(2000)
    local large = run(20000)
    assert.is_true(large <= small * 1.3,
      ("peak RSS %d kB for 20,000 items vs %d kB for 2,000"):format(large, small))
  end)
end)
