-- scripts/gen-types.lua OUTDIR: writes OUTDIR/graphcomm.lua, the LuaLS (---@meta)
-- definitions of graphcomm, from the core's schema (core.schema(): every call-records
-- type, its properties and enums), the code's option tables (their names), and the API
-- table below (the facade, the client's methods, option types, the error object),
-- which is kept by hand.
-- `make types` runs it into types/; spec/types_meta_spec.lua fails when the file there
-- is not what this script writes now. The output does not depend on the Lua running it.
local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
local build = os.getenv("GRAPHCOMM_BUILD") or ("build/" .. flavour)
package.path = "lua/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local core = require "graphcomm.core"
local VERSION = require "graphcomm.version"

local concat = table.concat

local NS = "callRecords."       -- class prefix of the schema's types

------------------------------------------------------------------------------
-- The hand-kept part: the API (DESIGN.md sections 2 to 4, as the code stands)
------------------------------------------------------------------------------

-- Option tables and result shapes: { name, { field, type, doc }... }.
local RECORDS = {
  { "graphcomm.Transport", "A transport of your own (HACKING.md): send, sleep and now.",
    { "send", "fun(req: graphcomm.Request): graphcomm.Response?, graphcomm.Error?", "one HTTP exchange" },
    { "sleep", "fun(seconds: number)", "waits" },
    { "now", "fun(): number", "monotonic seconds" } },
  { "graphcomm.Identity", "The ViaIdentity parameter set.",
    { "CallRecordId", "string", "the call record's id" },
    { "SessionId", "string", "the session's id" } },
  { "graphcomm.Request", "A request as sent (what_if returns one; Authorization redacted).",
    { "method", "string", "" }, { "url", "string", "" },
    { "headers", "table<string, string>|string[]", "" }, { "body", "string?", "the JSON text" } },
  { "graphcomm.Response", "An answer: update_session's second result.",
    { "status", "integer", "HTTP status" }, { "headers", "table<string, string>", "lower-case names" },
    { "body", "string?", "" }, { "request_id", "string?", "Graph's request-id" } },
  { "graphcomm.Item", "One fix for client:update_sessions.",
    { "call_record_id", "string", "" }, { "session_id", "string", "" },
    { "body", NS .. "session|graphcomm.Session", "" } },
  { "graphcomm.Summary", "What client:update_sessions returns.",
    { "ok", "integer", "succeeded" }, { "failed", "integer", "failed" },
    { "skipped", "integer?", "already done by the journal" },
    { "connections", "integer?", "connections opened during the run" } },
  { "graphcomm.ValidationProblem", "One entry of err.errors.",
    { "path", "string", "e.g. segments[1].media[2].streams[1].averageJitter" },
    { "message", "string", "" } },
  { "graphcomm.Error", "Errors are values: nil, err.",
    { "kind", "graphcomm.ErrorKind", "" },
    { "message", "string", "" },
    { "status", "integer?", "HTTP status" },
    { "code", "string?", "Graph's error code" },
    { "request_id", "string?", "" }, { "client_request_id", "string?", "" },
    { "date", "string?", "Graph's innerError.date, read as UTC" },
    { "retry_after", "number?", "seconds Graph asked to wait" },
    { "headers", "table<string, string>?", "" },
    { "errors", "graphcomm.ValidationProblem[]?", "validation: every problem at once" } },
}

-- Option tables: the names are the code's own (the table each function checks its
-- options against, so that this file follows them); the type and a word on each come
-- from the hints here (a name without one is typed from the code's table, "any" for a
-- validator function: spec/types_meta_spec.lua lists such names).
local OPTION_TABLES = {
  { "graphcomm.SessionOptions", "Options of graphcomm.session.", "graphcomm", "SESSION_OPTIONS" },
  { "graphcomm.ConnectOptions", "Options of graphcomm.connect; unset ones fall back to the environment.",
    "graphcomm.options", "CONNECT" },
  { "graphcomm.UpdateOptions", "Options of client:update_session (or the cmdlet's names: WhatIf, PassThru...).",
    "graphcomm.params", "UPDATE" },
  { "graphcomm.BulkOptions", "Options of client:update_sessions.", "graphcomm.bulk", "OPTIONS" },
  { "graphcomm.Query", "OData query options (names with or without $).", "graphcomm.read", "QUERY" },
  { "graphcomm.SubscribeOptions", "Options of client:subscribe.", "graphcomm.subscriptions", "SUBSCRIBE" },
}

