-- Errors: every problem at once with exact paths, the error object and its
-- one-line __tostring for every kind, argument errors that raise.
local h = require "helpers.session"
local core = h.core

describe("validation errors", function()
  it("are all reported at once, with 1-based paths in JSON names", function()
    local list, err = h.errors{
      modalites = { "audio" },
      Segments = {
        { media = { {}, { streams = { { AverageJitter = "abc", averagePacketLossRate = "x" } } } } },
        { callee = { userAgent = { headerValue = 1 } }, StartDateTime = "yesterday" },
      },
      failureInfo = { stage = "later" },
    }
    table.sort(list)
    assert.same({
      "failureInfo.stage: expected a failureStage (one of unknown, callSetup, midcall, unknownFutureValue), got 'later'",
      "modalites: unknown property (did you mean 'modalities'?)",
      "segments[1].media[2].streams[1].averageJitter: expected an ISO 8601 duration such as PT0.015S, P1DT2H or -PT15M, got 'abc'",
      "segments[1].media[2].streams[1].averagePacketLossRate: expected a number (Single), got 'x'",
      "segments[2].callee.userAgent.headerValue: expected a string, got 1",
      "segments[2].startDateTime: expected an RFC 3339 date-time such as 2024-01-31T09:30:00Z, got 'yesterday'",
    }, list)
    assert.equal("validation", err.kind)
    assert.matches("^6 errors: ", err.message)
  end)

  it("are tables with the graphcomm.error metatable and a one-line tostring", function()
    local _, err = core.encode{ modalites = { "audio" } }
    assert.equal("graphcomm.error", getmetatable(err).__name)
    assert.equal("graphcomm: validation failed: 1 error: modalites: unknown property (did you mean 'modalities'?)",
                 tostring(err))
    assert.equal(1, #err.errors)
    assert.same({ path = "modalites", message = "unknown property (did you mean 'modalities'?)" }, err.errors[1])
  end)

  it("summarise the first ten in the message, and count the rest", function()
    local t = {}
    for i = 1, 12 do t["bad" .. i] = i end
    local _, err = core.encode(t)
    assert.equal(12, #err.errors)
    assert.matches("^12 errors: ", err.message)
    assert.matches("; %.%.%. and 2 more$", err.message)
    assert.is_nil(tostring(err):find("\n"))
  end)

  it("stop listing after 100 but say how many more", function()
    local t = {}
    for i = 1, 150 do t[i] = { id = i } end
    local _, err = core.encode{ segments = t }
    assert.equal(101, #err.errors)
    assert.equal("... and 50 more errors not listed", err.errors[101].message)
    assert.matches("^150 errors: ", err.message)
  end)

  it("come back from session and normalize the same way", function()
    local s, err = core.session{ id = 1 }
    assert.is_nil(s)
    assert.equal("id: expected a string, got 1", err.errors[1].path .. ": " .. err.errors[1].message)
    local n, err2 = core.normalize{ id = 1 }
    assert.is_nil(n)
    assert.equal("validation", err2.kind)
  end)
end)

describe("core.error", function()
  it("sets the metatable and returns the same table", function()
    local t = { kind = "transport", message = "connection refused" }
    assert.equal(t, core.error(t))
    assert.equal("graphcomm.error", getmetatable(t).__name)
  end)

  it("reads well in one line for every kind", function()
    assert.equal("graphcomm: http 405 MethodNotAllowed: Method not allowed. (request-id 1a2b)",
                 tostring(core.error{ kind = "http", status = 405, code = "MethodNotAllowed",
                                      message = "Method not allowed.", request_id = "1a2b" }))
    assert.equal("graphcomm: http 503", tostring(core.error{ kind = "http", status = 503 }))
    assert.equal("graphcomm: transport: Couldn't connect to server",
                 tostring(core.error{ kind = "transport", message = "Couldn't connect to server" }))
    assert.equal("graphcomm: auth: invalid_client: AADSTS7000215: Invalid client secret",
                 tostring(core.error{ kind = "auth", code = "invalid_client", message = "AADSTS7000215: Invalid client secret" }))
    assert.equal("graphcomm: declined: confirm returned false",
                 tostring(core.error{ kind = "declined", message = "confirm returned false" }))
    assert.equal("graphcomm: validation failed: 2 errors: a.b: bad; top level",
                 tostring(core.error{ kind = "validation", errors = { { path = "a.b", message = "bad" },
                                                                      { path = "", message = "top level" } } }))
    assert.equal("graphcomm: error: (no message)", tostring(core.error{}))
  end)

  it("raises for a non-table", function()
    assert.has_error(function() core.error("x") end)
  end)
end)

describe("wrong argument types", function()
  it("raise, as the Lua C API does", function()
    for _, fn in ipairs{ core.encode, core.session, core.normalize, require("graphcomm").session } do
      local ok, msg = pcall(fn, 42)
      assert.is_false(ok)
      assert.matches("bad argument #1", msg)
      assert.matches("table expected, got number", msg)
      ok, msg = pcall(fn, {}, "opts")
      assert.is_false(ok)
      assert.matches("bad argument #2", msg)
    end
  end)

  it("raise for bad options", function()
    assert.has_error(function() core.encode({}, { allow_unknown = "yes" }) end)
    assert.has_error(function() core.encode({}, { max_bytes = -1 }) end)
    assert.has_error(function() core.encode({}, { max_bytes = "10" }) end)
    assert.has_error(function() core.encode({}, { type = "nosuchtype" }) end)
    assert.has_error(function() core.encode({}, { odata_type = 1 }) end)
  end)
end)
