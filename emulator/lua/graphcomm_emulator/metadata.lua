-- graphcomm_emulator.metadata: graphcomm's schema, made from Microsoft's metadata
-- (reference/graph-v1.0-callrecords.csdl.xml, read by csdl.lua) and the deliberate
-- differences (reference/differences.lua). The emulator validates bodies with it and
-- spec/schema_reference_spec.lua holds the C core's schema against it, so neither can drift.
--   local schema = assert(metadata.load("reference"))
--   schema.types["microsoft.graph.callRecords.session"].properties[1] --> { name = "id", kind = "String", ... }
-- A view (what reference() and apply() return and compare() reads):
--   { root = qname, types = { [qname] = { qname, name, base = qname|nil, abstract, open = false|"any"|kind,
--     own = { { name, kind, type = qname (complex), enum = qname (enum), collection, nullable } } } },
--     enums = { [qname] = { qname, name, members = { "name", ... } } } }

local csdl = require "graphcomm_emulator.csdl"

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local format, match, concat, sort = string.format, string.match, table.concat, table.sort

local M = {}

M.ROOT = "microsoft.graph.callRecords.session"
M.XML = "graph-v1.0-callrecords.csdl.xml"
M.DIFFERENCES = "differences.lua"

-- Edm primitive -> graphcomm kind (the names validate.lua and core.schema() use).
M.KINDS = {
  ["Edm.String"] = "String", ["Edm.Boolean"] = "Boolean", ["Edm.Int32"] = "Int32",
  ["Edm.Int64"] = "Int64", ["Edm.Single"] = "Single", ["Edm.Double"] = "Double",
  ["Edm.DateTimeOffset"] = "DateTime", ["Edm.Duration"] = "TimeSpan",
}

local function fail(fmt, ...) error(format(fmt, ...), 0) end

---------------------------------------------------------------- the reference view

