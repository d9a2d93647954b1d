-- graphcomm.rules: fix rules (docs/rules.md). A rule is a Lua file returning a table:
--
--   return {
--     name = "missing-end-time", description = "...",          -- optional
--     where = function(record) return boolean end,             -- optional
--     fix = function(session, record) return body_or_nil end,  -- required
--   }
--
--   rules.load(path [, opts]) -> rule | nil, err      opts = { budget = instructions }
--   rule:fix(session, record) -> body | nil, nil | nil, err   (guarded, see below)
--   rule:where(record) -> boolean | nil, err
--
-- The file runs in an environment of its own: the safe parts of string, table and math,
-- os.time/os.date/os.clock, the base functions that touch nothing outside the rule, and
-- `graphcomm` (rules.HELPERS). Nothing else: no io, os.execute, require, load, dofile,
-- package, debug, coroutine; a name outside the environment raises "not available to a
-- rule". Binary chunks are refused.
--
-- Every call into the rule (the file's top level too) has a budget of
-- opts.budget VM instructions (default rules.BUDGET), counted by a debug.sethook count
-- hook; a rule past it is stopped with an error, and the rule's own pcall cannot catch
-- that (its pcall and xpcall pass the stop on). On LuaJIT, hooks do not fire inside
-- compiled code: the rule's functions are kept interpreted (jit.off(chunk, true)).
-- Time spent inside one C function (a string.rep of a huge count, a pathological
-- pattern) is not counted: the budget bounds the rule's Lua code, not its memory.
-- The rule is given copies (its changes to them are its own) and what it returns is
-- copied, raw and bounded, before graphcomm reads it, so no metamethod of the rule's
-- runs outside its budget; a metatable with __gc is refused.
--
-- rules.run(client, rule, opts) is client:run_rule (see run's comment).
local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local options = require "graphcomm.options"
local diff = require "graphcomm.diff"

local type, pairs, ipairs, next, tostring, error, pcall, select, rawget, rawset, setmetatable =
      type, pairs, ipairs, next, tostring, error, pcall, select, rawget, rawset, setmetatable
local xpcall = xpcall
local debug_sethook, debug_gethook = debug.sethook, debug.gethook
local floor, format, concat, sort = math.floor, string.format, table.concat, table.sort
local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
local load, loadstring, setfenv = load, rawget(_G, "loadstring"), rawget(_G, "setfenv")
local jit = rawget(_G, "jit")

local M = {}

M.BUDGET = 10000000       -- VM instructions per call (about 0.02 to 0.2 s of Lua code)
local STEP = 1000         -- the hook fires every STEP instructions
local MAX_DEPTH = 64      -- how deep a returned body is copied
local FIELDS = { fix = "function", where = "function", name = "string", description = "string" }
local FIELD_NAMES = { "fix", "where", "name", "description" }

-- ---------------------------------------------------------------------------
-- Helpers a rule may use: the `graphcomm` table of its environment
-- ---------------------------------------------------------------------------

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp + (mp < 10 and 3 or -9)
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local H = {}

H.null = core.null

function H.is_null(v) return v == nil or v == core.null end

-- Seconds since 1970 (UTC) of a DateTime in any form the core accepts, or nil.
function H.time(v)
  if type(v) ~= "string" then return nil end
  local n = core.normalize({ startDateTime = v })
  local text = n and n.startDateTime
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s = text:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d.]+)Z$")
  if not y then return nil end
  return days_from_civil(y + 0, mo + 0, d + 0) * 86400 + h * 3600 + mi * 60 + (s + 0)
end

