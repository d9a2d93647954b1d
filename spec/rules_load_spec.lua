-- graphcomm.rules: loading a rule file, its restricted environment, its budget, and what
-- a rule's mistakes look like (each with the ids of the record and session it was on).
local rules = require "graphcomm.rules"

local file = require("helpers.rules").file

local SESSION = { id = "s-1", startDateTime = "2026-11-25T10:00:00Z",
  segments = { { id = "g", startDateTime = "2026-11-25T10:00:00Z", endDateTime = "2026-11-25T10:05:00Z" } } }
local RECORD = { id = "r-1", sessions = { SESSION } }

local function with_rule(text, f, opts)
  local path = file(text)
  local rule, err = rules.load(path, opts)
  local ok, why = pcall(f, rule, err, path)
  os.remove(path)
  assert(ok, why)
end

describe("rules.load", function()
  it("loads a rule: fix required, where/name/description optional", function()
    with_rule("return { fix = function(s) return { endDateTime = graphcomm.last_segment_end(s) } end }",
      function(rule, err, path)
        assert.is_nil(err)
        assert.equal(path:match("[^/]+$"), rule.name)
        assert.same({ endDateTime = "2026-11-25T10:05:00Z" }, (rule:fix(SESSION, RECORD)))
        assert.is_true(rule:where(RECORD))
      end)
  end)

  it("refuses unknown keys with a did-you-mean, and a missing fix", function()
    with_rule("return { fxi = function() end }", function(rule, err, path)
      assert.is_nil(rule)
      assert.equal("validation", err.kind)
      assert.matches("unknown key 'fxi' in the rule; did you mean 'fix'%?", err.message)
      assert.truthy(err.message:find(path, 1, true))
    end)
    with_rule("return { name = 'x', whre = function() return true end, fix = function() end }",
      function(rule, err) assert.is_nil(rule); assert.matches("did you mean 'where'", err.message) end)
    with_rule("return { name = 'x' }", function(rule, err)
      assert.is_nil(rule); assert.matches("has no fix function", err.message)
    end)
    with_rule("return { fix = 'nope' }", function(rule, err)
      assert.is_nil(rule); assert.matches("fix must be a function, got string", err.message)
    end)
  end)

  it("refuses a file that does not return a table", function()
    with_rule("return 42", function(rule, err, path)
      assert.is_nil(rule)
      assert.equal(path .. ": a rule file must return a table, got number", err.message)
    end)
    with_rule("local x = 1", function(rule, err)
      assert.is_nil(rule); assert.matches("must return a table, got nil", err.message)
    end)
  end)

  it("gives a syntax error with the file and the line", function()
    with_rule("return {\n  fix = function(s)\n    return s +* 1\n  end }\n", function(rule, err, path)
      assert.is_nil(rule)
      assert.equal("RuleSyntax", err.code)
      assert.truthy(err.message:find(path .. ":3:", 1, true), err.message)
    end)
  end)

  it("refuses binary chunks and missing files", function()
    with_rule(string.dump(function() return {} end), function(rule, err)
      assert.is_nil(rule); assert.matches("binary chunks are refused", err.message)
    end)
    local rule, err = rules.load("/nonexistent/rule.lua")
    assert.is_nil(rule)
    assert.matches("cannot read the rule file", err.message)
  end)

  it("raises on misuse", function()
    assert.has_error(function() rules.load(42) end, "bad argument #1 to 'load' (string expected, got number)")
    assert.has_error(function() rules.load("x.lua", { budgte = 5 }) end,
      "bad argument #2 to 'load' (unknown option 'budgte'; did you mean 'budget'?)")
  end)
end)