-- Every type and enum a body rooted at `root` can hold: the types a value can have (the
-- root, property types and every type derived from one: OData accepts a derived type where
-- its base is declared), their base types (for their properties only: a base's other
-- derived types are not reached through it) and the enums of all their properties.
local function scope(types, enums, root)
  local seen, queue = { [root] = "value" }, { root }
  local function add(q, how)
    if q and seen[q] ~= "value" and seen[q] ~= how then
      seen[q] = how
      queue[#queue + 1] = q
    end
  end
  while #queue > 0 do
    local q = table.remove(queue)
    local t = types[q]
    if t then
      add(t.base, "base")
      for _, p in ipairs(t.own or t.properties) do add(p.type or p.enum, "value") end
      if seen[q] == "value" then
        for dq, d in pairs(types) do
          if d.base == q then add(dq, "value") end
        end
      end
    end
  end
  local st, se = {}, {}
  for q in pairs(seen) do
    if types[q] then st[q] = types[q] elseif enums[q] then se[q] = enums[q] end
  end
  return st, se
end

local function view_property(model, owner, p)
  local v = { name = p.name, collection = p.collection, nullable = p.nullable }
  if M.KINDS[p.type] then v.kind = M.KINDS[p.type]
  elseif model.enums[p.type] then v.kind, v.enum = "enum", p.type
  elseif model.types[p.type] then v.kind, v.type = "complex", p.type
  else fail("%s.%s has type %s, which graphcomm has no kind for", owner, p.name, p.type) end
  return v
end

-- The metadata as a view: the types and enums in scope from root, kinds mapped.
function M.reference(model, root)
  root = root or M.ROOT
  if not model.types[root] then fail("the metadata has no type %s", root) end
  local types, enums = scope(model.types, model.enums, root)
  local view = { root = root, types = {}, enums = {} }
  for q, t in pairs(types) do
    local own = {}
    for i, p in ipairs(t.properties) do own[i] = view_property(model, q, p) end
    view.types[q] = { qname = q, name = t.name, base = t.base, abstract = t.abstract,
      open = t.open and "any" or false, own = own }
  end
  for q, e in pairs(enums) do
    local members = {}
    for i, m in ipairs(e.members) do members[i] = m.name end
    view.enums[q] = { qname = q, name = e.name, members = members }
  end
  return view
end

---------------------------------------------------------------- differences

local function deep_equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M.deep_equal = deep_equal

local function show(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = show(x) end
    return "{ " .. concat(parts, ", ") .. " }"
  end
  return type(v) == "string" and format("%q", v) or tostring(v)
end
M.show = show

-- A type or enum by qualified name, or by its last parts ("userIdentity",
-- "callRecords.userIdentity") when only one in the view ends so.
local function find_named(view, name)
  if view.types[name] or view.enums[name] then return view.types[name] or view.enums[name] end
  local found, tail = nil, "." .. name
  for _, set in ipairs({ view.types, view.enums }) do
    for q, x in pairs(set) do
      if q:sub(-#tail) == tail then
        if found then fail("'%s' names both %s and %s: qualify it", name, found.qname, q) end
        found = x
      end
    end
  end
  return found
end
M.find = find_named

local TYPE_FIELDS = { base = true, abstract = true, open = true }
local PROP_FIELDS = { nullable = true, kind = true, collection = true }

-- Where an entry's `at` points: the table and field it changes.
local function locate(view, at, field)
  local named = find_named(view, at)
  if named then
    if view.enums[named.qname] then
      if field ~= "members" then fail("%s is an enum: only 'members' can differ", at) end
    elseif not TYPE_FIELDS[field] then
      fail("%s is a type: base, abstract or open can differ, not '%s'", at, tostring(field))
    end
    return named
  end
  local tname, pname = match(at, "^(.+)%.([^%.]+)$")
  local t = tname and find_named(view, tname)
  if not (t and t.own) then fail("'%s' names no type, enum or property in the metadata", at) end
  if not PROP_FIELDS[field] then fail("%s is a property: nullable, kind or collection can differ, not '%s'", at, tostring(field)) end
  for _, p in ipairs(t.own) do
    if p.name == pname then return p end
  end
  fail("%s has no property %s of its own in the metadata", t.qname, pname)
end

-- Removing a base folds the base chain's properties into the type (its JSON keeps them).
local function drop_base(view, t)
  local chain, b = {}, t.base
  while b do
    local bt = view.types[b]
    for i = #bt.own, 1, -1 do chain[#chain + 1] = bt.own[i] end
    b = bt.base
  end
  local own = {}
  for i = #chain, 1, -1 do own[#own + 1] = chain[i] end
  for _, p in ipairs(t.own) do own[#own + 1] = p end
  t.own = own
end

local ENTRY_KEYS = { at = true, field = true, reference = true, graphcomm = true, reason = true }

local function check_entry(i, d)
  if type(d) ~= "table" then fail("difference %d is not a table", i) end
  for k in pairs(d) do
    if not ENTRY_KEYS[k] then fail("difference %d has an unknown key '%s'", i, tostring(k)) end
  end
  if type(d.reason) ~= "string" or #d.reason < 20 then fail("difference %d needs a reason (a sentence)", i) end
  if type(d.field) ~= "string" then fail("difference %d needs a field", i) end
  if d.reference == nil or d.graphcomm == nil then fail("difference %d needs reference and graphcomm values", i) end
  if deep_equal(d.reference, d.graphcomm) then fail("difference %d (%s) does not differ", i, tostring(d.at)) end
  local ats = type(d.at) == "table" and d.at or { d.at }
  if #ats == 0 then fail("difference %d names no place (at)", i) end
  for _, a in ipairs(ats) do
    if type(a) ~= "string" then fail("difference %d: at must be a name or a list of names", i) end
  end
  return ats
end

-- Applies the differences to a reference view (in place) and returns it. Each entry must
-- find the metadata saying exactly `reference`: an entry that no longer differs, or whose
-- place changed in the metadata, is an error (a stale entry hides the next real difference).
function M.apply(view, differences)
  if type(differences) ~= "table" then fail("the differences are not a list") end
  local seen = {}
  for i, d in ipairs(differences) do
    for _, at in ipairs(check_entry(i, d)) do
      local key = at .. "/" .. d.field
      if seen[key] then fail("%s (%s) is listed twice", at, d.field) end
      seen[key] = true
      local target = locate(view, at, d.field)
      local have, want = target[d.field], d.reference
      if have == nil then have = false end
      if d.field == "base" and want then want = (find_named(view, want) or {}).qname or want end
      if not deep_equal(have, want) then
        fail("stale difference %d: the metadata has %s %s = %s, not %s", i, at, d.field, show(have), show(d.reference))
      end
      if d.field == "base" then
        if d.graphcomm then fail("difference %d: a base can only be removed (graphcomm = false)", i) end
        drop_base(view, target)
        target.base = nil
      else
        target[d.field] = d.graphcomm
      end
    end
  end
  view.types, view.enums = scope(view.types, view.enums, view.root)
  return view
end

---------------------------------------------------------------- the emulator's tables

-- Adds what validation needs: flattened properties (base chain first), by-name lookup,
-- the odata name, the derived types (transitive) and enum sets.
function M.compile(view)
  local types = view.types
  local function is_a(q, ancestor)
    while q do
      if q == ancestor then return true end
      q = types[q].base
    end
    return false
  end
  for q, t in pairs(types) do
    local chain, b = {}, q
    while b do chain[#chain + 1] = types[b]; b = types[b].base end
    t.properties, t.props_by_name, t.order = {}, {}, {}
    for i = #chain, 1, -1 do
      for _, p in ipairs(chain[i].own) do
        t.properties[#t.properties + 1] = p
        t.props_by_name[p.name] = p
        t.order[#t.order + 1] = p.name
      end
    end
    t.odata = "#" .. q
    t.derived = {}
    for dq in pairs(types) do
      if dq ~= q and is_a(dq, q) then t.derived[#t.derived + 1] = dq end
    end
    sort(t.derived)
  end
  for _, e in pairs(view.enums) do
    e.set = {}
    for _, m in ipairs(e.members) do e.set[m] = true end
  end
  return view
end

---------------------------------------------------------------- comparing

local PROP_KEYS = { "kind", "type", "enum", "collection", "nullable" }

local function keys_sorted(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  sort(out)
  return out
end

local function compare_props(out, q, ta, tb, an, bn)
  local common_a, common_b = {}, {}
  for _, p in ipairs(ta.properties) do
    local o = tb.props_by_name[p.name]
    if not o then out[#out + 1] = format("%s.%s: in %s, not in %s", q, p.name, an, bn)
    else
      common_a[#common_a + 1] = p.name
      for _, k in ipairs(PROP_KEYS) do
        local va, vb = p[k], o[k]
        if va == nil then va = false end
        if vb == nil then vb = false end
        if va ~= vb then
          out[#out + 1] = format("%s.%s: %s is %s in %s, %s in %s", q, p.name, k, show(va), an, show(vb), bn)
        end
      end
    end
  end
  for _, p in ipairs(tb.properties) do
    if not ta.props_by_name[p.name] then out[#out + 1] = format("%s.%s: in %s, not in %s", q, p.name, bn, an)
    else common_b[#common_b + 1] = p.name end
  end
  if not deep_equal(common_a, common_b) then
    out[#out + 1] = format("%s: the properties' order differs: %s in %s, %s in %s", q, show(common_a), an, show(common_b), bn)
  end
end

local TYPE_KEYS = { "base", "abstract", "open" }

-- What differs between two compiled views, one sentence a difference (none: they agree).
-- an and bn name the two sides in the sentences.
function M.compare(a, b, an, bn)
  local out = {}
  for _, sets in ipairs({ { a.types, b.types, "type" }, { a.enums, b.enums, "enum" } }) do
    local sa, sb, what = sets[1], sets[2], sets[3]
    for _, q in ipairs(keys_sorted(sa)) do
      if not sb[q] then out[#out + 1] = format("%s %s: in %s, not in %s", what, q, an, bn) end
    end
    for _, q in ipairs(keys_sorted(sb)) do
      if not sa[q] then out[#out + 1] = format("%s %s: in %s, not in %s", what, q, bn, an) end
    end
  end
  for _, q in ipairs(keys_sorted(a.types)) do
    local ta, tb = a.types[q], b.types[q]
    if tb then
      for _, k in ipairs(TYPE_KEYS) do
        local va, vb = ta[k] or false, tb[k] or false
        if va ~= vb then out[#out + 1] = format("%s: %s is %s in %s, %s in %s", q, k, show(va), an, show(vb), bn) end
      end
      compare_props(out, q, ta, tb, an, bn)
    end
  end
  for _, q in ipairs(keys_sorted(a.enums)) do
    local ea, eb = a.enums[q], b.enums[q]
    if eb and not deep_equal(ea.members, eb.members) then
      out[#out + 1] = format("enum %s: members %s in %s, %s in %s", q, show(ea.members), an, show(eb.members), bn)
    end
  end
  return out
end

---------------------------------------------------------------- loading

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s", err) end
  local s = f:read("*a")
  f:close()
  return s
end
M.read_file = read_file

-- A data file (reference/differences.lua): run with no globals at all.
local function load_data(path)
  local src = read_file(path)
  local chunk, err
  if setfenv then
    chunk, err = loadstring(src, "@" .. path)
    if chunk then setfenv(chunk, {}) end
  else
    chunk, err = load(src, "@" .. path, "t", {})
  end
  if not chunk then fail("%s", err) end
  local ok, res = pcall(chunk)
  if not ok then fail("%s: %s", path, tostring(res)) end
  return res
end

-- Reads dir/<XML> and dir/differences.lua: the model and the list.
function M.read(dir)
  local model, err = csdl.parse(read_file(dir .. "/" .. M.XML))
  if not model then fail("%s/%s: %s", dir, M.XML, err) end
  return model, load_data(dir .. "/" .. M.DIFFERENCES)
end

-- graphcomm's schema from a reference folder: compiled, ready for validate.lua.
-- Returns it, or nil and the reason.
function M.load(dir)
  local ok, res = pcall(function()
    local model, differences = M.read(dir)
    return M.compile(M.apply(M.reference(model), differences))
  end)
  if ok then return res end
  return nil, res
end

-- The reference folder beside the emulator: <emulator>/reference (an emulator prefix or an
-- install), else the source tree's <repository>/reference. Found from this file's place.
function M.default_dir()
  local src = debug.getinfo(1, "S").source
  local here = match(src, "^@(.*)/[^/]*$") or "."
  for _, dir in ipairs({ here .. "/../../reference", here .. "/../../../reference" }) do
    local f = io.open(dir .. "/" .. M.XML, "rb")
    if f then f:close(); return dir end
  end
  fail("no reference folder (%s) beside %s", M.XML, here)
end

return M