local HINTS = {
  -- session
  allow_unknown = { "boolean", "write names the schema does not know instead of refusing them" },
  odata_type = { "boolean", "write @odata.type on the body" },
  max_bytes = { "integer", "largest JSON body (default 4 MiB)" },
  type = { "string", "the schema type to validate as (default session)" },
  -- connect
  base_url = { "string", "Graph's root URL (default from environment)" },
  environment = { "graphcomm.Cloud", "national cloud (default Global)" },
  api_version = { '"v1.0"|"beta"', "default v1.0" },
  -- subscribe
  notification_url = { "string", "where Graph posts notifications (https, or http to loopback)" },
  lifecycle_url = { "string", "where Graph posts lifecycle events" },
  client_state = { "string", "a secret of 1 to 128 characters Graph sends back" },
  expires_in = { "number", "seconds until expiry (default 4200 minutes, at most 4230)" },
  change_type = { "string", "created, updated or created,updated (default)" },
  token = { "string|(fun(): string, number?)", "a bearer token, or a function returning token[, expires_in]" },
  tenant_id = { "string", "client-credentials flow: the tenant" },
  client_id = { "string", "client-credentials flow: the application id" },
  client_secret = { "string", "client-credentials flow: the secret" },
  client_certificate = { "string", "client-credentials flow: a PEM certificate path" },
  client_certificate_key = { "string", "the certificate's private key (PEM path), when apart" },
  client_certificate_password = { "string", "the private key's password" },
  authority = { "string", "token authority (default from environment)" },
  scope = { "string", "token scope (default {base_url}/.default)" },
  timeout = { "number", "seconds a request may take (default 100)" },
  connect_timeout = { "number", "seconds to connect (default 10)" },
  max_retries = { "integer", "retries of 429/503/504 and connection failures (default 3)" },
  max_retry_delay = { "number", "cap of one wait in seconds (default 180)" },
  max_response_bytes = { "integer", "largest answer body (default 16 MiB)" },
  max_pages = { "integer", "pages one read follows at most (default 1000)" },
  ca_file = { "string", "CA bundle (PEM) to verify TLS with" },
  proxy = { "string", "proxy URL" },
  http_version = { '"1.0"|"1.1"|"2"|"2tls"|number', "HTTP version to ask libcurl for" },
  headers = { "table<string, string>", "more headers (every request, or this one)" },
  user_agent = { "string", "User-Agent header" },
  compress = { "boolean|integer", "gzip request bodies (true, or the smallest size to compress)" },
  debug = { "fun(line: string)", "receives redacted request and response lines" },
  on_retry = { "function", "called before each retry" },
  token_cache = { 'boolean|"file"|{ path: string?, shared_dict: string? }',
    "keep renewable tokens in a private file cache (or an nginx shared dict)" },
  transport = { '"curl"|"ngx"|graphcomm.Transport', "libcurl (default), nginx threads, or your own" },
  thread_pool = { "string", "transport ngx: nginx thread pool name" },
  thread_vm_pool_size = { "integer", "transport ngx: Lua VMs per worker thread pool" },
  getenv = { "fun(name: string): string?", "where the environment is read from (default os.getenv)" },
  random = { "fun(): number", "jitter source (tests)" },
  limits = { "boolean|table", "Graph's throttling limits kept before requests leave (docs/throttling.md); false: off" },
  -- update
  what_if = { "boolean", "return the request instead of sending it" },
  confirm = { "boolean|fun(req: graphcomm.Request): boolean", "sends only when it returns true" },
  pass_thru = { "boolean", "the cmdlet's PassThru (success returns true)" },
  client_request_id = { "string", "client-request-id header (default a new UUID v4)" },
  -- bulk
  concurrency = { "integer", "requests in flight (default 16)" },
  batch = { "boolean", "Graph JSON batching, 20 requests a $batch" },
  ordered = { "boolean", "fixes of one session in order (default true)" },
  total = { "integer", "items in all, for on_progress when items is an iterator" },
  max_waiting = { "integer", "items read ahead at most" },
  max_failures = { "integer", "stop after this many failures" },
  batch_size = { "integer", "updates per $batch, 1 to 20 (default 20)" },
  should_stop = { "fun(): boolean", "stop when it returns true" },
  on_result = { "fun(i: integer, ok: boolean, err: graphcomm.Error?, item: graphcomm.Item)", "each outcome" },
  on_progress = { "fun(done: integer, total: integer?, throttled: number?)", "progress (throttled: seconds held by the limits)" },
  journal = { "string", "JSONL file of outcomes; a rerun skips what succeeded" },
  -- query
  select = { "string", "" }, expand = { "string", "" }, filter = { "string", "" },
  top = { "integer|string", "" }, skip = { "integer|string", "" }, orderby = { "string", "" },
  search = { "string", "" }, count = { "boolean|string", "" },
}

