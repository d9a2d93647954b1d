-- The `graphcomm` command, run as a user would: bin/graphcomm in a shell with the
-- environment set, its exit code, stdout and stderr checked; then the same command
-- installed by `make install` into a temporary tree.
local cjson = require "cjson"
local emu = require "helpers.emulator"
local cmd = require "helpers.command"

local BIN = "bin/graphcomm"
local CRID = "a83c4a5c-4a8f-4d3b-9f0e-3b1f2c6d7e80"     -- the fixtures' design review (4 sessions)
local BIG = "2f1a1100-b174-40a0-aba7-0b405e01ed92"      -- the all-hands (75 sessions)

local function graphcomm(argv, env, stdin)
  local words = { cmd.lua, BIN }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  return cmd.run(words, env, stdin)
end

-- The body line of a what-if (the last non-empty line), decoded.
local function what_if_body(out)
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  return cjson.decode(last)
end

local function top_level_keys(out)
  local keys = {}
  for k in out:gmatch('\n  "([^"]+)":') do keys[#keys + 1] = k end
  return keys
end

local function is_sorted(list)
  for i = 2, #list do
    if list[i - 1] > list[i] then return false end
  end
  return true
end

describe("graphcomm command", function()
  describe("usage", function()
    it("prints its help with --help and exits 0", function()
      local code, out = graphcomm({ "--help" })
      assert.are.equal(0, code)
      for _, word in ipairs({ "update CRID SID", "apply FIXES.jsonl", "get CRID [SID]", "emulator [--port N]",
                              "GRAPHCOMM_TOKEN", "Exit status" }) do
        assert.truthy(out:find(word, 1, true), word)
      end
    end)

    it("has --help on every subcommand", function()
      for _, sub in ipairs({ "update", "get", "emulator", "apply" }) do
        local code, out = graphcomm({ sub, "--help" })
        assert.are.equal(0, code, sub)
        assert.truthy(out:find("graphcomm " .. sub, 1, true), sub)
      end
    end)

    it("exits 2 on bad usage, saying what is wrong on stderr", function()
      local cases = {
        { {}, "usage: graphcomm" },
        { { "frobnicate" }, "unknown command frobnicate" },
        { { "update", "only-one-id" }, "expected CRID and SID" },
        { { "update", "c", "s" }, "nothing to update" },
        { { "update", "c", "s", "--body", "x.json", "--set", "isTest=true" }, "not both" },
        { { "update", "c", "s", "--set", "novalue" }, "expected path=value" },
        { { "get", "--select" }, "--select needs a value" },
        { { "get", "c", "--colour" }, "unknown option --colour" },
        { { "emulator", "--port", "http" }, "--port expects a whole number from 1 to 65535" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = graphcomm(case[1])
        assert.are.equal(2, code, table.concat(case[1], " "))
        assert.are.equal("", out)
        assert.truthy(err:find(case[2], 1, true), err)
      end
    end)
  end)

  describe("update --what-if", function()
    local env = { GRAPHCOMM_TOKEN = "secret-token-4711" }

    it("prints the request, token redacted, and needs no server", function()
      local code, out, err = graphcomm({ "update", "rec/1", "s1", "--set", "modalities=audio,video",
                                         "--set", "id=404", "--set", "isTest=true",
                                         "--what-if" }, env)
      assert.are.equal(0, code, err)
      assert.truthy(out:find("What if: PATCH https://graph.microsoft.com/v1.0/communications/callRecords/rec%2F1/sessions/s1\n", 1, true), out)
      assert.truthy(out:find("Authorization: Bearer <redacted>", 1, true))
      assert.falsy(out:find("secret-token-4711", 1, true))
      local body = what_if_body(out)
      assert.are.same({ "audio", "video" }, body.modalities)
      assert.are.equal("404", body.id)                    -- a string property: the text, not the number
      assert.are.equal(true, body.isTest)
    end)

    it("takes a single value for an array property as a one-item list, and JSON values as JSON", function()
      local code, out, err = graphcomm({ "update", "c", "s", "--set", "modalities=audio", "--set",
                                         'failureInfo={"stage":"midcall","reason":"x"}',
                                         "--set", "endDateTime=2026-11-20T10:00:00+01:00", "--what-if" }, env)
      assert.are.equal(0, code, err)
      local body = what_if_body(out)
      assert.are.same({ "audio" }, body.modalities)
      assert.are.same({ stage = "midcall", reason = "x" }, body.failureInfo)
      assert.are.equal("2026-11-20T09:00:00Z", body.endDateTime)
    end)

    it("clears a property with null", function()
      local code, out = graphcomm({ "update", "c", "s", "--set", "failureInfo=null", "--what-if" }, env)
      assert.are.equal(0, code)
      assert.are.equal(cjson.null, what_if_body(out).failureInfo)
    end)

    it("reads --body from a file or stdin, dropping the annotations a GET returns", function()
      local file = os.tmpname()
      local f = assert(io.open(file, "w"))
      f:write('{"@odata.context":"https://x/$metadata#y","segments@odata.nextLink":"https://x/n",',
              '"id":"s","modalities":["video"],"endDateTime":"2026-11-20T09:30:00Z"}')
      f:close()
      local code, out, err = graphcomm({ "update", "c", "s", "--body", file, "--what-if" }, env)
      os.remove(file)
      assert.are.equal(0, code, err)
      assert.are.same({ id = "s", modalities = { "video" }, endDateTime = "2026-11-20T09:30:00Z" }, what_if_body(out))
      code, out = graphcomm({ "update", "c", "s", "--body", "-", "--what-if" }, env, '{"isTest":false}')
      assert.are.equal(0, code)
      assert.are.same({ isTest = false }, what_if_body(out))
    end)

    it("exits 2 with the validator's paths and hints for an invalid body", function()
      local code, out, err = graphcomm({ "update", "c", "s", "--set", "modalites=audio",
                                         "--set", "modalities=audio,vidoe", "--what-if" }, env)
      assert.are.equal(2, code)
      assert.are.equal("", out)
      assert.truthy(err:find("modalites", 1, true), err)
      assert.truthy(err:find("modalities", 1, true), err)      -- the did-you-mean hint
      assert.truthy(err:find("modalities[2]", 1, true), err)   -- the list's bad item
      code, out, err = graphcomm({ "update", "c", "s", "--body", "-", "--what-if" }, env, "{not json")
      assert.are.equal(2, code)
      assert.truthy(err:find("invalid JSON", 1, true), err)
    end)
  end)

  describe("against the emulator", function()
    local server, env
    setup(function()
      server = emu.start {}
      env = { GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token }
    end)
    teardown(function()
      if server then server.stop() end
    end)

    it("get prints a record or a session as indented JSON with sorted keys", function()
      local code, out, err = graphcomm({ "get", CRID }, env)
      assert.are.equal(0, code, err)
      assert.are.equal(CRID, cjson.decode(out).id)
      code, out, err = graphcomm({ "get", BIG, "--expand", "sessions" }, env)
      assert.are.equal(0, code, err)
      local record = cjson.decode(out)
      assert.are.equal(75, #record.sessions)          -- 60 inline, the rest behind sessions@odata.nextLink
      assert.is_nil(record["sessions@odata.nextLink"])
      local sid = record.sessions[75].id
      code, out, err = graphcomm({ "get", BIG, sid, "--select", "id,modalities,startDateTime" }, env)
      assert.are.equal(0, code, err)
      assert.truthy(out:find('^{\n  "'))
      local keys = top_level_keys(out)
      assert.are.same({ "@odata.context", "id", "modalities", "startDateTime" }, keys)
      assert.are.equal(sid, cjson.decode(out).id)
    end)

    it("get exits 1 when Graph refuses (unknown record)", function()
      local code, out, err = graphcomm({ "get", "no-such-record" }, env)
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.truthy(err:find("404", 1, true), err)
    end)

    it("update sends the change, and get shows it", function()
      local _, out = graphcomm({ "get", CRID, "--expand", "sessions" }, env)
      local sid = cjson.decode(out).sessions[2].id
      local code, uout, err = graphcomm({ "update", CRID, sid, "--set", "endDateTime=2026-11-22T11:15:00Z",
                                          "--set", "failureInfo.reason=fixed by hand" }, env)
      assert.are.equal(0, code, err)
      assert.truthy(uout:find("Updated session " .. sid, 1, true))
      code, out = graphcomm({ "get", CRID, sid }, env)
      assert.are.equal(0, code)
      local s = cjson.decode(out)
      assert.are.equal("2026-11-22T11:15:00Z", s.endDateTime)
      assert.are.equal("fixed by hand", s.failureInfo.reason)
    end)

    it("update exits 1 with Graph's error when the service refuses the PATCH", function()
      server:fault { match = "/sessions/", status = 405, count = 1 }
      local code, out, err = graphcomm({ "update", CRID, "any-session", "--set", "isTest=true" }, env)
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.truthy(err:find("405", 1, true), err)
    end)
  end)

  describe("emulator", function()
    it("runs the emulator in the foreground until interrupted, then leaves nothing behind", function()
      local errfile = os.tmpname()
      -- A port known to be free: one an emulator just listened on and gave back.
      local probe = emu.start()
      local port = assert(tonumber(probe.base_url:match(":(%d+)$")))
      probe.stop()
      -- Its own session and process group, as a terminal gives a command: Ctrl-C is SIGINT to the group.
      local inner = "echo $$; exec " .. cmd.lua .. " " .. BIN .. " emulator --port " .. port
      local p = assert(io.popen("sh -c " .. cmd.quote("setsid sh -c " .. cmd.quote(inner) .. " 2>" .. errfile
        .. "; echo exit=$?")))
      local pgid = assert(tonumber(p:read("*l")))
      local settings = {}
      for _ = 1, 4 do
        local k, v = assert(p:read("*l")):match("^export ([%w_]+)='([^']*)'$")
        settings[k] = v
      end
      assert.are.equal("http://127.0.0.1:" .. port, settings.GRAPHCOMM_BASE_URL)
      local status, _, body = emu.http("GET", settings.GRAPHCOMM_BASE_URL .. "/v1.0/communications/callRecords/" .. CRID,
        nil, { Authorization = "Bearer " .. settings.GRAPHCOMM_TOKEN })
      assert.are.equal(200, status)
      assert.are.equal(CRID, cjson.decode(body).id)
      local sent = cmd.run({ "sh", "-c", "kill -INT -" .. pgid })
      if sent ~= 0 then os.execute("kill -KILL -" .. pgid) end      -- never leave a reader hanging
      assert.are.equal(0, sent)
      local rest = p:read("*a")
      p:close()
      assert.are.equal("exit=0\n", rest)
      local f = io.open(errfile)
      local err = f:read("*a")
      f:close()
      os.remove(errfile)
      assert.truthy(err:find("Ctrl-C stops it", 1, true), err)
      assert.is_nil(io.open(settings.GRAPHCOMM_EMULATOR_DIR .. "/nginx.pid"))
      assert.is_nil((emu.http("GET", settings.GRAPHCOMM_BASE_URL .. "/v1.0/communications/callRecords", nil, nil,
        { timeout = 5 })))
    end)
  end)

  describe("installed with make install", function()
    local tree, server
    setup(function()
      tree = os.tmpname()
      os.remove(tree)
      -- The sanitizer run preloads ASan into every child: make and cc need not have it.
      local code, out, err = cmd.run({ "make", "-s", "install", "LUA=" .. cmd.flavour, "DESTDIR=" .. tree,
                                       "PREFIX=/usr" }, { LD_PRELOAD = false })
      assert(code == 0, out .. err)
      server = emu.shared()
    end)
    teardown(function()
      if tree then os.execute("rm -rf " .. cmd.quote(tree)) end
    end)

    it("runs from its own tree, with nothing from the checkout", function()
      local ver = cmd.flavour == "luajit" and "5.1" or cmd.flavour:gsub("lua", "")
      local env = {
        LUA_PATH = tree .. "/usr/share/lua/" .. ver .. "/?.lua;;",
        LUA_CPATH = tree .. "/usr/lib/lua/" .. ver .. "/?.so;;",
        GRAPHCOMM_BUILD = false,
        GRAPHCOMM_BASE_URL = server.base_url, GRAPHCOMM_TOKEN = server.token,
      }
      local code, out, err = cmd.run({ cmd.lua, tree .. "/usr/bin/graphcomm", "--help" }, env, nil, tree)
      assert.are.equal(0, code, err)
      assert.truthy(out:find("usage: graphcomm", 1, true))
      code, out, err = cmd.run({ cmd.lua, tree .. "/usr/bin/graphcomm", "get", CRID, "--select", "id" }, env, nil, tree)
      assert.are.equal(0, code, err)
      assert.are.equal(CRID, cjson.decode(out).id)
      code, _, err = cmd.run({ cmd.lua, tree .. "/usr/bin/graphcomm", "update", CRID, "s", "--set", "modalites=audio" },
        env, nil, tree)
      assert.are.equal(2, code)
      assert.truthy(err:find("did you mean 'modalities'", 1, true), err)
    end)
  end)
end)
