-- graphcomm_emulator.csdl: a small, strict reader of OData CSDL (XML) metadata, for what
-- Microsoft's call-records extract uses: Schema (Namespace, Alias), EnumType/Member,
-- EntityType and ComplexType (BaseType, Abstract, OpenType), Property (Name, Type,
-- Nullable) and NavigationProperty (ContainsTarget). Anything else it does not know is
-- an error with a line number, so a newer file cannot be half read. Plain Lua (5.1 to
-- 5.4, LuaJIT): the emulator (nginx) and the specs both load it.
--   local model = assert(csdl.parse(xml_text))
--   model.types["microsoft.graph.callRecords.session"].properties[1].name --> "id"

local utf8_char = require("graphcomm_emulator.json").utf8_char

local find, sub, match, gsub, format, tonumber = string.find, string.sub, string.match,
  string.gsub, string.format, tonumber
local type, pairs, ipairs, error, pcall, tostring = type, pairs, ipairs, error, pcall, tostring
local setmetatable, getmetatable = setmetatable, getmetatable

local M = {}

local EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
local EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"

---------------------------------------------------------------- XML

local Fail = {}   -- the error value the reader raises, caught once in parse

local function fail(text, pos, fmt, ...)
  local _, newlines = gsub(sub(text, 1, pos - 1), "\n", "")
  error(setmetatable({ message = format("line %d: " .. fmt, newlines + 1, ...) }, Fail), 0)
end

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

local function unescape(text, pos, raw)
  if find(raw, "<", 1, true) then fail(text, pos, "'<' in an attribute value") end
  return (gsub(raw, "&([^;]*);?", function(name)
    local cp = match(name, "^#x(%x+)$")
    cp = cp and tonumber(cp, 16) or tonumber(match(name, "^#(%d+)$") or "")
    if cp then
      if cp == 0 or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then
        fail(text, pos, "character reference &%s; is not a character", name)
      end
      return utf8_char(cp)
    end
    return ENTITIES[name] or fail(text, pos, "unknown entity &%s;", name)
  end))
end

local NAME = "[%a_][%w_%.%-]*:?[%w_%.%-]*"

-- Reads the attributes of a start tag from pos; returns the attribute table and the position
-- just after the tag, and whether it closed itself (/>).
local function read_attrs(text, pos)
  local attrs = {}
  while true do
    local s, e, ws = find(text, "^(%s*)", pos)
    pos = e + 1
    if find(text, "^/>", pos) then return attrs, pos + 2, true end
    if find(text, "^>", pos) then return attrs, pos + 1, false end
    if ws == "" then fail(text, pos, "expected white space, '>' or '/>' in a tag") end
    local name, q
    s, e, name, q = find(text, "^(" .. NAME .. ")%s*=%s*([\"'])", pos)
    if not s then fail(text, pos, "expected an attribute name=\"value\"") end
    local close = find(text, q, e + 1, true)
    if not close then fail(text, pos, "unterminated attribute value") end
    if attrs[name] ~= nil then fail(text, pos, "attribute %s given twice", name) end
    attrs[name] = unescape(text, pos, sub(text, e + 1, close - 1))
    pos = close + 1
  end
end

-- Skips white space, comments and (only before the root) the XML declaration.
local function skip_misc(text, pos, prolog)
  while true do
    local _, e = find(text, "^%s+", pos)
    if e then pos = e + 1 end
    if find(text, "^<!%-%-", pos) then
      local close = find(text, "-->", pos + 4, true)
      if not close then fail(text, pos, "unterminated comment") end
      if find(sub(text, pos + 4, close - 1), "--", 1, true) then fail(text, pos, "'--' inside a comment") end
      pos = close + 3
    elseif prolog and pos == 1 and find(text, "^<%?xml%s", pos) then
      local close = find(text, "?>", pos, true)
      if not close then fail(text, pos, "unterminated XML declaration") end
      local enc = match(sub(text, pos, close), "encoding%s*=%s*[\"']([^\"']*)[\"']")
      if enc and enc:lower() ~= "utf-8" then fail(text, pos, "encoding %s: only UTF-8 is read", enc) end
      pos = close + 2
    elseif find(text, "^<[!?]", pos) then
      fail(text, pos, "DOCTYPE, CDATA and processing instructions are not read")
    else
      return pos
    end
  end
