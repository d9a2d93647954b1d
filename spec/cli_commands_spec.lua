-- The scripting side of the `graphcomm` command, run as a process against the emulator:
-- -o json on every command that sends, list, diff (exit codes as diff(1)'s), --debug,
-- --max-retries, --timeout, help CMD, -V, and the mistyped and hostile cases of each.
local cjson = require "cjson"
local emu = require "helpers.emulator"
local cmd = require "helpers.command"

local CRID = "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80"     -- the fixtures' design review (4 sessions)
local BIG = "2f1a1100-b174-40a0-aba7-0b405e01ed92"      -- the all-hands (75 sessions)

local graphcomm = cmd.graphcomm

local function lines_of(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function json_lines(text)
  local out = {}
  for _, line in ipairs(lines_of(text)) do out[#out + 1] = cjson.decode(line) end
  return out
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("graphcomm (scripting)", function()
  local server, env, dir
  setup(function()
    server = emu.start {}
    env = { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token }
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. cmd.quote(dir)))
  end)
  teardown(function()
    if server then server.stop() end
    if dir then os.execute("rm -rf " .. cmd.quote(dir)) end
  end)

  local function first_session(crid)
    local _, out = graphcomm({ "list", crid or CRID, "-o", "json" }, env)
    return json_lines(out)[1].id
  end

  describe("help and version", function()
    it("prints a command's help with `help CMD`, the same as CMD --help", function()
      for _, name in ipairs({ "update", "apply", "get", "list", "diff", "emulator", "completion" }) do
        local code, out = graphcomm({ "help", name })
        assert.equal(0, code, name)
        local code2, out2 = graphcomm({ name, "--help" })
        assert.equal(0, code2, name)
        assert.equal(out, out2)
        assert.truthy(out:find("usage: graphcomm " .. name, 1, true), name)
      end
    end)

    it("says which command was meant for `help` of a misspelt one, exit 2", function()
      local code, out, err = graphcomm({ "help", "lsit" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.truthy(err:find("unknown command lsit (did you mean list?)", 1, true), err)
      code, _, err = graphcomm({ "upadte", "a", "b" })
      assert.equal(2, code)
      assert.truthy(err:find("did you mean update?", 1, true), err)
    end)

    it("prints the version with -V as with --version", function()
      local code, out = graphcomm({ "-V" })
      assert.equal(0, code)
      local code2, out2 = graphcomm({ "--version" })
      assert.equal(0, code2)
      assert.equal(out2, out)
      assert.equal("graphcomm " .. require("graphcomm.version") .. "\n", out)
    end)

    it("lists every sending option on every command that sends", function()
      for _, name in ipairs({ "update", "apply", "get", "list", "diff" }) do
        local _, out = graphcomm({ name, "--help" })
        for _, flag in ipairs({ "-o FORMAT", "--json", "--debug", "--max-retries N", "--timeout S" }) do
          assert.truthy(out:find(flag, 1, true), name .. " " .. flag)
        end
      end
    end)
  end)

  describe("mistyped flags", function()
    it("refuses an unknown flag with a did-you-mean, and sends nothing", function()
      local before = #server:requests()
      local cases = {
        { { "get", CRID, "--selct", "id" }, "unknown option --selct (did you mean --select?)" },
        { { "list", "--fitler", "x" }, "unknown option --fitler (did you mean --filter?)" },
        { { "apply", "f.jsonl", "--concurency", "2" }, "did you mean --concurrency?" },
        { { "update", CRID, "s", "--jsn" }, "did you mean --json?" },
        { { "get", CRID, "--max-retires", "2" }, "did you mean --max-retries?" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = graphcomm(case[1], env)
        assert.equal(2, code, table.concat(case[1], " "))
        assert.equal("", out)
        assert.truthy(err:find(case[2], 1, true), err)
      end
      assert.equal(before, #server:requests())
    end)

    it("refuses flag values of the wrong type, naming the range", function()
      local cases = {
        { { "list", "--top", "ten" }, "--top expects a whole number from 1 to 1000000, got 'ten'" },
        { { "list", "--top", "2.5" }, "--top expects a whole number" },
        { { "list", "--top", "0" }, "--top expects a whole number" },
        { { "list", "--top", "99999999999999999999999" }, "--top expects a whole number from 1 to 1000000" },
        { { "list", "--top", "1e400" }, "--top expects a whole number" },
        { { "list", "--top", "nan" }, "--top expects a whole number" },
        { { "get", CRID, "--max-retries", "-1" }, "--max-retries expects a whole number from 0 to 10" },
        { { "get", CRID, "--max-retries", "11" }, "--max-retries expects a whole number from 0 to 10" },
        { { "get", CRID, "--timeout", "soon" }, "--timeout expects a number" },
        { { "get", CRID, "--timeout", "0" }, "--timeout expects a number" },
        { { "get", CRID, "-o", "yaml" }, "-o expects one of text, json, got 'yaml'" },
        { { "get", CRID, "--json=yes" }, "--json takes no value" },
        { { "list", "--from", "yesterday" }, "--from expects an ISO 8601 date and time" },
        { { "list", "--to", "2026-13-45T00:00:00Z" }, "--to expects an ISO 8601 date and time" },
        { { "list", CRID, "--from", "2026-11-21T00:00:00Z" }, "not to a record's sessions" },
        { { "list", "a", "b" }, "expected at most one CRID" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = graphcomm(case[1], env)
        assert.equal(2, code, table.concat(case[1], " "))
        assert.equal("", out)
        assert.truthy(err:find(case[2], 1, true), err)
      end
    end)
  end)

  describe("-o json", function()
    it("update prints one JSON object with the status and the request ids", function()
      local sid = first_session()
      local code, out, err = graphcomm({ "update", CRID, sid, "--set", "isTest=true", "-o", "json" }, env)
      assert.equal(0, code, err)
      local lines = lines_of(out)
      assert.equal(1, #lines)
      local o = cjson.decode(lines[1])
      assert.equal(204, o.status)
      assert.equal(CRID, o.callRecordId)
      assert.equal(sid, o.sessionId)
      assert.is_string(o.requestId)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", o.clientRequestId)
      code, out = graphcomm({ "update", CRID, sid, "--set", "isTest=true", "--json", "--what-if" }, env)
      assert.equal(0, code)
      o = cjson.decode(out)
      assert.is_true(o.whatIf)
      assert.equal("PATCH", o.method)
      assert.same({ isTest = true }, o.body)
      assert.falsy(out:find(server.token, 1, true))
    end)

    it("get prints the JSON on one line, Int64 exact", function()
      local sid = first_session()
      local body = write(dir .. "/big.json", '{"segments": [{"id": "seg", "media": [{"streams": '
        .. '[{"packetUtilization": 9007199254740993}]}]}]}')
      local code, out, err = graphcomm({ "update", CRID, sid, "--body", body }, env)
      assert.equal(0, code, err)
      code, out, err = graphcomm({ "get", CRID, sid, "--select", "id,segments", "--output=json" }, env)
      assert.equal(0, code, err)
      assert.equal(1, #lines_of(out))
      assert.truthy(out:find('"packetUtilization": 9007199254740993', 1, true), out)
    end)

    it("apply prints one JSON line per fix and the summary last (items in the Lua API's keys)", function()
      local sids = {}
      for _, s in ipairs(json_lines(select(2, graphcomm({ "list", CRID, "--json" }, env)))) do
        sids[#sids + 1] = s.id
      end
      local fixes = write(dir .. "/fixes.jsonl", table.concat({
        cjson.encode({ call_record_id = CRID, session_id = sids[1], body = { isTest = true } }),
        cjson.encode({ CallRecordId = CRID, SessionId = sids[2], BodyParameter = { modalities = { "nonsense" } } }),
        cjson.encode({ callRecordId = CRID, sessionId = "no-such-session", body = { isTest = true } }),
      }, "\n") .. "\n")
      local code, out, err = graphcomm({ "apply", fixes, "-o", "json" }, env)
      assert.equal(1, code, err)
      local lines = json_lines(out)
      assert.equal(4, #lines)
      local by_line = {}
      for i = 1, 3 do by_line[lines[i].line] = lines[i] end
      assert.is_true(by_line[1].ok)
      assert.equal(sids[1], by_line[1].sessionId)
      assert.is_false(by_line[2].ok)
      assert.equal("validation", by_line[2].error.kind)
      assert.is_false(by_line[3].ok)
      assert.equal(404, by_line[3].status)
      local s = lines[4].summary
      assert.equal(1, s.applied)
      assert.equal(2, s.failed)
    end)
  end)

  describe("list", function()
    it("lists call records as a table, and as JSON Lines with -o json", function()
      local code, out, err = graphcomm({ "list" }, env)
      assert.equal(0, code, err)
      local lines = lines_of(out)
      assert.matches("^ID%s+TYPE%s+START%s+END%s+MODALITIES$", lines[1])
      assert.truthy(out:find(CRID, 1, true))
      code, out = graphcomm({ "list", "-o", "json" }, env)
      assert.equal(0, code)
      local records = json_lines(out)
      assert.equal(#lines - 1, #records)
      local ids = {}
      for _, r in ipairs(records) do ids[r.id] = true end
      assert.is_true(ids[CRID] and ids[BIG])
    end)

    it("--top N stops after N rows, following pages; a huge --top is fine", function()
      local _, out = graphcomm({ "list", BIG, "--top", "70", "-o", "json" }, env)
      assert.equal(70, #json_lines(out))
      local code, all = graphcomm({ "list", BIG, "--top", "1000000", "-o", "json" }, env)
      assert.equal(0, code)
      assert.equal(75, #json_lines(all))
      _, out = graphcomm({ "list", "--top", "1", "-o", "json" }, env)
      assert.equal(1, #json_lines(out))
    end)

    it("turns --from and --to into a $filter on startDateTime, joined with --filter", function()
      local _, out = graphcomm({ "list", "-o", "json" }, env)
      local records = json_lines(out)
      table.sort(records, function(a, b) return a.startDateTime < b.startDateTime end)
      local pivot = records[#records].startDateTime
      local code, later, err = graphcomm({ "list", "--from", pivot, "-o", "json", "--debug" }, env)
      assert.equal(0, code, err)
      local got = json_lines(later)
      assert.equal(1, #got)
      assert.equal(records[#records].id, got[1].id)
      assert.truthy(err:find("filter=startDateTime", 1, true), err)
      _, out = graphcomm({ "list", "--to", pivot, "-o", "json" }, env)
      assert.equal(#records - 1, #json_lines(out))
      _, out = graphcomm({ "list", "--filter", "type eq 'groupCall'", "--to", pivot, "-o", "json" }, env)
      for _, r in ipairs(json_lines(out)) do
        assert.equal("groupCall", r.type)
        assert.truthy(r.startDateTime < pivot)
      end
    end)

    it("lists a record's sessions; exits 1 with Graph's error for an unknown record", function()
      local code, out = graphcomm({ "list", CRID }, env)
      assert.equal(0, code)
      assert.equal(5, #lines_of(out))          -- a header and 4 sessions
      local err
      code, out, err = graphcomm({ "list", "no-such-record" }, env)
      assert.equal(1, code)
      assert.equal("", out)
      assert.truthy(err:find("404", 1, true), err)
      code, _, err = graphcomm({ "list", "--filter", "startDateTime zz 3" }, env)
      assert.equal(1, code)
      assert.truthy(err:find("400", 1, true), err)
    end)
  end)

  describe("diff", function()
    it("exits 0 for the same, 1 for different (printing the PATCH body), 2 for trouble", function()
      local a = write(dir .. "/a.json", '{"modalities": ["audio"], "endDateTime": "2026-11-21T10:00:00+01:00"}')
      local b = write(dir .. "/b.json", '{"modalities": ["audio"], "endDateTime": "2026-11-21T09:00:00Z"}')
      local c = write(dir .. "/c.json", '{"modalities": ["audio", "video"], "isTest": true}')
      local code, out = graphcomm({ "diff", a, b })
      assert.equal(0, code)
      assert.equal("", out)
      code, out = graphcomm({ "diff", a, c })
      assert.equal(1, code)
      assert.same({ modalities = { "audio", "video" }, isTest = true }, cjson.decode(out))
      code, out = graphcomm({ "diff", a, c, "-o", "json" })
      assert.equal(1, code)
      local o = cjson.decode(out)
      assert.is_false(o.same)
      assert.same({ "audio", "video" }, o.patch.modalities)
      code, out = graphcomm({ "diff", a, b, "--json" })
      assert.equal(0, code)
      assert.same({ same = true }, cjson.decode(out))
    end)

    it("compares a session from Graph with a file", function()
      local sid = first_session()
      local _, now = graphcomm({ "get", CRID, sid }, env)
      local same = write(dir .. "/now.json", now)
      local code, out, err = graphcomm({ "diff", CRID, sid, same }, env)
      assert.equal(0, code, err)
      assert.equal("", out)
      local changed = cjson.decode(now)
      changed.isTest = not changed.isTest
      code, out = graphcomm({ "diff", CRID, sid, write(dir .. "/changed.json", cjson.encode(changed)) }, env)
      assert.equal(1, code)
      assert.same({ isTest = changed.isTest }, cjson.decode(out))
      code, out, err = graphcomm({ "diff", CRID, "no-such-session", same }, env)
      assert.equal(2, code)
      assert.truthy(err:find("404", 1, true), err)
    end)

    it("exits 2 for a body file that is not JSON, not an object, missing, or breaks the schema", function()
      local good = write(dir .. "/good.json", '{"isTest": true}')
      local cases = {
        { write(dir .. "/bad.json", "{isTest: true"), "invalid JSON" },
        { write(dir .. "/list.json", "[1, 2]"), "a JSON object is expected" },
        { write(dir .. "/empty.json", ""), "invalid JSON" },
        { dir .. "/missing.json", "cannot read" },
        { dir, "cannot read" },
        { write(dir .. "/schema.json", '{"modalities": ["nonsense"]}'), "modalities" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = graphcomm({ "diff", good, case[1] })
        assert.equal(2, code, case[1])
        assert.equal("", out)
        assert.truthy(err:find(case[2], 1, true), err)
      end
      local code, _, err = graphcomm({ "diff", good })
      assert.equal(2, code)
      assert.truthy(err:find("expected CRID SID FILE.json, or OLD.json NEW.json", 1, true))
      code, _, err = graphcomm({ "update", CRID, "s", "--body", dir .. "/bad.json" }, env)
      assert.equal(2, code)
      assert.truthy(err:find("invalid JSON", 1, true), err)
    end)
  end)

  describe("sending options", function()
    it("--debug prints the redacted request and response lines on stderr", function()
      local code, out, err = graphcomm({ "get", CRID, "--select", "id", "--debug" }, env)
      assert.equal(0, code, err)
      assert.equal(CRID, cjson.decode(out).id)
      assert.truthy(err:find("> GET " .. server.base_url, 1, true), err)
      assert.truthy(err:find("> Authorization: Bearer <redacted>", 1, true), err)
      assert.truthy(err:find("< HTTP/", 1, true), err)
      assert.falsy(err:find(server.token, 1, true))
    end)

    it("--max-retries N retries a throttled request N times, then reports it", function()
      server:fault { match = "/callRecords/" .. CRID, status = 503, count = 3, retry_after = 0 }
      local code, _, err = graphcomm({ "get", CRID, "--max-retries", "1", "--debug" }, env)
      assert.equal(1, code)
      assert.truthy(err:find("503", 1, true), err)
      local _, n = err:gsub("> GET ", "")
      assert.equal(2, n)
      server:clear_faults()
    end)

    it("--timeout S gives up on a slow answer", function()
      server:fault { match = "/callRecords/" .. CRID, delay_ms = 3000, count = 1 }
      local t0 = os.time()
      local code, _, err = graphcomm({ "get", CRID, "--timeout", "0.5", "--max-retries", "0" }, env)
      assert.equal(1, code)
      assert.truthy(err:find("timeout", 1, true), err)
      assert.truthy(os.time() - t0 <= 3)
      server:clear_faults()
    end)
  end)
end)