describe("a rule's environment", function()
  local cases = {
    { "os.execute('touch /tmp/pwned')", "os.execute is not available to a rule" },
    { "io.open('/etc/passwd')", "io is not available to a rule" },
    { "require('os')", "require is not available to a rule" },
    { "load('return 1')", "load is not available to a rule" },
    { "dofile('/etc/passwd')", "dofile is not available to a rule" },
    { "debug.sethook()", "debug is not available to a rule" },
    { "package.loadlib('x', 'y')", "package is not available to a rule" },
    { "coroutine.wrap(print)", "coroutine is not available to a rule" },
    { "os.getenv('HOME')", "os.getenv is not available to a rule" },
    { "setmetatable({}, { __gc = function() end })", "__gc is not available to a rule" },
  }
  for _, c in ipairs(cases) do
    it("refuses " .. c[1], function()
      with_rule("return { fix = function(s) " .. c[1] .. " end }", function(rule)
        local body, err = rule:fix(SESSION, RECORD)
        assert.is_nil(body)
        assert.equal("validation", err.kind)
        assert.equal("RuleError", err.code)
        assert.equal("r-1", err.call_record_id)
        assert.equal("s-1", err.session_id)
        assert.truthy(err.message:find(c[2], 1, true), err.message)
        assert.truthy(err.message:find("call record r-1, session s-1", 1, true), err.message)
      end)
      -- at the top level of the file too: refused when loading
      with_rule(c[1] .. "\nreturn { fix = function() end }", function(rule, err)
        assert.is_nil(rule)
        assert.truthy(err.message:find(c[2], 1, true), err.message)
      end)
    end)
  end

  it("has the safe parts and graphcomm's helpers", function()
    with_rule([[
      return { fix = function(s)
        local t0 = graphcomm.time(s.startDateTime)
        return { endDateTime = graphcomm.iso(t0 + 90.25), modalities = { string.upper("audio"):lower() },
          isTest = math.max(1, 2) == 2 and os.time() > 0 and type(os.date("!%Y")) == "string" }
      end }]], function(rule, err)
      assert.is_nil(err)
      assert.same({ endDateTime = "2026-11-25T10:01:30.25Z", modalities = { "audio" }, isTest = true },
        (rule:fix(SESSION, RECORD)))
    end)
  end)
end)

describe("a rule's budget", function()
  it("stops a rule that loops forever, even one that catches errors", function()
    for _, body in ipairs({ "while true do end", "local n = 0; repeat n = n + 1 until false",
        "while true do pcall(function() while true do end end) end",
        "local function f() return f() end return f()" }) do
      with_rule("return { fix = function() " .. body .. " end }", function(rule)
        local t0 = os.clock()
        local out, err = rule:fix(SESSION, RECORD)
        assert.is_nil(out)
        assert.equal("RuleBudget", err.code, body)
        assert.matches("budget of 100000 instructions", err.message)
        assert.equal("s-1", err.session_id)
        assert.truthy(os.clock() - t0 < 5, body)
      end, { budget = 100000 })
    end
  end)

  it("stops a file whose top level loops forever, and a where that does", function()
    with_rule("while true do end", function(rule, err)
      assert.is_nil(rule); assert.equal("RuleBudget", err.code)
    end, { budget = 100000 })
    with_rule("return { where = function() while true do end end, fix = function() end }", function(rule)
      local ok, err = rule:where(RECORD)
      assert.is_nil(ok)
      assert.equal("RuleBudget", err.code)
      assert.equal("r-1", err.call_record_id)
    end, { budget = 100000 })
  end)

  it("leaves a rule within its budget alone, call after call", function()
    with_rule("return { fix = function() local n = 0 for i = 1, 20000 do n = n + i end return nil end }",
      function(rule)
        for _ = 1, 5 do
          local out, err = rule:fix(SESSION, RECORD)
          assert.is_nil(out); assert.is_nil(err)
        end
      end, { budget = 1000000 })
  end)

  it("restores the hook that was set before", function()
    local calls = 0
    local function hook() calls = calls + 1 end
    debug.sethook(hook, "", 1000000)
    with_rule("return { fix = function() return nil end }", function(rule) rule:fix(SESSION, RECORD) end)
    local h = debug.gethook()
    debug.sethook()
    assert.equal(hook, h)
  end)
end)

