-- reference/differences.lua: where graphcomm's schema deliberately differs from Microsoft's
-- v1.0 metadata (graph-v1.0-callrecords.csdl.xml beside this file). The only such list:
-- the emulator applies it to the metadata to get the schema it validates with
-- (emulator/lua/graphcomm_emulator/metadata.lua), and spec/schema_reference_spec.lua holds
-- the C core (csrc/json/schema.c, through core.schema()) against the same result.
--
-- An entry: at = a type, enum or "type.property" (simple names; qualify one that two
-- namespaces share, e.g. "microsoft.graph.userIdentity"), or a list of them; field = what
-- differs (types: base, abstract, open; properties: nullable, kind, collection; enums:
-- members); reference = what the metadata says, checked on every load (an entry the
-- metadata no longer agrees with, or that does not differ, is an error: stale entries are
-- not kept); graphcomm = what the core and the emulator do instead; reason = why.
-- This file is data: it runs with no globals.

return {
  {
    at = { "session.startDateTime", "session.endDateTime", "segment.startDateTime", "segment.endDateTime" },
    field = "nullable", reference = false, graphcomm = true,
    reason = "The cmdlet page (Update-MgCommunicationCallRecordSession), graphcomm's contract, types " ..
      "these four DateTime? where the metadata says Nullable=false: the core follows the page, so that " ..
      "a caller may send null, and the emulator takes what the core sends. (Whether Graph then refuses " ..
      "null is not verified against the live service.)",
  },
  {
    at = "modality", field = "members",
    reference = { "audio", "video", "videoBasedScreenSharing", "data", "screenSharing", "unknownFutureValue" },
    graphcomm = { "unknown", "audio", "video", "videoBasedScreenSharing", "data", "screenSharing",
      "unknownFutureValue" },
    reason = "The cmdlet page lists 'unknown' among the possible Modalities; bodies written from it must " ..
      "not be refused before they are sent, so graphcomm takes the union of the page and the metadata.",
  },
  {
    at = { "session", "segment" }, field = "base", reference = "entity", graphcomm = false,
    reason = "microsoft.graph.entity is abstract and only carries id: the core declares id on session and " ..
      "segment themselves (same JSON, same order), and no body ever names entity in @odata.type.",
  },
  {
    at = "userAgent", field = "abstract", reference = true, graphcomm = false,
    reason = "A userAgent without @odata.type is written and accepted as the declared type: the cmdlet " ..
      "page's USERAGENT hash table has no @odata.type, so a caller fixing applicationVersion sends none. " ..
      "(Whether Graph's reader then refuses the abstract type is not verified against the live service.)",
  },
  {
    at = { "identity", "identitySet", "communicationsIdentitySet", "callRecords.userIdentity",
           "microsoft.graph.userIdentity" },
    field = "open", reference = "any", graphcomm = false,
    reason = "The core refuses names a type does not declare, on every type: a misspelt 'dispalyName' is " ..
      "an error before anything is sent, not a dynamic property Graph would store silently. Dynamic " ..
      "properties still go through AdditionalProperties or allow_unknown (the emulator's too).",
  },
  {
    at = "feedbackTokenSet", field = "open", reference = "any", graphcomm = "Boolean",
    reason = "The metadata declares feedbackTokenSet open with no properties; Graph documents its tokens " ..
      "as booleans (a name per piece of feedback: true or false), so any name is taken but only a " ..
      "boolean value.",
  },
}