end

-- Reads one element at pos (a '<'); returns it and the position after it.
local function read_element(text, pos, depth)
  if depth > 32 then fail(text, pos, "elements nested too deep") end
  local s, e, tag = find(text, "^<(" .. NAME .. ")", pos)
  if not s then fail(text, pos, "expected an element") end
  local el = { tag = tag, children = {}, pos = pos }
  local selfclose
  el.attrs, pos, selfclose = read_attrs(text, e + 1)
  if selfclose then return el, pos end
  while true do
    pos = skip_misc(text, pos, false)
    if find(text, "^</", pos) then
      local _, ce, ctag = find(text, "^</(" .. NAME .. ")%s*>", pos)
      if ctag ~= tag then fail(text, pos, "expected </%s>", tag) end
      return el, ce + 1
    elseif find(text, "^<", pos) then
      el.children[#el.children + 1], pos = read_element(text, pos, depth + 1)
    elseif pos > #text then
      fail(text, pos, "the file ends inside <%s>", tag)
    else
      fail(text, pos, "text inside <%s> (CSDL has none here)", tag)
    end
  end
end

local function read_document(text)
  if find(text, "^\239\187\191") then text = sub(text, 4) end
  local pos = skip_misc(text, 1, true)
  local root
  root, pos = read_element(text, pos, 0)
  pos = skip_misc(text, pos, false)
  if pos <= #text then fail(text, pos, "content after the root element") end
  return root, text
end

---------------------------------------------------------------- CSDL

-- What each element may hold: its attributes (true = kept, "skip" = read and ignored) and
-- children (element name -> handler name). Elements named in IGNORED are skipped whole.
local ATTRS = {
  ["edmx:Edmx"] = { Version = true, xmlns = true, ["xmlns:edmx"] = true },
  ["edmx:DataServices"] = {},
  Schema = { Namespace = true, Alias = true, xmlns = true },
  EnumType = { Name = true },
  Member = { Name = true, Value = true },
  EntityType = { Name = true, BaseType = true, Abstract = true, OpenType = true },
  ComplexType = { Name = true, BaseType = true, Abstract = true, OpenType = true },
  Property = { Name = true, Type = true, Nullable = true, Scale = "skip" },
  NavigationProperty = { Name = true, Type = true, Nullable = true, ContainsTarget = true },
  Key = {},
  PropertyRef = { Name = true },
}
local IGNORED = { Function = true, Action = true }   -- operations: not part of a body
local CHILDREN = {
  ["edmx:Edmx"] = { ["edmx:DataServices"] = true },
  ["edmx:DataServices"] = { Schema = true },
  Schema = { EnumType = true, EntityType = true, ComplexType = true, Function = true, Action = true },
  EnumType = { Member = true },
  EntityType = { Key = true, Property = true, NavigationProperty = true },
  ComplexType = { Property = true, NavigationProperty = true },
  Key = { PropertyRef = true },
  Member = {}, Property = {}, NavigationProperty = {}, PropertyRef = {},
}

local function check_element(ctx, el)
  local allowed = ATTRS[el.tag]
  for k in pairs(el.attrs) do
    if not allowed[k] then fail(ctx.text, el.pos, "<%s> has an attribute %s this reader does not know", el.tag, k) end
  end
  for _, c in ipairs(el.children) do
    if not CHILDREN[el.tag][c.tag] then
      fail(ctx.text, c.pos, "<%s> inside <%s> is not read by this reader", c.tag, el.tag)
    end
    if not IGNORED[c.tag] then check_element(ctx, c) end
  end
end

local function need(ctx, el, name)
  local v = el.attrs[name]
  if v == nil or v == "" then fail(ctx.text, el.pos, "<%s> needs %s", el.tag, name) end
  return v
end

local function boolean(ctx, el, name, default)
  local v = el.attrs[name]
  if v == nil then return default end
  if v == "true" then return true end
  if v == "false" then return false end
  fail(ctx.text, el.pos, "%s=\"%s\" is not true or false", name, v)
end

local SIMPLE = "^[%a_][%w_]*$"
local QUALIFIED = "^[%a_][%w_]*%.[%w_%.]*[%w_]$"

-- "Collection(graph.identity)" -> "microsoft.graph.identity", true (aliases resolved later).
local function split_type(ctx, el, s)
  local inner = match(s, "^Collection%((.*)%)$")
  local name = inner or s
  if not find(name, QUALIFIED) then fail(ctx.text, el.pos, "Type=\"%s\" is not a qualified type name", s) end
  return name, inner ~= nil
end

local function read_property(ctx, el, navigation)
  local name = need(ctx, el, "Name")
  if not find(name, SIMPLE) then fail(ctx.text, el.pos, "Name=\"%s\" is not a simple identifier", name) end
  local tname, collection = split_type(ctx, el, need(ctx, el, "Type"))
  return {
    name = name, type = tname, collection = collection, navigation = navigation,
    nullable = boolean(ctx, el, "Nullable", true),
    contains_target = navigation and boolean(ctx, el, "ContainsTarget", false) or nil,
    pos = el.pos,
  }
end

local function declare(ctx, el, ns, name, entry)
  if not find(name, SIMPLE) then fail(ctx.text, el.pos, "Name=\"%s\" is not a simple identifier", name) end
  local q = ns .. "." .. name
  if ctx.model.types[q] or ctx.model.enums[q] then fail(ctx.text, el.pos, "%s is declared twice", q) end
  entry.name, entry.namespace, entry.qname, entry.pos = name, ns, q, el.pos
  return q
end

local function read_enum(ctx, el, ns)
  local e = { members = {} }
  local q = declare(ctx, el, ns, need(ctx, el, "Name"), e)
  local seen = {}
  for _, m in ipairs(el.children) do
    local name = need(ctx, m, "Name")
    if seen[name] then fail(ctx.text, m.pos, "member %s given twice in %s", name, q) end
    seen[name] = true
    local v = m.attrs.Value
    if v ~= nil and not find(v, "^%-?%d+$") then fail(ctx.text, m.pos, "Value=\"%s\" is not an integer", v) end
    e.members[#e.members + 1] = { name = name, value = v and tonumber(v) }
  end
  ctx.model.enums[q] = e
end

local function read_structured(ctx, el, ns)
  local t = {
    entity = el.tag == "EntityType", properties = {},
    abstract = boolean(ctx, el, "Abstract", false), open = boolean(ctx, el, "OpenType", false),
    base = el.attrs.BaseType,
  }
  local q = declare(ctx, el, ns, need(ctx, el, "Name"), t)
  if t.base and not find(t.base, QUALIFIED) then fail(ctx.text, el.pos, "BaseType=\"%s\" is not qualified", t.base) end
  local seen = {}
  for _, c in ipairs(el.children) do
    if c.tag == "Property" or c.tag == "NavigationProperty" then
      local p = read_property(ctx, c, c.tag == "NavigationProperty")
      if seen[p.name] then fail(ctx.text, c.pos, "property %s given twice in %s", p.name, q) end
      seen[p.name] = true
      t.properties[#t.properties + 1] = p
    end
  end
  ctx.model.types[q] = t
end

local function read_schema(ctx, el)
  local ns = need(ctx, el, "Namespace")
  if not find(ns, "^[%a_][%w_%.]*$") then fail(ctx.text, el.pos, "Namespace=\"%s\" is not a namespace", ns) end
  if (el.attrs.xmlns or ctx.xmlns) ~= EDM_NS then fail(ctx.text, el.pos, "<Schema> is not in the %s namespace", EDM_NS) end
  if ctx.namespaces[ns] then fail(ctx.text, el.pos, "namespace %s given twice", ns) end
  ctx.namespaces[ns] = ns
  local alias = el.attrs.Alias
  if alias then
    if ctx.namespaces[alias] then fail(ctx.text, el.pos, "alias %s is already a namespace or alias", alias) end
    ctx.namespaces[alias] = ns
  end
  for _, c in ipairs(el.children) do
    if c.tag == "EnumType" then read_enum(ctx, c, ns)
    elseif c.tag == "EntityType" or c.tag == "ComplexType" then read_structured(ctx, c, ns) end
  end
end

local PRIMITIVE = {
  ["Edm.String"] = true, ["Edm.Boolean"] = true, ["Edm.Int32"] = true, ["Edm.Int64"] = true,
  ["Edm.Single"] = true, ["Edm.Double"] = true, ["Edm.DateTimeOffset"] = true, ["Edm.Duration"] = true,
  ["Edm.Guid"] = true, ["Edm.Decimal"] = true, ["Edm.Byte"] = true, ["Edm.Int16"] = true,
  ["Edm.Date"] = true, ["Edm.TimeOfDay"] = true, ["Edm.Binary"] = true,
}

-- "graph.identity" -> "microsoft.graph.identity", checked to name something declared.
local function resolve(ctx, pos, name, what)
  if PRIMITIVE[name] then return name end
  local ns, simple = match(name, "^(.*)%.([^%.]+)$")
  local full = ctx.namespaces[ns] and (ctx.namespaces[ns] .. "." .. simple)
  if not full or not (ctx.model.types[full] or ctx.model.enums[full]) then
    fail(ctx.text, pos, "%s %s is not declared in the file", what, name)
  end
  return full
end

local function resolve_all(ctx)
  local types = ctx.model.types
  for q, t in pairs(types) do
    if t.base then
      t.base = resolve(ctx, t.pos, t.base, "base type")
      if not types[t.base] or types[t.base].entity ~= t.entity then
        fail(ctx.text, t.pos, "the base type of %s is not a type of the same sort", q)
      end
    end
    for _, p in ipairs(t.properties) do
      p.type = resolve(ctx, p.pos, p.type, "type")
      if p.navigation and not (types[p.type] and types[p.type].entity) then
        fail(ctx.text, p.pos, "navigation property %s.%s does not name an entity type", q, p.name)
      end
    end
  end
  for q in pairs(types) do   -- a cycle of base types would loop every walk that follows them
    local seen, t = {}, q
    while t do
      if seen[t] then fail(ctx.text, types[q].pos, "%s derives from itself", q) end
      seen[t] = true
      t = types[t].base
    end
  end
end

-- Parses CSDL text. Returns the model, or nil and "line N: what is wrong":
--   model.types[qname] = { name, namespace, qname, entity, abstract, open, base = qname|nil,
--     properties = { { name, type = qname | "Edm.X", collection, nullable, navigation,
--     contains_target }, ... } }
--   model.enums[qname] = { name, namespace, qname, members = { { name, value }, ... } }
function M.parse(text)
  if type(text) ~= "string" then return nil, "CSDL text expected, got " .. type(text) end
  local ok, res = pcall(function()
    local root
    root, text = read_document(text)
    local ctx = { text = text, model = { types = {}, enums = {} }, namespaces = {} }
    if root.tag ~= "edmx:Edmx" then fail(text, root.pos, "the root element is <%s>, not <edmx:Edmx>", root.tag) end
    if root.attrs["xmlns:edmx"] ~= EDMX_NS then fail(text, root.pos, "edmx is not bound to %s", EDMX_NS) end
    if root.attrs.Version ~= "4.0" then fail(text, root.pos, "Version=\"%s\": only CSDL 4.0 is read", tostring(root.attrs.Version)) end
    check_element(ctx, root)
    ctx.xmlns = root.attrs.xmlns
    local ds = root.children
    if #ds ~= 1 then fail(text, root.pos, "<edmx:Edmx> needs one <edmx:DataServices>") end
    for _, s in ipairs(ds[1].children) do read_schema(ctx, s) end
    resolve_all(ctx)
    return ctx.model
  end)
  if ok then return res end
  if getmetatable(res) == Fail then return nil, res.message end
  error(res, 0)
end

return M
