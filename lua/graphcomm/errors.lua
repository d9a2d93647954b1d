-- graphcomm.errors: the error values of the library (docs/contract.md section 3).
-- Every failure a correct program can meet comes back as `nil, err`, err being one
-- of these: a table with `kind` in validation / http / transport / auth / declined /
-- redirect (a redirect refused after the request went out)
-- and the metatable of core.error (its __tostring gives one line).
--
--   errors.validation(message [, fields])   fields.errors = { { path=, message= }, ... }
--   errors.http(fields)                     status, code, message, request_id, ...
--   errors.transport(fields)                code, message, curl_code, retryable
--   errors.auth(message_or_fields [, fields])
--   errors.declined(message [, fields])
--   errors.redirect(message [, fields])    status, code, location, request_id
-- Each constructor takes a message string, or a table of fields (reused as the error).

local type, pairs, getmetatable, pcall = type, pairs, getmetatable, pcall

local core = require "graphcomm.core"

local M = {}

-- core.error sets the "graphcomm.error" metatable, whose __tostring gives one line:
-- "graphcomm: http 405 MethodNotAllowed: <message> (request-id ...)".
local seal = core.error

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
function M.redirect(msg, fields) return make("redirect", msg, fields) end

-- True for any graphcomm error value (tables from here, userdata from the encoder).
function M.is(v)
  local tv = type(v)
  if tv ~= "table" and tv ~= "userdata" then return false end
  local ok, kind = pcall(function() return v.kind end)
  return ok and type(kind) == "string" and getmetatable(v) ~= nil
end

return M
