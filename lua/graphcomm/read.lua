-- graphcomm.read: reading call records and sessions for fixes (docs/contract.md section 4).
--
--   client:get_session(crid, sid [, query])   -> session table, info | nil, err
--   client:get_call_record(crid [, query])    -> record table, info | nil, err
--   client:sessions(crid [, query])           -> iterator | nil, err
--   client:call_records([query])              -> iterator | nil, err
--
-- The functions take the client's engine (graphcomm.client passes it): every GET
-- goes through engine:perform (auth, retries, redirects, Graph's error bodies);
-- bodies are decoded by graphcomm.json (lua-cjson). `query` is
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
-- Bounded: a next link already followed in this read is an error (a server
-- looping on itself), and so is a read of more than connect{ max_pages = }
-- pages (default 1000).
local json = require "graphcomm.json"
local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local options = require "graphcomm.options"

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local match = string.match

local M = {}

local MAX_DEPTH = 8     -- how deep nested links are looked for (record > sessions > segments ...)

local record_path = request.record_path

-- The query's names, with or without "$", in any case.
M.QUERY = { select = "string", expand = "string", filter = "string", top = "number|string",
  skip = "number|string", orderby = "string", search = "string", count = "boolean|string" }

-- One GET, its body decoded: a JSON object, or nil, err.
-- An answer's body as a JSON object: doc, resp | nil, err.
local function json_object(resp)
  local doc, why = json.decode(resp.body or "")
  if type(doc) ~= "table" then
    return nil, errors.http("the answer is not a JSON object: " .. tostring(why or type(doc)),
      { status = resp.status, request_id = resp.request_id, headers = resp.headers })
  end
  return doc, resp
end
M.json_object = json_object

local function get_json(e, spec)
  spec.method = "GET"
  local ok, resp = e:perform(spec)
  if not ok then return nil, resp end
  return json_object(resp)
end

-- The pages of one read: links already followed, and how many pages so far.
local function new_walk(e)
  return { seen = {}, pages = 1, max = e.cfg.max_pages or options.DEFAULTS.max_pages }
end

-- A next link is followed with the client's token only on the client's own origin,
-- once per read, and not past the page cap.
local function next_spec(e, walk, link)
  if type(link) ~= "string" or not e:own_origin(link) then
    return nil, errors.http("refusing to follow a next link to another origin: " .. tostring(link),
      { code = "ForeignNextLink" })
  end
  if walk.seen[link] then
    return nil, errors.http("the server sent a next link already followed: " .. link,
      { code = "NextLinkLoop" })
  end
  if walk.pages >= walk.max then
    return nil, errors.http("more than " .. walk.max .. " pages (connect{ max_pages = })",
      { code = "TooManyPages" })
  end
  walk.seen[link] = true
  walk.pages = walk.pages + 1
  return { url = link }
end

-- A page of a collection: its `value` list and its next link.
local function get_page(e, spec)
  local page, resp = get_json(e, spec)
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
local function follow(e, walk, list, link)
  while link ~= nil do
    local spec, err = next_spec(e, walk, link)
    if not spec then return nil, err end
    local items, next_link = get_page(e, spec)
    if not items then return nil, next_link end
    for i = 1, #items do list[#list + 1] = items[i] end
    link = next_link
  end
  return true
end

-- Follows obj's own `<name>@odata.nextLink`s, then those of the objects in its arrays.
function complete(e, walk, obj, depth)
  if depth > MAX_DEPTH then return true end
  local links = {}
  for k in pairs(obj) do
    local name = type(k) == "string" and match(k, "^(.+)@odata%.nextLink$")
    if name then links[name] = k end
  end
  for name, key in pairs(links) do
    local list = obj[name]
    if list == nil then list = {}; obj[name] = list end
    if type(list) == "table" then
      local ok, err = follow(e, walk, list, obj[key])
      if not ok then return nil, err end
      obj[key] = nil
    end
  end
  for _, v in pairs(obj) do
    if type(v) == "table" and v[1] ~= nil then
      for _, item in ipairs(v) do
        if type(item) == "table" then
          local ok, err = complete(e, walk, item, depth + 1)
          if not ok then return nil, err end
        end
      end
    end
  end
  return true
end

-- ---------------------------------------------------------------------------
-- The reads
-- ---------------------------------------------------------------------------

-- One object read whole: GET path, then every nested page appended.
local function get_whole(e, path, err, query)
  if not path then return nil, e:clean(err) end
  local obj, info = get_json(e, { path = path, query = query })
  if not obj then return nil, info end
  local ok, cerr = complete(e, new_walk(e), obj, 0)
  if not ok then return nil, e:clean(cerr) end
  return obj, info
end

-- A query: a table of known names (any case, with or without "$"); misuse raises.
local function check_query(query, argn, name)
  if query == nil then return nil end
  local plain = {}
  if type(query) == "table" then
    for k, v in pairs(query) do
      plain[type(k) == "string" and k:gsub("^%$", "") or k] = v
    end
  else
    plain = query
  end
  return options.check(plain, M.QUERY, name, argn, 4)   -- check_query < read < method < user
end

function M.get_session(e, crid, sid, query)
  query = check_query(query, 3, "get_session")
  local path, err = request.session_path(crid, sid)
  return get_whole(e, path, err, query)
end

function M.get_call_record(e, crid, query)
  query = check_query(query, 2, "get_call_record")
  local path, err = record_path(crid)
  return get_whole(e, path, err, query)
end

-- Items of a collection one at a time, following its next links (bounded like every read).
-- The first page is read at once; a later page that fails raises its error value.
local function collection(e, spec)
  local items, link = get_page(e, spec)
  if not items then return nil, link end
  local walk, i = new_walk(e), 0
  return function()
    i = i + 1
    while items[i] == nil and link do            -- loop: a page may come back empty
      local next, serr = next_spec(e, walk, link)
      if not next then error(e:clean(serr), 0) end
      local next_items, next_link = get_page(e, next)
      if not next_items then error(next_link, 0) end
      items, link, i = next_items, next_link, 1
    end
    return items[i]
  end
end

-- Every item of a collection in one list: list, info | nil, err.
function M.list(e, path, query)
  local iter, err = collection(e, { path = path, query = query })
  if not iter then return nil, err end
  local out = {}
  local ok, perr = pcall(function()
    for item in iter do out[#out + 1] = item end
  end)
  if not ok then return nil, perr end
  return out
end

function M.sessions(e, crid, query)
  query = check_query(query, 2, "sessions")
  local path, err = record_path(crid)
  if not path then return nil, e:clean(err) end
  return collection(e, { path = path .. "/sessions", query = query })
end

-- The call records of the tenant (query: filter on startDateTime, select, top...).
function M.call_records(e, query)
  query = check_query(query, 1, "call_records")
  return collection(e, { path = "/communications/callRecords", query = query })
end

return M
