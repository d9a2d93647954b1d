-- graphcomm_emulator.graph: the Graph resources: call records, their sessions, $batch.
-- Every handler takes a request context and returns status, headers, body (JSON text),
-- so $batch runs its inner requests through exactly the same code as plain ones.
--   ctx = { method, version, segs = { decoded path segments after the version }, args,
--           headers (lower-case names), body (raw text), value (decoded body, from $batch),
--           base = "scheme://host:port", ids = { request_id, client_request_id }, cfg }

local json = require "graphcomm_emulator.json"
local store = require "graphcomm_emulator.store"
local validate = require "graphcomm_emulator.validate"
local util = require "graphcomm_emulator.util"

local format, find, match, gsub, sub, lower = string.format, string.find, string.match,
  string.gsub, string.sub, string.lower
local concat, tonumber, tostring, ipairs, pairs, type = table.concat, tonumber, tostring, ipairs,
  pairs, type

local M = {}

M.PAGE = 60                 -- sessions inline under a call record, and the largest page
local JSON_HEADERS = { ["Content-Type"] = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8" }

local function fail(ctx, status, message, code, details, headers)
  local h = { ["Content-Type"] = "application/json; charset=utf-8" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return status, h, util.error_body(status, code, message, ctx.ids, details)
end
M.fail = fail

local function ok_json(body) return 200, JSON_HEADERS, body end

---------------------------------------------------------------- OData query options

-- "a,b($expand=c;$select=d),e" -> { { name = "a", opts = {} }, { name = "b", opts = { ["$expand"] = "c", ... } } }
local function parse_expand(s)
  local items, depth, start = {}, 0, 1
  local function item(text)
    text = gsub(gsub(text, "^%s+", ""), "%s+$", "")
    if text == "" then return end
    local name, inner = match(text, "^([%w_]+)%s*%((.*)%)$")
    name = name or text
    local opts = {}
    if inner then
      local d, st = 0, 1
      local function opt(o)
        local k, v = match(o, "^%s*(%$?[%w]+)%s*=%s*(.-)%s*$")
        if k then opts[sub(k, 1, 1) == "$" and k or ("$" .. k)] = v end
      end
      for i = 1, #inner do
        local c = sub(inner, i, i)
        if c == "(" then d = d + 1 elseif c == ")" then d = d - 1
        elseif c == ";" and d == 0 then opt(sub(inner, st, i - 1)); st = i + 1 end
      end
      opt(sub(inner, st))
    end
    items[#items + 1] = { name = name, opts = opts }
  end
  for i = 1, #s do
    local c = sub(s, i, i)
    if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1
    elseif c == "," and depth == 0 then item(sub(s, start, i - 1)); start = i + 1 end
  end
  item(sub(s, start))
  return items
end
M.parse_expand = parse_expand

local function arg(args, name)   -- "$top" or "top"
  local v = args["$" .. name]
  if v == nil then v = args[name] end
  return v
end

-- $select for sessions: a set, or nil for everything; or nil, bad name.
local SESSION_NAMES = {}
for _, k in ipairs(validate.order("session")) do SESSION_NAMES[k] = true end

local function parse_select(text, names)
  if not text or text == "" then return nil end
  local set = {}
  for name in string.gmatch(text, "[^,]+") do
    name = gsub(gsub(name, "^%s+", ""), "%s+$", "")
    if not names[name] then return nil, name end
    set[name] = true
  end
  return set
end

-- Query options for sessions: select set, segments flag; or an error triple.
local function session_options(ctx, select_text, expand_text, typename)
  local select, bad = parse_select(select_text, SESSION_NAMES)
  if bad then
    return nil, format("Could not find a property named '%s' on type 'microsoft.graph.callRecords.session'.", bad)
  end
  local segments = false
  if expand_text and expand_text ~= "" then
    for _, e in ipairs(parse_expand(expand_text)) do
      if e.name ~= "segments" then
        return nil, format("Could not find a property named '%s' on type 'microsoft.graph.callRecords.session'.", e.name)
      end
      segments = true
    end
  end
  if select and select.segments then segments = true end
  return { select = select, segments = segments }
end

local function parse_top(ctx)
  local top = arg(ctx.args, "top")
  if top == nil then return M.PAGE end
  local n = tonumber(top)
  if not n or n ~= math.floor(n) or n < 1 then return nil end
  return math.min(n, M.PAGE)
end

local function parse_skip(ctx)
  local tok = arg(ctx.args, "skiptoken") or arg(ctx.args, "skip")
  if tok == nil then return 0 end
  local n = tonumber(tok)
  if not n or n ~= math.floor(n) or n < 0 then return nil end
  return n
end

---------------------------------------------------------------- $filter (a small subset)

-- "startDateTime ge 2026-11-21T00:00:00Z and modalities/any(m: m eq 'video')" is beyond it:
-- supported are comparisons "<property> <eq|ne|gt|ge|lt|le> <literal>" joined by "and".
local function parse_filter(text)
  local terms = {}
  for clause in (text .. " and "):gmatch("(.-)%s+and%s+") do
    local prop, op, lit = match(clause, "^%s*([%w_]+)%s+(%a%a)%s+(.-)%s*$")
    if not prop or not ({ eq = 1, ne = 1, gt = 1, ge = 1, lt = 1, le = 1 })[op] then return nil, clause end
    local value
    if match(lit, "^'.*'$") then value = gsub(sub(lit, 2, -2), "''", "'")
    elseif lit == "null" then value = json.null
    elseif lit == "true" or lit == "false" then value = lit == "true"
    elseif tonumber(lit) then value = tonumber(lit)
    else value = lit end                       -- a DateTimeOffset literal, compared as text
    terms[#terms + 1] = { prop = prop, op = op, value = value }
  end
  return terms
end

local function compare(a, op, b)
  if getmetatable(a) == json.NUM then a = a.value end
  if a == nil then a = json.null end
  if op == "eq" then return a == b end
  if op == "ne" then return a ~= b end
  if type(a) ~= type(b) or type(a) == "table" or type(a) == "boolean" then return false end
  if op == "gt" then return a > b elseif op == "ge" then return a >= b
  elseif op == "lt" then return a < b else return a <= b end
end

local function matches(obj, terms)
  for _, t in ipairs(terms) do
    if not compare(obj[t.prop], t.op, t.value) then return false end
  end
  return true
end

---------------------------------------------------------------- call records

local function record_path(ctx, crid)
  return format("%s/%s/communications/callRecords/%s", ctx.base, ctx.version, util.escape(crid))
end

local function context_url(ctx, what)
  return format("%s/%s/$metadata#%s", ctx.base, ctx.version, what)
end

local RECORD_NAMES = { id = true, version = true, type = true, modalities = true, lastModifiedDateTime = true,
  startDateTime = true, endDateTime = true, joinWebUrl = true, organizer = true, participants = true,
  sessions = true }

local function project(rec, select)
  if not select then return rec end
  for _, k in ipairs(json.keys(rec) or {}) do
    if not select[k] and k ~= "id" then rec[k] = nil end
  end
  return rec
end

-- A page of sessions as a list of raw JSON values and the next offset (or nil).
local function session_page(crid, ids, from, size, sopts)
  local out = {}
  local last = math.min(#ids, from + size)
  for i = from + 1, last do
    out[#out + 1] = json.raw(store.session_json(crid, ids[i], sopts.select, sopts.segments))
  end
  return out, (last < #ids) and last or nil
end

local function next_link(ctx, crid, offset, size, select_text, expand_text, filter_text)
  local q = {}
  if select_text and select_text ~= "" then q[#q + 1] = "$select=" .. util.escape(select_text) end
  if expand_text and expand_text ~= "" then q[#q + 1] = "$expand=" .. util.escape(expand_text) end
  if filter_text and filter_text ~= "" then q[#q + 1] = "$filter=" .. util.escape(filter_text) end
  if size ~= M.PAGE then q[#q + 1] = "$top=" .. size end
  q[#q + 1] = "$skiptoken=" .. offset
  return record_path(ctx, crid) .. "/sessions?" .. concat(q, "&")
end

local function list_records(ctx)
  local select, bad = parse_select(arg(ctx.args, "select"), RECORD_NAMES)
  if bad then return fail(ctx, 400, format("Could not find a property named '%s' on type 'microsoft.graph.callRecords.callRecord'.", bad)) end
  local top, skip = parse_top(ctx), parse_skip(ctx)
  if not top or not skip then return fail(ctx, 400, "Invalid value for $top or $skiptoken.") end
  local terms
  local ftext = arg(ctx.args, "filter")
  if ftext and ftext ~= "" then
    local bad_clause
    terms, bad_clause = parse_filter(ftext)
    if not terms then return fail(ctx, 400, format("Invalid filter clause: '%s'.", bad_clause)) end
  end
  local ids, value = store.record_ids(), {}
  local kept = {}
  for _, crid in ipairs(ids) do
    local rec = store.record(crid)
    if not terms or matches(rec, terms) then kept[#kept + 1] = rec end
  end
  for i = skip + 1, math.min(#kept, skip + top) do value[#value + 1] = project(kept[i], select) end
  local body = json.object({ ["@odata.context"] = context_url(ctx, "communications/callRecords"),
    value = json.array(value) }, { "@odata.context", "@odata.nextLink", "value" })
  if skip + top < #kept then
    local q = { "$top=" .. top, "$skiptoken=" .. (skip + top) }
    if arg(ctx.args, "select") then table.insert(q, 1, "$select=" .. util.escape(arg(ctx.args, "select"))) end
    if ftext then table.insert(q, 1, "$filter=" .. util.escape(ftext)) end
    body["@odata.nextLink"] = format("%s/%s/communications/callRecords?%s", ctx.base, ctx.version, concat(q, "&"))
  end
  return ok_json(json.encode(body))
end

local function get_record(ctx, crid)
  local rec = store.record(crid)
  if not rec then return fail(ctx, 404, format("Call record '%s' was not found.", crid), "NotFound") end
  local select, bad = parse_select(arg(ctx.args, "select"), RECORD_NAMES)
  if bad then return fail(ctx, 400, format("Could not find a property named '%s' on type 'microsoft.graph.callRecords.callRecord'.", bad)) end
  local want_sessions
  local expand = arg(ctx.args, "expand")
  if expand and expand ~= "" then
    for _, e in ipairs(parse_expand(expand)) do
      if e.name ~= "sessions" then
        return fail(ctx, 400, format("Could not find a navigation property named '%s' on type 'microsoft.graph.callRecords.callRecord'.", e.name))
      end
      want_sessions = e.opts
    end
  end
  local body = project(rec, select)
  body["@odata.context"] = context_url(ctx, "communications/callRecords/$entity")
  table.insert(json.keys(body), 1, "@odata.context")
  if want_sessions then
    local sel, exp = want_sessions["$select"], want_sessions["$expand"]
    local sopts, err = session_options(ctx, sel, exp)
    if not sopts then return fail(ctx, 400, err) end
    local ids = store.session_ids(crid)
    local page, nxt = session_page(crid, ids, 0, M.PAGE, sopts)
    local keys = json.keys(body)
    keys[#keys + 1] = "sessions@odata.context"
    keys[#keys + 1] = "sessions"
    body["sessions@odata.context"] = context_url(ctx, format("communications/callRecords('%s')/sessions", crid))
    body.sessions = json.array(page)
    if nxt then
      keys[#keys + 1] = "sessions@odata.nextLink"
      body["sessions@odata.nextLink"] = next_link(ctx, crid, nxt, M.PAGE, sel, exp)
    end
  end
  return ok_json(json.encode(body))
end

local function list_sessions(ctx, crid)
  local ids = store.session_ids(crid)
  if not ids then return fail(ctx, 404, format("Call record '%s' was not found.", crid), "NotFound") end
  local sel, exp = arg(ctx.args, "select"), arg(ctx.args, "expand")
  local sopts, err = session_options(ctx, sel, exp)
  if not sopts then return fail(ctx, 400, err) end
  local top, skip = parse_top(ctx), parse_skip(ctx)
  if not top or not skip then return fail(ctx, 400, "Invalid value for $top or $skiptoken.") end
  local ftext = arg(ctx.args, "filter")
  if ftext and ftext ~= "" then
    local terms, bad = parse_filter(ftext)
    if not terms then return fail(ctx, 400, format("Invalid filter clause: '%s'.", bad)) end
    local kept = {}
    for _, sid in ipairs(ids) do
      local s = json.decode(store.session_json(crid, sid, nil, false))
      if matches(s, terms) then kept[#kept + 1] = sid end
    end
    ids = kept
  end
  local page, nxt = session_page(crid, ids, skip, top, sopts)
  local body = json.object({ ["@odata.context"] = context_url(ctx, format("communications/callRecords('%s')/sessions", crid)),
    value = json.array(page) }, { "@odata.context", "@odata.nextLink", "value" })
  if nxt then body["@odata.nextLink"] = next_link(ctx, crid, nxt, top, sel, exp, ftext) end
  return ok_json(json.encode(body))
end

---------------------------------------------------------------- one session

local function get_session(ctx, crid, sid)
  if not store.record(crid) then return fail(ctx, 404, format("Call record '%s' was not found.", crid), "NotFound") end
  local sopts, err = session_options(ctx, arg(ctx.args, "select"), arg(ctx.args, "expand"))
  if not sopts then return fail(ctx, 400, err) end
  local text = store.session_json(crid, sid, sopts.select, sopts.segments,
    context_url(ctx, format("communications/callRecords('%s')/sessions/$entity", crid)))
  if not text then return fail(ctx, 404, format("Session '%s' was not found in call record '%s'.", sid, crid), "NotFound") end
  return ok_json(text)
end

local function is_json_type(ct)
  return ct == nil or find(lower(ct), "^%s*application/json") ~= nil
end

local function patch_session(ctx, crid, sid)
  if ctx.cfg.read_only then
    return fail(ctx, 405, "The call record session is read-only: PATCH is not supported on " ..
      "/communications/callRecords/{id}/sessions/{id} (only CallRecords.Read.All exists).",
      "MethodNotAllowed", nil, { Allow = "GET" })
  end
  if not store.has_session(crid, sid) then
    if not store.record(crid) then return fail(ctx, 404, format("Call record '%s' was not found.", crid), "NotFound") end
    return fail(ctx, 404, format("Session '%s' was not found in call record '%s'.", sid, crid), "NotFound")
  end
  local body = ctx.value
  if body == nil then
    local ce = ctx.headers["content-encoding"]
    if ce and ce ~= "identity" then
      return fail(ctx, 415, format("Content-Encoding '%s' is not supported for request bodies.", tostring(ce)), "UnsupportedMediaType")
    end
    if not is_json_type(ctx.headers["content-type"]) then
      return fail(ctx, 415, "The request payload must be application/json.", "UnsupportedMediaType")
    end
    if not ctx.body or ctx.body == "" then
      return fail(ctx, 400, "Empty Payload. JSON content expected.", "BadRequest")
    end
    local err
    body, err = json.decode(ctx.body)
    if body == nil then
      return fail(ctx, 400, "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. (" .. err .. ")", "BadRequest")
    end
  end
  local ok, errs = validate.check(body, { allow_unknown = ctx.cfg.allow_unknown })
  if not ok then
    local details = {}
    for i, e in ipairs(errs) do
      details[i] = json.object({ code = "InvalidProperty", target = e.path, message = e.message }, { "code", "target", "message" })
    end
    local first = errs[1]
    local msg = first.path == "" and first.message
      or format("Invalid value for property '%s': %s", first.path, first.message)
    if #errs > 1 then msg = msg .. format(" (and %d more problems, see details)", #errs - 1) end
    return fail(ctx, 400, msg, "BadRequest", json.array(details))
  end
  if type(body.id) == "string" and body.id ~= sid then
    return fail(ctx, 400, format("The key property 'id' cannot be changed (from '%s' to '%s').", sid, body.id), "BadRequest")
  end
  store.patch_session(crid, sid, body)
  require("graphcomm_emulator.subscriptions").changed(crid, "updated")
  return 204, {}, nil
end

---------------------------------------------------------------- routing

local function not_allowed(ctx, allow)
  return fail(ctx, 405, format("The HTTP method '%s' is not allowed for this resource.", ctx.method),
    "MethodNotAllowed", nil, { Allow = allow })
end

-- Routes a Graph request (path after the version). Returns status, headers, body.
function M.route(ctx)
  local s, m, n = ctx.segs, ctx.method, #ctx.segs
  if s[1] == "subscriptions" then return require("graphcomm_emulator.subscriptions").route(ctx) end
  if s[1] == "communications" and s[2] == "callRecords" then
    if n == 2 then
      if m ~= "GET" then return not_allowed(ctx, "GET") end
      return list_records(ctx)
    elseif n == 3 then
      if m ~= "GET" then return not_allowed(ctx, "GET") end
      return get_record(ctx, s[3])
    elseif n == 4 and s[4] == "sessions" then
      if m ~= "GET" then return not_allowed(ctx, "GET") end
      return list_sessions(ctx, s[3])
    elseif n == 5 and s[4] == "sessions" then
      if m == "GET" then return get_session(ctx, s[3], s[5]) end
      if m == "PATCH" then return patch_session(ctx, s[3], s[5]) end
      return not_allowed(ctx, ctx.cfg.read_only and "GET" or "GET, PATCH")
    end
  end
  local seg = s[n] or ""
  return fail(ctx, 404, format("Resource not found for the segment '%s'.", seg), "NotFound")
end

return M
