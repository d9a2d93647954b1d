-- graphcomm.params: the cmdlet's parameter sets and the body of an update.
--
--   params.update(a, b, c, d) -> crid, sid, body, opts | nil, nil, nil, nil, err
--     Update(Expanded):  (crid, sid, body [, opts])
--     UpdateViaIdentity: ({ CallRecordId =, SessionId = }, body [, opts])
--     single table:      { CallRecordId =, SessionId = | InputObject =,
--                          BodyParameter = | expanded properties, WhatIf =, ... }
--   params.item(item) -> crid, sid, body        a bulk item's fields (any spelling)
--   params.is_session(v), params.body_json(body, allow_unknown) -> json | nil, err
--   params.UPDATE: update_session's option names and types
-- Wrong types raise (naming update_session); bad values come back as err.

local type, pairs, ipairs, tostring, error, setmetatable =
      type, pairs, ipairs, tostring, error, setmetatable
local string_format, table_sort, table_concat = string.format, table.sort, table.concat

local core = require "graphcomm.core"
local errors = require "graphcomm.errors"
local options = require "graphcomm.options"

local norm, encode = options.norm, core.encode

local M = {}

M.UPDATE = { what_if = "boolean", confirm = "boolean|function", pass_thru = "boolean",
  headers = "table", client_request_id = "string", allow_unknown = "boolean" }

local UPDATE_NORM = {}
for name in pairs(M.UPDATE) do UPDATE_NORM[norm(name)] = name end

local function identity(t)
  local crid, sid
  for k, v in pairs(t) do
    local nk = norm(k)
    if nk == "callrecordid" then crid = v elseif nk == "sessionid" then sid = v end
  end
  return crid, sid
end

function M.item(item)
  local crid, sid, body = item[1], item[2], item[3]
  for k, v in pairs(item) do
    local nk = norm(k)
    if nk == "callrecordid" then crid = v
    elseif nk == "sessionid" then sid = v
    elseif nk == "body" or nk == "bodyparameter" then body = v end
  end
  return crid, sid, body
end

local function combined(names)
  local list = {}
  for i, name in ipairs(names) do
    list[i] = { path = name, message = "cannot be combined with BodyParameter" }
  end
  return nil, nil, nil, nil, errors.validation("BodyParameter cannot be combined with expanded properties ("
    .. table_concat(names, ", ") .. ")", { errors = list })
end

