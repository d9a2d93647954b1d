-- emulator/start and emulator/stop as a shell uses them: eval, several instances at once,
-- its own prefix directory, unprivileged workers, no process left behind.
local emu = require "helpers.emulator"

local ROOT = emu.root
local q = emu.shell_quote

local sh = emu.sh

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- pids of the processes holding a file under an instance's directory open (its nginx
-- master and workers all hold the error log).
local function processes_with(dir)
  local _, out = sh("find /proc/[0-9]*/fd -lname " .. q(dir .. "/*") .. " 2>/dev/null | cut -d/ -f3 | sort -u")
  local pids = {}
  for pid in out:gmatch("(%d+)\n") do pids[#pids + 1] = pid end
  return pids
end

-- it finds a running instance's processes (so that finding none means something)
local function self_test()
  local e = emu.start()
  local n = #processes_with(e.dir)
  e:stop()
  return n
end

local function until_true(fn, seconds)   -- polls a condition (a deadline, not a guess)
  local deadline = os.time() + seconds
  repeat
    if fn() then return true end
    sh("sleep 0.05")
  until os.time() > deadline
  return fn()
end

describe("emulator/start and emulator/stop", function()
  it("readies a shell with eval, serves, and stops leaving nothing behind", function()
    local rc, out = sh("cd " .. q(ROOT) .. [[ && eval "$(emulator/start)" && env | grep '^GRAPHCOMM_' | sort &&
      curl -s -o /dev/null -w 'status=%{http_code}\n' -H "Authorization: Bearer $GRAPHCOMM_TOKEN" "$GRAPHCOMM_BASE_URL/v1.0/communications/callRecords" &&
      echo "pid=$(cat "$GRAPHCOMM_EMULATOR_DIR/nginx.pid")" && emulator/stop && echo stopped]])
    assert.equal(0, rc, out)
    assert.matches("GRAPHCOMM_BASE_URL=http://127%.0%.0%.1:%d+\n", out)
    assert.matches("GRAPHCOMM_TOKEN=%S+\n", out)
    assert.matches("GRAPHCOMM_H2C_URL=http://127%.0%.0%.1:%d+\n", out)
    assert.matches("status=200\n", out)
    assert.matches("stopped", out)
    assert.is_true(self_test() >= 2)
    local dir = out:match("GRAPHCOMM_EMULATOR_DIR=(%S+)\n")
    local pid = out:match("pid=(%d+)")
    assert.is_false(exists(dir .. "/conf/nginx.conf"))
    assert.same({}, processes_with(dir))
    local state = sh("test -e /proc/" .. pid .. " && ! grep -q '^[^)]*) Z' /proc/" .. pid .. "/stat")
    assert.not_equal(0, state, "the master is gone (or a zombie waiting to be reaped)")
    -- the port is closed
    local port = out:match("GRAPHCOMM_BASE_URL=http://127%.0%.0%.1:(%d+)")
    local closed = sh("curl -s -o /dev/null --max-time 2 http://127.0.0.1:" .. port .. "/")
    assert.equal(7, closed)   -- curl: failed to connect
  end)

  it("runs several instances at once, each with its own port, directory and state", function()
    local a, b = emu.start(), emu.start()
    finally(function() a:stop(); b:stop() end)
    assert.not_equal(a.base_url, b.base_url)
    assert.not_equal(a.dir, b.dir)
    assert.not_equal(a.token, b.token)
    local path = "/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5/sessions"
    local sid = emu.decode(select(3, a:request("GET", path .. "?$select=id"))).value[1].id
    assert.equal(204, (a:request("PATCH", path .. "/" .. sid, '{"isTest":true}', { ["Content-Type"] = "application/json" })))
    assert.is_true(emu.decode(select(3, a:request("GET", path .. "/" .. sid))).isTest)
    assert.is_false(emu.decode(select(3, b:request("GET", path .. "/" .. sid))).isTest)
    -- each accepts only its own startup token
    assert.equal(401, (b:request("GET", path, nil, { Authorization = "Bearer " .. a.token })))
  end)

  it("keeps everything under its prefix directory and runs its workers unprivileged", function()
    local e = emu.start()
    finally(function() e:stop() end)
    local f = assert(io.open(e.dir .. "/conf/nginx.conf"))
    local conf = f:read("*a")
    f:close()
    assert.is_nil(conf:find("/etc/nginx", 1, true))
    assert.is_nil(conf:find("/var/", 1, true))
    for path in conf:gmatch("[%s\"](/[%w%._/%-]+)") do
      local ok = path:sub(1, #e.dir) == e.dir or path:find("^/usr/lib/nginx/modules/") ~= nil
        or path:find("^/_") ~= nil     -- locations, not files
      assert.is_true(ok, path)
    end
    assert.is_truthy(conf:find("access_log off", 1, true))
    assert.is_true(exists(e.dir .. "/logs/error.log"))
    assert.is_true(exists(e.dir .. "/nginx.pid"))
    local pid = io.open(e.dir .. "/nginx.pid"):read("*l")
    local _, uid = sh("id -u")
    if uid:match("^0") then
      local _, users = sh("for s in /proc/[0-9]*/status; do awk '/^PPid:/{p=$2} /^Uid:/{u=$2} END{if (p==" .. pid ..
        ") print u}' $s 2>/dev/null; done")
      local _, nobody = sh("id -u nobody")
      assert.matches("^%d+", users)
      for u in users:gmatch("%d+") do assert.equal(nobody:match("%d+"), u) end
    end
  end)

  it("starts from a private (0700) copy of the repository: workers read only the prefix copies (Lua, fixtures, metadata)", function()
    local _, tmp = sh("mktemp -d")
    tmp = tmp:gsub("%s+$", "")
    finally(function() sh("rm -rf " .. q(tmp)) end)
    local rc, out = sh(("chmod 0700 %s && cp -R %s %s && cp -R %s %s && cd %s/emulator && eval \"$(./start)\" && " ..
      "curl -s -o /dev/null -w 'status=%%{http_code}\\n' -H \"Authorization: Bearer $GRAPHCOMM_TOKEN\" " ..
      "\"$GRAPHCOMM_BASE_URL/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5?\\$expand=sessions\" && " ..
      "./stop"):format(q(tmp), q(ROOT .. "/emulator"), q(tmp .. "/emulator"), q(ROOT .. "/reference"),
      q(tmp .. "/reference"), q(tmp)))
    assert.equal(0, rc, out)
    assert.matches("status=200", out)
  end)

  it("writes nothing outside its prefix: a fresh TMPDIR, HOME and working directory are empty after stop", function()
    local _, tmp = sh("mktemp -d")
    tmp = tmp:gsub("%s+$", "")
    finally(function() sh("rm -rf " .. q(tmp)) end)
    local rc, out = sh(("mkdir %s/t %s/h %s/w && cd %s/w && export TMPDIR=%s/t HOME=%s/h && " ..
      "eval \"$(%s --tls --read-only)\" && ls -A \"$TMPDIR\" && " ..
      "curl -s -o /dev/null -w 'status=%%{http_code}\\n' --cacert \"$GRAPHCOMM_CA_FILE\" -X PATCH " ..
      "-H 'Content-Type: application/json' -H \"Authorization: Bearer $GRAPHCOMM_TOKEN\" -d '{\"isTest\":true}' " ..
      "\"$GRAPHCOMM_BASE_URL/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5/sessions/x\" && " ..
      "%s && echo left: && find \"$TMPDIR\" \"$HOME\" . -mindepth 1")
      :format(q(tmp), q(tmp), q(tmp), q(tmp), q(tmp), q(tmp), q(ROOT .. "/emulator/start"), q(ROOT .. "/emulator/stop")))
    assert.equal(0, rc, out)
    assert.matches("^graphcomm%-emulator%.%w+\n", out)      -- the prefix was made in TMPDIR
    assert.matches("status=405\n", out)                    -- --read-only, over TLS
    local left = out:match("left:\n(.*)$")
    assert.equal("", left)
  end)

  it("takes --port, and fails loudly (no settings printed) when it cannot start", function()
    local e = emu.start()
    local port = e.base_url:match(":(%d+)$")
    e:stop()
    local again = emu.start{ port = tonumber(port) }
    finally(function() again:stop() end)
    assert.equal(e.base_url, again.base_url)
    -- the port is taken now
    local rc, out = sh(q(ROOT .. "/emulator/start") .. " --port " .. port)
    assert.not_equal(0, rc)
    assert.is_nil(out:find("GRAPHCOMM_BASE_URL", 1, true))
    assert.matches("nginx", out)
    -- nginx missing
    rc, out = sh("GRAPHCOMM_NGINX=/nonexistent/nginx " .. q(ROOT .. "/emulator/start"))
    assert.equal(1, rc)
    assert.matches("nginx is missing", out)
    assert.is_nil(out:find("GRAPHCOMM_BASE_URL", 1, true))
    -- bad usage
    rc = sh(q(ROOT .. "/emulator/start") .. " --bogus")
    assert.equal(2, rc)
    assert.error_matches(function() emu.start{ port = tonumber(port) } end, "emulator/start failed")
  end)

  it("stops itself when the process it watches ends (--watch-pid)", function()
    local rc, out = sh("sleep 0.3 & " .. q(ROOT .. "/emulator/start") .. " --watch-pid $!")
    assert.equal(0, rc, out)
    local dir = out:match("GRAPHCOMM_EMULATOR_DIR='([^']+)'")
    assert.is_string(dir)
    -- the marker goes first, the processes a moment later: wait (bounded) for both
    until_true(function() return not exists(dir .. "/.graphcomm-emulator") and #processes_with(dir) == 0 end, 10)
    assert.is_false(exists(dir .. "/.graphcomm-emulator"))
    assert.same({}, processes_with(dir))
  end)

  it("--watch-pid outlives a signal to the caller's process group (a killed job) and stops nginx", function()
    local _, tmp = sh("mktemp -d")
    tmp = tmp:gsub("%s+$", "")
    finally(function() sh("rm -rf " .. q(tmp)) end)
    local out = tmp .. "/out"
    -- a new session (setsid): its pgid is the shell's pid; the job is that whole group
    sh(("setsid sh -c 'echo pgid=$$ >%s; sleep 60 & %s --watch-pid $! >>%s; wait' >/dev/null 2>&1 &")
      :format(q(out), q(ROOT .. "/emulator/start"), q(out)))
    local function read_out()
      local f = io.open(out)
      if not f then return "" end
      local text = f:read("*a")
      f:close()
      return text
    end
    assert.is_true(until_true(function() return read_out():find("GRAPHCOMM_EMULATOR_DIR", 1, true) ~= nil end, 20),
                   read_out())
    local text = read_out()
    local pgid, dir = text:match("pgid=(%d+)"), text:match("GRAPHCOMM_EMULATOR_DIR='([^']+)'")
    assert.is_true(#processes_with(dir) >= 2)
    assert.equal(0, (sh("kill -TERM -" .. pgid)))
    -- the marker goes first, the processes a moment later: wait (bounded) for both
    until_true(function() return not exists(dir .. "/.graphcomm-emulator") and #processes_with(dir) == 0 end, 10)
    assert.is_false(exists(dir .. "/.graphcomm-emulator"))
    assert.same({}, processes_with(dir))
  end)

  it("stop is idempotent and refuses directories that are not an emulator's", function()
    local e = emu.start()
    local stop = q(ROOT .. "/emulator/stop")
    assert.equal(0, (sh(stop .. " " .. q(e.dir))))
    assert.equal(0, (sh(stop .. " " .. q(e.dir))))
    e.stopped = true
    assert.equal(1, (sh(stop .. " /tmp")))
    assert.equal(2, (sh("env -u GRAPHCOMM_EMULATOR_DIR " .. stop)))
  end)
end)
