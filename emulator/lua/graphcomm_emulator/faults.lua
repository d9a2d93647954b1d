-- graphcomm_emulator.faults: injected failures and redirects, kept in `graphcomm_control`.
-- A rule matches when its `match` is a substring of the request path (with query) and
-- its `method`, if any, is the request's. Which matching requests it hits:
--   count N      the next N (default 1; -1 = no limit)
--   every N      every Nth matching request (the Nth, 2Nth, ...; no limit unless count)
--   ratio r      the paths whose CRC32 (with `salt`) falls below r: the same paths every
--                run, so a spec knows which items fail; `per_path` N fails each such path
--                only its first N times (then it succeeds, as after a retry)
-- What it does: `delay_ms` (then carries on unless more is asked), `reset` or `drop` (closes
-- the connection without an answer), `cut` (a status line, `status` or 200, and headers,
-- then the connection closed inside the body), `status` (with a Graph error body, `code`, `message`,
-- `retry_after`, extra `headers`, or a raw `body`).

local json = require "graphcomm_emulator.json"

local ngx = ngx
local find, format = string.find, string.format

local M = {}

local function dict() return ngx.shared.graphcomm_control end

-- Worker-local decoded copies, refreshed when the stored text changes.
local cache = { faults = { text = nil, list = {} }, redirects = { text = nil, list = {} } }

local function rules(kind)
  local text = dict():get(kind)
  if not text then return nil end
  local c = cache[kind]
  if c.text ~= text then c.text, c.list = text, json.decode(text) end
  return c.list
end

local function num(v) return json.number(v) end
local function rid(r) return format("%d", num(r.id)) end

-- Adds a rule (a decoded object); returns its id.
function M.add(kind, rule)
  local d = dict()
  local id = d:incr("rule_id", 1, 0)
  rule.id = id
  local list = json.decode(d:get(kind) or "[]")
  list[#list + 1] = rule
  local limited = not (rule.ratio or rule.every) or rule.count ~= nil
  local count = num(rule.count)
  if count == nil then count = limited and 1 or -1 end
  if count >= 0 then d:set(kind .. ":left:" .. id, count) end
  d:set(kind, json.encode(json.array(list)))
  return id
end

function M.reset(kind)
  local d = dict()
  d:delete(kind)
  for _, k in ipairs(d:get_keys(0)) do
    if find(k, "^" .. kind .. ":") then d:delete(k) end
  end
end

-- The rules with how often each fired and how many it has left, as JSON text.
function M.list(kind)
  local d = dict()
  local list = json.decode(d:get(kind) or "[]")
  for _, r in ipairs(list) do
    r.hits = d:get(kind .. ":hits:" .. rid(r)) or 0
    r.left = d:get(kind .. ":left:" .. rid(r))
  end
  return json.encode(json.array(list))
end

local function selected(kind, r, path)
  local d = dict()
  if r.every then
    local n = d:incr(kind .. ":seen:" .. rid(r), 1, 0)
    if n % num(r.every) ~= 0 then return false end
  elseif r.ratio then
    local h = ngx.crc32_long(path .. (r.salt and tostring(r.salt) or ""))
    if h / 4294967296 >= num(r.ratio) then return false end
    if r.per_path then
      local n = d:incr(kind .. ":path:" .. rid(r) .. ":" .. path, 1, 0)
      if n > num(r.per_path) then return false end
    end
  end
  local left = d:get(kind .. ":left:" .. rid(r))
  if left then
    if left <= 0 then return false end
    if d:incr(kind .. ":left:" .. rid(r), -1) < 0 then return false end
  end
  d:incr(kind .. ":hits:" .. rid(r), 1, 0)
  return true
end

-- The first rule of `kind` ("faults" or "redirects") that hits this request, or nil.
function M.pick(kind, method, path)
  local list = rules(kind)
  if not list then return nil end
  for i = 1, #list do
    local r = list[i]
    if (r.match == nil or find(path, r.match, 1, true)) and (r.method == nil or r.method == method)
       and selected(kind, r, path) then
      return r
    end
  end
  return nil
end

-- The Retry-After text of a rule.
function M.retry_after(r)
  local v = r.retry_after
  if v == nil then return nil end
  if type(v) == "string" then return v end
  return getmetatable(v) == json.NUM and v.raw or format("%s", tostring(v))
end

return M