-- The single table's own names, and the session's properties (normalized), so that a
-- misspelt option (WhatIff) raises instead of joining the body, where allow_unknown
-- would send it and the dry run would become a PATCH.
local FORM_NAMES = { "CallRecordId", "SessionId", "InputObject", "BodyParameter" }
for name in pairs(M.UPDATE) do FORM_NAMES[#FORM_NAMES + 1] = name end
local properties
local function is_property(nk)
  if not properties then
    properties = {}
    for _, p in ipairs(core.schema("session").properties) do properties[norm(p.name)] = true end
  end
  return properties[nk] or false
end

local function check_expanded(k, nk)
  if is_property(nk) then return end
  if options.suggest(k, FORM_NAMES) then
    error("bad argument #1 to 'update_session' (" .. options.unknown("option", k, FORM_NAMES) .. ")", 5)
  end
end

-- The single-table form. Returns crid, sid, body, opts [, err].
local function cmdlet_form(t)
  local crid, sid, input, bodyparam
  local opts, expanded, names = {}, nil, {}
  for k, v in pairs(t) do
    local nk = norm(k)
    if nk == "callrecordid" then crid = v
    elseif nk == "sessionid" then sid = v
    elseif nk == "inputobject" then input = v
    elseif nk == "bodyparameter" then bodyparam = v
    elseif UPDATE_NORM[nk] then opts[k] = v
    else
      check_expanded(k, nk)
      expanded = expanded or {}
      expanded[k] = v
      names[#names + 1] = tostring(k)
    end
  end
  opts = options.check(opts, M.UPDATE, "update_session", 1, 4)
  if input ~= nil then
    if type(input) ~= "table" then
      error("bad argument #1 to 'update_session' (InputObject must be a table, got "
        .. type(input) .. ")", 4)
    end
    if crid ~= nil or sid ~= nil then
      return nil, nil, nil, nil,
        errors.validation("InputObject cannot be combined with CallRecordId or SessionId")
    end
    crid, sid = identity(input)
  end
  if bodyparam ~= nil and expanded then
    table_sort(names)
    return combined(names)
  end
  return crid, sid, bodyparam or expanded or {}, opts
end

-- The sessions' metatable and json method, kept from the first session seen: a
-- method looked up through the session's C __index stops a LuaJIT trace, and the
-- same for every session (csrc/json/entries.c: one metatable, one methods table).
local session_mt, session_json

-- debug.getmetatable, not getmetatable: LuaJIT before the fix of its issue #1279
-- (2024-09; Debian's luajit2 2.1-20230119 has the bug) records getmetatable() of an io
-- file handle (io.stdout given as a body) as an undefined IR value: a plain loop gets the
-- handle back instead of its metatable, and this check segfaulted. debug.getmetatable is
-- compiled without that case; the two differ only for a __metatable field, which session
-- metatables do not have.
local debug_getmetatable = debug.getmetatable

local function is_session(v)
  if type(v) ~= "userdata" then return false end
  local mt = debug_getmetatable(v)
  if mt == session_mt and mt ~= nil then return true end
  if type(mt) == "table" and mt.__name == "graphcomm.session" then
    session_mt = mt
    return true
  end
  return false
end
M.is_session = is_session

local function check_body(body, argn)
  if type(body) ~= "table" and not is_session(body) then
    error(string_format("bad argument #%d to 'update_session' (table or graphcomm.session "
      .. "expected, got %s)", argn, body == nil and "no value" or type(body)), 4)
  end
end

-- No options: one shared empty table (update_session only reads its options).
local NO_OPTS = setmetatable({}, { __newindex = function() error("graphcomm: NO_OPTS is read-only", 2) end })

local function check_opts(opts, argn)
  if opts == nil then return NO_OPTS end
  return options.check(opts, M.UPDATE, "update_session", argn, 4)
end

function M.update(a, b, c, d)
  local ta = type(a)
  if ta == "string" or ta == "number" then                       -- Update(Expanded)
    check_body(c, 3)
    if d == nil then return a, b, c, NO_OPTS end                  -- the common call
    return a, b, c, check_opts(d, 4)
  elseif ta == "table" and b ~= nil then                        -- UpdateViaIdentity
    local crid, sid = identity(a)
    check_body(b, 2)
    return crid, sid, b, check_opts(c, 3)
  elseif ta == "table" then                                     -- cmdlet single table
    local crid, sid, body, opts, err = cmdlet_form(a)
    if err then return nil, nil, nil, nil, err end
    check_body(body, 1)
    return crid, sid, body, opts
  end
  error("bad argument #1 to 'update_session' (string or table expected, got "
    .. (a == nil and "no value" or ta) .. ")", 3)
end

local ALLOW_UNKNOWN = { allow_unknown = true }

-- A session's text, kept by session: a session never changes, and one object sent to
-- many sessions (a fix applied across a record) then skips a C call per update, about
-- 500 instructions on LuaJIT, where each C call ends a trace. Weak keys: the entry goes
-- with its session; the value, a string, holds no reference back to it.
local session_text = setmetatable({}, { __mode = "k" })

-- The JSON text of a body: a session object's as it is, a table validated and encoded.
function M.body_json(body, allow_unknown)
  if is_session(body) then
    local text = session_text[body]
    if text then return text end
    local json = session_json
    if not json then json = body.json; session_json = json end
    text = json(body)
    session_text[body] = text
    return text
  end
  return encode(body, allow_unknown and ALLOW_UNKNOWN or nil)
end

return M
