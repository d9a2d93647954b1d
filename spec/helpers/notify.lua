-- spec/helpers/notify.lua: what the notification specs share: bounded polling on an
-- emulator's observable state, its delivery log and its test sink.
--   notify.wait_for(what, f [, tries])  f() until it returns a true value (bounded: 200
--                                       tries 0.05 s apart), returns that value, else errors
--   notify.deliveries(e [, kind])       the delivery log entries (kind = change|lifecycle|validation)
--   notify.sink_url(e [, query])        the emulator's own receiver, with its modes
--   notify.received(e)                  what the sink received (decoded bodies)
--   notify.expiry(minutes)              a DateTimeOffset that many minutes from now
--   notify.start_example(e, opts)       examples/openresty/notify/run start against e:
--     opts = { client_state =, dir =, port =, max_tries =, dry_run =, handler =, env = {} }
--     -> { url, dir, port, stop([kill]), remove(), status(), log() }
--   notify.patch_counts(e)              PATCHes of sessions in e's log: { [path] = n }, total
--   notify.open_sessions(client, crid)  how many of the record's sessions have no endDateTime
--   notify.emulator_and_client()        a private emulator and a client on it (setup)
--   notify.finish(e, c)                 closes the client, stops the emulator (teardown)
local core = require "graphcomm.core"
local emulator = require "helpers.emulator"

local q = emulator.shell_quote
local RUN = emulator.root .. "/examples/openresty/notify/run"

local M = {}

function M.wait_for(what, f, tries)
  for _ = 1, tries or 200 do
    local v = f()
    if v then return v end
    core.sleep(0.05)
  end
  error("timed out waiting for " .. what, 2)
end

function M.deliveries(e, kind)
  local out = {}
  for _, d in ipairs(e:control("GET", "notifications")) do
    if kind == nil or d.kind == kind then out[#out + 1] = d end
  end
  return out
end

function M.sink_url(e, query)
  return e.base_url .. "/_emulator/notifications/sink" .. (query and ("?" .. query) or "")
end

function M.received(e) return e:control("GET", "notifications/sink") end

function M.expiry(minutes)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + math.floor(minutes * 60))
end

local function sh(cmd)
  local rc, out = emulator.sh(cmd)
  return out, rc == 0
end

local LUA_PID = sh("echo $PPID"):match("%d+")

local function example(dir, port, out)
  local ex = { url = out:match("URL=(%S+)"), dir = dir, port = port }
  function ex.stop(kill)
    local sout, sok = sh("GRAPHCOMM_NOTIFY_DIR=" .. q(dir) .. " " .. q(RUN) .. " stop"
      .. (kill and " --kill" or "") .. " 2>&1")
    assert(sok, sout)
  end
  function ex.remove() sh("rm -rf " .. q(dir)) end
  function ex.status()
    local status, _, body = emulator.http("GET", ex.url .. "/status")
    assert(status == 200, "GET /status: " .. tostring(status))
    return emulator.decode(body)
  end
  function ex.log()
    local f = assert(io.open(dir .. "/logs/error.log"))
    local text = f:read("*a")
    f:close()
    return text
  end
  return ex
end

-- Starts the example (the same dir and port again when given); a random port is tried
-- again when taken.
function M.start_example(e, opts)
  local dir = opts.dir or sh("mktemp -d"):match("%S+")
  local env = { "GRAPHCOMM_NOTIFY_DIR=" .. q(dir), "GRAPHCOMM_TOKEN=" .. q(e.token),
    "NOTIFY_CLIENT_STATE=" .. q(opts.client_state), "NOTIFY_MAX_TRIES=" .. (opts.max_tries or 5),
    "NOTIFY_RETRY_DELAY=0.1" }
  if opts.dry_run then env[#env + 1] = "NOTIFY_DRY_RUN=1" end
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. q(v) end
  local handler = opts.handler and (" --handler " .. q(opts.handler)) or ""
  for _ = 1, 20 do
    local port = opts.port or (20000 + math.random(0, 9999))
    local out, ok = sh("env -u AZURE_TENANT_ID -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET "
      .. table.concat(env, " ") .. " " .. q(RUN) .. " start " .. q(e.base_url) .. " --port " .. port
      .. handler .. " --watch-pid " .. LUA_PID .. " 2>&1")
    if ok then return example(dir, port, out) end
    if opts.port or not out:find("Address already in use", 1, true) then error(out, 2) end
  end
  error("no free port", 2)
end

function M.emulator_and_client()
  local e = emulator.start()
  return e, require("helpers.client").connect(e)
end

function M.finish(e, c)
  c:close()
  e:stop()
end

function M.patch_counts(e)
  local counts, total = {}, 0
  for _, r in ipairs(e:requests("match=/sessions/")) do
    if r.method == "PATCH" then
      counts[r.path] = (counts[r.path] or 0) + 1
      total = total + 1
    end
  end
  return counts, total
end

function M.open_sessions(client, crid)
  local rec = assert(client:get_call_record(crid, { expand = "sessions" }))
  local n = 0
  for _, s in ipairs(rec.sessions) do if s.endDateTime == nil then n = n + 1 end end
  return n
end

return M