-- The DateTime text (UTC, milliseconds when not whole) of seconds since 1970.
function H.iso(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then return nil end
  local ms = floor(seconds * 1000 + 0.5)
  local secs = floor(ms / 1000)
  local day = floor(secs / 86400)
  local rem = secs - day * 86400
  local y, m, d = civil_from_days(day)
  local text = format("%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, floor(rem / 3600),
    floor(rem / 60) % 60, rem % 60)
  if ms % 1000 ~= 0 then text = text .. (format(".%03d", ms % 1000):gsub("0+$", "")) end
  return text .. "Z"
end

local function list_of(v)
  return type(v) == "table" and v or {}
end

function H.segments(session)
  return list_of(type(session) == "table" and session.segments)
end

-- The latest endDateTime among the session's segments (as the segment has it), or nil.
function H.last_segment_end(session)
  local best, best_at
  for _, seg in ipairs(H.segments(session)) do
    local at = type(seg) == "table" and H.time(seg.endDateTime)
    if at and (best_at == nil or at > best_at) then best, best_at = seg.endDateTime, at end
  end
  return best
end

-- Every media stream of the session: a list of { segment =, media =, stream = }.
function H.streams(session)
  local out = {}
  for _, seg in ipairs(H.segments(session)) do
    for _, m in ipairs(list_of(type(seg) == "table" and seg.media)) do
      for _, s in ipairs(list_of(type(m) == "table" and m.streams)) do
        out[#out + 1] = { segment = seg, media = m, stream = s }
      end
    end
  end
  return out
end

-- A deep copy of plain data (tables by next, no metatables), depth-bounded.
local function copy(v, depth)
  if type(v) ~= "table" then return v end
  if depth > MAX_DEPTH then error("a table nested deeper than " .. MAX_DEPTH .. " levels", 0) end
  local out = {}
  for k, child in next, v do out[copy(k, depth + 1)] = copy(child, depth + 1) end
  return out
end

function H.copy(v) return copy(v, 0) end

M.HELPERS = H

-- ---------------------------------------------------------------------------
-- The environment
-- ---------------------------------------------------------------------------

local SAFE = {
  string = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep",
    "reverse", "sub", "upper" },
  table = { "concat", "insert", "remove", "sort", "unpack", "pack" },
  math = { "abs", "ceil", "cos", "deg", "exp", "floor", "fmod", "huge", "log", "max", "maxinteger",
    "min", "mininteger", "modf", "pi", "rad", "random", "sin", "sqrt", "tan", "tointeger", "type",
    "ult" },
  os = { "time", "date", "clock" },
}
local BASE = { "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring",
  "type", "unpack", "rawequal", "rawget", "rawlen", "rawset", "getmetatable" }

local function refuse(what)
  return function(_, k)
    error(format("%s%s is not available to a rule", what, tostring(k)), 2)
  end
end

-- A table of the names given, copied; any other name raises when read.
local function restricted(what, source, names)
  local t = {}
  for _, name in ipairs(names) do t[name] = source[name] end
  return setmetatable(t, { __index = refuse(what), __metatable = false })
end

local BUDGET_STOP = setmetatable({}, { __tostring = function() return "budget" end })

-- st.expired is set by the hook; the rule's pcall passes the stop on.
local function after(st, ok, ...)
  if st.expired then error(BUDGET_STOP, 0) end
  return ok, ...
end

local function environment(st)
  local env = {}
  for _, name in ipairs(BASE) do env[name] = rawget(_G, name) end
  for lib, names in pairs(SAFE) do
    env[lib] = restricted(lib .. ".", rawget(_G, lib) or {}, names)
  end
  env.unpack = unpack
  env.pcall = function(f, ...) return after(st, pcall(f, ...)) end
  env.xpcall = function(f, handler, ...)
    local n, args = select("#", ...), { ... }
    return after(st, xpcall(function() return f(unpack(args, 1, n)) end, handler))
  end
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("a metatable with __gc is not available to a rule", 2)
    end
    return setmetatable(t, mt)
  end
  env.graphcomm = restricted("graphcomm.", H, { "null", "is_null", "time", "iso", "segments",
    "last_segment_end", "streams", "copy" })
  env._G = env
  return setmetatable(env, { __index = refuse(""), __metatable = false })
end

-- ---------------------------------------------------------------------------
-- Guarded calls
-- ---------------------------------------------------------------------------

-- A text for a value the rule made, never calling its code (no __tostring of its own,
-- nor an __index that errors.is would read).
local function message_of(v)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v) end
  return "(an error value of type " .. tv .. ")"
