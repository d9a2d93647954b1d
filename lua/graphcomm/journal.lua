-- graphcomm.journal: the outcome log of bulk updates (docs/contract.md section 4, docs/journal.md).
--
--   local j, err = journal.open(path)    -- reads what already succeeded, then appends
--   j:done(i, crid, sid, digest) -> true when item i of the input, with this content,
--                                   already went through
--   j:write(record) -> true | nil, err  -- one JSON line, flushed at once
--   j:close() -> true | nil, err
--   journal.digest(json) -> the content digest bulk records (SHA-256 of the body sent)
--
-- One JSON object a line: i (the item's position in the input), callRecordId, sessionId,
-- digest, ok, status, kind, code, request_id, attempts, paths (validation), depends_on,
-- at (UTC). An item is done when the LAST record for its position is a success with the
-- same ids and digest: so fixes A, B, A of one session are three items, and a rerun
-- sends again exactly those that did not go through, in input order. Never the body, a
-- token or an error message: those may carry what the journal must not.
--
-- A line cut short (a killed process, a full disk) is ignored when read back, and the
-- next record starts on a line of its own. A write or flush that fails is an error of
-- kind "journal" (the run stops: see bulk.lua); after one the journal takes no more.

local type, tostring, setmetatable, rawget, io_open, os_date, concat =
      type, tostring, setmetatable, rawget, io.open, os.date, table.concat

local cjson = require "cjson.safe"
local core = require "graphcomm.core"
local json = require "graphcomm.json"
local errors = require "graphcomm.errors"
local lines = require "graphcomm.lines"

local encode = cjson.encode

local M = {}
local J = {}
J.__index = J

M.digest = core.sha256

-- An error of kind "journal": the journal is incomplete from here on.
local function journal_error(path, what, why)
  return core.error{ kind = "journal", code = "JournalWriteFailed", path = path,
    message = "cannot " .. what .. " the journal " .. path .. ": " .. tostring(why)
      .. "; it is incomplete: what ran after its last line is not recorded" }
end
M.error = journal_error

local function same(t, crid, sid, digest)
  return t.callRecordId == crid and t.sessionId == sid and t.digest == digest
end

-- The last record of each position: { [i] = record }, and whether the file ends
-- mid-line (then the next record must start a new one).
local function remember(last, line)
  local t = json.decode(line)
  if type(t) == "table" and type(t.i) == "number" then last[t.i] = t end
end

local function load(path)
  local last = {}
  local f = io_open(path, "rb")
  if not f then return last, false end
  -- Not a regular file with something in it (a device such as /dev/full reads
  -- zeros for ever, a pipe cannot seek): nothing to read back.
  local size = f:seek("end")
  if not size or size == 0 then
    f:close()
    return last, false
  end
  f:seek("end", -1)
  local cut = f:read(1) ~= "\n"
  f:seek("set")
  for line, ended in lines.each(f) do
    if ended then remember(last, line) end            -- a cut last line is not one
  end
  f:close()
  return last, cut
end

function M.open(path)
  if type(path) ~= "string" or path == "" then
    return nil, errors.validation("journal must be a file name",
      { errors = { { path = "journal", message = "must be a file name" } } })
  end
  local last, cut = load(path)
  local f, why = io_open(path, "ab")
  if not f then
    return nil, errors.validation("cannot open the journal: " .. tostring(why),
      { errors = { { path = "journal", message = tostring(why) } } })
  end
  local j = setmetatable({ file = f, path = path, last = last }, J)
  if cut then                        -- end the fragment: it stays unreadable, alone
    local ok, err = j:put("\n")
    if not ok then
      f:close()
      return nil, err
    end
  end
  return j
end

function J:done(i, crid, sid, digest)
  local t = self.last[i]
  return t ~= nil and t.ok == true and same(t, crid, sid, digest)
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
  return "{" .. concat(parts, ",", 1, n) .. "}\n"
end

-- Writes and flushes text: true | nil, err (and the journal takes no more after).
function J:put(text)
  if self.failed then return nil, self.failed end
  local f = self.file
  local ok, why = f:write(text)
  if ok then ok, why = f:flush() end
  if ok then return true end
  self.failed = journal_error(self.path, "write", why)
  return nil, self.failed
end

-- LuaJIT's compiled io fast paths return true whatever write and fflush did (a full
-- disk would go unnoticed once the loop is hot): these functions stay interpreted.
local jit = rawget(_G, "jit")
if jit and jit.off then
  jit.off(J.put)
end

-- What is written survives the process being killed: one flush a record.
function J:write(record)
  record.at = os_date("!%Y-%m-%dT%H:%M:%SZ")
  return self:put(line_of(record))
end

function J:close()
  local f = self.file
  if not f then return true end
  self.file = nil
  local ok, why = f:close()
  if not ok and not self.failed then
    self.failed = journal_error(self.path, "close", why)
  end
  if self.failed then return nil, self.failed end
  return true
end

return M
