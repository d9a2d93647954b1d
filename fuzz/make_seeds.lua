-- fuzz/make_seeds.lua: writes the seed corpus fuzz/corpus/encode/* for fuzz_encode.c:
-- small "programs" (in the harness's op codes) that build realistic session
-- tables, so the fuzzer starts deep in the schema instead of at empty tables.
-- Run from the repository root: lua5.4 fuzz/make_seeds.lua (after `make`).
package.cpath = "build/lua5.4/?.so;" .. package.cpath
local core = require "graphcomm.core"

-- The harness's dictionary order: its extra words, then per type the name, the
-- odata name and each own property (as written, then PascalCase), then enum values.
local EXTRA = 34   -- #extra_words in fuzz_encode.c
local index, n = {}, EXTRA
for _, tname in ipairs(core.schema()) do
  local t = core.schema(tname)
  index[tname] = n
  index[t.odata_type] = n + 1
  n = n + 2
  for _, p in ipairs(t.properties) do
    if p.owner == tname then
      index[p.name] = index[p.name] or n
      n = n + 2
    end
  end
end
local out = {}
local function op(...) for _, b in ipairs{ ... } do out[#out + 1] = string.char(b) end end
local function word(w)
  local i = assert(index[w], w)
  op(i >= 256 and 0x10 or 0, i % 256)
end
local function str(s) op(3, #s) out[#out + 1] = s end
local function field(name, push) word(name) push() op(10) end
local function int(v) op(4) for i = 7, 0, -1 do op(math.floor(v / 2 ^ (8 * i)) % 256) end end

local function session_seed()
  op(0x03)                               -- options byte: allow_unknown, odata_type
  op(9)                                  -- the root table
  field("id", function() str("s1") end)
  field("startDateTime", function() str("2024-01-31T09:30:00.5+01:00") end)
  field("modalities", function() op(9) str("audio") op(11) str("Video") op(11) end)
  field("segments", function()
    op(9) op(9)                          -- the array, its first segment
    field("media", function()
      op(9) op(9)
      field("streams", function()
        op(9) op(9)
        field("averageJitter", function() str("PT0.015S") end)
        field("packetUtilization", function() int(123456) end)
        field("wasMediaBypassed", function() op(7, 1) end)
        op(11)                           -- the stream into streams
      end)
      field("callerNetwork", function()
        op(9)
        field("port", function() int(443) end)
        field("traceRouteHops", function() op(9) op(9) field("hopCount", function() int(3) end) op(11) end)
      end)
      op(11)                             -- the media into media
    end)
    op(11)                               -- the segment into segments
  end)
  return table.concat(out)
end

local function endpoint_seed()
  out = {}
  op(0x00, 9)
  field("caller", function()
    op(9)
    op(0, 0) str("#microsoft.graph.callRecords.participantEndpoint") op(10)
    field("cpuCoresCount", function() int(8) end)
    field("feedback", function()
      op(9) field("tokens", function() op(9) str("NoSound") op(7, 1) op(10) end)
    end)
  end)
  op(0, 1) op(9) str("ticket") str("INC1") op(10) op(10)   -- AdditionalProperties = { ticket = "INC1" }
  return table.concat(out)
end

os.execute("mkdir -p fuzz/corpus/encode")
for name, data in pairs{ session = session_seed(), endpoint = endpoint_seed() } do
  local f = assert(io.open("fuzz/corpus/encode/seed-" .. name, "wb"))
  f:write(data)
  f:close()
end
print("wrote fuzz/corpus/encode/seed-session, fuzz/corpus/encode/seed-endpoint")
