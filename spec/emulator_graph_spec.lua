-- The emulator's Graph resources over plain HTTP (curl), not through graphcomm.
local emu = require "helpers.emulator"

local P2P = "e523d2ed-2966-4b6b-925b-754a88034cc5"      -- peer to peer, 2 sessions
local BIG = "2f1a1100-b174-40a0-aba7-0b405e01ed92"      -- group call, 75 sessions
local REVIEW = "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80"   -- sessions ending before they start
local RECORDS = "/v1.0/communications/callRecords"

describe("emulator Graph resources", function()
  local e
  setup(function()
    e = emu.shared()
    e:reset()
  end)
  teardown(function() e:reset() end)

  local function get(path, headers)
    local status, h, body = e:request("GET", path, nil, headers)
    assert(status, h)
    return status, h, body ~= "" and emu.decode(body) or nil
  end

  local function session_ids(crid)
    local ids = {}
    local url = RECORDS .. "/" .. crid .. "/sessions?$select=id"
    while url do
      local status, _, page = get(url)
      assert.equal(200, status)
      for _, s in ipairs(page.value) do ids[#ids + 1] = s.id end
      url = page["@odata.nextLink"]
    end
    return ids
  end

  describe("call records", function()
    it("lists at least three records, one with more than 60 sessions", function()
      local status, h, body = get(RECORDS)
      assert.equal(200, status)
      assert.matches("^application/json", h["content-type"])
      assert.is_true(#body.value >= 3)
      assert.matches("/v1.0/%$metadata#communications/callRecords$", body["@odata.context"])
      for _, r in ipairs(body.value) do
        assert.is_string(r.id)
        assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", r.id)
        assert.is_nil(r.sessions)
      end
      assert.equal(75, #session_ids(BIG))
    end)

    it("honours $select on the list and on one record", function()
      local _, _, list = get(RECORDS .. "?$select=id,type")
      for _, r in ipairs(list.value) do
        assert.same({ "id", "type" }, (function() local k = {} for n in pairs(r) do k[#k + 1] = n end table.sort(k) return k end)())
      end
      local status, _, rec = get(RECORDS .. "/" .. P2P .. "?$select=startDateTime")
      assert.equal(200, status)
      assert.equal(P2P, rec.id)
      assert.is_string(rec.startDateTime)
      assert.is_nil(rec.type)
      local bad = get(RECORDS .. "/" .. P2P .. "?$select=nonsense")
      assert.equal(400, bad)
    end)

    it("inlines 60 sessions with $expand and puts the rest behind sessions@odata.nextLink", function()
      local status, _, rec = get(RECORDS .. "/" .. BIG .. "?$expand=sessions($expand=segments)")
      assert.equal(200, status)
      assert.equal(60, #rec.sessions)
      assert.is_table(rec.sessions[1].segments)
      assert.is_table(rec.sessions[1].segments[1].media[1].streams)
      local link = rec["sessions@odata.nextLink"]
      local prefix = e.base_url .. "/v1.0/communications/callRecords/" .. BIG .. "/sessions?"
      assert.equal(prefix, link:sub(1, #prefix))
      local s2, _, rest = get(link)
      assert.equal(200, s2)
      assert.equal(15, #rest.value)
      assert.is_table(rest.value[1].segments, "the nested $expand is kept in the link")
      assert.is_nil(rest["@odata.nextLink"])
      local seen = {}
      for _, s in ipairs(rec.sessions) do seen[s.id] = true end
      for _, s in ipairs(rest.value) do assert.is_nil(seen[s.id]); seen[s.id] = true end
      -- without the nested expand, no segments; without $expand, no sessions
      local _, _, plain = get(RECORDS .. "/" .. BIG .. "?$expand=sessions")
      assert.is_nil(plain.sessions[1].segments)
      local _, _, bare = get(RECORDS .. "/" .. P2P)
      assert.is_nil(bare.sessions)
      assert.is_nil(bare["sessions@odata.nextLink"])
      -- a small record has no link
      local _, _, small = get(RECORDS .. "/" .. P2P .. "?$expand=sessions($expand=segments)")
      assert.equal(2, #small.sessions)
      assert.is_nil(small["sessions@odata.nextLink"])
    end)

    it("pages the sessions collection with $top and @odata.nextLink", function()
      local status, _, page = get(RECORDS .. "/" .. BIG .. "/sessions?$top=10&$select=id")
      assert.equal(200, status)
      assert.equal(10, #page.value)
      assert.matches("%$top=10", page["@odata.nextLink"])
      local all = session_ids(BIG)
      assert.equal(page.value[1].id, all[1])
      local n, url = 0, RECORDS .. "/" .. BIG .. "/sessions?$top=25"
      local pages = 0
      while url do
        local _, _, p = get(url)
        n = n + #p.value
        pages = pages + 1
        url = p["@odata.nextLink"]
      end
      assert.equal(75, n)
      assert.equal(3, pages)
      assert.equal(400, (get(RECORDS .. "/" .. BIG .. "/sessions?$top=0")))
      assert.equal(400, (get(RECORDS .. "/" .. BIG .. "/sessions?$skiptoken=x")))
    end)

    it("filters records and sessions with simple $filter comparisons, and pages records with $top", function()
      -- (before 2026-11-25: the records from then on are the fix rules' samples)
      local _, _, groups = get(RECORDS .. "?$filter=" .. "type%20eq%20'groupCall'%20and%20startDateTime%20lt%202026-11-25T00:00:00Z")
      assert.equal(2, #groups.value)
      for _, r in ipairs(groups.value) do assert.equal("groupCall", r.type) end
      local _, _, later = get(RECORDS .. "?$filter=startDateTime%20ge%202026-11-22T00:00:00Z%20and%20startDateTime%20lt%202026-11-25T00:00:00Z%20and%20type%20eq%20'peerToPeer'")
      assert.equal(1, #later.value)
      local _, _, open = get(RECORDS .. "/" .. BIG .. "/sessions?$select=id,endDateTime&$filter=endDateTime%20eq%20null")
      assert.equal(2, #open.value)
      assert.equal(400, (get(RECORDS .. "?$filter=contains(type,'x')")))
      local _, _, p1 = get(RECORDS .. "?$top=3&$select=id")
      assert.equal(3, #p1.value)
      local _, _, p2 = get(p1["@odata.nextLink"])
      assert.is_true(#p2.value >= 1)
      assert.not_equal(p1.value[1].id, p2.value[1].id)
    end)

    it("takes $select inside $expand=sessions(...)", function()
      local _, _, rec = get(RECORDS .. "/" .. BIG .. "?$expand=sessions($select=id,modalities;$expand=segments)")
      local s = rec.sessions[1]
      assert.is_string(s.id)
      assert.is_table(s.modalities)
      assert.is_table(s.segments)
      assert.is_nil(s.startDateTime)
      assert.matches("%$select=id%%2Cmodalities", rec["sessions@odata.nextLink"])
    end)

    it("has sample data for fixes: sessions without an end, and ending before they start", function()
      local missing, backwards = 0, 0
      for _, crid in ipairs({ P2P, BIG, REVIEW }) do
        local url = RECORDS .. "/" .. crid .. "/sessions"
        while url do
          local _, _, p = get(url)
          for _, s in ipairs(p.value) do
            if s.endDateTime == nil then missing = missing + 1
            elseif s.endDateTime < s.startDateTime then backwards = backwards + 1 end
          end
          url = p["@odata.nextLink"]
        end
      end
      assert.is_true(missing >= 2)
      assert.is_true(backwards >= 1)
    end)

    it("fills media and streams with realistic values of every kind", function()
      local _, _, s = get(RECORDS .. "/" .. P2P .. "/sessions/" .. session_ids(P2P)[1] .. "?$expand=segments")
      assert.equal("#microsoft.graph.callRecords.participantEndpoint", s.caller["@odata.type"])
      assert.equal("#microsoft.graph.callRecords.clientUserAgent", s.caller.userAgent["@odata.type"])
      local m = s.segments[1].media[1]
      for _, k in ipairs({ "callerDevice", "calleeDevice", "callerNetwork", "calleeNetwork" }) do assert.is_table(m[k]) end
      local st = m.streams[1]
      assert.matches("^PT0%.%d+S$", st.averageJitter)
      assert.is_number(st.averageBandwidthEstimate)
      assert.is_truthy(({ callerToCallee = 1, calleeToCaller = 1 })[st.streamDirection])
      assert.is_number(m.callerNetwork.linkSpeed)
      assert.is_string(m.callerNetwork.traceRouteHops[1].roundTripTime)
    end)

    it("answers 404 with a Graph error body for unknown ids", function()
      for _, path in ipairs({ RECORDS .. "/nope", RECORDS .. "/nope/sessions", RECORDS .. "/" .. P2P .. "/sessions/nope",
                              RECORDS .. "/nope/sessions/nope" }) do
        local status, h, body = get(path)
        assert.equal(404, status, path)
        assert.equal("NotFound", body.error.code)
        assert.is_string(body.error.message)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", body.error.innerError.date)
        assert.equal(h["request-id"], body.error.innerError["request-id"])
        assert.equal(h["client-request-id"], body.error.innerError["client-request-id"])
      end
    end)

    it("serves /beta as well as /v1.0, and 404s other paths with a Graph body", function()
      assert.equal(200, (get("/beta/communications/callRecords/" .. P2P)))
      for _, path in ipairs({ "/v2.0/communications/callRecords", "/v1.0/me", "/", "/v1.0/communications/callRecords/x/y/z/w" }) do
        local status, _, body = get(path)
        assert.equal(404, status, path)
        assert.is_string(body.error.code)
      end
    end)
  end)

  describe("tokens and headers", function()
    it("refuses a missing, unknown or malformed bearer token with 401 InvalidAuthenticationToken", function()
      for _, auth in ipairs({ false, "Bearer nope", "Basic abc", "Bearer" }) do
        local status, h, body = e:request("GET", RECORDS, nil, { Authorization = auth })
        assert.equal(401, status)
        assert.equal("InvalidAuthenticationToken", emu.decode(body).error.code)
        assert.matches("^Bearer", h["www-authenticate"])
      end
    end)

    it("puts request-id, client-request-id and Date on every answer, echoing the client's id", function()
      local status, h = e:request("GET", RECORDS .. "/" .. P2P, nil, { ["client-request-id"] = "5e0bd4e1-0c8e-4b7a-9d7a-0f6a8c9c1a11" })
      assert.equal(200, status)
      assert.equal("5e0bd4e1-0c8e-4b7a-9d7a-0f6a8c9c1a11", h["client-request-id"])
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", h["request-id"])
      assert.matches("GMT$", h["date"])
      for _, req in ipairs({ { "GET", "/nowhere" }, { "GET", RECORDS, false }, { "DELETE", RECORDS } }) do
        local s2, h2 = e:request(req[1], req[2], nil, { Authorization = req[3] })
        assert.is_true(s2 >= 400)
        assert.is_string(h2["request-id"])
        assert.is_string(h2["client-request-id"])
        assert.is_string(h2["date"])
      end
    end)
  end)

  describe("one session", function()
    local sid
    before_each(function()
      e:reset()
      sid = session_ids(P2P)[2]
    end)

    it("PATCH merges the body into the stored session, answers 204, and GET shows it", function()
      local before = select(3, get(RECORDS .. "/" .. P2P .. "/sessions/" .. sid))
      local status, h, body = e:request("PATCH", RECORDS .. "/" .. P2P .. "/sessions/" .. sid,
        '{"endDateTime":"2026-11-20T09:21:30.5Z","modalities":["audio","video"],"failureInfo":{"stage":"midcall","reason":"x"}}',
        { ["Content-Type"] = "application/json" })
      assert.equal(204, status)
      assert.equal("", body)
      assert.is_string(h["request-id"])
      local _, _, after = get(RECORDS .. "/" .. P2P .. "/sessions/" .. sid)
      assert.equal("2026-11-20T09:21:30.5Z", after.endDateTime)
      assert.same({ "audio", "video" }, after.modalities)
      assert.same({ stage = "midcall", reason = "x" }, after.failureInfo)
      assert.equal(before.startDateTime, after.startDateTime)
      assert.same(before.caller, after.caller)
    end)

    it("keeps Int64 values exactly and clears with null", function()
      local path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
      local body = '{"segments":[{"id":"seg","media":[{"streams":[{"packetUtilization":9007199254740993}]}]}],"failureInfo":null}'
      assert.equal(204, (e:request("PATCH", path, body, { ["Content-Type"] = "application/json" })))
      local _, _, text = e:request("GET", path .. "?$select=id,segments,failureInfo")
      assert.matches('"packetUtilization":9007199254740993', text, 1, true)
      assert.matches('"failureInfo":null', text, 1, true)
    end)

    it("answers 400 with a Graph error body naming the property path for schema-breaking bodies", function()
      local path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
      local cases = {
        { '{"modalites":["audio"]}', "modalites" },
        { '{"modalities":"audio"}', "modalities" },
        { '{"modalities":["sound"]}', "modalities[1]" },
        { '{"startDateTime":"yesterday"}', "startDateTime" },
        { '{"segments":[{"media":[{"streams":[{"averageJitter":15}]}]}]}', "segments[1].media[1].streams[1].averageJitter" },
        { '{"segments":[{"media":[{"callerNetwork":{"port":"443"}}]}]}', "segments[1].media[1].callerNetwork.port" },
        { '{"isTest":1}', "isTest" },
        { '{"modalities":null}', "modalities" },
      }
      for _, c in ipairs(cases) do
        local status, _, text = e:request("PATCH", path, c[1], { ["Content-Type"] = "application/json" })
        assert.equal(400, status, c[1])
        local err = emu.decode(text).error
        assert.equal("BadRequest", err.code)
        assert.truthy(err.message:find(c[2], 1, true), err.message)
        assert.equal(c[2], err.details[1].target)
      end
      -- nothing was stored
      local _, _, s = get(path)
      assert.is_nil(s.isTest == 1 or nil)
      assert.same({ "audio" }, s.modalities)
    end)

    it("refuses bodies that are not JSON objects, or not JSON at all", function()
      local path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
      for _, c in ipairs({ { "", 400 }, { "{", 400 }, { "[]", 400 }, { "null", 400 }, { "{}", 204 } }) do
        local status, _, text = e:request("PATCH", path, c[1], { ["Content-Type"] = "application/json" })
        assert.equal(c[2], status, c[1])
        if c[2] == 400 then assert.equal("BadRequest", emu.decode(text).error.code) end
      end
      local status = e:request("PATCH", path, "{}", { ["Content-Type"] = "text/plain" })
      assert.equal(415, status)
      status = e:request("PATCH", path, "{}", { ["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip" })
      assert.equal(415, status)
      status = e:request("PATCH", path, '{"id":"another"}', { ["Content-Type"] = "application/json" })
      assert.equal(400, status)
    end)

    it("accepts unknown properties only when allow_unknown is switched on", function()
      local path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
      assert.equal(400, (e:request("PATCH", path, '{"ticket":"INC-1"}', { ["Content-Type"] = "application/json" })))
      e:configure({ allow_unknown = true })
      assert.equal(204, (e:request("PATCH", path, '{"ticket":"INC-1"}', { ["Content-Type"] = "application/json" })))
      local _, _, s = get(path)
      assert.equal("INC-1", s.ticket)
      e:configure({ allow_unknown = false })
    end)

    it("answers a wrong method with 405 and a Graph body, and a big body with 413", function()
      local path = RECORDS .. "/" .. P2P .. "/sessions/" .. sid
      local status, h, text = e:request("DELETE", path)
      assert.equal(405, status)
      assert.equal("MethodNotAllowed", emu.decode(text).error.code)
      assert.matches("PATCH", h["allow"])
      local _
      status, _, text = e:request("PATCH", path, string.rep(" ", 17 * 1024 * 1024) .. "{}", { ["Content-Type"] = "application/json" })
      assert.equal(413, status)
      assert.equal("RequestEntityTooLarge", emu.decode(text).error.code)
    end)
  end)

  describe("--read-only", function()
    local ro
    setup(function() ro = emu.start{ read_only = true } end)
    teardown(function() ro:stop() end)

    it("answers PATCH with 405 and a Graph error body, and still serves GET", function()
      local _, _, page = ro:request("GET", RECORDS .. "/" .. P2P .. "/sessions?$select=id")
      local sid = emu.decode(page).value[1].id
      local status, h, text = ro:request("PATCH", RECORDS .. "/" .. P2P .. "/sessions/" .. sid, '{"isTest":true}',
        { ["Content-Type"] = "application/json" })
      assert.equal(405, status)
      local err = emu.decode(text).error
      assert.equal("MethodNotAllowed", err.code)
      assert.matches("read%-only", err.message)
      assert.equal("GET", h["allow"])
      assert.is_string(h["request-id"])
      local _, _, s = ro:request("GET", RECORDS .. "/" .. P2P .. "/sessions/" .. sid)
      assert.is_false(emu.decode(s).isTest)
    end)
  end)
end)