end

-- Calls f(...) under st's budget: true, results... | false, message, code.
local function guarded(st, f, ...)
  local h, mask, count = debug_gethook()
  st.used, st.expired = 0, false
  debug_sethook(st.hook, "", STEP)
  local res = { pcall(f, ...) }
  debug_sethook(h, mask or "", count or 0)
  if st.expired then
    return false, format("stopped after its budget of %d instructions", st.budget), "RuleBudget"
  end
  if not res[1] then return false, message_of(res[2]), "RuleError" end
  return true, res[2]
end

local function new_state(budget)
  local st = { budget = budget, used = 0, expired = false }
  st.hook = function()
    st.used = st.used + STEP
    if st.used >= st.budget then
      st.expired = true
      error(BUDGET_STOP, 0)
    end
  end
  return st
end

-- ---------------------------------------------------------------------------
-- Loading
-- ---------------------------------------------------------------------------

local function load_error(path, message, code)
  return errors.validation(message, { code = code or "RuleFile", rule_path = path,
    errors = { { path = path, message = message } } })
end

local function compile(text, chunkname, env)
  if text:byte(1) == 27 then return nil, chunkname:sub(2) .. ": binary chunks are refused" end
  if setfenv and loadstring then                          -- Lua 5.1, LuaJIT
    local f, err = loadstring(text, chunkname)
    if f then setfenv(f, env) end
    return f, err
  end
  return load(text, chunkname, "t", env)
end

-- The rule's table checked: fields by name and type, unknown names with a did-you-mean.
local function check_fields(path, t)
  for k, v in next, t do
    local want = type(k) == "string" and FIELDS[k]
    if not want then
      local hint = type(k) == "string" and options.suggest(k, FIELD_NAMES)
      return nil, load_error(path, format("%s: unknown key '%s' in the rule%s (a rule has %s)",
        path, message_of(k), hint and ("; did you mean '" .. hint .. "'?") or "",
        concat(FIELD_NAMES, ", ")))
    end
    if type(v) ~= want then
      return nil, load_error(path, format("%s: the rule's %s must be a %s, got %s", path, k, want,
        type(v)))
    end
  end
  if t.fix == nil then
    return nil, load_error(path, path .. ": the rule has no fix function (fix = function(session, record) ... end)")
  end
  return true
end

local Rule = {}
Rule.__index = Rule

local LOAD_OPTIONS = { budget = "number" }

-- rules.load(path [, opts]) -> rule | nil, err (err.kind "validation", err.code "RuleFile").
function M.load(path, opts)
  if type(path) ~= "string" then
    error("bad argument #1 to 'load' (string expected, got " .. type(path) .. ")", 2)
  end
  opts = options.check(opts, LOAD_OPTIONS, "load", 2)
  local budget = opts.budget or M.BUDGET
  if budget < STEP or budget ~= floor(budget) then
    error("bad argument #2 to 'load' (option budget: a whole number of at least " .. STEP .. " expected)", 2)
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, load_error(path, "cannot read the rule file: " .. tostring(err)) end
  local text = f:read("*a") or ""
  f:close()
  local st = new_state(budget)
  local chunk
  chunk, err = compile(text, "@" .. path, environment(st))
  if not chunk then return nil, load_error(path, tostring(err), "RuleSyntax") end
  if jit and jit.off then jit.off(chunk, true) end        -- hooks fire only when interpreted
  local ok, t, code = guarded(st, chunk)
  if not ok then return nil, load_error(path, path .. ": the rule file " .. t, code) end
  if type(t) ~= "table" then
    return nil, load_error(path, path .. ": a rule file must return a table, got " .. type(t))
  end
  local raw = {}
  for k, v in next, t do raw[k] = v end                   -- raw: no metamethod of the rule's
  ok, err = check_fields(path, raw)
  if not ok then return nil, err end
  return setmetatable({ path = path, name = raw.name or path:match("([^/\\]+)$"),
    description = raw.description, budget = budget, _fix = raw.fix, _where = raw.where,
    _state = st }, Rule)