local ALIASES = {
  { "graphcomm.Cloud", '"Global"|"USGov"|"USGovDoD"|"China"' },
  { "graphcomm.ErrorKind", '"validation"|"http"|"transport"|"auth"|"declined"' },
  { "graphcomm.Null", "lightuserdata" },
}

-- Functions: { owner, name, method?, doc, params = { {name, type}... }, returns = {type...} }.
local FUNCTIONS = {
  { "graphcomm", "session", false, "Validates tbl as a session; a session object, or nil, err.",
    { { "tbl", NS .. "session" }, { "opts?", "graphcomm.SessionOptions" } },
    { "graphcomm.Session?", "graphcomm.Error?" } },
  { "graphcomm", "connect", false, "A client, or nil, err.",
    { { "opts?", "graphcomm.ConnectOptions" } }, { "graphcomm.Client?", "graphcomm.Error?" } },
  { "graphcomm", "default_client", false, "The client built from the environment (kept).",
    {}, { "graphcomm.Client?", "graphcomm.Error?" } },
  { "graphcomm", "update_session", false, "client:update_session on the default client.",
    { { "...", "any" } }, { "(true|graphcomm.Request)?", "graphcomm.Response|graphcomm.Error" } },
  { "graphcomm", "diff", false, "The smallest PATCH body turning old into new.",
    { { "old", NS .. "session" }, { "new", NS .. "session" } }, { "table?", "graphcomm.Error?" } },
  { "graphcomm.Session", "json", true, "The JSON body.", {}, { "string" } },
  { "graphcomm.Session", "totable", true, "A normalized copy.", {}, { NS .. "session" } },
  { "graphcomm.Client", "update_session", true,
    "PATCH one session (also the ViaIdentity and one-table parameter sets).",
    { { "call_record_id", "string|graphcomm.Identity|table" }, { "session_id?", "string|table" },
      { "body?", NS .. "session|graphcomm.Session|graphcomm.UpdateOptions" },
      { "opts?", "graphcomm.UpdateOptions" } },
    { "(true|graphcomm.Request)?", "graphcomm.Response|graphcomm.Error" } },
  { "graphcomm.Client", "update_sessions", true, "Many updates over libcurl's multi interface.",
    { { "items", "graphcomm.Item[]|(fun(): graphcomm.Item?)" }, { "opts?", "graphcomm.BulkOptions" } },
    { "graphcomm.Summary?", "graphcomm.Error?" } },
  { "graphcomm.Client", "get_session", true, "One session, decoded.",
    { { "call_record_id", "string" }, { "session_id", "string" }, { "query?", "graphcomm.Query" } },
    { NS .. "session?", "graphcomm.Error?" } },
  { "graphcomm.Client", "get_call_record", true, "A call record, nested paging followed.",
    { { "call_record_id", "string" }, { "query?", "graphcomm.Query" } }, { "table?", "graphcomm.Error?" } },
  { "graphcomm.Client", "sessions", true, "Iterator over a record's sessions, page by page.",
    { { "call_record_id", "string" }, { "query?", "graphcomm.Query" } },
    { "(fun(): " .. NS .. "session?, graphcomm.Error?)" } },
  { "graphcomm.Client", "call_records", true, "Iterator over the tenant's call records, page by page.",
    { { "query?", "graphcomm.Query" } }, { "(fun(): table?, graphcomm.Error?)" } },
  { "graphcomm.Client", "run_rule", true, "Runs a fix rule over a window or record ids; plans, or applies.",
    { { "rule", "table|string" }, { "opts?", "table" } }, { "table?", "graphcomm.Error?" } },
  { "graphcomm.Client", "subscribe", true, "A change-notification subscription on call records.",
    { { "opts", "graphcomm.SubscribeOptions" } }, { "table?", "graphcomm.Response|graphcomm.Error" } },
  { "graphcomm.Client", "renew_subscription", true, "Moves a subscription's expiry (at most 4230 minutes).",
    { { "id", "string" }, { "expires_in?", "number" } }, { "table?", "graphcomm.Response|graphcomm.Error" } },
  { "graphcomm.Client", "unsubscribe", true, "Deletes a subscription.",
    { { "id", "string" } }, { "true?", "graphcomm.Response|graphcomm.Error" } },
  { "graphcomm.Client", "subscriptions", true, "Every subscription of the application (all pages).",
    {}, { "table[]?", "graphcomm.Error?" } },
  { "graphcomm.Client", "request", true, "One logical request (auth, retries, redirects, errors).",
    { { "spec", "table" } }, { "graphcomm.Response?", "graphcomm.Error?" } },
  { "graphcomm.Client", "close", true, "Closes the client (also __gc and __close); idempotent.", {}, {} },
}

