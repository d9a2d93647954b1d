-- graphcomm.read: reading call records and sessions for fixes (docs/contract.md section 4).
--
--   client:get_session(crid, sid [, query])   -> session table, info | nil, err
--   client:get_call_record(crid [, query])    -> record table, info | nil, err
--   client:sessions(crid [, query])           -> iterator | nil, err
--
-- Everything goes through client:request (auth, retries, redirects, Graph's
-- error bodies), bodies are decoded by graphcomm.json (lua-cjson). `query` is
-- { select =, expand =, top =, filter = } with or without "$" (request.query).
--
-- Paging. get_call_record follows every `<name>@odata.nextLink` it finds in
-- the record and in the objects of its arrays (Graph puts the 61st session on
-- behind `sessions@odata.nextLink` when sessions are expanded) and appends the
-- pages, so the record comes back whole, without the links.
-- sessions() reads `.../sessions` one page at a time: the first page is read
-- at once (so an unknown record or a refusal is `nil, err` from the call, and
-- `for s in assert(client:sessions(id)) do` reads well); a later page that
-- fails raises its error value from the iterator (a for loop has no other
-- way to stop with an error: use pcall to catch it).
local json = require "graphcomm.json"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"

local type, pairs, ipairs, tostring, error, setmetatable =
      type, pairs, ipairs, tostring, error, setmetatable
local match = string.match

local M = {}

local client_state = require("graphcomm.client").state

local MAX_DEPTH = 8     -- how deep nested links are looked for (record > sessions > segments ...)

local record_path = request.record_path

-- One GET, its body decoded: a JSON object, or nil, err.
local function get_json(client, spec)
  spec.method = "GET"
  local resp, err = client:request(spec)
  if not resp then return nil, err end
  local doc, why = json.decode(resp.body or "")
  if type(doc) ~= "table" then
    return nil, errors.http("the answer is not a JSON object: " .. tostring(why or type(doc)),
      { status = resp.status, request_id = resp.request_id, headers = resp.headers })
  end
  return doc, resp
end

-- A next link is followed with the client's token only on the client's own origin.
local function next_spec(client, link)
  if type(link) ~= "string" or not request.same_origin(link, client_state(client).cfg.prefix) then
    return nil, errors.http("refusing to follow a next link to another origin: " .. tostring(link),
      { code = "ForeignNextLink" })
  end
  return { url = link }
end

-- A page of a collection: its `value` list and its next link.
local function get_page(client, spec)
  local page, resp = get_json(client, spec)
  if not page then return nil, resp end
  local items = page.value
  if items ~= nil and type(items) ~= "table" then
    return nil, errors.http("the answer's `value` is not a list",
      { status = resp.status, request_id = resp.request_id, headers = resp.headers })
  end
  return items or {}, page["@odata.nextLink"]
end

-- ---------------------------------------------------------------------------
-- Nested paging
-- ---------------------------------------------------------------------------

local complete

-- Appends every page behind `link` to list.
local function follow(client, list, link)
  while link ~= nil do
    local spec, err = next_spec(client, link)
    if not spec then return nil, err end
    local items, next_link = get_page(client, spec)
    if not items then return nil, next_link end
    for i = 1, #items do list[#list + 1] = items[i] end
    link = next_link
  end
  return true
end

-- Follows obj's own `<name>@odata.nextLink`s, then those of the objects in its arrays.
function complete(client, obj, depth)
  if depth > MAX_DEPTH then return true end
  local links = {}
  for k, v in pairs(obj) do
    local name = type(k) == "string" and match(k, "^(.+)@odata%.nextLink$")
    if name then links[name] = k end
  end
  for name, key in pairs(links) do
    local list = obj[name]
    if list == nil then list = {}; obj[name] = list end
    if type(list) == "table" then
      local ok, err = follow(client, list, obj[key])
      if not ok then return nil, err end
      obj[key] = nil
    end
  end
  for _, v in pairs(obj) do
    if type(v) == "table" and v[1] ~= nil then
      for _, item in ipairs(v) do
        if type(item) == "table" then
          local ok, err = complete(client, item, depth + 1)
          if not ok then return nil, err end
        end
      end
    end
  end
  return true
end

-- ---------------------------------------------------------------------------
-- Methods
-- ---------------------------------------------------------------------------

-- One object read whole: GET path, then every nested page appended.
local function get_whole(client, path, err, query)
  if not path then return nil, err end
  local obj, info = get_json(client, { path = path, query = query })
  if not obj then return nil, info end
  local ok, cerr = complete(client, obj, 0)
  if not ok then return nil, cerr end
  return obj, info
end

-- A query that is not a table is a wrong argument type: it raises, naming the method.
local function check_query(query, argn, name)
  if query ~= nil and type(query) ~= "table" then
    error(string.format("bad argument #%d to '%s' (table expected, got %s)", argn, name,
      type(query)), 3)
  end
end

function M.get_session(client, crid, sid, query)
  check_query(query, 3, "get_session")
  local path, err = request.session_path(crid, sid)
  return get_whole(client, path, err, query)
end

function M.get_call_record(client, crid, query)
  check_query(query, 2, "get_call_record")
  local path, err = record_path(crid)
  return get_whole(client, path, err, query)
end

function M.sessions(client, crid, query)
  check_query(query, 2, "sessions")
  local path, err = record_path(crid)
  if not path then return nil, err end
  local items, link = get_page(client, { path = path .. "/sessions", query = query })
  if not items then return nil, link end
  local i = 0
  return function()
    i = i + 1
    while items[i] == nil and link do            -- loop: a page may come back empty
      local spec, err = next_spec(client, link)
      if not spec then error(err, 0) end
      local next_items, next_link = get_page(client, spec)
      if not next_items then error(next_link, 0) end
      items, link, i = next_items, next_link, 1
    end
    return items[i]
  end
end

-- Installs the methods on a client methods table: require "graphcomm.read"(methods).
function M.install(methods)
  methods.get_session = M.get_session
  methods.get_call_record = M.get_call_record
  methods.sessions = M.sessions
  return methods
end

return setmetatable(M, { __call = function(_, methods) return M.install(methods) end })
