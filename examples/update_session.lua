-- examples/update_session.lua: the update call, end to end (what `make demo` runs).
--
--   eval "$(emulator/start)"; lua5.4 examples/update_session.lua; emulator/stop
--
-- Connects from the environment (GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN or AZURE_*,
-- GRAPHCOMM_CA_FILE), picks a session of the first call record, shows the request a
-- what-if would send, updates the session, reads it back, and shows how bad input is
-- refused, with paths, before anything is sent.
local here = debug.getinfo(1, "S").source:match("^@(.*)/examples/[^/]*$") or "."
local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
package.path = here .. "/lua/?.lua;" .. package.path
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or (here .. "/build/" .. flavour)) .. "/?.so;"
  .. package.cpath

local graphcomm = require "graphcomm"
local cjson = require "cjson"

local function say(fmt, ...) io.write(string.format(fmt, ...), "\n") end

local client, err = graphcomm.connect()
if not client then
  say("cannot connect: %s", tostring(err))
  say("set GRAPHCOMM_BASE_URL and GRAPHCOMM_TOKEN (eval \"$(emulator/start)\" does)")
  os.exit(2)
end

-- 1. Pick a session to fix: the first session of the first call record.
local records = assert(client:request{ path = "/communications/callRecords",
  query = { select = "id,type,startDateTime", top = 5 } })
local record = cjson.decode(records.body).value[1]
local sessions = assert(client:request{
  path = "/communications/callRecords/" .. record.id .. "/sessions", query = { top = 1 } })
local session = cjson.decode(sessions.body).value[1]
say("call record %s (%s, started %s)", record.id, record.type, record.startDateTime)
say("session %s: modalities %s, ended %s", session.id,
  table.concat(session.modalities or {}, ","), tostring(session.endDateTime))

-- 2. The fix, first as a what-if: the request, token redacted; nothing is sent.
local fix = { modalities = { "audio", "video" }, endDateTime = os.time() - 60,
  failureInfo = { stage = "midcall", reason = "fixed by examples/update_session.lua" } }
local req = client:update_session(record.id, session.id, fix, { what_if = true })
say("\nwhat-if:\n  %s %s", req.method, req.url)
local names = {}
for name in pairs(req.headers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do say("  %s: %s", name, req.headers[name]) end
say("  %s", req.body)

-- 3. The update itself, in the cmdlet's single-table form.
local ok, info = client:update_session{ CallRecordId = record.id, SessionId = session.id,
  Modalities = fix.modalities, EndDateTime = fix.endDateTime, FailureInfo = fix.failureInfo }
if ok then
  say("\nupdated: HTTP %d, request-id %s, client-request-id %s", info.status,
    tostring(info.request_id), tostring(info.client_request_id))
  local after = cjson.decode(assert(client:request{ path = "/communications/callRecords/"
    .. record.id .. "/sessions/" .. session.id }).body)
  say("read back: modalities %s, ended %s, failure %s", table.concat(after.modalities, ","),
    after.endDateTime, after.failureInfo and after.failureInfo.reason or "none")
else
  -- Against the real service this is the expected answer: sessions are read-only there.
  say("\nnot updated: %s", tostring(info))
end

-- 4. Bad input is refused before anything is sent, every problem with its path.
local _, verr = client:update_session(record.id, session.id, {
  modalites = { "audio" },
  segments = { { media = { { streams = { { averageJitter = "fast" } } } } } },
  endDateTime = "2024-02-30T10:00:00Z",
})
say("\nvalidation (%s): %s", verr.kind, tostring(verr))
for _, e in ipairs(verr.errors) do say("  %-45s %s", e.path, e.message) end

-- 5. Mixing BodyParameter with expanded properties is refused, as in PowerShell.
local _, merr = client:update_session{ CallRecordId = record.id, SessionId = session.id,
  BodyParameter = fix, IsTest = true }
say("\nparameter sets: %s", tostring(merr))

client:close()
