-- graphcomm_emulator.schema: the schema the emulator validates bodies with, read once when
-- first required: Microsoft's v1.0 metadata (reference/graph-v1.0-callrecords.csdl.xml) with
-- graphcomm's deliberate differences applied (reference/differences.lua); see metadata.lua.
-- Not retyped by hand, so it cannot drift from the metadata: spec/schema_reference_spec.lua
-- holds the C core against the same result.
--   schema.types[qname] = { qname, name, odata, base, abstract, open, derived = { qname, ... },
--     properties = { { name, kind, type, enum, collection, nullable }, ... }, props_by_name, order }
--   schema.enums[qname] = { qname, name, members = { ... }, set = { [member] = true } }

local metadata = require "graphcomm_emulator.metadata"

local schema, err = metadata.load(metadata.default_dir())
if not schema then error("graphcomm emulator: the schema cannot be read: " .. tostring(err), 0) end
return schema
