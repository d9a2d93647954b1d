-- `graphcomm fix` (graphcomm.fixcmd.run) against the emulator: the dry run's diffs and
-- summary table, --apply with a journal, -o json lines that `graphcomm apply` takes,
-- and the usage errors (exit 2, nothing sent).
local cjson = require "cjson.safe"
local emu = require "helpers.emulator"
local clients = require "helpers.client"
local cmd = require "helpers.command"
local fixcmd = require "graphcomm.fixcmd"

local EXAMPLES = emu.root .. "/examples/rules/"
local P2P = "6e8fa021-3b4c-4d5e-9f70-8b9cad1e2f30"

local function buffer()
  local b = { text = "" }
  function b:write(...)
    for _, s in ipairs({ ... }) do self.text = self.text .. tostring(s) end
    return self
  end
  return b
end

local file = require("helpers.rules").file

describe("graphcomm fix", function()
  local server

  local function fix(argv, extra)
    local out, err = buffer(), buffer()
    local env = { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token }
    local io_env = { stdout = out, stderr = err, getenv = function(k) return env[k] end }
    for k, v in pairs(extra or {}) do io_env[k] = v end
    local code = fixcmd.run(argv, io_env)
    return code, out.text, err.text
  end

  setup(function() server = emu.shared() end)
  teardown(function() server:reset() end)
  before_each(function()
    server:reset()
    clients.fresh(server)
  end)

  it("shows a diff per session and a summary table, sending nothing", function()
    local code, out, err = fix({ EXAMPLES .. "missing_end_time.lua", "--from", "2026-11-25", "--to", "2026-11-26" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.truthy(out:find("session [%x-]+:\n  endDateTime: %(none%) %-> \"2026%-11%-25T10:29:55%.5Z\"\n"), out)
    assert.truthy(out:find("\n  to change             2\n", 1, true), out)
    assert.truthy(out:find("\n  call records read     2\n", 1, true), out)
    assert.truthy(out:find("dry run: nothing was sent; --apply sends these changes", 1, true), out)
    assert.equal(0, #clients.patches(server))
  end)

  it("--debug shows each request and answer on stderr, the token redacted; --timeout is checked", function()
    local code, _, err = fix({ EXAMPLES .. "missing_end_time.lua", "--from", "2026-11-25", "--to",
      "2026-11-26", "--debug", "--max-retries", "0" })
    assert.equal(0, code, err)
    assert.truthy(err:find("> GET ", 1, true), err)
    assert.truthy(err:find("communications/callRecords", 1, true), err)
    assert.truthy(err:find("< HTTP", 1, true) or err:find("< 200", 1, true), err)
    assert.is_nil(err:find(server.token, 1, true))
    code, _, err = fix({ EXAMPLES .. "missing_end_time.lua", "--record", "r", "--timeout", "0" })
    assert.equal(2, code)
    assert.truthy(err:find("--timeout expects a number from 0.001 to 86400, got '0'", 1, true), err)
  end)

  it("applies with a journal; a rerun has nothing to do", function()
    local journal = os.tmpname()
    local argv = { EXAMPLES .. "failure_reason.lua", "--from=2026-11-25", "--to=2026-11-26", "--apply",
      "--journal", journal, "--concurrency", "2" }
    local code, out, err = fix(argv)
    assert.equal(0, code, err)
    assert.truthy(out:find("\n  applied               2\n", 1, true), out)
    assert.equal(2, #clients.patches(server))
    clients.fresh(server)
    code, out = fix(argv)
    assert.equal(0, code)
    assert.truthy(out:find("\n  to change             0\n", 1, true), out)
    assert.equal(0, #clients.patches(server))
    os.remove(journal)
  end)

  it("-o json: lines `graphcomm apply` takes, the diffs on stderr", function()
    local code, out, err = fix({ EXAMPLES .. "modalities_from_media.lua", "--from", "2026-11-25",
      "--to", "2026-11-26", "-o", "json" })
    assert.equal(0, code, err)
    assert.truthy(err:find("modalities: [\"audio\"] -> [\"audio\",\"video\"]", 1, true), err)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      local t = assert(cjson.decode(line))
      local keys = {}
      for k in pairs(t) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "body", "callRecordId", "sessionId" }, keys)
      assert.is_table(t.body.modalities)
      n = n + 1
    end
    assert.equal(2, n)
    local fixes = file(out)
    local acode, aout, aerr = cmd.run({ cmd.lua, emu.root .. "/bin/graphcomm", "apply", fixes },
      { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token })
    os.remove(fixes)
    assert.equal(0, acode, aout .. aerr)
    assert.equal(2, #clients.patches(server))
    code, out = fix({ EXAMPLES .. "modalities_from_media.lua", "--from", "2026-11-25", "--to", "2026-11-26",
      "-o", "json", "--apply" })
    assert.equal(0, code)
    assert.equal("", out)                    -- nothing left to apply
  end)

  it("reads the record ids from a file, and exits 1 on a rule error, naming the ids", function()
    local ids = file("# the afternoon call\n" .. P2P .. "\n\n")
    local rule = file("return { name = 'strict', fix = function(s) if s.failureInfo ~= graphcomm.null then error('unexpected failure') end end }")
    local code, out, err = fix({ rule, "--records", ids })
    assert.equal(1, code)
    assert.truthy(err:find("error: rule strict: call record " .. P2P:gsub("%%-", "%%%%-") .. ", session [%x-]+: fix .*unexpected failure"), err)
    assert.truthy(out:find("\n  rule and read errors  1\n", 1, true), out)
    os.remove(ids)
    os.remove(rule)
  end)

  it("stops when should_stop says so (the SIGINT hook), sending nothing more", function()
    local code, out = fix({ EXAMPLES .. "missing_end_time.lua", "--record", P2P, "--apply" },
      { should_stop = function() return true end })
    assert.equal(2, code)
    assert.truthy(out:find("interrupted", 1, true), out)
    assert.equal(0, #clients.patches(server))
  end)

  it("refuses bad usage with exit 2, sending nothing", function()
    local rule = EXAMPLES .. "missing_end_time.lua"
    local broken = file("return {\n  fix = function(s)\n    return {\n  end }\n")
    local cases = {
      { {}, "give one rule file" },
      { { rule }, "give one of --from/--to, --record or --records" },
      { { rule, "--from", "2026-11-25" }, "--from and --to go together" },
      { { rule, "--record", P2P, "--from", "2026-11-25", "--to", "2026-11-26" }, "give one of" },
      { { rule, "--record", P2P, "--journal", "j" }, "go with --apply" },
      { { rule, "--record", P2P, "--apply", "--concurrency", "0" }, "--concurrency expects a whole number from 1 to 4096, got '0'" },
      { { rule, "--record", P2P, "-o", "xml" }, "-o takes json" },
      { { rule, "--record", P2P, "--aply" }, "unknown option --aply" },
      { { rule, "--records", "/nonexistent/ids" }, "cannot read /nonexistent/ids" },
      { { broken, "--record", P2P }, broken .. ":4:" },
      { { "/nonexistent/rule.lua", "--record", P2P }, "cannot read the rule file" },
      { { rule, "--from", "yesterday", "--to", "2026-11-26" }, "option from: not a DateTime" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = fix(c[1])
      assert.equal(2, code, table.concat(c[1], " "))
      assert.truthy(err:find(c[2], 1, true), err)
    end
    os.remove(broken)
    assert.equal(0, #server:requests())
  end)

  it("has a --help", function()
    local code, out = fix({ "--help" })
    assert.equal(0, code)
    assert.truthy(out:find("usage: graphcomm fix RULE.lua", 1, true))
  end)
end)