end

-- debug.getmetatable: LuaJIT before its issue #1279 was fixed (Debian 12's luajit2) compiles
-- getmetatable() of an io file handle to an undefined value (see params.is_session).
local debug_getmetatable = debug.getmetatable
function M.is_rule(v) return debug_getmetatable(v) == Rule end

local function rule_error(rule, code, message, fields)
  fields = fields or {}
  local where = {}
  if fields.call_record_id then where[#where + 1] = "call record " .. fields.call_record_id end
  if fields.session_id then where[#where + 1] = "session " .. fields.session_id end
  local text = format("rule %s: %s%s", rule.name, #where > 0 and (concat(where, ", ") .. ": ") or "",
    message)
  fields.code, fields.rule = code, rule.name
  if not fields.errors then fields.errors = { { path = "", message = text } } end
  return errors.validation(text, fields)
end
M.rule_error = rule_error

-- rule:where(record) -> true | false | nil, err (the rule has no where: true).
function Rule:where(record)
  if not self._where then return true end
  local crid = type(record) == "table" and record.id or nil
  local ok, v, code = guarded(self._state, self._where, copy(record, 0))
  if not ok then return nil, rule_error(self, code, "where " .. v, { call_record_id = crid }) end
  if type(v) ~= "boolean" then
    return nil, rule_error(self, "RuleReturn", "where returned a " .. type(v) .. "; a boolean expected",
      { call_record_id = crid })
  end
  return v
end

-- rule:fix(session, record) -> body | nil (nothing to change) | nil, err.
-- The body is the rule's, copied raw and checked against the schema (strict names).
function Rule:fix(session, record)
  local ids = { call_record_id = type(record) == "table" and record.id or nil,
    session_id = type(session) == "table" and session.id or nil }
  local ok, body, code = guarded(self._state, function(s, r)
    local b = self._fix(s, r)
    return type(b) == "table" and copy(b, 0) or b             -- under the budget too
  end, session, record)
  if not ok then return nil, rule_error(self, code, "fix " .. body, ids) end
  if body == nil then return nil end
  if type(body) ~= "table" then
    return nil, rule_error(self, "RuleReturn", "fix returned a " .. type(body)
      .. "; a table (a partial session body) or nil expected", ids)
  end
  local n, err = core.normalize(diff.strip_annotations(body))
  if not n then
    local list = type(err) == "table" and err.errors or nil
    ids.errors = list
    return nil, rule_error(self, "InvalidBody", "fix returned an invalid body: " .. tostring(err), ids)
  end
  return body
end

-- The rule as the plain functions graphcomm.notify calls: fix(session, record) -> the
-- diff against the session (nil when nothing changes), where(record) -> boolean; both
-- raise the rule's error (with its ids) as a string. The rule gets copies, as in run
-- (one copy of a record for all its sessions).
function Rule:functions()
  local views = setmetatable({}, { __mode = "k" })
  local function fix(session, record)
    local view = record
    if type(record) == "table" then
      view = views[record] or copy(record, 0)
      views[record] = view
    end
    local body, err = self:fix(copy(session, 0), view)
    if err then error(err.message, 0) end
    if body == nil then return nil end
    local d, derr = diff.diff(session, body)
    if not d then error(tostring(derr), 0) end
    if next(d) == nil then return nil end
    return d
  end
  local function where(record)
    local ok, err = self:where(record)
    if err then error(err.message, 0) end
    return ok
  end
  return fix, where
end

-- ---------------------------------------------------------------------------
-- client:run_rule(rule, opts)
-- ---------------------------------------------------------------------------

M.RUN_OPTIONS = { from = "string", to = "string", records = "table", apply = "boolean",
  journal = "string", concurrency = "number", max_failures = "number", should_stop = "function",
  stop_on_error = "boolean", on_change = "function", on_error = "function",
  on_result = "function", on_record = "function", budget = "number", batch = "boolean" }

-- A window bound as the filter's literal (canonical UTC), or nil, err. A date alone
-- is its midnight UTC.
local function bound(name, v)
  if v:match("^%d%d%d%d%-%d%d%-%d%d$") then v = v .. "T00:00:00Z" end
  local n, err = core.normalize({ startDateTime = v })
  if not n then
    return nil, errors.validation(format("option %s: not a DateTime: %s", name, tostring(v)),
      { errors = { { path = name, message = tostring(err) } } })
  end
  return n.startDateTime
end

-- Where the records come from: a function giving the next { id = } or record (listing).
local function record_source(client, opts)
  if opts.records then
    if opts.from or opts.to then
      return nil, errors.validation("give either records or from/to, not both")
    end
    local i = 0
    return function()
      i = i + 1
      local id = opts.records[i]
      if id == nil then return nil end
      return { id = id }, true
    end
  end
  if not opts.from or not opts.to then
    return nil, errors.validation("run_rule needs from and to (a window of startDateTime) or records")
  end
  local from, err = bound("from", opts.from)
  if not from then return nil, err end
  local to
  to, err = bound("to", opts.to)
  if not to then return nil, err end
  local iter
  iter, err = client:call_records({ filter = "startDateTime ge " .. from .. " and startDateTime lt " .. to })
  if not iter then return nil, err end
  return function()
    local rec = iter()
    return rec, false
  end
end

-- The properties a change touches: { { name =, old =, new = }, ... } sorted by name.
local function changes_of(session, body)
  local out = {}
  for k, v in pairs(body) do out[#out + 1] = { name = k, old = session[k], new = v } end
  sort(out, function(a, b) return tostring(a.name) < tostring(b.name) end)
  return out
end

local function new_summary()
  return { records = 0, skipped = 0, sessions = 0, unchanged = 0, planned = 0, errors = 0,
    changes = {}, failures = {} }
end

local function fail(sum, opts, err)
  sum.errors = sum.errors + 1
  sum.failures[#sum.failures + 1] = err
  if opts.on_error then opts.on_error(err) end
  if opts.stop_on_error then sum.stopped = "rule_error" end
end

-- One session: a change, or none.
local function plan_session(rule, sum, opts, original, session, view)
  sum.sessions = sum.sessions + 1
  local body, err = rule:fix(session, view)
  if err then return fail(sum, opts, err) end
  if body == nil then sum.unchanged = sum.unchanged + 1; return end
  local d
  d, err = diff.diff(original, body)
  if not d then
    return fail(sum, opts, rule_error(rule, "InvalidBody", "fix returned an invalid body: " .. tostring(err),
      { call_record_id = view.id, session_id = original.id }))
  end
  if next(d) == nil then sum.unchanged = sum.unchanged + 1; return end
  local change = { call_record_id = view.id, session_id = original.id, body = d,
    diff = changes_of(original, d) }
  sum.planned = sum.planned + 1
  sum.changes[#sum.changes + 1] = change
  if opts.on_change then opts.on_change(change) end
end

local RECORD_QUERY = { expand = "sessions($expand=segments)" }

-- One record: read whole (unless where refuses what the listing gave), then each session.
local function plan_record(client, rule, sum, opts, listed, by_id)
  local crid = listed.id
  if not by_id then
    local ok, err = rule:where(listed)
    if err then return fail(sum, opts, err) end
    if not ok then sum.skipped = sum.skipped + 1; return end
  end
  local record, rerr = client:get_call_record(crid, RECORD_QUERY)
  if not record then
    rerr.call_record_id = rerr.call_record_id or crid
    return fail(sum, opts, rerr)
  end
  if by_id then
    local ok, err = rule:where(record)
    if err then return fail(sum, opts, err) end
    if not ok then sum.skipped = sum.skipped + 1; return end
  end
  sum.records = sum.records + 1
  if opts.on_record then opts.on_record(record) end
  local view = copy(record, 0)                 -- the rule's own copy; diffs against record
  local originals = type(record.sessions) == "table" and record.sessions or {}
  local views = type(view.sessions) == "table" and view.sessions or {}
  for i, original in ipairs(originals) do
    plan_session(rule, sum, opts, original, views[i], view)
    if sum.stopped then return end
  end
end

local function plan(client, rule, opts)
  local source, err = record_source(client, opts)
  if not source then return nil, err end
  local sum = new_summary()
  local ok, perr = pcall(function()
    while not sum.stopped do
      if opts.should_stop and opts.should_stop() then sum.interrupted = true; break end
      local listed, by_id = source()
      if listed == nil then break end
      plan_record(client, rule, sum, opts, listed, by_id)
    end
  end)
  if not ok then
    if errors.is(perr) then return nil, perr end
    error(perr, 0)
  end
  return sum
end

-- Sends the planned changes through client:update_sessions.
local function send(client, sum, opts)
  local items = {}
  for i, c in ipairs(sum.changes) do
    items[i] = { callRecordId = c.call_record_id, sessionId = c.session_id, body = c.body }
  end
  local on_result = opts.on_result
  local applied, err = client:update_sessions(items, {
    journal = opts.journal, concurrency = opts.concurrency, max_failures = opts.max_failures,
    should_stop = opts.should_stop, batch = opts.batch,
    on_result = function(i, ok, info, item)
      local c = sum.changes[i]
      c.ok, c.result = ok, info
      if on_result then on_result(i, ok, info, c, item) end
    end,
  })
  if not applied then return nil, err end
  sum.applied = applied
  return sum
end

-- run(client, rule, opts) -> summary | nil, err
--   rule: a rule (rules.load) or a path. opts (names as graphcomm.options reads them):
--   from, to        a window: records with from <= startDateTime < to (the listing's $filter)
--   records         or a list of call record ids
--   apply           send the changes (default: only plan them; nothing is sent)
--   journal, concurrency, max_failures, should_stop, batch    passed to update_sessions
--   stop_on_error   stop at the first rule error (nothing is sent then)
--   on_change(change), on_error(err), on_record(record), on_result(i, ok, info, change)
--   budget          when rule is a path: its budget (rules.load)
-- summary: { records, skipped, sessions, unchanged, planned, errors, changes = { change },
--   failures = { err } [, stopped = "rule_error"] [, interrupted] [, applied = bulk summary] }
--   change: { call_record_id, session_id, body (what would be sent: graphcomm.diff),
--   diff = { { name, old, new } } [, ok, result after apply] }.
-- Reads come first (every record of the window, read whole), then the sends.
function M.run(client, rule, opts)
  opts = options.check(opts, M.RUN_OPTIONS, "run_rule", 2, 3)
  if type(rule) == "string" then
    local err
    rule, err = M.load(rule, { budget = opts.budget })
    if not rule then return nil, err end
  elseif not M.is_rule(rule) then
    error("bad argument #1 to 'run_rule' (a rule from graphcomm.rules.load or a path expected, got "
      .. type(rule) .. ")", 3)
  end
  local sum, err = plan(client, rule, opts)
  if not sum then return nil, err end
  if not opts.apply or sum.stopped or sum.interrupted or #sum.changes == 0 then return sum end
  return send(client, sum, opts)
end

return M
