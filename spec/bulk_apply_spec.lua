-- `graphcomm apply FIXES.jsonl` (lua/graphcomm/cli/apply.lua): the command run as a process
-- against the emulator (exit codes, plain progress lines, summary table, journal), and
-- in-process with a terminal for the progress bar.
local cli = require "graphcomm.cli.main"
local progress = require "graphcomm.cli.progress"
local cjson = require "cjson"
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local e, dir

local interpreter = bulk.interpreter

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function fixes_file(name, rec, n, tweak)
  local lines = {}
  for k = 1, n do
    local fix = { callRecordId = rec.id, sessionId = rec.sessionIds[k], body = { modalities = { "audio" } } }
    if tweak then tweak(k, fix) end
    lines[#lines + 1] = cjson.encode(fix)
  end
  local path = dir .. "/" .. name
  write(path, table.concat(lines, "\n") .. "\n")
  return path
end

-- Runs bin/graphcomm apply ... with the emulator's settings; returns exit code, stdout, stderr.
local function graphcomm(args, stdin)
  local out, err = dir .. "/out", dir .. "/err"
  local build = os.getenv("GRAPHCOMM_BUILD")
  -- under the ASan pass: no LeakSanitizer scan at exit (it crashed and exited 0, hiding
  -- the exit code checked here), as helpers.command does
  local asan = os.getenv("ASAN_OPTIONS")
  local cmd = (asan and ("ASAN_OPTIONS=" .. emu.shell_quote((asan:gsub("detect_leaks=1", "detect_leaks=0"))) .. " ") or "")
    .. emu.env_prefix(e) .. (build and ("GRAPHCOMM_BUILD=" .. emu.shell_quote(build) .. " ") or "")
    .. interpreter() .. " " .. emu.shell_quote(emu.root .. "/bin/graphcomm") .. " apply " .. args
    .. " >" .. out .. " 2>" .. err .. (stdin and (" <" .. stdin) or " </dev/null")
  local a, _, c = os.execute(cmd)
  local code = type(a) == "number" and (a >= 256 and math.floor(a / 256) or a) or c
  local function slurp(p)
    local f = io.open(p)
    local s = f:read("*a")
    f:close()
    return s
  end
  return code, slurp(out), slurp(err)
end

-- A stream that keeps what is written.
local function capture()
  local t = { parts = {} }
  function t:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring(select(i, ...)) end
    return self
  end
  function t:flush() return self end
  function t:text() return table.concat(self.parts) end
  return t
end

describe("graphcomm apply", function()
  setup(function()
    e = emu.shared()
    dir = bulk.tmpdir()
  end)
  teardown(function() bulk.rmdir(dir) end)

  it("applies every fix and exits 0, with a summary table", function()
    local rec = e:control("POST", "callRecords", { sessions = 40 })
    local path = fixes_file("ok.jsonl", rec, 40)
    local code, out, err = graphcomm(emu.shell_quote(path) .. " --concurrency 4")
    assert.equal(0, code)
    assert.matches("applied%s+40", out)
    assert.matches("failed%s+0", out)
    assert.matches("requests sent%s+40", out)
    -- not a terminal: plain lines, no carriage returns
    assert.is_nil(err:find("\r", 1, true))
    assert.matches("40/40 100%%", err)
  end)

  it("exits 1 when some fixes fail, naming their lines, and resumes with a journal", function()
    local rec = e:control("POST", "callRecords", { sessions = 20 })
    local path = fixes_file("some.jsonl", rec, 20, function(k, fix)
      if k == 4 then fix.sessionId = "not-there" end
      if k == 9 then fix.body = { modalities = { "smell" } } end
    end)
    local journal = dir .. "/some.journal"
    local code, out, err = graphcomm(emu.shell_quote(path) .. " --batch --journal " .. emu.shell_quote(journal))
    assert.equal(1, code)
    assert.matches("applied%s+18", out)
    assert.matches("failed%s+2", out)
    assert.matches("404 NotFound%s+1", out)
    assert.matches("invalid body%s+1", out)
    assert.matches("line 4 %(" .. rec.id:gsub("%-", "%%-") .. " / not%-there%): 404 NotFound", out)
    assert.matches("line 9 .*modalities%[1%]", out)
    assert.matches("line 4", err)         -- failures as plain lines as they happen
    e:clear_requests()
    code, out = graphcomm(emu.shell_quote(path) .. " --journal " .. emu.shell_quote(journal))
    assert.equal(1, code)
    assert.matches("skipped%s+18", out)
    local sent = 0
    for _, r in ipairs(e:requests("match=" .. rec.id)) do
      if r.method == "PATCH" then sent = sent + 1 end
    end
    assert.equal(1, sent)                 -- only the 404 went again; the invalid one never goes
  end)

  it("exits 2 on bad usage or input and sends nothing", function()
    local rec = e:control("POST", "callRecords", { sessions = 3 })
    local path = dir .. "/bad.jsonl"
    write(path, cjson.encode({ callRecordId = rec.id, sessionId = rec.sessionIds[1], body = {} })
      .. "\n{not json\n" .. cjson.encode({ callRecordId = rec.id, body = {} }) .. "\n")
    e:clear_requests()
    local code, out, err = graphcomm(emu.shell_quote(path))
    assert.equal(2, code)
    assert.matches("bad.jsonl:2: not JSON", err)
    assert.matches("bad.jsonl:3: no sessionId", err)
    assert.matches("nothing was sent", err)
    assert.equal("", out)
    assert.same({}, e:requests("match=" .. rec.id))
    code = graphcomm("")
    assert.equal(2, code)
    code, _, err = graphcomm("--concurrency=0 " .. emu.shell_quote(path))
    assert.equal(2, code)
    assert.matches("concurrency", err)
    code, _, err = graphcomm("--frobnicate " .. emu.shell_quote(path))
    assert.equal(2, code)
    assert.matches("unknown option", err)
    code = graphcomm(emu.shell_quote(dir .. "/no-such-file"))
    assert.equal(2, code)
  end)

  it("reads standard input with -", function()
    local rec = e:control("POST", "callRecords", { sessions = 5 })
    local path = fixes_file("stdin.jsonl", rec, 5)
    local code, out = graphcomm("-", path)
    assert.equal(0, code)
    assert.matches("applied%s+5", out)
  end)

  it("prints its help", function()
    local code, out = graphcomm("--help")
    assert.equal(0, code)
    assert.matches("usage: graphcomm apply FIXES.jsonl", out)
    assert.matches("%-%-journal FILE", out)
  end)

  it("draws a progress bar on a terminal", function()
    local rec = e:control("POST", "callRecords", { sessions = 10 })
    local path = fixes_file("tty.jsonl", rec, 10)
    local stdout, stderr = capture(), capture()
    local env = { stdout = stdout, stderr = stderr, tty = true,
      getenv = function(name)
        if name == "GRAPHCOMM_BASE_URL" then return e.base_url end
        if name == "GRAPHCOMM_TOKEN" then return e.token end
        return nil
      end }
    local code = cli.run({ "apply", path }, env)
    assert.equal(0, code)
    local text = stderr:text()
    assert.matches("\r%[#+%]%s+10/10 100%%", text)
    assert.matches("applied%s+10", stdout:text())
  end)

  it("fits the bar to the terminal's width (COLUMNS): it never wraps", function()
    local rec = e:control("POST", "callRecords", { sessions = 10 })
    local path = fixes_file("narrow.jsonl", rec, 10)
    for _, columns in ipairs({ 40, 20, 8 }) do
      local stdout, stderr = capture(), capture()
      local env = { stdout = stdout, stderr = stderr, tty = true,
        getenv = function(name)
          if name == "GRAPHCOMM_BASE_URL" then return e.base_url end
          if name == "GRAPHCOMM_TOKEN" then return e.token end
          if name == "COLUMNS" then return tostring(columns) end
          return nil
        end }
      assert.equal(0, cli.run({ "apply", path }, env))
      local text = stderr:text()
      local n = 0
      for segment in text:gmatch("\r([^\r\n]*)") do
        n = n + 1
        assert.truthy(#segment <= columns - 1, columns .. ": " .. segment)
      end
      assert.truthy(n >= 1)
    end
  end)

  it("shrinks the bar first, then cuts the line, to stay within a width", function()
    local line = progress.line(50, 100, 2, 5, 60)
    assert.equal("[#########.........]  50/100  50%  10/s  2 failed  ETA 0:05", line)
    assert.equal(59, #line)
    assert.equal("50/100  50%  10/s  2 failed  ETA 0:05", progress.line(50, 100, 2, 5, 40))
    assert.equal("50/100  50%  10/", progress.line(50, 100, 2, 5, 17))
    assert.equal("", progress.line(50, 100, 2, 5, 1))
    assert.equal("[############............]  50/100  50%  10/s  2 failed  ETA 0:05",
      progress.line(50, 100, 2, 5, 200))
  end)

  it("formats the progress line with rate, failures and ETA", function()
    assert.equal("[############............]  50/100  50%  10/s  2 failed  ETA 0:05",
      progress.line(50, 100, 2, 5))
    assert.equal("[########################]  100/100 100%  20/s  0 failed  in 0:05",
      progress.line(100, 100, 0, 5))
    assert.equal("7 done  7/s  0 failed", progress.line(7, nil, 0, 1))
    assert.equal("[#.......................]  5/100   5%  50/s  0 failed  ETA -",
      progress.line(5, 100, 0, 0.1))
  end)
end)
