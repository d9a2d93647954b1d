-- The C core's schema (csrc/json/schema.c, through core.schema()) held against Microsoft's v1.0
-- metadata (reference/graph-v1.0-callrecords.csdl.xml) with the deliberate differences of
-- reference/differences.lua applied: every type, property, kind, collection, nullability,
-- order and enum member, in both directions. The emulator validates with the same result
-- (graphcomm_emulator.schema), so the three cannot drift apart.
local core = require "graphcomm.core"
local csdl = require "graphcomm_emulator.csdl"
local metadata = require "graphcomm_emulator.metadata"

local REF = "reference"

local read = metadata.read_file

local XML = read(REF .. "/" .. metadata.XML)
local DIFFERENCES = select(2, metadata.read(REF))

-- core.schema()'s kinds as the metadata view names them.
local KIND = { string = "String", boolean = "Boolean", int32 = "Int32", int64 = "Int64", single = "Single",
  double = "Double", datetime = "DateTime", timespan = "TimeSpan", enum = "enum", object = "complex" }

-- The core's schema as a compiled view (see metadata.lua). Types are named by their
-- @odata.type; enums, which the core names simply, by the one enum of that name in `other`.
local function core_view(other)
  local view = { root = metadata.ROOT, types = {}, enums = {} }
  local qname = {}
  for _, n in ipairs(core.schema()) do qname[n] = core.schema(n).odata_type:sub(2) end
  local function enum_q(name)
    for q, e in pairs(other.enums) do
      if e.name == name then return q end
    end
    return "(the core's own) " .. name
  end
  for _, n in ipairs(core.schema()) do
    local t = core.schema(n)
    local own = {}
    for _, p in ipairs(t.properties) do
      if p.owner == n then
        local v = { name = p.name, kind = assert(KIND[p.kind], p.kind), collection = p.array, nullable = p.nullable }
        if p.type then v.type = qname[p.type] end
        if p.enum then
          v.enum = enum_q(p.enum)
          view.enums[v.enum] = { qname = v.enum, name = p.enum, members = p.values }
        end
        own[#own + 1] = v
      end
    end
    -- The core's open types take any name with a boolean value; it has no abstract types
    -- (an object without @odata.type is its declared type).
    view.types[qname[n]] = { qname = qname[n], name = n, base = t.base and qname[t.base], abstract = false,
      open = t.open and "Boolean" or false, own = own }
  end
  return metadata.compile(view)
end

-- graphcomm's schema from metadata text and a differences list (errors raise).
local function graphcomm_schema(xml, differences)
  local model = assert(csdl.parse(xml))
  return metadata.compile(metadata.apply(metadata.reference(model), differences or DIFFERENCES))
end

local function core_against(xml, differences)
  local want = graphcomm_schema(xml, differences)
  return metadata.compare(core_view(want), want, "the core", "the metadata")
end

-- A copy of the metadata text with one exact piece replaced (asserted to be there once).
local function edited(from, to)
  local s, e = XML:find(from, 1, true)
  assert(s, "not in the metadata: " .. from)
  assert(not XML:find(from, e + 1, true), "more than once in the metadata: " .. from)
  return XML:sub(1, s - 1) .. to .. XML:sub(e + 1)
end

local USER_IDENTITY = '<Property Name="ipAddress" Type="Edm.String" />\n' ..
  '        <Property Name="userPrincipalName" Type="Edm.String" />'

describe("the core's schema against Microsoft's metadata", function()
  it("is the metadata with the listed differences, nothing missing and nothing extra", function()
    assert.same({}, core_against(XML))
  end)

  it("is what the emulator validates with (one schema, read from the same files)", function()
    local emu = require "graphcomm_emulator.schema"
    assert.same({}, metadata.compare(core_view(emu), emu, "the core", "the emulator"))
    local t = emu.types["microsoft.graph.userIdentity"]
    assert.same({ "displayName", "id", "ipAddress", "userPrincipalName" }, t.order)
    assert.same({ "microsoft.graph.callRecords.userIdentity", "microsoft.graph.userIdentity" },
      emu.types["microsoft.graph.identity"].derived)
    assert.same({ "microsoft.graph.communicationsIdentitySet" }, emu.types["microsoft.graph.identitySet"].derived)
  end)

  it("covers what a session body can hold and nothing else (callRecord, entity stay out)", function()
    local s = graphcomm_schema(XML)
    local n = 0
    for _ in pairs(s.types) do n = n + 1 end
    assert.equal(#core.schema(), n)
    assert.is_nil(s.types["microsoft.graph.callRecords.callRecord"])
    assert.is_nil(s.types["microsoft.graph.entity"])
    assert.is_nil(s.enums["microsoft.graph.callRecords.callType"])
    assert.equal("id", s.types[metadata.ROOT].properties[1].name)
  end)

  it("fails when the metadata loses a property the core has", function()
    assert.same({ "microsoft.graph.callRecords.session.isTest: in the core, not in the metadata" },
      core_against(edited('<Property Name="isTest" Type="Edm.Boolean" />\n', "")))
  end)

  it("fails when the metadata gains a property, until schema.c has its one line", function()
    local xml = edited('<Property Name="cpuName" Type="Edm.String" />',
      '<Property Name="cpuName" Type="Edm.String" />\n        <Property Name="gpuName" Type="Edm.String" />')
    assert.same({ "microsoft.graph.callRecords.participantEndpoint.gpuName: in the metadata, not in the core" },
      core_against(xml))
    -- the emulator's side is generated: zero lines
    local p = graphcomm_schema(xml).types["microsoft.graph.callRecords.participantEndpoint"].props_by_name.gpuName
    assert.same({ name = "gpuName", kind = "String", collection = false, nullable = true }, p)
  end)

  it("fails on a changed kind, collection, nullability, enum member, base or order", function()
    local cases = {
      { '<Property Name="linkSpeed" Type="Edm.Int64" />', '<Property Name="linkSpeed" Type="Edm.Int32" />',
        'networkInfo.linkSpeed: kind is "Int64" in the core, "Int32" in the metadata' },
      { '<Property Name="label" Type="Edm.String" />', '<Property Name="label" Type="Collection(Edm.String)" />',
        "media.label: collection is false in the core, true in the metadata" },
      { '<Property Name="cpuName" Type="Edm.String" />', '<Property Name="cpuName" Type="Edm.String" Nullable="false" />',
        "participantEndpoint.cpuName: nullable is true in the core, false in the metadata" },
      { '<Member Name="opus" Value="12" />\n', "",
        "enum microsoft.graph.callRecords.audioCodec: members" },
      { '<Property Name="averageJitter" Type="Edm.Duration" />', '<Property Name="averageJitter" Type="Edm.Double" />',
        'mediaStream.averageJitter: kind is "TimeSpan" in the core, "Double" in the metadata' },
      { '<Property Name="stage" Type="microsoft.graph.callRecords.failureStage" Nullable="false" />',
        '<Property Name="stage" Type="microsoft.graph.callRecords.wifiBand" Nullable="false" />',
        'failureInfo.stage: enum is "(the core\'s own) failureStage" in the core, "microsoft.graph.callRecords.wifiBand"' },
      { '<ComplexType Name="serviceEndpoint" BaseType="microsoft.graph.callRecords.endpoint" />',
        '<ComplexType Name="serviceEndpoint" />',
        'serviceEndpoint: in the core, not in the metadata' },
      { '<Property Name="reason" Type="Edm.String" />\n        <Property Name="stage" Type="microsoft.graph.callRecords.failureStage" Nullable="false" />',
        '<Property Name="stage" Type="microsoft.graph.callRecords.failureStage" Nullable="false" />\n        <Property Name="reason" Type="Edm.String" />',
        "failureInfo: the properties' order differs" },
    }
    for _, c in ipairs(cases) do
      local out = core_against(edited(c[1], c[2]))
      assert.is_true(#out >= 1, c[3])
      assert.truthy(table.concat(out, "\n"):find(c[3], 1, true), table.concat(out, "\n"))
    end
  end)
end)

describe("the differences list (reference/differences.lua)", function()
  local function apply_error(differences, xml)
    local ok, err = pcall(graphcomm_schema, xml or XML, differences)
    assert.is_false(ok, "expected an error")
    return err
  end

  local function with(entry)
    local list = {}
    for i, d in ipairs(DIFFERENCES) do list[i] = d end
    list[#list + 1] = entry
    return list
  end

  it("gives every entry a reason, and docs/schema.md names each place", function()
    local doc = read("docs/schema.md")
    for _, d in ipairs(DIFFERENCES) do
      assert.is_true(#d.reason > 40, tostring(d.at))
      for _, at in ipairs(type(d.at) == "table" and d.at or { d.at }) do
        assert.truthy(doc:find("`" .. at .. "`", 1, true), "docs/schema.md does not name " .. at)
      end
    end
  end)

  it("is needed: without it the comparison reports the differences it explains", function()
    local out = core_against(XML, {})
    assert.truthy(table.concat(out, "\n"):find("session.startDateTime: nullable is true in the core", 1, true))
    assert.truthy(table.concat(out, "\n"):find("enum microsoft.graph.callRecords.modality: members", 1, true))
    for i = 1, #DIFFERENCES do   -- and each entry is: leaving one out shows its difference
      local list = {}
      for j, d in ipairs(DIFFERENCES) do if j ~= i then list[#list + 1] = d end end
      assert.is_true(#core_against(XML, list) > 0, "entry " .. i .. " explains nothing")
    end
  end)

  it("calls an entry stale once the metadata agrees with graphcomm", function()
    local xml = edited('<EnumType Name="modality">\n', '<EnumType Name="modality">\n        <Member Name="unknown" Value="6" />\n')
    assert.matches("stale difference 2: the metadata has modality members", apply_error(DIFFERENCES, xml))
    xml = XML:gsub('<Property Name="startDateTime" Type="Edm.DateTimeOffset" Nullable="false" />',
      '<Property Name="startDateTime" Type="Edm.DateTimeOffset" />')
    assert.matches("stale difference 1: the metadata has session.startDateTime nullable = true, not false",
      apply_error(DIFFERENCES, xml))
  end)

  it("refuses entries that do not differ, name nothing, or are malformed", function()
    local base = { at = "session.isTest", field = "nullable", reference = true, graphcomm = false,
      reason = "a reason long enough to pass the check" }
    local function entry(changes)
      local e = {}
      for k, v in pairs(base) do e[k] = v end
      for k, v in pairs(changes) do e[k] = v end
      return with(e)
    end
    assert.matches("stale difference 7: the metadata has session.isTest nullable = true, not false",
      apply_error(entry({ reference = false, graphcomm = true })))
    assert.matches("does not differ", apply_error(entry({ graphcomm = true })))
    assert.matches("names no type, enum or property", apply_error(entry({ at = "sesion.isTest" })))
    assert.matches("has no property isTset", apply_error(entry({ at = "session.isTset" })))
    assert.matches("unknown key 'why'", apply_error(entry({ why = "x" })))
    assert.matches("needs a reason", apply_error(entry({ reason = "" })))
    assert.matches("is a property: nullable, kind or collection", apply_error(entry({ field = "open" })))
    assert.matches("is a type: base, abstract or open", apply_error(entry({ at = "session", field = "nullable" })))
    assert.matches("only 'members'", apply_error(entry({ at = "modality" })))
    assert.matches("names both", apply_error(entry({ at = "userIdentity", field = "open" })))
    assert.matches("listed twice", apply_error(with(DIFFERENCES[1])))
    assert.matches("not a table", apply_error({ "x" }))
    assert.matches("not a list", apply_error("x"))
  end)

  it("is a data file: it runs with no globals", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir " .. dir)
    local f = assert(io.open(dir .. "/" .. metadata.XML, "wb"))
    f:write(XML)
    f:close()
    f = assert(io.open(dir .. "/" .. metadata.DIFFERENCES, "wb"))
    f:write("return { os.exit(3) }")
    f:close()
    local s, err = metadata.load(dir)
    os.remove(dir .. "/" .. metadata.XML)
    os.remove(dir .. "/" .. metadata.DIFFERENCES)
    os.remove(dir)
    assert.is_nil(s)
    assert.matches("differences.lua", err)
    local none, why = metadata.load(dir)
    assert.is_nil(none)
    assert.matches("cannot read", why)
  end)
end)

describe("the CSDL reader", function()
  it("reads the shipped metadata whole", function()
    local m = assert(csdl.parse(XML))
    local s = m.types["microsoft.graph.callRecords.session"]
    assert.equal("microsoft.graph.entity", s.base)
    assert.is_true(s.entity)
    local seg = s.properties[#s.properties]
    assert.same({ name = "segments", type = "microsoft.graph.callRecords.segment", collection = true,
                  nullable = true, navigation = true, contains_target = true }, { name = seg.name, type = seg.type,
                  collection = seg.collection, nullable = seg.nullable, navigation = seg.navigation,
                  contains_target = seg.contains_target })
    assert.is_true(m.types["microsoft.graph.callRecords.userAgent"].abstract)
    assert.is_true(m.types["microsoft.graph.identity"].open)
    assert.equal("microsoft.graph.identity", m.types["microsoft.graph.userIdentity"].base)
    local members = {}
    for i, x in ipairs(m.enums["microsoft.graph.callRecords.wifiBand"].members) do members[i] = x.name .. "=" .. x.value end
    assert.same({ "unknown=0", "frequency24GHz=1", "frequency50GHz=2", "frequency60GHz=3", "unknownFutureValue=4" }, members)
  end)

  it("refuses what it does not understand, with the line", function()
    local cases = {
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" MaxLength="3" />',
        "attribute MaxLength this reader does not know" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Annotation Term="x" />', "<Annotation> inside <EntityType>" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean">', "expected </Property>" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" Nullable="no" />',
        'Nullable="no" is not true or false' },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" Type="Edm.String" />',
        "attribute Type given twice" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" />text',
        "text inside <EntityType>" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="callee" Type="Edm.Boolean" />',
        "property callee given twice" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="graph.nothing" />',
        "type graph.nothing is not declared" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Boolean" />',
        'Type="Boolean" is not a qualified type name' },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="is Test" Type="Edm.Boolean" />',
        'Name="is Test" is not a simple identifier' },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest"Type="Edm.Boolean" />',
        "expected white space" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" Nullable="&bogus;" />',
        "unknown entity &bogus;" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Name="isTest" Type="Edm.Boolean" Nullable="&#0;" />',
        "is not a character" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<Property Type="Edm.Boolean" />', "<Property> needs Name" },
      { '<Property Name="isTest" Type="Edm.Boolean" />', '<!-- a -- b -->', "'--' inside a comment" },
      { '<ComplexType Name="endpoint">', '<ComplexType Name="endpoint" BaseType="microsoft.graph.callRecords.participantEndpoint">',
        "derives from itself" },
      { '<ComplexType Name="media">', '<ComplexType Name="media" BaseType="graph.entity">', "not a type of the same sort" },
      { '<ComplexType Name="media">', '<ComplexType Name="deviceInfo">', "microsoft.graph.callRecords.deviceInfo is declared twice" },
      { '<Member Name="opus" Value="12" />', '<Member Name="opus" Value="twelve" />', 'Value="twelve" is not an integer' },
      { '<Member Name="opus" Value="12" />', '<Member Name="silk" Value="12" />', "member silk given twice" },
      { '<edmx:Edmx xmlns="http://docs.oasis-open.org/odata/ns/edm"', '<edmx:Edmx xmlns="urn:other"', "<Schema> is not in" },
      { 'Version="4.0">', 'Version="3.0">', "only CSDL 4.0" },
      { '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="latin1"?>', "only UTF-8" },
      { '<?xml version="1.0" encoding="utf-8"?>', '<!DOCTYPE x>', "DOCTYPE" },
      { "</edmx:Edmx>", "</edmx:Edmx><x/>", "content after the root" },
      { "</edmx:Edmx>", "", "the file ends inside <edmx:Edmx>" },
      { '<Schema Namespace="microsoft.graph.callRecords">', '<Schema Namespace="microsoft.graph">', "namespace microsoft.graph given twice" },
      { '<NavigationProperty Name="segments" Type="Collection(microsoft.graph.callRecords.segment)" ContainsTarget="true" />',
        '<NavigationProperty Name="segments" Type="Collection(microsoft.graph.callRecords.media)" ContainsTarget="true" />',
        "does not name an entity type" },
    }
    for _, c in ipairs(cases) do
      local m, err = csdl.parse(edited(c[1], c[2]))
      assert.is_nil(m, c[3])
      assert.matches("^line %d+: ", err)
      assert.truthy(err:find(c[3], 1, true), err .. " | wanted: " .. c[3])
    end
    local at = XML:find('<Property Name="isTest"', 1, true)
    local _, newlines = XML:sub(1, at):gsub("\n", "")
    local _, first = csdl.parse(edited(cases[1][1], cases[1][2]))
    assert.equal("line " .. (newlines + 1) .. ": <Property> has an attribute MaxLength this reader does not know", first)
    local m, err = csdl.parse(42)
    assert.is_nil(m)
    assert.matches("CSDL text expected", err)
    for _, bad in ipairs({ "", "<", "<a", "<a>", "<a></b>", "<a/>", "x", string.rep("<a>", 40) }) do
      local none, why = csdl.parse(bad)
      assert.is_nil(none, bad)
      assert.is_string(why, bad)
    end
  end)

  it("reads entities and character references in attribute values", function()
    local m = assert(csdl.parse(edited('<Property Name="label" Type="Edm.String" />',
      '<Property Name="label" Type="Edm.&#83;tring" Nullable=\'f&#x61;lse\' />')))
    local label
    for _, p in ipairs(m.types["microsoft.graph.callRecords.media"].properties) do
      if p.name == "label" then label = p end
    end
    assert.equal("Edm.String", label.type)
    assert.is_false(label.nullable)
  end)
end)

describe("reference/", function()
  it("ships the metadata with its licence, and names the source in the file", function()
    assert.matches("^MIT License", read(REF .. "/graph-metadata.LICENSE"))
    assert.truthy(XML:find("msgraph-metadata", 1, true))
    assert.truthy(XML:find("see graph-metadata.LICENSE", 1, true))
  end)
end)
