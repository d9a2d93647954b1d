-- `graphcomm apply` and `graphcomm update` as a user meets them when things go wrong:
-- input keys in the cmdlet's names, a journal that cannot be written, --what-if,
-- --max-failures against the read-only emulator, Ctrl-C mid-run, --set inside a complex
-- property, a refused connection and long retry waits.
local cjson = require "cjson"
local emu = require "helpers.emulator"
local cmd = require "helpers.command"
local bulk = require "helpers.bulk"

local BIN = "bin/graphcomm"

local graphcomm = cmd.graphcomm

local function write(path, lines)
  local f = assert(io.open(path, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  return path
end

local function fix_line(rec, k, body)
  return cjson.encode({ callRecordId = rec.id, sessionId = rec.sessionIds[k],
    body = body or { modalities = { "audio" } } })
end

local function count_lines(text)
  local n = 0
  for _ in text:gmatch("[^\n]+") do n = n + 1 end
  return n
end

describe("graphcomm, trusted with a run", function()
  local e, env, dir

  local function patches(rec)
    local n = 0
    for _, r in ipairs(e:requests("match=" .. rec.id)) do
      if r.method == "PATCH" then n = n + 1 end
    end
    return n
  end

  setup(function()
    e = emu.shared()
    env = { GRAPHCOMM_BASE_URL = e.base_url, GRAPHCOMM_TOKEN = e.token }
    dir = bulk.tmpdir()
  end)
  teardown(function() bulk.rmdir(dir) end)
  after_each(function() e:clear_faults() end)

  describe("apply's input keys", function()
    it("takes the cmdlet's names in any case, as update_sessions does", function()
      local rec = bulk.new_record(e, 3)
      local path = write(dir .. "/keys.jsonl", {
        cjson.encode({ CallRecordId = rec.id, SessionId = rec.sessionIds[1], BodyParameter = { isTest = true } }),
        cjson.encode({ CALLRECORDID = rec.id, session_id = rec.sessionIds[2], Body = { isTest = true }, PassThru = true }),
        cjson.encode({ callRecordId = rec.id, sessionId = rec.sessionIds[3], body = { isTest = true }, WhatIf = false }),
      })
      local code, out, err = graphcomm({ "apply", path }, env)
      assert.equal(0, code, out .. err)
      assert.equal(3, patches(rec))
    end)

    it("refuses an unknown key with a did-you-mean naming the line, and sends nothing", function()
      local rec = bulk.new_record(e, 2)
      local path = write(dir .. "/typo.jsonl", {
        fix_line(rec, 1),
        cjson.encode({ callRecordId = rec.id, sesionId = rec.sessionIds[2], body = { isTest = true } }),
        cjson.encode({ callRecordId = rec.id, sessionId = rec.sessionIds[2], body = { isTest = true },
          WhatIf = true }),
        cjson.encode({ callRecordId = rec.id, sessionId = rec.sessionIds[2], body = {}, BodyParameter = {} }),
      })
      local code, out, err = graphcomm({ "apply", path }, env)
      assert.equal(2, code, out .. err)
      assert.matches(path .. ":2: unknown key 'sesionId' (did you mean 'sessionId'?)", err, 1, true)
      assert.matches(path .. ":3: WhatIf applies to the whole run: use --what-if", err, 1, true)
      assert.matches(path .. ":4: two keys for body", err, 1, true)
      assert.matches("nothing was sent", err, 1, true)
      assert.equal(0, patches(rec))
    end)
  end)

  it("shows text from the input and the server with its control bytes escaped", function()
    local rec = bulk.new_record(e, 1)
    local path = write(dir .. "/esc.jsonl", {
      cjson.encode({ callRecordId = rec.id, sessionId = "x\27]0;owned\7\27[31m", body = { isTest = true } }) })
    local code, out, err = graphcomm({ "apply", path }, env)
    assert.equal(1, code, out .. err)
    assert.is_nil((out .. err):find("\27", 1, true))
    assert.matches("x\\x1b]0;owned", out .. err)
  end)

  it("exits 3 and says the journal is incomplete when it cannot be written", function()
    local rec = bulk.new_record(e, 30)
    local lines = {}
    for k = 1, 30 do lines[k] = fix_line(rec, k) end
    local path = write(dir .. "/full.jsonl", lines)
    local code, out, err = graphcomm({ "apply", path, "--journal", "/dev/full", "--concurrency", "2" }, env)
    assert.equal(3, code, out .. err)
    assert.matches("cannot write the journal /dev/full", err, 1, true)
    assert.matches("the journal is incomplete", err, 1, true)
    assert.matches("applied", out, 1, true)                    -- the summary of what ran
    assert.is_true(patches(rec) <= 3, patches(rec) .. " sent")
  end)

  it("--what-if validates every fix and prints what it would send, sending nothing", function()
    local rec = bulk.new_record(e, 3)
    local path = write(dir .. "/whatif.jsonl", { fix_line(rec, 1), fix_line(rec, 2, { modalitez = { "audio" } }),
      fix_line(rec, 3, { isTest = true }) })
    local code, out, err = graphcomm({ "apply", path, "--what-if" }, { GRAPHCOMM_BASE_URL = e.base_url })
    assert.equal(0, patches(rec))
    assert.equal(1, code, out .. err)                          -- line 2 is invalid
    assert.matches("line 1: PATCH " .. e.base_url, out, 1, true)
    assert.matches('{"modalities":["audio"]}', out, 1, true)
    assert.matches("line 3: PATCH", out, 1, true)
    assert.matches("modalitez", out, 1, true)
    assert.matches("would send", out, 1, true)
    assert.is_nil(out:find(e.token, 1, true))
  end)

  describe("against the read-only emulator", function()
    local ro
    setup(function() ro = emu.start{ read_only = true } end)
    teardown(function() if ro then ro.stop() end end)

    it("--max-failures stops after N identical refusals, with few stderr lines", function()
      local rec = ro:control("POST", "callRecords", { sessions = 300 })
      local lines = {}
      for k = 1, 300 do lines[k] = fix_line(rec, k) end
      local path = write(dir .. "/ro.jsonl", lines)
      local renv = { GRAPHCOMM_BASE_URL = ro.base_url, GRAPHCOMM_TOKEN = ro.token }
      local code, out, err = graphcomm({ "apply", path, "--max-failures", "10", "--concurrency", "4" }, renv)
      assert.equal(1, code, out .. err)
      assert.is_true(count_lines(err) <= 8, err)                -- capped, whatever the count
      for line in err:gmatch("[^\n]+") do assert.is_true(#line <= 400, line) end
      local sent = 0
      for _, r in ipairs(ro:requests("match=" .. rec.id)) do
        if r.method == "PATCH" then sent = sent + 1 end
      end
      assert.is_true(sent <= 10 + 4, sent .. " sent")
      assert.matches("graphcomm apply: stopped", err, 1, true)
      assert.matches("405", err, 1, true)
      assert.matches("--max-failures 0 never stops", err, 1, true)
    end)
  end)

  it("Ctrl-C stops taking fixes, prints the summary and the resume hint, exits 130", function()
    local n = 40
    local rec = bulk.new_record(e, n)
    -- line 1 fails at once (an invalid body): its stderr line says the run is under way
    local lines = { fix_line(rec, 1, { modalitez = { "audio" } }) }
    for k = 2, n do lines[k] = fix_line(rec, k) end
    local path = write(dir .. "/int.jsonl", lines)
    e:fault{ match = "/sessions/", method = "PATCH", delay_ms = 150, count = -1 }
    local out = dir .. "/int.out"
    local envs = "GRAPHCOMM_BASE_URL=" .. cmd.quote(e.base_url) .. " GRAPHCOMM_TOKEN=" .. cmd.quote(e.token)
    local build = os.getenv("GRAPHCOMM_BUILD")
    if build then envs = envs .. " GRAPHCOMM_BUILD=" .. cmd.quote(build) end
    local inner = "echo $$; exec env " .. envs .. " " .. cmd.lua .. " " .. BIN .. " apply " .. cmd.quote(path)
      .. " --concurrency 2 2>&1 >" .. cmd.quote(out)
    local p = assert(io.popen("sh -c " .. cmd.quote("sh -c " .. cmd.quote(inner) .. "; echo exit=$?")))
    local pid = assert(tonumber(p:read("*l")))
    local seen = {}
    while true do
      local line = p:read("*l")
      if not line then break end
      seen[#seen + 1] = line
      if line:find("line 1 ", 1, true) then break end
    end
    local sent = cmd.run({ "kill", "-INT", tostring(pid) })
    if sent ~= 0 then os.execute("kill -KILL " .. pid) end
    local rest = p:read("*a")
    p:close()
    e:clear_faults()
    local f = assert(io.open(out))
    local summary = f:read("*a")
    f:close()
    assert.equal(0, sent)
    assert.matches("exit=130\n$", rest)
    assert.matches("rerun with --journal FILE to resume", rest, 1, true)
    assert.is_nil(rest:find("interrupted!", 1, true))          -- not the interpreter's message
    assert.is_nil(rest:find("bulk.lua", 1, true))
    assert.matches("applied", summary, 1, true)
    assert.is_true(patches(rec) <= 6, patches(rec) .. " sent")
  end)

  describe("update --set inside a complex property", function()
    it("reads the session and sends the merged object, shown with --what-if", function()
      local rec = bulk.new_record(e, 1)
      local sid = rec.sessionIds[1]
      assert.equal(204, (e:request("PATCH", bulk.session_url(rec, 1),
        '{"failureInfo":{"stage":"midcall","reason":"old"}}', { ["Content-Type"] = "application/json" })))
      local code, out, err = graphcomm({ "update", rec.id, sid, "--set", "failureInfo.reason=x", "--what-if" }, env)
      assert.equal(0, code, err)
      local last
      for line in out:gmatch("[^\n]+") do last = line end
      assert.same({ failureInfo = { stage = "midcall", reason = "x" } }, cjson.decode(last))
      code, out, err = graphcomm({ "update", rec.id, sid, "--set", "failureInfo.reason=x" }, env)
      assert.equal(0, code, err)
      local _, _, text = e:request("GET", bulk.session_url(rec, 1))
      local s = cjson.decode(text)
      assert.same({ stage = "midcall", reason = "x" }, s.failureInfo)
    end)

    it("refuses, saying what would be cleared, when the session cannot be read", function()
      e:clear_requests()
      local code, out, err = graphcomm({ "update", "no-such-record", "s", "--set", "failureInfo.reason=x" }, env)
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("PATCH replaces that property whole", err, 1, true)
      assert.matches("nothing was sent", err, 1, true)
      assert.matches("404", err, 1, true)
      for _, r in ipairs(e:requests()) do assert.is_not.equal("PATCH", r.method) end
    end)
  end)

  describe("the network", function()
    it("names what to check when the connection is refused", function()
      local probe = emu.start()                  -- a port known to be free once it is stopped
      local url = probe.base_url
      probe.stop()
      local t0 = os.time()
      local code, out, err = graphcomm({ "get", "some-record" }, { GRAPHCOMM_BASE_URL = url, GRAPHCOMM_TOKEN = "t" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("couldnt_connect", err, 1, true)
      assert.matches("check GRAPHCOMM_BASE_URL (now " .. url .. ")", err, 1, true)
      assert.matches("graphcomm emulator", err, 1, true)
      assert.is_true(os.time() - t0 <= 6, (os.time() - t0) .. " s")
    end)

    it("prints a retry wait longer than a second on stderr", function()
      e:fault{ match = "/callRecords/a83c4a5c", method = "GET", status = 503, retry_after = 2, count = 1 }
      local code, out, err = graphcomm({ "get", "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80", "--select", "id" }, env)
      assert.equal(0, code, err)
      assert.is_table(cjson.decode(out))
      assert.matches("graphcomm: waiting 2.0 s before attempt 2", err, 1, true)
    end)
  end)
end)