------------------------------------------------------------------------------
-- The schema's part
------------------------------------------------------------------------------

local function quote(s) return '"' .. s .. '"' end

local SCALAR = {
  string = "string", boolean = "boolean", int32 = "integer", int64 = "integer",
  single = "number", double = "number",
  datetime = "string|number|osdateparam", timespan = "string|number",
}

local function field_type(p)
  local t
  if p.kind == "object" then t = NS .. p.type
  elseif p.kind == "enum" then t = NS .. p.enum
  else t = SCALAR[p.kind] end
  if p.array then
    t = (t:find("|", 1, true) and "(" .. t .. ")" or t) .. "[]"
  end
  if p.nullable then t = t .. "|graphcomm.Null" end
  return t
end

local function schema_types()
  local list = {}
  for i, name in ipairs(core.schema()) do list[i] = core.schema(name) end
  return list
end

-- Enums in the order the schema first uses them.
local function enums(types)
  local seen, out = {}, {}
  for _, t in ipairs(types) do
    for _, p in ipairs(t.properties) do
      if p.enum and not seen[p.enum] then
        seen[p.enum] = true
        out[#out + 1] = p
      end
    end
  end
  return out
end

------------------------------------------------------------------------------
-- LuaLS output
------------------------------------------------------------------------------

-- The option tables as records: { class, doc, { name, type, doc }... }, names sorted.
local function option_records()
  local out = {}
  for _, o in ipairs(OPTION_TABLES) do
    local known = require(o[3])[o[4]]
    local names = {}
    for name in pairs(known) do names[#names + 1] = name end
    table.sort(names)
    local r = { o[1], o[2] }
    for _, name in ipairs(names) do
      local hint, t = HINTS[name], known[name]
      r[#r + 1] = { name, hint and hint[1] or (type(t) == "string" and t or "any"), hint and hint[2] or "" }
    end
    out[#out + 1] = r
  end
  return out
end

local function luals(types)
  local out = {}
  local function say(...) out[#out + 1] = concat({ ... }) end
  say("---@meta graphcomm")
  say("-- graphcomm ", VERSION, ": LuaLS definitions. Generated by scripts/gen-types.lua from")
  say("-- core.schema() and its API table; do not edit (`make types` writes it again).")
  say("-- Body types are callRecords.<name>: names are also taken in PascalCase, matched")
  say("-- case-insensitively, and AdditionalProperties holds extra JSON on every object;")
  say("-- [\"@odata.type\"] selects a derived type (participantEndpoint, clientUserAgent...).")
  say("")
  for _, a in ipairs(ALIASES) do say("---@alias ", a[1], " ", a[2]) end
  say("")
  say("-- Enums (case-insensitive in, canonical out)")
  for _, p in ipairs(enums(types)) do
    local vals = {}
    for i, v in ipairs(p.values) do vals[i] = quote(v) end
    say("---@alias ", NS, p.enum, " ", concat(vals, "|"))
  end
  for _, t in ipairs(types) do
    say("")
    say("---", t.odata_type)
    say("---@class ", NS, t.name, t.base and (": " .. NS .. t.base) or "")
    for _, p in ipairs(t.properties) do
      if p.owner == t.name then say("---@field ", p.name, "? ", field_type(p)) end
    end
    if t.open then say("---@field [string] boolean") end
    if not t.base then say("---@field AdditionalProperties? table<string, any>") end
  end
  say("")
  say("---A session object (graphcomm.session): fields read as normalized values.")
  say("---@class graphcomm.Session: ", NS, "session")
  say("local Session = {}")
  say("")
  say("---A client (graphcomm.connect).")
  say("---@class graphcomm.Client")
  say("local Client = {}")
  local function record(r, optional)
    say("")
    say("---", r[2])
    say("---@class ", r[1])
    for i = 3, #r do
      local f = r[i]
      say("---@field ", f[1], optional and "? " or " ", f[2], f[3] ~= "" and (" " .. f[3]) or "")
    end
  end
  for _, r in ipairs(option_records()) do record(r, true) end
  for _, r in ipairs(RECORDS) do record(r, false) end
  say("")
  say("---@class graphcomm")
  say("---@field _VERSION string ", quote(VERSION))
  say("---@field version string the same as _VERSION")
  say("---@field null graphcomm.Null JSON null (equal to cjson.null): clears a nullable property")
  say("local graphcomm = {}")
  local locals = { ["graphcomm.Session"] = "Session", ["graphcomm.Client"] = "Client" }
  for _, f in ipairs(FUNCTIONS) do
    say("")
    say("---", f[4])
    for _, p in ipairs(f[5]) do say("---@param ", p[1], " ", p[2]) end
    for _, r in ipairs(f[6]) do say("---@return ", r) end
    local names = {}
    for i, p in ipairs(f[5]) do names[i] = (p[1]:gsub("%?$", "")) end
    say("function ", locals[f[1]] or f[1], f[3] and ":" or ".", f[2], "(", concat(names, ", "), ") end")
  end
  say("")
  say("return graphcomm")
  return concat(out, "\n") .. "\n"
end

------------------------------------------------------------------------------

local dir = arg[1] or error("usage: lua scripts/gen-types.lua OUTDIR")
local f = assert(io.open(dir .. "/graphcomm.lua", "w"))
f:write(luals(schema_types()))
f:close()
