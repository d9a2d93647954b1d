-- The doc test: every ```lua block of README.md and docs/*.md runs as a Lua script and
-- every ```sh block as a bash script, against an emulator of their own (reset to the
-- fixtures before each block), from a scratch directory with the checkout's bin/ on
-- PATH; each must succeed. So an example that stops working fails here. A block opts out
-- only with `no-run: <why>` after its tag; those are counted and must stay rare.
local docs = require "helpers.docs"
local emu = require "helpers.emulator"

-- Blocks that may opt out, at most (today: README's `make demo`/`make check`, the outer
-- commands that run this very test, and its `make install`, which writes to the system).
local MAX_NO_RUN = 6

-- Pages linked before they land on main (other branches write them); a link to any other
-- missing file fails. Remove a name once its page is merged.
local PENDING = {
}

local function all_blocks()
  local list = {}
  for _, file in ipairs(docs.files()) do
    for _, b in ipairs(docs.blocks(file)) do list[#list + 1] = b end
  end
  return list
end

local BLOCKS = all_blocks()

describe("the documentation", function()
  it("has README.md and the pages of docs/", function()
    local files = docs.files()
    assert.are.equal("README.md", files[1])
    assert.is_true(#files >= 5, "docs/*.md: " .. table.concat(files, ", "))
  end)

  it("tags every fence with a known tag and closes it", function()
    local bad = {}
    for _, b in ipairs(BLOCKS) do
      if b.unclosed then
        bad[#bad + 1] = docs.where(b) .. ": never closed"
      elseif not docs.RUN[b.lang] and not docs.QUIET[b.lang] then
        bad[#bad + 1] = docs.where(b) .. ": unknown tag (lua and sh run; " ..
          "text, json, nginx ... are shown only)"
      elseif b.marker and (b.marker ~= "no-run:" or b.reason == "") then
        bad[#bad + 1] = docs.where(b) .. ": the only marker is `no-run: <why>`, got '" ..
          b.marker .. "'"
      elseif b.marker and not docs.RUN[b.lang] then
        bad[#bad + 1] = docs.where(b) .. ": no-run on a block that never runs"
      end
    end
    assert.are.same({}, bad)
  end)

  it("keeps the blocks that opt out rare", function()
    local skipped = {}
    for _, b in ipairs(BLOCKS) do
      if b.marker then skipped[#skipped + 1] = docs.where(b) .. ": " .. b.reason end
    end
    assert.is_true(#skipped <= MAX_NO_RUN, #skipped .. " blocks opt out (at most "
      .. MAX_NO_RUN .. "):\n" .. table.concat(skipped, "\n"))
  end)

  it("links only to files and headings that exist", function()
    local bad = {}
    for _, file in ipairs(docs.files()) do
      local dir = file:match("^(.*)/[^/]+$")
      local text = docs.read(docs.root .. "/" .. file)
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        local path, anchor = target:match("^([^#]*)#?(.*)$")
        if not path:match("^%a[%w+.-]*:") then
          local rel = file
          if path ~= "" then
            rel = (dir and (dir .. "/" .. path) or path):gsub("[^/]+/%.%./", "")
          end
          local ok, page = pcall(docs.read, docs.root .. "/" .. rel)
          if not ok then
            if not PENDING[rel] then bad[#bad + 1] = file .. ": " .. target end
          elseif anchor ~= "" and rel:match("%.md$") and not docs.anchors(page)[anchor] then
            bad[#bad + 1] = file .. ": " .. target .. " (no such heading)"
          end
        end
      end
    end
    assert.are.same({}, bad)
  end)

  it("has lua and sh blocks to run", function()
    local n = { lua = 0, sh = 0 }
    for _, b in ipairs(BLOCKS) do
      if n[b.lang] and not b.marker then n[b.lang] = n[b.lang] + 1 end
    end
    assert.is_true(n.lua >= 20, "lua blocks: " .. n.lua)
    assert.is_true(n.sh >= 5, "sh blocks: " .. n.sh)
  end)

  describe("runs every block", function()
    local e
    setup(function() e = emu.start{} end)
    teardown(function() if e then e:stop() end end)

    for _, b in ipairs(BLOCKS) do
      if docs.RUN[b.lang] and not b.marker and not b.unclosed then
        it(docs.where(b), function()
          e:reset()
          local code, out
          if b.lang == "lua" then code, out = docs.run_lua(b, e)
          else code, out = docs.run_sh(b, e) end
          assert(code == 0, docs.where(b) .. " exited " .. tostring(code) .. ":\n"
            .. out:sub(1, 3000) .. "\n--- the block:\n" .. b.code)
        end)
      end
    end
  end)
end)

-- The runner itself: a block that fails must fail the test (else the above proves nothing).
describe("the doc test's runner", function()
  local e
  setup(function() e = emu.start{} end)
  teardown(function() if e then e:stop() end end)

  local function block(lang, code) return { file = "x.md", line = 1, lang = lang, code = code } end

  it("fails a Lua block that raises, passes one that does not", function()
    assert.are_not.equal(0, (docs.run_lua(block("lua", "error('boom')\n"), e)))
    assert.are.equal(0, (docs.run_lua(block("lua", "local x = 1\n"), e)))
  end)

  it("runs Lua blocks against the emulator, with the library on the path", function()
    local code, out = docs.run_lua(block("lua", [[
local graphcomm = require "graphcomm"
local client = assert(graphcomm.connect())
assert(os.getenv("GRAPHCOMM_BASE_URL"):match("^http://127%.0%.0%.1:"))
assert(client:get_session("e523d2ed-2966-4b6b-925b-754a88034cc5", "83a9a9d0-564f-4dde-bc56-fcf67ca42e20"))
]]), e)
    assert(code == 0, out)
  end)

  it("fails a shell block when any command fails, not only the last", function()
    assert.are_not.equal(0, (docs.run_sh(block("sh", "false\ntrue\n"), e)))
    assert.are_not.equal(0, (docs.run_sh(block("sh", "false | true\n"), e)))
    assert.are.equal(0, (docs.run_sh(block("sh", "true\n"), e)))
  end)

  it("runs shell blocks with graphcomm on PATH, in a scratch directory", function()
    local code, out = docs.run_sh(block("sh", [[
graphcomm get e523d2ed-2966-4b6b-925b-754a88034cc5 >record.json
grep -q peerToPeer record.json
test ! -e "]] .. docs.root .. [[/record.json"
]]), e)
    assert(code == 0, out)
  end)

  it("stops an emulator a shell block started and left running", function()
    local code, out = docs.run_sh(block("sh", [[
eval "$(emulator/start)"
echo "$GRAPHCOMM_EMULATOR_DIR" >&2
false
]]), e)
    assert.are_not.equal(0, code)
    local dir = out:match("(/[^\n]*graphcomm%-emulator%.[%w]+)")
    assert.is_truthy(dir, out)
    assert.is_nil(io.open(dir .. "/nginx.pid", "r"), "left running: " .. dir)
  end)

  it("makes heading anchors as GitHub does", function()
    local set = docs.anchors("# graphcomm\n## `client:update_sessions(items [, opts])`\n"
      .. "## Values: Lua tables to JSON\n```sh\n# not a heading\n```\n## Values: Lua tables to JSON\n")
    assert.is_true(set["graphcomm"] and set["clientupdate_sessionsitems--opts"]
      and set["values-lua-tables-to-json"] and set["values-lua-tables-to-json-1"])
    assert.is_nil(set["not-a-heading"])
  end)

  it("reads tags, markers and indented fences", function()
    local blocks = docs.parse("text\n```lua\nx()\n```\n- item\n\n  ```sh no-run: why\n  make\n"
      .. "  ```\n```json\n{}\n```\n```lua\n", "x.md")
    assert.are.equal(4, #blocks)
    assert.are.same({ "lua", nil, "x()\n" }, { blocks[1].lang, blocks[1].marker, blocks[1].code })
    assert.are.same({ "sh", "no-run:", "why", "make\n" },
      { blocks[2].lang, blocks[2].marker, blocks[2].reason, blocks[2].code })
    assert.are.equal("json", blocks[3].lang)
    assert.is_true(blocks[4].unclosed)
  end)
end)
