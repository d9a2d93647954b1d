-- graphcomm.errors: the error values of the library (DESIGN.md section 3).
-- Every failure a correct program can meet comes back as `nil, err`, err being one
-- of these: a table with `kind` in validation / http / transport / auth / declined
-- and the metatable of core.error (its __tostring gives one line).
--
--   errors.validation(message [, fields])   fields.errors = { { path=, message= }, ... }
--   errors.http(fields)                     status, code, message, request_id, ...
--   errors.transport(fields)                code, message, curl_code, retryable
--   errors.auth(message_or_fields [, fields])
--   errors.declined(message [, fields])
-- Each constructor takes a message string, or a table of fields (reused as the error).

local type, pairs, tostring, setmetatable, getmetatable, pcall =
      type, pairs, tostring, setmetatable, getmetatable, pcall
local concat = table.concat

local core = require "graphcomm.core"

local M = {}

-- One line: "graphcomm: http 405 MethodNotAllowed: <message> (request-id ...)".
-- Used only when the core was built without error.c's metatable.
local function describe(e)
  local parts = { "graphcomm: ", tostring(e.kind or "error") }
  if e.status then parts[#parts + 1] = " " .. tostring(e.status) end
  if e.code then parts[#parts + 1] = " " .. tostring(e.code) end
  parts[#parts + 1] = ": " .. tostring(e.message)
  if e.request_id then parts[#parts + 1] = " (request-id " .. tostring(e.request_id) .. ")" end
  return concat(parts)
end

local fallback_mt = { __name = "graphcomm.error", __tostring = describe }
local seal = core.error or function(t) return setmetatable(t, fallback_mt) end

local function make(kind, msg, fields)
  local e
  if type(msg) == "table" then
    e = msg
    if fields then for k, v in pairs(fields) do e[k] = v end end
  else
    e = {}
    if fields then for k, v in pairs(fields) do e[k] = v end end
    e.message = msg
  end
  e.kind = kind
  if e.message == nil then e.message = kind end
  return seal(e)
end

function M.validation(msg, fields)
  local e = make("validation", msg, fields)
  if e.errors == nil then e.errors = { { path = "", message = e.message } } end
  return e
end

function M.http(msg, fields) return make("http", msg, fields) end
function M.transport(msg, fields) return make("transport", msg, fields) end
function M.auth(msg, fields) return make("auth", msg, fields) end
function M.declined(msg, fields) return make("declined", msg, fields) end

-- True for any graphcomm error value (tables from here, userdata from the encoder).
function M.is(v)
  local tv = type(v)
  if tv ~= "table" and tv ~= "userdata" then return false end
  local ok, kind = pcall(function() return v.kind end)
  return ok and type(kind) == "string" and getmetatable(v) ~= nil
end

return M
