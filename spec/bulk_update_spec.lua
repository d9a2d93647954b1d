-- client:update_sessions (lua/graphcomm/bulk.lua) against the emulator: items from lists
-- and iterators, validation per item, callbacks, retries that do not stall the others,
-- the order of fixes for one session, token renewal, other transports.
local graphcomm = require "graphcomm"
local core = require "graphcomm.core"
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local e

local function connect(extra) return bulk.connect(e, 0.2, extra) end

local function new_record(n) return bulk.new_record(e, n) end

local session_url = bulk.session_url

-- The PATCH requests the emulator saw for one record, oldest first.
local function patches(rec)
  local list = {}
  for _, r in ipairs(e:requests("match=" .. rec.id)) do
    if r.method == "PATCH" then list[#list + 1] = r end
  end
  return list
end

local function header(r, name)
  for k, v in pairs(r.headers) do
    if k:lower() == name then return v end
  end
end

describe("client:update_sessions", function()
  setup(function() e = emu.shared() end)
  after_each(function()
    e:clear_faults()
    e:control("DELETE", "redirects")
  end)

  it("refuses names the schema does not know unless allow_unknown, as update_session does", function()
    local rec = new_record(2)
    local body = { modalities = { "audio" }, vendorNote = "kept" }
    local c = connect()
    local failed = {}
    local summary = c:update_sessions({ { rec.id, rec.sessionIds[1], body } },
      { on_result = function(_, ok, err) if not ok then failed[#failed + 1] = err end end })
    assert.same({ ok = 0, failed = 1 }, { ok = summary.ok, failed = summary.failed })
    assert.equal("validation", failed[1].kind)
    assert.equal("vendorNote", failed[1].errors[1].path)
    assert.same({}, patches(rec))
    e:configure({ allow_unknown = true })
    summary = c:update_sessions({ { rec.id, rec.sessionIds[2], body } }, { allow_unknown = true })
    e:configure({ allow_unknown = false })
    assert.equal(1, summary.ok)
    local sent = patches(rec)
    assert.equal(1, #sent)
    assert.equal("kept", require("cjson").decode(sent[1].body).vendorNote)
    c:close()
  end)

  it("sends every item of a list and reports each once", function()
    local rec = new_record(30)
    local c = connect()
    local items, seen, progress = {}, {}, {}
    for k = 1, 30 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio", "video" } } } end
    local s = c:update_sessions(items, {
      concurrency = 8,
      on_result = function(i, ok, info, item)
        assert.is_nil(seen[i])
        seen[i] = true
        assert.is_true(ok)
        assert.equal(204, info.status)
        assert.is_string(info.request_id)
        assert.equal(items[i], item)
      end,
      on_progress = function(done, total) progress[#progress + 1] = { done, total } end,
    })
    assert.same({ ok = 30, failed = 0, skipped = 0, retried = 0, requests = 30 },
      { ok = s.ok, failed = s.failed, skipped = s.skipped, retried = s.retried, requests = s.requests })
    assert.is_true(s.connections >= 1 and s.connections <= 8)   -- kept-alive HTTP/1.1
    for k = 1, 30 do
      assert.is_true(seen[k])
      assert.same({ k, 30 }, progress[k])
    end
    local status, _, body = e:request("GET", session_url(rec, 17))
    assert.equal(200, status)
    assert.same({ "audio", "video" }, emu.decode(body).modalities)
    assert.equal(30, #patches(rec))
    c:close()
  end)

  it("multiplexes the updates on one HTTP/2 connection over TLS", function()
    local t = emu.start{ tls = true }
    local ok, err = pcall(function()
      local rec = t:control("POST", "callRecords", { sessions = 200 })
      local c = assert(graphcomm.connect{ base_url = t.base_url, token = t.token, ca_file = t.ca_file })
      local items = {}
      for k = 1, 200 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio" } } } end
      local s = c:update_sessions(items, { concurrency = 16 })
      assert.equal(200, s.ok)
      assert.equal(1, s.connections)
      local versions = {}
      for _, r in ipairs(t:requests("match=" .. rec.id)) do versions[r.http_version] = true end
      assert.same({ ["2.0"] = true }, versions)
      c:close()
    end)
    t.stop()
    assert(ok, err)
  end)

  it("takes every item shape and session objects as bodies", function()
    local rec = new_record(5)
    local c = connect()
    local items = {
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { callRecordId = rec.id, sessionId = rec.sessionIds[2], body = { Modalities = { "video" } } },
      { call_record_id = rec.id, session_id = rec.sessionIds[3], body = { modalities = { "audio" } } },
      { CallRecordId = rec.id, SessionId = rec.sessionIds[4], BodyParameter = { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[5], assert(graphcomm.session{ modalities = { "screenSharing" } }) },
    }
    local s = c:update_sessions(items)
    assert.equal(5, s.ok)
    local bodies = {}
    for _, r in ipairs(patches(rec)) do bodies[r.path:match("[^/]+$")] = r.body end
    assert.equal('{"modalities":["video"]}', bodies[rec.sessionIds[2]])
    assert.equal('{"modalities":["screenSharing"]}', bodies[rec.sessionIds[5]])
    c:close()
  end)

  it("fails invalid items with their paths, sends nothing for them, goes on with the rest", function()
    local rec = new_record(4)
    local c = connect()
    local results = {}
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "smell" }, modalitez = 1 } },
      { rec.id, "", { modalities = { "audio" } } },
      "not a table",
      { rec.id, rec.sessionIds[3], { modalities = { "audio" } } },
    }, { on_result = function(i, ok, err) results[i] = { ok, err } end })
    assert.equal(2, s.ok)
    assert.equal(3, s.failed)
    assert.is_true(results[1][1])
    assert.is_true(results[5][1])
    local err = results[2][2]
    assert.equal("validation", err.kind)
    local paths = {}
    for _, x in ipairs(err.errors) do paths[#paths + 1] = x.path end
    table.sort(paths)
    assert.same({ "modalitez", "modalities[1]" }, paths)
    assert.equal("validation", results[3][2].kind)
    assert.equal("validation", results[4][2].kind)
    assert.equal(2, #patches(rec))
    c:close()
  end)

  it("fails an item holding an option (what_if, confirm) unsent, keeps the caller's own fields", function()
    local rec = new_record(3)
    local c = connect()
    local results = {}
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } }, what_if = true },
      { callRecordId = rec.id, sessionId = rec.sessionIds[2], body = { modalities = { "audio" } },
        Confirm = function() return false end },
      { rec.id, rec.sessionIds[3], { modalities = { "audio" } }, line = 7 },
    }, { on_result = function(i, ok, err, item) results[i] = { ok, err, item } end })
    assert.equal(1, s.ok)
    assert.equal(2, s.failed)
    assert.equal("validation", results[1][2].kind)
    assert.matches("option what_if", results[1][2].message)
    assert.equal("Confirm", results[2][2].errors[1].path)
    assert.is_true(results[3][1])
    assert.equal(7, results[3][3].line)
    assert.equal(1, #patches(rec))
    c:close()
  end)

  it("pulls an iterator lazily and reports an unknown total", function()
    local rec = new_record(50)
    local c = connect()
    local pulled, pulled_at_first, totals = 0, nil, {}
    local s = c:update_sessions(function()
      if pulled == 50 then return nil end
      pulled = pulled + 1
      return { rec.id, rec.sessionIds[pulled], { modalities = { "audio" } } }
    end, {
      concurrency = 4,
      on_result = function() pulled_at_first = pulled_at_first or pulled end,
      on_progress = function(_, total) totals[#totals + 1] = total == nil end,
    })
    assert.equal(50, s.ok)
    assert.is_true(pulled_at_first <= 5, "pulled " .. pulled_at_first .. " before the first result")
    assert.equal(50, #totals)
    for _, unknown in ipairs(totals) do assert.is_true(unknown) end
    local t
    c:update_sessions(function() return nil end, { total = 0, on_progress = function(_, x) t = x end })
    assert.is_nil(t)                      -- no items: no progress call
    c:close()
  end)

  it("waits out a Retry-After for one item while the others go on", function()
    local rec = new_record(20)
    e:fault{ match = session_url(rec, 1), method = "PATCH", status = 429, retry_after = "1", count = 1 }
    local c = connect{ max_retry_delay = 5 }
    local order, t0, t1 = {}, core.now(), nil
    local items = {}
    for k = 1, 20 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio" } } } end
    local s = c:update_sessions(items, { concurrency = 4, on_result = function(i, ok)
      assert.is_true(ok)
      order[#order + 1] = i
      if i == 1 then t1 = core.now() - t0 end
    end })
    assert.equal(20, s.ok)
    assert.equal(1, s.retried)
    assert.equal(1, order[20])            -- every other item finished first
    assert.is_true(t1 >= 1, "item 1 came back after " .. t1 .. " s")
    local first = {}
    for _, r in ipairs(patches(rec)) do
      if r.path == session_url(rec, 1) then first[#first + 1] = r end
    end
    assert.equal(2, #first)
    assert.equal(header(first[1], "client-request-id"), header(first[2], "client-request-id"))
    assert.is_nil(header(first[1], "retry-attempt"))
    assert.equal("1", header(first[2], "retry-attempt"))
    c:close()
  end)

  it("retries a dropped connection and gives up on a permanent error", function()
    local rec = new_record(3)
    e:fault{ match = session_url(rec, 2), method = "PATCH", drop = true, count = 1 }
    local c = connect()
    local results = {}
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "audio" } } },
      { rec.id, "no-such-session", { modalities = { "audio" } } },
    }, { on_result = function(i, ok, v) results[i] = { ok, v } end })
    assert.equal(2, s.ok)
    assert.equal(1, s.failed)
    assert.is_true(results[2][1])
    local err = results[3][2]
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
    assert.equal("NotFound", err.code)
    assert.is_string(err.request_id)
    -- 1, 2 twice (resent as the same request: same client-request-id), the unknown one once
    local list = patches(rec)
    assert.equal(4, #list)
    local twice = {}
    for _, r in ipairs(list) do
      if r.path == session_url(rec, 2) then twice[#twice + 1] = header(r, "client-request-id") end
    end
    assert.equal(2, #twice)
    assert.equal(twice[1], twice[2])
    c:close()
  end)

  it("applies fixes for one session in order, and skips those after a failed one", function()
    local rec = new_record(2)
    local c = connect()
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[1], { modalities = { "video" } } },
      { rec.id, rec.sessionIds[1], { modalities = { "screenSharing" } } },
    }, { concurrency = 8 })
    assert.equal(3, s.ok)
    local list = patches(rec)
    assert.equal(3, #list)
    assert.equal('{"modalities":["audio"]}', list[1].body)
    assert.equal('{"modalities":["screenSharing"]}', list[3].body)
    local _, _, body = e:request("GET", session_url(rec, 1))
    assert.same({ "screenSharing" }, emu.decode(body).modalities)

    e:clear_requests()
    e:fault{ match = session_url(rec, 2), method = "PATCH", status = 400, count = 1 }
    local results = {}
    s = c:update_sessions({
      { rec.id, rec.sessionIds[2], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "video" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "video" } } },
    }, { on_result = function(i, ok, err) results[i] = { ok, err } end })
    assert.equal(0, s.ok)
    assert.equal(3, s.failed)
    assert.equal(400, results[1][2].status)
    assert.equal(424, results[2][2].status)
    assert.equal("FailedDependency", results[2][2].code)
    assert.equal(1, results[2][2].depends_on)
    assert.equal(2, results[3][2].depends_on)
    assert.equal(1, #patches(rec))        -- the later two were never sent
    c:close()
  end)

  it("follows redirects, without the token to another origin", function()
    local rec = new_record(2)
    e:control("POST", "redirects", { match = session_url(rec, 1), status = 307,
      location = e.base_url .. "{path}" })
    local other = e.base_url:gsub("127%.0%.0%.1", "localhost")
    e:control("POST", "redirects", { match = session_url(rec, 2), status = 308,
      location = other .. "{path}" })
    local c = connect()
    local results = {}
    local s = c:update_sessions({
      { rec.id, rec.sessionIds[1], { modalities = { "audio" } } },
      { rec.id, rec.sessionIds[2], { modalities = { "audio" } } },
    }, { on_result = function(i, ok, v) results[i] = { ok, v } end })
    assert.equal(1, s.ok)
    assert.is_true(results[1][1])
    assert.equal(401, results[2][2].status)
    local auth = {}
    for _, r in ipairs(patches(rec)) do
      auth[#auth + 1] = (r.path == session_url(rec, 1) and "1:" or "2:")
        .. (header(r, "authorization") and "token" or "none")
    end
    table.sort(auth)
    assert.same({ "1:token", "1:token", "2:none", "2:token" }, auth)
    c:close()
  end)

  it("sends fixes of one session side by side when told they are independent", function()
    local rec = new_record(1)
    local c = connect()
    local items = {}
    for k = 1, 40 do items[k] = { rec.id, rec.sessionIds[1], { modalities = { "audio" } } } end
    local in_flight, most = 0, 0
    local s = c:update_sessions(function()
      -- pulled ahead of results only when nothing holds the fixes back
      local item = table.remove(items)
      if item then in_flight = in_flight + 1; most = math.max(most, in_flight) end
      return item
    end, { concurrency = 8, ordered = false, on_result = function() in_flight = in_flight - 1 end })
    assert.equal(40, s.ok)
    assert.equal(8, most)                 -- 8 in flight at once
    for k = 1, 40 do items[k] = { rec.id, rec.sessionIds[1], { modalities = { "audio" } } } end
    in_flight, most = 0, 0
    s = c:update_sessions(function()
      local item = table.remove(items)
      if item then in_flight = in_flight + 1; most = math.max(most, in_flight) end
      return item
    end, { concurrency = 8, on_result = function() in_flight = in_flight - 1 end })
    assert.equal(40, s.ok)
    assert.equal(40, most)                -- ordered (the default): all pulled, one sent at a time
    c:close()
  end)

  it("gives the client's debug function the redacted lines of every request", function()
    local rec = new_record(3)
    local lines = {}
    local c = connect{ debug = function(l) lines[#lines + 1] = l end }
    local items = {}
    for k = 1, 3 do items[k] = { rec.id, rec.sessionIds[k], { isTest = false } } end
    assert.equal(3, c:update_sessions(items, { concurrency = 2 }).ok)
    local text = table.concat(lines, "\n")
    local _, sent = text:gsub("> PATCH ", "")
    local _, answered = text:gsub("< HTTP/[%d.]+ 204", "")
    local _, redacted = text:gsub("> Authorization: Bearer <redacted>", "")
    assert.equal(3, sent)
    assert.equal(3, answered)
    assert.equal(3, redacted)
    assert.is_nil(text:find(e.token, 1, true))
    c:close()
  end)

  it("compresses bodies when the client does, sending each once more plainly on 415", function()
    local rec = new_record(3)
    finally(function() e:clear_requests() end)   -- gzip bodies in the log upset ?match=
    local c = connect{ compress = 1 }
    local items = {}
    for k = 1, 3 do items[k] = { rec.id, rec.sessionIds[k], { isTest = false } } end
    local s = c:update_sessions(items, { concurrency = 3 })
    assert.equal(3, s.ok)
    assert.equal(6, s.requests)
    local by_id = {}
    -- The whole log, filtered here: the emulator's ?match= cannot read back a gzip body.
    for _, r in ipairs(e:requests()) do
      local id = r.method == "PATCH" and r.path:find(rec.id, 1, true) and header(r, "client-request-id")
      if id then
        by_id[id] = by_id[id] or {}
        table.insert(by_id[id], r)
      end
    end
    local n = 0
    for _, list in pairs(by_id) do
      n = n + 1
      assert.equal(2, #list)                -- the emulator answers 415 to gzip
      assert.equal("gzip", header(list[1], "content-encoding"))
      assert.is_nil(header(list[2], "content-encoding"))
      assert.equal('{"isTest":false}', list[2].body)
    end
    assert.equal(3, n)
    c:close()
  end)

  it("renews a rejected token once and carries on", function()
    local rec = new_record(6)
    local calls = 0
    local c = connect{ token = function()
      calls = calls + 1
      if calls == 1 then return "not-a-valid-token", 3600 end
      return e.token, 3600
    end }
    local items = {}
    for k = 1, 6 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio" } } } end
    local s = c:update_sessions(items, { concurrency = 3 })
    assert.equal(6, s.ok)
    assert.equal(2, calls)
    c:close()
  end)

  it("sends one at a time over a caller's own transport", function()
    local rec = new_record(4)
    local h = core.http{}
    local sent = 0
    local c = connect{ transport = { send = function(req) sent = sent + 1; return h:send(req) end } }
    local items = {}
    for k = 1, 4 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio" } } } end
    items[5] = { rec.id, "missing", { modalities = { "audio" } } }
    local s = c:update_sessions(items, { concurrency = 4 })
    assert.equal(4, s.ok)
    assert.equal(1, s.failed)
    assert.equal(5, sent)
    c:close()
    h:close()
  end)

  it("lets an error in a callback through, and raises on misuse", function()
    local rec = new_record(3)
    local c = connect()
    local items = {}
    for k = 1, 3 do items[k] = { rec.id, rec.sessionIds[k], { modalities = { "audio" } } } end
    assert.has_error(function()
      c:update_sessions(items, { on_result = function() error("stop here", 0) end })
    end, "stop here")
    assert.has_error(function() c:update_sessions(42) end)
    assert.has_error(function() c:update_sessions(items, { concurrency = 0 }) end)
    assert.has_error(function() c:update_sessions(items, { on_result = 1 }) end)
    c:close()
    assert.has_error(function() c:update_sessions(items) end)
  end)
end)
