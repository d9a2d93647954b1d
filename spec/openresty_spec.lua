-- spec/openresty_spec.lua: the OpenResty example (examples/openresty) on Debian's nginx,
-- against the emulator: concurrent fixes, a Graph error passed on, validation before
-- anything is sent, and a slow Graph that does not hold up the (single) worker.
local cjson = require "cjson"
local core = require "graphcomm.core"
local emulator = require "helpers.emulator"

local format, concat = string.format, table.concat
local q, ROOT = emulator.shell_quote, emulator.root

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

-- One POST (or other method) to the example: status, body text, seconds taken.
local function http(method, url, body, ctype)
  local t0 = core.now()
  local status, _, text = emulator.http(method, url, body,
    body and { ["Content-Type"] = ctype or "application/json" } or nil)
  return status, text, core.now() - t0
end

local decode = emulator.decode

describe("examples/openresty", function()
  local emu, url, dir, crid, sids

  local function requests(match)
    return emu:requests(match and ("match=" .. match))
  end

  local function fix_url(sid, record)
    return format("%s/fix?callRecordId=%s&sessionId=%s", url, record or crid, sid)
  end

  local function run(args, extra_env)
    -- Only the emulator's token: no AZURE_* credentials from the caller's shell.
    local env = { "env -u AZURE_TENANT_ID -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET",
      "-u AZURE_CLIENT_CERTIFICATE_PATH -u GRAPHCOMM_CA_FILE",
      "GRAPHCOMM_TOKEN=" .. q(emu.token), extra_env or "" }
    return sh(concat(env, " ") .. " " .. q(ROOT .. "/examples/openresty/run") .. " " .. args .. " 2>&1")
  end

  setup(function()
    emu = emulator.start{}
    local made = emu:control("POST", "callRecords", { sessions = 42 })
    crid, sids = made.id, made.sessionIds
    local out, ok = run("start " .. q(emu.base_url) .. " --watch-pid " .. sh("echo $PPID"):match("%d+"))
    assert(ok, out)
    url = out:match("URL=(%S+)")
    dir = out:match("GRAPHCOMM_OPENRESTY_DIR=(%S+)")
    assert(url and dir, out)
  end)

  teardown(function()
    if dir then
      local out, ok = run("stop", "GRAPHCOMM_OPENRESTY_DIR=" .. q(dir))
      assert(ok, out)
    end
    if emu then emu.stop() end
  end)

  before_each(function() emu:clear_requests() end)

  it("runs as the unprivileged user when started by root, and stops cleanly", function()
    local pid = assert(io.open(dir .. "/logs/nginx.pid")):read("*l")
    local users = sh("ps -o user= --ppid " .. pid)
    assert.is_truthy(users:match("%S"))
    local me = sh("id -u"):match("%d+")
    if me == "0" then
      for user in users:gmatch("%S+") do assert.are.equal("nobody", user) end
    end
  end)

  it("applies 40 concurrent fixes, each exactly once", function()
    local body = tmpfile('{"modalities":["audio","video"],"isTest":true}')
    local cmd = { "curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max 40 -X POST",
      "-H 'Content-Type: application/json' --data-binary @" .. q(body),
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
    -- neither the bad body nor anything else reached Graph
    assert.are.same({}, requests())
  end)

  it("refuses what is not a JSON object, and bodies that are not JSON", function()
    local status, text = http("POST", fix_url(sids[41]), '{"modalities":["audio"]}', "text/plain")
    assert.are.equal(415, status, text)
    status, text = http("POST", fix_url(sids[41]), '["audio"]')
    assert.are.equal(400, status, text)
    status, text = http("POST", fix_url(sids[41]), '{"modalities":')
    assert.are.equal(400, status, text)
    assert.are.equal("BadRequest", decode(text).error.code)
    status = http("GET", fix_url(sids[41]))
    assert.are.equal(405, status)
    assert.are.same({}, requests())
  end)

  it("keeps serving while one fix waits 5 s on a slow Graph (one worker)", function()
    local slow, quick = sids[41], sids[42]
    emu:fault{ match = slow, delay_ms = 5000, count = 1 }
    local body = tmpfile('{"modalities":["audio"]}')
    local background = assert(io.popen(format(
      "curl -sS -o /dev/null -w '%%{http_code} %%{time_total}' -X POST " ..
      "-H 'Content-Type: application/json' --data-binary @%s %s", q(body), q(fix_url(slow)))))
    -- Wait until the emulator holds the slow PATCH (bounded: 10 s).
    local deadline = core.now() + 10
    while #requests(slow) == 0 do
      assert(core.now() < deadline, "the slow fix never reached the emulator")
      core.sleep(0.02)
    end
    local status, text, secs = http("POST", fix_url(quick), '{"modalities":["audio"]}')
    assert.are.equal(204, status, text)
    assert.is_true(secs < 0.5, "the second fix took " .. secs .. " s")

    local out = background:read("*a")
    background:close()
    os.remove(body)
    local slow_status, slow_secs = out:match("^(%d+) ([%d.]+)$")
    assert.are.equal("204", slow_status, out)
    assert.is_true(tonumber(slow_secs) >= 4.9, "the slow fix took only " .. tostring(slow_secs) .. " s")
  end)
end)
