-- update_sessions{ journal = FILE }: outcomes appended and flushed as they happen, no
-- secrets in them, and a rerun that skips what already succeeded, also after the
-- process was killed mid-run (a child process that SIGKILLs itself).
local graphcomm = require "graphcomm"
local cjson = require "cjson"
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local e

local function connect() return bulk.connect(e, 0.2) end

local function new_record(n) return bulk.new_record(e, n) end

local function read_lines(path)
  local lines = {}
  local f = io.open(path, "r")
  if not f then return lines end
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

local items_for, interpreter = bulk.items_for, bulk.interpreter

-- PATCH requests per session id, for one record.
local function patch_counts(rec)
  local counts = {}
  for _, r in ipairs(e:requests("match=" .. rec.id)) do
    if r.method == "PATCH" then
      local sid = r.path:match("[^/]+$")
      counts[sid] = (counts[sid] or 0) + 1
    end
  end
  return counts
end

describe("update_sessions{ journal = ... }", function()
  local dir

  setup(function()
    e = emu.shared()
    dir = bulk.tmpdir()
  end)
  teardown(function() bulk.rmdir(dir) end)
  after_each(function() e:clear_faults() end)

  it("appends each outcome as it happens, with ids and codes and no secrets", function()
    local rec = new_record(6)
    local path = dir .. "/a.jsonl"
    local c = connect()
    local items = items_for(rec, 6, { modalities = { "audio" },
      failureInfo = { reason = "secret-reason-text" } })
    items[3] = { rec.id, "missing-session", { modalities = { "audio" } } }
    items[5] = { rec.id, rec.sessionIds[5], { modalitez = { "audio" } } }
    local s = c:update_sessions(items, { journal = path, on_result = function()
      -- flushed before the callback: a killed process loses nothing it reported
      local n = #read_lines(path)
      assert.is_true(n >= 1)
    end, on_progress = function(done) assert.equal(done, #read_lines(path)) end })
    assert.equal(4, s.ok)
    assert.equal(2, s.failed)
    local lines = read_lines(path)
    assert.equal(6, #lines)
    local by_i = {}
    for _, line in ipairs(lines) do
      assert.is_nil(line:find(e.token, 1, true))
      assert.is_nil(line:find("secret-reason-text", 1, true))
      assert.is_nil(line:find("modalities", 1, true))
      local t = cjson.decode(line)
      by_i[t.i] = t
    end
    assert.is_true(by_i[1].ok)
    assert.equal(204, by_i[1].status)
    assert.equal(rec.id, by_i[1].callRecordId)
    assert.equal(rec.sessionIds[1], by_i[1].sessionId)
    assert.matches("^%x+$", by_i[1].digest)
    assert.is_string(by_i[1].request_id)
    assert.is_false(by_i[3].ok)
    assert.equal(404, by_i[3].status)
    assert.equal("NotFound", by_i[3].code)
    assert.equal("validation", by_i[5].kind)
    assert.same({ "modalitez" }, by_i[5].paths)
    assert.equal(rec.sessionIds[5], by_i[5].sessionId)
    local first                            -- fields in a fixed order, for people
    for _, line in ipairs(lines) do
      if line:find('^{"i":1,') then first = line end
    end
    assert.matches('^{"i":1,"ok":true,"status":204,"callRecordId":"[^"]+","sessionId":', first)
    c:close()
  end)

  it("skips on a rerun what already succeeded, and sends a changed fix again", function()
    local rec = new_record(5)
    local path = dir .. "/b.jsonl"
    e:fault{ match = "/sessions/" .. rec.sessionIds[2], method = "PATCH", status = 500, count = 1 }
    local c = connect()
    local s = c:update_sessions(items_for(rec, 5), { journal = path })
    assert.equal(4, s.ok)
    assert.equal(1, s.failed)
    e:clear_requests()
    local items = items_for(rec, 5)
    items[4] = { rec.id, rec.sessionIds[4], { modalities = { "video" } } }   -- a new fix
    local skipped = {}
    s = c:update_sessions(items, { journal = path, on_result = function(i, ok, info)
      if info.skipped then skipped[#skipped + 1] = i end
    end })
    assert.equal(2, s.ok)
    assert.equal(3, s.skipped)
    assert.same({ 1, 3, 5 }, skipped)
    local counts = patch_counts(rec)
    assert.same({ [rec.sessionIds[2]] = 1, [rec.sessionIds[4]] = 1 }, counts)
    assert.equal(7, #read_lines(path))
    c:close()
  end)

  it("replays the fixes of the input by position: A, B, A of one session, the third failed", function()
    local rec = new_record(1)
    local sid = rec.sessionIds[1]
    local path = dir .. "/aba.jsonl"
    local A, B = { modalities = { "audio" } }, { modalities = { "video" } }
    local items = { { rec.id, sid, A }, { rec.id, sid, B }, { rec.id, sid, A } }
    e:fault{ match = "/sessions/" .. sid, method = "PATCH", every = 3, count = 1,
      status = 400, code = "BadRequest" }
    local c = connect()
    local s = c:update_sessions(items, { journal = path })
    assert.equal(2, s.ok)
    assert.equal(1, s.failed)
    e:clear_faults()
    e:clear_requests()
    local skipped = {}
    s = c:update_sessions(items, { journal = path, on_result = function(i, _, info)
      if info.skipped then skipped[#skipped + 1] = i end
    end })
    assert.same({ 1, 2 }, skipped)
    assert.equal(1, s.ok)
    assert.same({ [sid] = 1 }, patch_counts(rec))
    local got = assert(c:get_session(rec.id, sid))
    assert.same({ "audio" }, got.modalities)            -- left at A, as the input says
    c:close()
  end)

  it("stops with a journal error when a write fails, and says the journal is incomplete", function()
    local rec = new_record(40)
    local c = connect()
    e:clear_requests()
    local s, err = c:update_sessions(items_for(rec, 40), { journal = "/dev/full", concurrency = 4 })
    assert.is_nil(s)
    assert.equal("journal", err.kind)
    assert.matches("/dev/full", err.message)
    assert.matches("incomplete", err.message)
    assert.equal("incomplete", err.summary.journal)
    -- the first failed write stops the run: only what was already in flight went on
    local sent = 0
    for _ in pairs(patch_counts(rec)) do sent = sent + 1 end
    assert.is_true(sent <= 5, sent .. " sent")
    assert.equal(sent, err.summary.ok + err.summary.failed)
    c:close()
  end)

  it("sees every failed write, also once the writing loop is hot (LuaJIT compiles it)", function()
    local journal = require "graphcomm.journal"
    local good = assert(journal.open(dir .. "/hot.jsonl"))
    for k = 1, 500 do assert(good:write({ i = k, ok = true })) end
    assert(good:close())
    local full = assert(journal.open("/dev/full"))
    local failed = 0
    for k = 1, 200 do
      local ok, err = full:write({ i = k, ok = true })
      if not ok then
        failed = failed + 1
        assert.equal("journal", err.kind)
      end
    end
    full:close()
    assert.equal(200, failed)
  end)

  it("reads a journal cut mid-line up to its last complete record, and starts a new line", function()
    local rec = new_record(3)
    local path = dir .. "/cut.jsonl"
    local c = connect()
    assert(c:update_sessions(items_for(rec, 1), { journal = path }))
    local f = assert(io.open(path, "ab"))
    f:write('{"i":2,"ok":true,"status":204,"callRecordId":"' .. rec.id .. '","sess')
    f:close()
    e:clear_requests()
    local s = c:update_sessions(items_for(rec, 3), { journal = path })
    assert.equal(1, s.skipped)
    assert.equal(2, s.ok)
    assert.same({ [rec.sessionIds[2]] = 1, [rec.sessionIds[3]] = 1 }, patch_counts(rec))
    local lines = read_lines(path)
    assert.equal(4, #lines)
    assert.matches('"sess$', lines[2])                  -- the fragment, alone on its line
    for _, k in ipairs({ 1, 3, 4 }) do assert.is_table(cjson.decode(lines[k])) end
    c:close()
  end)

  -- A child process SIGKILLs itself after kill_at results; the rerun must skip exactly
  -- what was journaled, and only what was in flight (at most bound items) goes out twice.
  local function killed_run(batch, conc, bound)
    local n, kill_at = 300, 100
    local rec = new_record(n)
    local journal = dir .. "/kill" .. (batch and "-batch" or "") .. ".jsonl"
    local script = dir .. "/child.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
package.path = %q
package.cpath = %q
local graphcomm = require "graphcomm"
local crid, n = %q, %d
local ids = {}
for id in (%q):gmatch("[^,]+") do ids[#ids + 1] = id end
local stat = io.open("/proc/self/stat"):read("*l")
local pid = stat:match("^(%%d+)")
local c = assert(graphcomm.connect{ base_url = %q, token = %q })
local i, results = 0, 0
c:update_sessions(function()
  i = i + 1
  if i > n then return nil end
  return { crid, ids[i], { modalities = { "audio" } } }
end, { concurrency = %d, batch = %s, journal = %q, on_result = function()
  results = results + 1
  if results == %d then os.execute("kill -KILL " .. pid) end
end })
print("not killed")
]]):format(package.path, package.cpath, rec.id, n, table.concat(rec.sessionIds, ","),
      e.base_url, e.token, conc, tostring(batch), journal, kill_at))
    f:close()
    e:clear_requests()
    local p = io.popen(interpreter() .. " " .. script .. " 2>&1")
    local out = p:read("*a")
    p:close()
    assert.is_nil(out:find("not killed", 1, true))
    local first = read_lines(journal)
    assert.equal(kill_at, #first)         -- journaled before its callback ran
    local done_before = {}
    for _, line in ipairs(first) do
      local t = cjson.decode(line)
      assert.is_true(t.ok)
      done_before[t.sessionId] = true
    end
    local sent_before = patch_counts(rec)

    e:clear_requests()
    local c = connect()
    local items = items_for(rec, n)
    local s = c:update_sessions(items, { journal = journal, concurrency = conc, batch = batch })
    assert.equal(kill_at, s.skipped)
    assert.equal(n - kill_at, s.ok)
    assert.equal(0, s.failed)
    local sent_after = patch_counts(rec)
    local again = 0
    for k = 1, n do
      local sid = rec.sessionIds[k]
      if done_before[sid] then
        assert.is_nil(sent_after[sid], "item " .. k .. " succeeded before and was sent again")
      else
        assert.equal(1, sent_after[sid])
        if sent_before[sid] then again = again + 1 end
      end
    end
    -- Only what was in flight when the process died can have gone out twice.
    assert.is_true(again <= bound, again .. " items sent in both runs")
    c:close()
  end

  it("resumes a killed run without sending again what succeeded", function()
    killed_run(false, 8, 8)                 -- at most concurrency items
  end)

  it("resumes a killed batch run: at most concurrency x 20 items sent again", function()
    killed_run(true, 2, 40)
  end)
end)
