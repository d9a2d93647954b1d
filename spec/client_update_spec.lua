-- client:update_session against the emulator: the four parameter sets, what-if,
-- confirm, validation before sending, argument errors, the client object's lifetime.
local graphcomm = require "graphcomm"
local cjson = require "cjson.safe"
local emu = require "helpers.emulator"
local command = require "helpers.command"
local clients = require "helpers.client"

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

describe("client:update_session", function()
  local e, client, crid, sid, sid2

  setup(function()
    e = emu.shared()
    client = assert(graphcomm.connect{ base_url = e.base_url, token = e.token })
    local records = cjson.decode(assert(client:request{ path = "/communications/callRecords" }).body)
    crid = records.value[1].id
    local sessions = cjson.decode(assert(client:request{
      path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
    sid, sid2 = sessions.value[1].id, sessions.value[2].id
  end)

  teardown(function() client:close() end)

  before_each(function() e:clear_requests() end)

  local function patches() return clients.patches(e) end

  local function session_now(id)
    return cjson.decode(assert(client:request{
      path = "/communications/callRecords/" .. crid .. "/sessions/" .. id }).body)
  end

  it("updates positionally and returns true with the response", function()
    local ok, info = client:update_session(crid, sid, { modalities = { "video", "audio" } })
    assert.is_true(ok)
    assert.equal(204, info.status)
    assert.is_string(info.request_id)
    assert.is_table(info.headers)
    assert.same({ "video", "audio" }, session_now(sid).modalities)
  end)

  it("sends the request docs/contract.md section 3 describes", function()
    assert(client:update_session(crid, sid, { endDateTime = 1700000000.5 }))
    local log = patches()
    assert.equal(1, #log)
    local r = log[1]
    assert.equal("/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid, r.path)
    assert.equal("Bearer " .. e.token, r.headers["authorization"])
    assert.equal("application/json", r.headers["content-type"])
    assert.equal("application/json", r.headers["accept"])
    assert.matches(UUID4, r.headers["client-request-id"])
    local runtime = rawget(_G, "jit") and "LuaJIT 2.1" or _VERSION
    assert.equal("graphcomm-lua/" .. graphcomm.version .. " (hostOS=linux; runtimeEnvironment="
      .. runtime .. ")", r.headers["sdkversion"])
    assert.matches("^graphcomm%-lua/", r.headers["user-agent"])
    assert.equal('{"endDateTime":"2023-11-14T22:13:20.5Z"}', r.body)
  end)

  it("takes an identity table", function()
    assert(client:update_session({ CallRecordId = crid, SessionId = sid2 }, { modalities = { "data" } }))
    assert.same({ "data" }, session_now(sid2).modalities)
  end)

  it("takes the cmdlet's single table with expanded properties", function()
    local ok, info = client:update_session{ CallRecordId = crid, SessionId = sid2,
      Modalities = { "audio" }, IsTest = true, PassThru = true }
    assert.is_true(ok, tostring(info))
    local s = session_now(sid2)
    assert.same({ "audio" }, s.modalities)
    assert.is_true(s.isTest)
    assert.same({ modalities = { "audio" }, isTest = true }, cjson.decode(patches()[1].body))
    -- AdditionalProperties go into the body as the cmdlet puts them (what-if: the
    -- emulator, like Graph, would refuse a name the type does not have).
    local req = client:update_session{ call_record_id = crid, session_id = sid2, WhatIf = true,
      IsTest = false, AdditionalProperties = { ["x-fix"] = "ticket-1" } }
    assert.equal('{"isTest":false,"x-fix":"ticket-1"}', req.body)
  end)

  it("takes InputObject with BodyParameter, a session object as the body", function()
    local s = assert(graphcomm.session{ modalities = { "screenSharing" } })
    assert(client:update_session{ InputObject = { CallRecordId = crid, SessionId = sid2 },
      BodyParameter = s })
    assert.same({ "screenSharing" }, session_now(sid2).modalities)
    assert.equal(s:json(), patches()[1].body)
  end)

  it("sends one session object to many sessions, the same text each time, and lets it go", function()
    local s = assert(graphcomm.session{ modalities = { "audio", "video" }, isTest = false })
    local text = s:json()
    for _ = 1, 3 do assert(client:update_session(crid, sid2, s)) end
    assert(client:update_session(crid, sid, s))
    local sent = patches()
    assert.equal(4, #sent)
    for _, p in ipairs(sent) do assert.equal(text, p.body) end
    -- the client keeps the text by session, weakly: the session is still collected
    local watch = setmetatable({ s }, { __mode = "v" })
    s = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_nil(watch[1])
  end)

  it("refuses BodyParameter mixed with expanded properties, sending nothing", function()
    local ok, err = client:update_session{ CallRecordId = crid, SessionId = sid,
      BodyParameter = { modalities = { "audio" } }, Modalities = { "video" }, IsTest = false }
    assert.is_nil(ok)
    assert.equal("validation", err.kind)
    assert.matches("BodyParameter", tostring(err))
    assert.same({ "IsTest", "Modalities" }, { err.errors[1].path, err.errors[2].path })
    assert.equal(0, #patches())
  end)

  it("reports every validation error with its path, sending nothing", function()
    local ok, err = client:update_session(crid, sid, { modalites = { "audio" },
      segments = { { media = { { streams = { { averageJitter = "soon" } } } } } } })
    assert.is_nil(ok)
    assert.equal("validation", err.kind)
    local paths = {}
    for _, x in ipairs(err.errors) do paths[#paths + 1] = x.path end
    table.sort(paths)
    assert.same({ "modalites", "segments[1].media[1].streams[1].averageJitter" }, paths)
    assert.equal(0, #patches())
  end)

  it("refuses missing and empty ids, sending nothing", function()
    local ok, err = client:update_session("", sid, {})
    assert.is_nil(ok)
    assert.equal("validation", err.kind)
    ok, err = client:update_session{ SessionId = sid, Modalities = { "audio" } }
    assert.is_nil(ok)
    assert.equal("CallRecordId", err.errors[1].path)
    assert.equal(0, #patches())
  end)

  it("percent-encodes ids", function()
    local ok, err = client:update_session("no such/record?", "s 1", { isTest = true })
    assert.is_nil(ok)
    assert.equal(404, err.status)
    assert.equal("/v1.0/communications/callRecords/no%20such%2Frecord%3F/sessions/s%201",
      patches()[1].path)
  end)

  it("refuses names the schema does not know before sending, and writes them with allow_unknown", function()
    local body = { modalities = { "audio" }, vendorNote = "kept" }
    local ok, err = client:update_session(crid, sid, body)
    assert.is_nil(ok)
    assert.equal("validation", err.kind)
    assert.equal("vendorNote", err.errors[1].path)
    assert.same({}, patches())
    local req = client:update_session(crid, sid, body, { allow_unknown = true, what_if = true })
    assert.equal('{"modalities":["audio"],"vendorNote":"kept"}', req.body)
  end)

  it("raises for a misspelt option in the single table, even with allow_unknown, sending nothing", function()
    for _, t in ipairs({ { WhatIff = true }, { WhatIff = true, AllowUnknown = true },
        { what_iff = true, allow_unknown = true }, { SesionId = sid } }) do
      t.CallRecordId, t.Modalities = crid, { "audio" }
      if not t.SesionId then t.SessionId = sid end
      local ok, err = pcall(client.update_session, client, t)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'update_session' %(unknown option '[%w_]+'; did you mean", err)
    end
    assert.same({}, patches())
    local ok, err = client:update_session{ CallRecordId = crid, SessionId = sid, vendorNote = "x" }
    assert.is_nil(ok)                       -- a name far from every option is still a property
    assert.equal("vendorNote", err.errors[1].path)
  end)

  it("answers a what-if with the request, token redacted, and sends nothing", function()
    local req = client:update_session(crid, sid, { modalities = { "audio" } }, { what_if = true })
    assert.equal("PATCH", req.method)
    assert.equal(e.base_url .. "/v1.0/communications/callRecords/" .. crid .. "/sessions/" .. sid, req.url)
    assert.equal("Bearer <redacted>", req.headers.Authorization)
    assert.equal("application/json", req.headers["Content-Type"])
    assert.matches(UUID4, req.headers["client-request-id"])
    assert.equal('{"modalities":["audio"]}', req.body)
    local keys = {}
    for k in pairs(req) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "body", "headers", "method", "url" }, keys)
    assert.is_nil(string.find(cjson.encode(req), e.token, 1, true))
    local cmd = client:update_session{ CallRecordId = crid, SessionId = sid, Modalities = { "video" },
      WhatIf = true }
    assert.equal('{"modalities":["video"]}', cmd.body)
    assert.equal(0, #patches())
  end)

  it("asks confirm and sends only on true, with the id it showed", function()
    local seen
    local ok, err = client:update_session(crid, sid, { isTest = false }, {
      confirm = function(req) seen = req; return false end })
    assert.is_nil(ok)
    assert.equal("declined", err.kind)
    assert.equal("PATCH", seen.method)
    assert.equal(seen.headers["client-request-id"], err.client_request_id)
    assert.equal("Bearer <redacted>", seen.headers.Authorization)
    assert.equal(0, #patches())
    ok = client:update_session{ CallRecordId = crid, SessionId = sid, IsTest = false,
      Confirm = function(req) seen = req; return true end }
    assert.is_true(ok)
    local log = patches()
    assert.equal(1, #log)
    assert.equal(seen.headers["client-request-id"], log[1].headers["client-request-id"])
  end)

  it("keeps the caller's client-request-id and headers", function()
    assert(client:update_session(crid, sid, { isTest = false },
      { headers = { ["client-request-id"] = "my-own-id", ["X-Ticket"] = "42" } }))
    local r = patches()[1]
    assert.equal("my-own-id", r.headers["client-request-id"])
    assert.equal("42", r.headers["x-ticket"])
    e:clear_requests()
    local ok, info = client:update_session(crid, sid, { isTest = false }, { client_request_id = "opt-id" })
    assert.is_true(ok)
    assert.equal("opt-id", info.client_request_id)
    assert(client:update_session{ CallRecordId = crid, SessionId = sid, IsTest = false,
      ClientRequestId = "cmdlet-id", PassThru = true })
    local log = patches()
    assert.equal("opt-id", log[1].headers["client-request-id"])
    assert.equal("cmdlet-id", log[2].headers["client-request-id"])
  end)

  it("refuses CR, LF and NUL in header values before sending", function()
    for _, v in ipairs({ "a\r\nInjected: 1", "a\nb", "a\0b" }) do
      local ok, err = client:update_session(crid, sid, { isTest = false }, { headers = { ["X-A"] = v } })
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
    end
    assert.equal(0, #patches())
  end)

  it("refuses unknown and mistyped request fields, sending nothing", function()
    local path = "/communications/callRecords/" .. crid .. "/sessions/" .. sid
    e:clear_requests()
    for _, c in ipairs({ { { path = path, method = "PATCH", body = '{"modalities":["audio"]}', what_if = true },
        "unknown option 'what_if'" },
        { { path = path, methd = "PATCH" }, "unknown option 'methd'; did you mean 'method'%?" },
        { { path = path, method = "PATCH", body = { modalities = { "audio" } } }, "option body: string expected" } }) do
      local ok, err = pcall(client.request, client, c[1])
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'request' %(" .. c[2], err)
    end
    assert.same({}, e:requests())
    assert.equal(200, assert(client:request{ Path = path, Query = { select = "id" } }).status)
  end)

  it("raises on wrong argument types, as the Lua C API does", function()
    assert.has_error(function() client:update_session(crid, sid, 42) end,
      nil)
    local ok, msg = pcall(client.update_session, client, crid, sid, "{}")
    assert.is_false(ok)
    assert.matches("bad argument #3 to 'update_session' %(table or graphcomm.session expected, got string%)", msg)
    ok, msg = pcall(client.update_session, client, true)
    assert.is_false(ok)
    assert.matches("bad argument #1", msg)
    ok, msg = pcall(client.update_session, client, crid, sid, {}, "what_if")
    assert.is_false(ok)
    assert.matches("bad argument #4", msg)
    ok, msg = pcall(client.update_session, {}, crid, sid, {})
    assert.is_false(ok)
    assert.matches("graphcomm.client expected, got table", msg)
  end)
end)

describe("a client object", function()
  local e
  setup(function() e = emu.shared() end)

  it("is a named userdata that closes once, by close, __gc or __close", function()
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token })
    assert.equal("userdata", type(c))
    local mt = getmetatable(c)
    assert.equal("graphcomm.client", mt.__name)
    assert.equal(mt.__gc, mt.__close)
    assert.equal(mt.__gc, c.close)              -- one function for the three
    local g = assert(graphcomm.connect{ base_url = e.base_url, token = e.token })
    mt.__gc(g)                                  -- what the collector does to an open client
    assert.equal("graphcomm.client (closed)", tostring(g))
    assert.is_false(pcall(function() return g:request{ path = "/x" } end))
    assert.matches("^graphcomm.client %(0x", tostring(c))
    c:close()
    c:close()
    assert.equal("graphcomm.client (closed)", tostring(c))
    local ok, msg = pcall(function() return c:update_session("a", "b", {}) end)
    assert.is_false(ok)
    assert.matches("attempt to use a closed client", msg)
    ok, msg = pcall(function() return c:request{ path = "/x" } end)
    assert.matches("attempt to use a closed client", msg)
    mt.__gc(c)   -- after close: nothing left to do, no error
  end)

  it("is closed by a to-be-closed variable on Lua 5.4", function()
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token })
    if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
      local run = assert(load("local c = ... do local x <close> = c end return tostring(c)"))
      assert.equal("graphcomm.client (closed)", run(c))
    else
      getmetatable(c).__close(c)
      assert.equal("graphcomm.client (closed)", tostring(c))
    end
  end)

  it("keeps one connection alive across requests", function()
    -- the libcurl transport, watched through a caller's transport around it
    local h = require("graphcomm.core").http{}
    local conns = {}
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token,
      transport = { send = function(req)
        local resp, err = h:send(req)
        if resp then conns[#conns + 1] = resp.new_connections end
        return resp, err
      end } })
    for _ = 1, 4 do assert(c:request{ path = "/communications/callRecords?$top=1" }) end
    assert.same({ 1, 0, 0, 0 }, conns)
    c:close()
  end)
end)

describe("graphcomm.update_session", function()
  it("runs on a default client built from the environment", function()
    local e = emu.shared()
    local c = assert(graphcomm.connect{ base_url = e.base_url, token = e.token })
    local records = cjson.decode(assert(c:request{ path = "/communications/callRecords" }).body)
    local crid = records.value[2].id
    local sessions = cjson.decode(assert(c:request{
      path = "/communications/callRecords/" .. crid .. "/sessions" }).body)
    local sid = sessions.value[1].id
    local script = "package.path = " .. string.format("%q", package.path) .. "\n"
      .. "package.cpath = " .. string.format("%q", package.cpath) .. "\n" .. [[
      local graphcomm = require "graphcomm"
      local crid, sid = ...
      local ok, info = graphcomm.update_session{ CallRecordId = crid, SessionId = sid,
        Modalities = { "videoBasedScreenSharing" } }
      assert(ok, tostring(info))
      local bad, err = graphcomm.update_session{ CallRecordId = crid, SessionId = sid, Nope = 1 }
      io.write(tostring(info.status), " ", tostring(bad), " ", err.kind)
    ]]
    local code, out, err = command.run({ command.lua,
      "-", crid, sid }, { GRAPHCOMM_BASE_URL = e.base_url, GRAPHCOMM_TOKEN = e.token }, script)
    assert.equal(0, code, err)
    assert.equal("204 nil validation", out)
    local s = cjson.decode(assert(c:request{
      path = "/communications/callRecords/" .. crid .. "/sessions/" .. sid }).body)
    assert.same({ "videoBasedScreenSharing" }, s.modalities)
    c:close()
  end)

  it("fails as a value when the environment names no credentials", function()
    local code, out = command.run({ command.lua, "-e", "package.path = " ..
      string.format("%q", package.path) .. " package.cpath = " .. string.format("%q", package.cpath)
      .. " local g = require 'graphcomm' local ok, err = g.update_session{ CallRecordId = 'a',"
      .. " SessionId = 'b' } io.write(tostring(ok), ' ', err.kind)" },
      { GRAPHCOMM_BASE_URL = "http://127.0.0.1:9" })
    assert.equal(0, code)
    assert.equal("nil auth", out)
  end)
end)