describe("what a rule returns", function()
  it("refuses a non-table", function()
    with_rule("return { fix = function() return 'endDateTime' end }", function(rule)
      local out, err = rule:fix(SESSION, RECORD)
      assert.is_nil(out)
      assert.equal("RuleReturn", err.code)
      assert.matches("fix returned a string; a table", err.message)
      assert.equal("s-1", err.session_id)
    end)
  end)

  it("refuses an invalid body, with the validator's paths", function()
    with_rule("return { fix = function() return { endDateTime = 'yesterday', modalitys = {} } end }",
      function(rule)
        local out, err = rule:fix(SESSION, RECORD)
        assert.is_nil(out)
        assert.equal("InvalidBody", err.code)
        assert.equal("r-1", err.call_record_id)
        local paths = {}
        for _, e in ipairs(err.errors) do paths[#paths + 1] = e.path end
        table.sort(paths)
        assert.same({ "endDateTime", "modalitys" }, paths)
      end)
  end)

  it("reads the body raw: no metamethod of the rule's runs outside its budget", function()
    with_rule([[return { fix = function()
        return setmetatable({ isTest = true }, { __pairs = function() while true do end end,
          __index = function() while true do end end })
      end }]], function(rule)
      assert.same({ isTest = true }, (rule:fix(SESSION, RECORD)))
    end, { budget = 100000 })
    with_rule("return { fix = function() error(setmetatable({}, { __tostring = function() while true do end end })) end }",
      function(rule)
        local _, err = rule:fix(SESSION, RECORD)
        assert.matches("an error value of type table", err.message)
      end, { budget = 100000 })
  end)

  it("reports an error raised by the rule with the ids", function()
    with_rule("return { name = 'boom', fix = function(s) error('no segments for ' .. s.id) end }",
      function(rule)
        local _, err = rule:fix(SESSION, RECORD)
        assert.equal("RuleError", err.code)
        assert.equal("boom", err.rule)
        assert.matches("rule boom: call record r%-1, session s%-1: fix .*no segments for s%-1", err.message)
      end)
    with_rule("return { fix = function() end, where = function() return 1 end }", function(rule)
      local _, err = rule:where(RECORD)
      assert.equal("RuleReturn", err.code)
      assert.matches("where returned a number; a boolean expected", err.message)
    end)
  end)
end)

describe("rule:functions (what graphcomm.notify calls)", function()
  it("gives the diff against the session, computed on copies", function()
    with_rule([[return { fix = function(s, r)
        s.endDateTime = graphcomm.last_segment_end(s)      -- changes the rule's copy
        r.id = "changed"
        return s
      end }]], function(rule)
      local fix, where = rule:functions()
      local session = { id = "s-1", startDateTime = "2026-11-25T10:00:00Z",
        segments = { { id = "g", startDateTime = "2026-11-25T10:00:00Z", endDateTime = "2026-11-25T10:05:00Z" } } }
      local record = { id = "r-1", sessions = { session } }
      assert.same({ endDateTime = "2026-11-25T10:05:00Z" }, fix(session, record))
      assert.is_nil(session.endDateTime)
      assert.equal("r-1", record.id)
      session.endDateTime = "2026-11-25T10:05:00Z"
      assert.is_nil(fix(session, record))                  -- nothing left to change
      assert.is_true(where(record))
    end)
  end)

  it("raises the rule's error with the ids", function()
    with_rule("return { fix = function() error('boom') end, where = function() return 'yes' end }", function(rule)
      local fix, where = rule:functions()
      local ok, err = pcall(fix, { id = "s-1" }, { id = "r-1" })
      assert.is_false(ok)
      assert.matches("call record r%-1, session s%-1: fix .*boom", err)
      ok, err = pcall(where, { id = "r-1" })
      assert.is_false(ok)
      assert.matches("where returned a string", err)
    end)
  end)
end)

describe("an error value the rule made", function()
  it("is never read through its metamethods, even one dressed as graphcomm's", function()
    with_rule([[return { fix = function()
        error(setmetatable({ kind = "validation" }, {
          __index = function() while true do end end,
          __tostring = function() while true do end end }))
      end }]], function(rule)
      local _, err = rule:fix(SESSION, RECORD)
      assert.equal("RuleError", err.code)
      assert.matches("an error value of type table", err.message)
    end, { budget = 100000 })
  end)
end)
