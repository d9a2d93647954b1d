-- graphcomm.cli.fixes: the input of `graphcomm apply`, one JSON object a line, in the
-- keys client:update_sessions takes (callRecordId, sessionId, body; the cmdlet's
-- CallRecordId, SessionId, BodyParameter; any case, "_" or "-" ignored; WhatIf, Confirm
-- and PassThru as the switches apply honours). The file is read line by line, never whole.
local suggest = require("graphcomm.options").suggest
local say = require("graphcomm.cli.report").say
local lines = require "graphcomm.lines"

local type, tostring, pairs = type, tostring, pairs

local M = {}

-- Loaded when first used, so that help prints without lua-cjson (graphcomm.launch).
local function decode(text) return require("graphcomm.json").decode(text) end

M.MAX_INPUT_ERRORS = 10

local KEYS = { callrecordid = "callRecordId", sessionid = "sessionId", body = "body",
  bodyparameter = "body", whatif = "WhatIf", confirm = "Confirm", passthru = "PassThru" }
M.KEY_NAMES = { "callRecordId", "sessionId", "body", "BodyParameter", "WhatIf", "Confirm",
  "PassThru" }

local function fold(k) return (k:lower():gsub("[_%-]", "")) end

local function unknown_key(k)
  local best = suggest(k, M.KEY_NAMES)
  local hint = best and (" (did you mean '" .. best .. "'?)") or ""
  return "unknown key '" .. k .. "'" .. hint .. "; a fix has callRecordId, sessionId and body"
end

-- The switches a line may carry: only the values apply honours line by line.
local function switch_problem(name, v, what_if)
  if type(v) ~= "boolean" then return name .. " must be true or false" end
  if name == "WhatIf" and v and not what_if then
    return "WhatIf applies to the whole run: use --what-if (nothing was sent)"
  end
  if name == "Confirm" and v then return "apply does not ask for confirmation: Confirm must be false" end
  return nil
end

local function fields_of(v, what_if)
  local out = {}
  for k, value in pairs(v) do
    local name = type(k) == "string" and KEYS[fold(k)]
    if not name then return nil, unknown_key(tostring(k)) end
    if out[name] ~= nil then return nil, "two keys for " .. name .. " (" .. tostring(k) .. ")" end
    out[name] = value
    if name == "WhatIf" or name == "Confirm" or name == "PassThru" then
      local problem = switch_problem(name, value, what_if)
      if problem then return nil, problem end
    end
  end
  return out
end

-- A fix from one line: item | nil, problem.
function M.fix_of(line, what_if)
  local v, err = decode(line)
  if v == nil then return nil, "not JSON (" .. tostring(err) .. ")" end
  if type(v) ~= "table" or v[1] ~= nil then return nil, "not a JSON object" end
  local f, problem = fields_of(v, what_if)
  if not f then return nil, problem end
  local crid, sid, body = f.callRecordId, f.sessionId, f.body
  if type(crid) ~= "string" or crid == "" then return nil, "no callRecordId string" end
  if type(sid) ~= "string" or sid == "" then return nil, "no sessionId string" end
  if type(body) ~= "table" then return nil, "no body object" end
  return { callRecordId = crid, sessionId = sid, body = body }
end

local function blank(line)
  return line:find("^%s*$") ~= nil
end

-- First pass: every line a fix? -> the count | nil, message (the bad lines said on stderr).
function M.check_file(env, path, what_if)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local n, ln, bad = 0, 0, 0
  for line in lines.each(f) do
    ln = ln + 1
    if not blank(line) then
      local item, problem = M.fix_of(line, what_if)
      if item then
        n = n + 1
      else
        bad = bad + 1
        if bad <= M.MAX_INPUT_ERRORS then say(env.stderr, path, ":", ln, ": ", problem) end
      end
    end
  end
  local failed = lines.failed(f)
  f:close()
  if failed then return nil, "cannot read " .. path .. ": " .. failed end
  if bad > 0 then
    if bad > M.MAX_INPUT_ERRORS then say(env.stderr, "(", bad - M.MAX_INPUT_ERRORS, " more)") end
    return nil, bad .. " line" .. (bad == 1 and " is" or "s are") .. " not a fix; nothing was sent"
  end
  return n
end

-- Second pass: the fixes one by one, each with its line number (item.line);
-- and a function counting the bad lines skipped (only from standard input, not checked first).
function M.each(env, path, what_if)
  local f = path == "-" and env.stdin or assert(io.open(path, "rb"))
  local ln, bad = 0, 0
  local next_line = lines.each(f, f == env.stdin)
  local iter = function()
    while true do
      local line = next_line()
      if line == nil then
        local failed = lines.failed(f)
        if failed then           -- standard input: said and counted as a bad line
          bad = bad + 1
          say(env.stderr, "cannot read ", path, ": ", failed)
        end
        if f ~= env.stdin then f:close() end
        return nil
      end
      ln = ln + 1
      if not blank(line) then
        local item, problem = M.fix_of(line, what_if)
        if item then
          item.line = ln
          return item
        end
        bad = bad + 1
        say(env.stderr, path, ":", ln, ": ", problem, " (skipped)")
      end
    end
  end
  return iter, function() return bad end
end

return M
