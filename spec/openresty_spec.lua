-- spec/openresty_spec.lua: the OpenResty example (examples/openresty) on Debian's nginx,
-- against the emulator: concurrent fixes, Graph errors passed on, validation before
-- anything is sent, and a slow Graph (a delay, a Retry-After wait, a timer) that does
-- not hold up the single worker; credentials from AZURE_* reach the workers.
local core = require "graphcomm.core"
local emulator = require "helpers.emulator"

local format, concat = string.format, table.concat
local q, ROOT = emulator.shell_quote, emulator.root
local decode = emulator.decode
local cjson_encode = require("cjson").encode

-- Runs a shell command; returns its standard output and whether it exited 0.
local function sh(cmd)
  local p = assert(io.popen(cmd .. "; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.-)rc=(%d+)%s*$")
  return body, rc == "0"
end

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local LUA_PID = sh("echo $PPID"):match("%d+")

-- One request to the example: status, body text, seconds taken.
local function http(method, url, body, ctype)
  local t0 = core.now()
  local status, _, text = emulator.http(method, url, body,
    body and { ["Content-Type"] = ctype or "application/json" } or nil)
  return status, text, core.now() - t0
end

-- A POST started in the background; :wait() -> status, seconds taken.
local function post_in_background(url, body)
  local path = tmpfile(body)
  local p = assert(io.popen(format("curl -sS --noproxy '*' --max-time 30 -o /dev/null -w '%%{http_code} %%{time_total}' " ..
    "-X POST -H 'Content-Type: application/json' --data-binary @%s %s", q(path), q(url))))
  return { wait = function()
    local out = p:read("*a")
    p:close()
    os.remove(path)
    local status, secs = out:match("^(%d+) ([%d.]+)$")
    return tonumber(status), tonumber(secs)
  end }
end

-- Polls until f() is true (bounded: 10 s).
local function wait_until(what, f)
  local deadline = core.now() + 10
  while not f() do
    assert(core.now() < deadline, "timed out waiting: " .. what)
    core.sleep(0.02)
  end
end

-- examples/openresty/run with exactly the credentials given (none from the caller's shell).
local function run(args, env)
  local cmd = { "env -u GRAPHCOMM_TOKEN -u AZURE_TENANT_ID -u AZURE_CLIENT_ID",
    "-u AZURE_CLIENT_SECRET -u AZURE_CLIENT_CERTIFICATE_PATH -u AZURE_AUTHORITY_HOST",
    "-u GRAPHCOMM_CA_FILE -u GRAPHCOMM_OPENRESTY_DIR" }
  for k, v in pairs(env or {}) do cmd[#cmd + 1] = k .. "=" .. q(v) end
  cmd[#cmd + 1] = q(ROOT .. "/examples/openresty/run") .. " " .. args .. " 2>&1"
  return sh(concat(cmd, " "))
end

-- Starts the example against base_url; returns { url, dir, stop }.
local function start_example(base_url, env)
  local out, ok = run("start " .. q(base_url) .. " --watch-pid " .. LUA_PID, env)
  assert(ok, out)
  local ex = { url = out:match("URL=(%S+)"), dir = out:match("GRAPHCOMM_OPENRESTY_DIR=(%S+)") }
  assert(ex.url and ex.dir, out)
  function ex.stop()
    local sout, sok = run("stop", { GRAPHCOMM_OPENRESTY_DIR = ex.dir })
    assert(sok, sout)
  end
  return ex
end

describe("examples/openresty", function()
  local emu, ex, crid, sids

  local function requests(match)
    return emu:requests(match and ("match=" .. match))
  end

  local function fix_url(sid, extra)
    return format("%s/fix?callRecordId=%s&sessionId=%s%s", ex.url, crid, sid, extra or "")
  end

  local function modalities(sid)
    local status, _, text = emu:request("GET", format(
      "/v1.0/communications/callRecords/%s/sessions/%s", crid, sid))
    assert.are.equal(200, status, text)
    return concat(decode(text).modalities, ",")
  end

  setup(function()
    emu = emulator.start{}
    local made = emu:control("POST", "callRecords", { sessions = 50 })
    crid, sids = made.id, made.sessionIds
    ex = start_example(emu.base_url, { GRAPHCOMM_TOKEN = emu.token })
  end)

  teardown(function()
    if ex then ex.stop() end
    if emu then emu.stop() end
  end)

  before_each(function() emu:clear_requests() end)

  it("runs its workers unprivileged when started by root, from its own prefix", function()
    local pid = assert(io.open(ex.dir .. "/logs/nginx.pid")):read("*l")
    local users = sh("ps -o user= --ppid " .. pid)
    assert.is_truthy(users:match("%S"))
    if sh("id -u"):match("%d+") == "0" then
      for user in users:gmatch("%S+") do assert.are.equal("nobody", user) end
    end
    -- the token reaches the workers through `env`, never through a file
    assert.is_false(select(2, sh("grep -rqF " .. q(emu.token) .. " " .. q(ex.dir))))
  end)

  it("starts one worker unless told otherwise; --workers N starts N; stop leaves no process", function()
    local function workers(dir)
      local master = assert(io.open(dir .. "/logs/nginx.pid")):read("*l")
      local pids = {}
      for pid in sh("ps -o pid= --ppid " .. master):gmatch("%d+") do pids[#pids + 1] = pid end
      return master, pids
    end
    assert.are.equal(1, #select(2, workers(ex.dir)))
    local out, ok = run("start " .. q(emu.base_url) .. " --workers 2", { GRAPHCOMM_TOKEN = emu.token })
    local dir = out:match("GRAPHCOMM_OPENRESTY_DIR=(%S+)")
    finally(function() if dir then run("stop", { GRAPHCOMM_OPENRESTY_DIR = dir }) end end)
    assert(ok and dir and out:match("URL=http://127%.0%.0%.1:%d+\n"), out)
    local master, pids = workers(dir)
    assert.are.equal(2, #pids)
    local sout, sok = run("stop", { GRAPHCOMM_OPENRESTY_DIR = dir })
    assert(sok, sout)
    pids[#pids + 1] = master
    for _, pid in ipairs(pids) do
      -- gone, or a zombie that has exited and waits for init to reap it
      assert.is_false(select(2, sh("test -e /proc/" .. pid .. " && ! grep -q '^[^)]*) Z' /proc/" .. pid .. "/stat")),
                      "process " .. pid .. " is still running")
    end
    local f = io.open(dir .. "/logs/nginx.pid")
    if f then f:close() end
    assert.is_nil(f)
  end)

  it("--watch-pid outlives a signal to the caller's process group (a killed job) and stops nginx", function()
    local out = os.tmpname()
    finally(function() os.remove(out) end)
    local function read_out()
      local f = io.open(out)
      local text = f and f:read("*a") or ""
      if f then f:close() end
      return text
    end
    -- a new session (setsid): its pgid is the shell's pid; the job is that whole group
    sh(format("setsid sh -c \"echo pgid=\\$\\$ >%s; sleep 60 & env -u GRAPHCOMM_OPENRESTY_DIR GRAPHCOMM_TOKEN=%s " ..
              "%s start %s --watch-pid \\$! >>%s 2>&1; wait\" >/dev/null 2>&1 & true",
              q(out), q(emu.token), q(ROOT .. "/examples/openresty/run"), q(emu.base_url), q(out)))
    wait_until("the example to start", function() return read_out():find("GRAPHCOMM_OPENRESTY_DIR=", 1, true) end)
    local text = read_out()
    local pgid, dir = text:match("pgid=(%d+)"), text:match("GRAPHCOMM_OPENRESTY_DIR=(%S+)")
    local master = assert(io.open(dir .. "/logs/nginx.pid")):read("*l")
    local function running(pid)   -- not a zombie that has exited and waits for init
      return select(2, sh("test -e /proc/" .. pid .. " && ! grep -q '^[^)]*) Z' /proc/" .. pid .. "/stat"))
    end
    assert.is_true(running(master))
    assert.is_true(select(2, sh("kill -TERM -" .. pgid)))
    wait_until("nginx to stop", function() return not running(master) end)
  end)

  it("applies 40 concurrent fixes, each exactly once", function()
    local body = tmpfile('{"modalities":["audio","video"],"isTest":true}')
    local cmd = { "curl -sS --noproxy '*' --max-time 30 --no-progress-meter --parallel --parallel-immediate --parallel-max 40",
      "-X POST -H 'Content-Type: application/json' --data-binary @" .. q(body),
      "-w '%{http_code} %{url_effective}\\n'" }
    for i = 1, 40 do cmd[#cmd + 1] = "-o /dev/null " .. q(fix_url(sids[i])) end
    local out, ok = sh(concat(cmd, " "))
    os.remove(body)
    assert(ok, out)
    local answered = 0
    for status in out:gmatch("(%d+) http") do
      assert.are.equal("204", status, out)
      answered = answered + 1
    end
    assert.are.equal(40, answered)

    local seen, patches = {}, 0
    for _, r in ipairs(requests(crid)) do
      assert.are.equal("PATCH", r.method)
      local sid = r.path:match("/sessions/([^/?]+)$")
      assert.is_nil(seen[sid], "twice: " .. tostring(sid))
      seen[sid] = true
      patches = patches + 1
      assert.are.same({ modalities = { "audio", "video" }, isTest = true }, decode(r.body))
    end
    assert.are.equal(40, patches)
    for i = 1, 40 do assert.is_true(seen[sids[i]], sids[i]) end
    assert.are.equal("audio,video", modalities(sids[1]))
  end)

  it("queues fixes beyond the 100 thread VMs of a worker instead of failing them", function()
    local big = emu:control("POST", "callRecords", { sessions = 120 })
    emu:fault{ match = big.id, delay_ms = 200, count = 120 }
    local body = tmpfile('{"modalities":["audio"]}')
    local cmd = { "curl -sS --noproxy '*' --max-time 30 --no-progress-meter --parallel",
      "--parallel-immediate --parallel-max 120 -X POST -H 'Content-Type: application/json'",
      "--data-binary @" .. q(body), "-w '%{http_code}\\n'" }
    for i = 1, 120 do
      cmd[#cmd + 1] = "-o /dev/null " .. q(format("%s/fix?callRecordId=%s&sessionId=%s",
        ex.url, big.id, big.sessionIds[i]))
    end
    local out, ok = sh(concat(cmd, " "))
    os.remove(body)
    assert(ok, out)
    local n = 0
    for status in out:gmatch("%d+") do
      assert.are.equal("204", status, out)
      n = n + 1
    end
    assert.are.equal(120, n)
    assert.are.equal(120, #requests(big.id))
  end)

  it("runs update_sessions{ concurrency = 16 } with 16 requests really in flight", function()
    local rec = emu:control("POST", "callRecords", { sessions = 32 })
    emu:fault{ match = rec.id, method = "PATCH", delay_ms = 400, count = 32 }
    local body = cjson_encode{ sessionIds = rec.sessionIds, body = { modalities = { "audio" } } }
    local status, text, secs = http("POST", ex.url .. "/bulk?concurrency=16&callRecordId=" .. rec.id, body)
    assert.are.equal(200, status, text)
    local s = decode(text)
    assert.are.equal(32, s.ok, text)
    -- one at a time would take 32 x 0.4 s; two waves of 16 take about 0.8 s
    assert.is_true(secs < 4, "took " .. secs .. " s")
    -- the emulator logs each PATCH as it arrives: 16 arrived within one delay
    local times = {}
    for _, r in ipairs(requests(rec.id)) do times[#times + 1] = r.time end
    table.sort(times)
    assert.are.equal(32, #times)
    local most = 0
    for i = 1, #times do
      local n = 0
      for j = i, #times do if times[j] - times[i] < 0.35 then n = n + 1 end end
      if n > most then most = n end
    end
    assert.are.equal(16, most)
  end)

  it("passes Graph's error on, with Graph's status, as JSON", function()
    local status, text = http("POST", fix_url("no-such-session"), '{"modalities":["audio"]}')
    assert.are.equal(404, status, text)
    local e = decode(text).error
    assert.are.equal("NotFound", e.code)
    assert.is_truthy(e.message:find("no-such-session", 1, true))
    assert.is_string(e.innerError["request-id"])
    assert.are.equal(1, #requests("no-such-session"))
  end)

  it("refuses an invalid body with every problem's path, before anything is sent", function()
    local status, text = http("POST", fix_url(sids[41]),
      '{"modalites":["audio"],"startDateTime":"yesterday","segments":[{"id":7}]}')
    assert.are.equal(400, status, text)
    local e = decode(text).error
    assert.are.equal("ValidationFailed", e.code)
    local paths = {}
    for _, item in ipairs(e.errors) do paths[item.path] = item.message end
    assert.is_truthy(paths.modalites and paths.modalites:find("modalities", 1, true))
    assert.is_string(paths.startDateTime)
    assert.is_string(paths["segments[1].id"])
    assert.are.same({}, requests())   -- nothing reached Graph
  end)

  it("refuses other media types, non-objects, broken JSON and other methods", function()
    local status, text = http("POST", fix_url(sids[41]), '{"modalities":["audio"]}', "text/plain")
    assert.are.equal(415, status, text)
    status, text = http("POST", fix_url(sids[41]), '["audio"]')
    assert.are.equal(400, status, text)
    status, text = http("POST", fix_url(sids[41]), '{"modalities":')
    assert.are.equal(400, status, text)
    assert.are.equal("BadRequest", decode(text).error.code)
    status = http("POST", ex.url .. "/fix?callRecordId=" .. crid, '{"modalities":["audio"]}')
    assert.are.equal(400, status)
    status = http("GET", fix_url(sids[41]))
    assert.are.equal(405, status)
    assert.are.same({}, requests())
  end)

  it("keeps serving while one fix waits 5 s on a slow Graph (one worker)", function()
    local slow, quick = sids[41], sids[42]
    emu:fault{ match = slow, delay_ms = 5000, count = 1 }
    local bg = post_in_background(fix_url(slow), '{"modalities":["audio","video"]}')
    wait_until("the slow fix reaches the emulator", function() return #requests(slow) > 0 end)
    local status, text, secs = http("POST", fix_url(quick), '{"modalities":["audio"]}')
    assert.are.equal(204, status, text)
    assert.is_true(secs < 0.5, "the second fix took " .. secs .. " s")
    local slow_status, slow_secs = bg.wait()
    assert.are.equal(204, slow_status)
    assert.is_true(slow_secs >= 4.9, "the slow fix took only " .. tostring(slow_secs) .. " s")
    assert.are.equal("audio,video", modalities(slow))
  end)

  it("waits out Retry-After with ngx.sleep, serving others meanwhile, then retries", function()
    local throttled, quick = sids[43], sids[44]
    emu:fault{ match = throttled, status = 429, retry_after = "1", count = 1 }
    local bg = post_in_background(fix_url(throttled), '{"modalities":["video"]}')
    wait_until("the throttled fix is answered 429", function() return #requests(throttled) > 0 end)
    local status, text, secs = http("POST", fix_url(quick), '{"modalities":["audio"]}')
    assert.are.equal(204, status, text)
    assert.is_true(secs < 0.5, "the second fix took " .. secs .. " s")
    local bstatus, bsecs = bg.wait()
    assert.are.equal(204, bstatus)
    assert.is_true(bsecs >= 0.95, "Retry-After: 1 was not waited out: " .. bsecs .. " s")
    local tries = requests(throttled)
    assert.are.equal(2, #tries)
    assert.is_nil(tries[1].headers["retry-attempt"])
    assert.are.equal("1", tries[2].headers["retry-attempt"])
    assert.are.equal(tries[1].headers["client-request-id"], tries[2].headers["client-request-id"])
  end)

  it("follows a redirect, as the libcurl transport does", function()
    local moved = sids[45]
    emu:control("POST", "redirects", { match = moved, status = 307, location = "{path}", count = 1 })
    local status, text = http("POST", fix_url(moved), '{"modalities":["video"]}')
    assert.are.equal(204, status, text)
    local tries = requests(moved)
    assert.are.equal(2, #tries)
    assert.are.equal("Bearer " .. emu.token, tries[2].headers.authorization)
    assert.are.equal("video", modalities(moved))
  end)

  it("answers 202 for an async fix and applies it from a timer without blocking", function()
    local later, quick = sids[46], sids[47]
    emu:fault{ match = later, delay_ms = 1500, count = 1 }
    local status, text, secs = http("POST", fix_url(later, "&async=1"), '{"modalities":["video"]}')
    assert.are.equal(202, status, text)
    assert.is_true(secs < 0.5)
    wait_until("the timer's fix reaches the emulator", function() return #requests(later) > 0 end)
    status, text, secs = http("POST", fix_url(quick), '{"modalities":["audio"]}')
    assert.are.equal(204, status, text)
    assert.is_true(secs < 0.5, "the second fix took " .. secs .. " s")
    wait_until("the timer's fix is applied", function() return modalities(later) == "video" end)
  end)

  it("takes client credentials from AZURE_* and keeps the secret out of its files", function()
    local secret = "s3cret-" .. core.uuid4()
    emu:control("POST", "clients", { tenant = "contoso", client_id = "fixer", client_secret = secret })
    local other = start_example(emu.base_url, { AZURE_TENANT_ID = "contoso",
      AZURE_CLIENT_ID = "fixer", AZURE_CLIENT_SECRET = secret, AZURE_AUTHORITY_HOST = emu.base_url })
    finally(other.stop)
    local url = format("%s/fix?callRecordId=%s&sessionId=%s", other.url, crid, sids[48])
    local status, text = http("POST", url, '{"modalities":["video"]}')
    assert.are.equal(204, status, text)
    local log = requests()
    assert.are.equal("POST", log[1].method)
    assert.are.equal("/contoso/oauth2/v2.0/token", log[1].path)
    assert.are.equal("PATCH", log[2].method)
    assert.are_not.equal("Bearer " .. emu.token, log[2].headers.authorization)
    assert.is_false(select(2, sh("grep -rqF " .. q(secret) .. " " .. q(other.dir))))
  end)

  it("verifies Graph's TLS certificate in the threads, trusting GRAPHCOMM_CA_FILE", function()
    local tls = emulator.start{ tls = true }
    finally(tls.stop)
    local made = tls:control("POST", "callRecords", { sessions = 1 })
    local path = format("/fix?callRecordId=%s&sessionId=%s", made.id, made.sessionIds[1])
    local trusting = start_example(tls.base_url, { GRAPHCOMM_TOKEN = tls.token,
      GRAPHCOMM_CA_FILE = tls.ca_file })
    finally(trusting.stop)
    local status, text = http("POST", trusting.url .. path, '{"modalities":["video"]}')
    assert.are.equal(204, status, text)

    local doubting = start_example(tls.base_url, { GRAPHCOMM_TOKEN = tls.token })
    finally(doubting.stop)
    status, text = http("POST", doubting.url .. path, '{"modalities":["audio"]}')
    assert.are.equal(502, status, text)
    assert.is_truthy(decode(text).error.message:find("certificate", 1, true), text)
    assert.are.equal(1, #tls:requests())   -- only the trusting example's PATCH got through
  end)
end)
