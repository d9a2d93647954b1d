-- The C core's layout (HACKING.md): its files live in the group folders, and every opener
-- (a gc_open_* function that adds a concern to the module table) is listed once in
-- csrc/lua/core.c's GC_OPENERS(X) and called nowhere else.
local function lines_of(cmd)
  local out, p = {}, assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local GROUPS = { crypto = true, http = true, json = true, lua = true }

describe("the C core's layout", function()
  local files = lines_of("find csrc -type f -name '*.[ch]' | sort")

  it("keeps every C file in one of the four group folders", function()
    assert.is_true(#files > 20)
    for _, f in ipairs(files) do
      local group = f:match("^csrc/([%w_]+)/[%w_]+%.[ch]$")
      assert.is_true(GROUPS[group] == true, f)
    end
  end)

  it("lists every opener once in GC_OPENERS and calls none elsewhere", function()
    local core = read("csrc/lua/core.c")
    local list = assert(core:match("#define GC_OPENERS%(X%)(.-)\n\n"))
    local listed = {}
    for fn in list:gmatch("X%((gc_open_[%w_]+)%)") do
      assert.is_nil(listed[fn], fn .. " listed twice")
      listed[fn] = true
    end
    local defined = {}
    for _, f in ipairs(files) do
      local src = read(f)
      for fn in src:gmatch("\nvoid (gc_open_[%w_]+)%(lua_State %*L%)\n{") do defined[fn] = f end
      if f ~= "csrc/lua/core.c" then
        for fn in src:gmatch("\n%s+(gc_open_[%w_]+)%(") do
          error(f .. " calls the opener " .. fn .. " (only GC_OPENERS may)")
        end
      end
    end
    for fn, f in pairs(defined) do assert.is_true(listed[fn], fn .. " (" .. f .. ") is not in GC_OPENERS") end
    for fn in pairs(listed) do assert.is_truthy(defined[fn], fn .. " is listed but defined nowhere") end
  end)

  it("gives no two structs one name (gc_buf: JSON output; gc_bytes: a transfer's buffers)", function()
    local seen = {}
    for _, f in ipairs(files) do
      for name in read(f):gmatch("typedef struct ([%w_]+) {") do
        assert.is_nil(seen[name], name .. " in " .. f .. " and " .. tostring(seen[name]))
        seen[name] = f
      end
    end
    assert.equal("csrc/json/jsonbuf.h", seen.gc_buf)
    assert.equal("csrc/http/transfer.h", seen.gc_bytes)
  end)
end)
