-- graphcomm.journal: the outcome log of bulk updates (docs/contract.md section 4).
--
--   local j, err = journal.open(path)    -- reads what already succeeded, then appends
--   j:done(crid, sid, digest) -> true when that fix already went through
--   j:write(record)                      -- one JSON line, flushed at once
--   j:close()
--
-- One JSON object a line: i (the item's place in the run), callRecordId, sessionId,
-- digest (SHA-256 of the JSON body sent, so a changed fix for the same session is not
-- mistaken for a done one), ok, status, kind, code, request_id, attempts, paths
-- (validation), depends_on, at (UTC). Never the body, a token or an error message:
-- those may carry what the journal must not. A line cut short by a killed process
-- is ignored when read back.

local type, tostring, setmetatable, io_open, os_date, concat =
      type, tostring, setmetatable, io.open, os.date, table.concat

local cjson = require "cjson.safe"
local errors = require "graphcomm.errors"

local encode, decode = cjson.encode, cjson.decode

local M = {}
local J = {}
J.__index = J

local function key(crid, sid, digest)
  return tostring(crid) .. "\0" .. tostring(sid) .. "\0" .. tostring(digest)
end

local function load(path)
  local done, n = {}, 0
  local f = io_open(path, "r")
  if not f then return done, 0 end
  for line in f:lines() do
    local t = decode(line)
    if type(t) == "table" and t.ok == true and t.digest and t.callRecordId and t.sessionId then
      done[key(t.callRecordId, t.sessionId, t.digest)] = true
      n = n + 1
    end
  end
  f:close()
  return done, n
end

function M.open(path)
  if type(path) ~= "string" or path == "" then
    return nil, errors.validation("journal must be a file name",
      { errors = { { path = "journal", message = "must be a file name" } } })
  end
  local done, n = load(path)
  local f, why = io_open(path, "a")
  if not f then
    return nil, errors.validation("cannot open the journal: " .. tostring(why),
      { errors = { { path = "journal", message = tostring(why) } } })
  end
  return setmetatable({ file = f, path = path, done_set = done, succeeded = n }, J)
end

function J:done(crid, sid, digest)
  return self.done_set[key(crid, sid, digest)] == true
end

-- Fields in a fixed order, for people reading the file.
local ORDER = { "i", "ok", "status", "kind", "code", "callRecordId", "sessionId", "request_id",
  "attempts", "depends_on", "paths", "digest", "at" }

local function line_of(record)
  local parts, n = {}, 0
  for k = 1, #ORDER do
    local name = ORDER[k]
    local v = record[name]
    if v ~= nil then
      local text = encode(v)
      if text then
        n = n + 1
        parts[n] = '"' .. name .. '":' .. text
      end
    end
  end
  return "{" .. concat(parts, ",", 1, n) .. "}"
end

-- A line-buffered append: what is written survives the process being killed.
function J:write(record)
  record.at = os_date("!%Y-%m-%dT%H:%M:%SZ")
  self.file:write(line_of(record), "\n")
  self.file:flush()
end

function J:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
end

return M
