/* fuzz_encode.c: libFuzzer harness for the validator/encoder. The input is
 * read as a little program that builds Lua values on a stack (names from a
 * dictionary of the schema's own names, enum values, dates and durations;
 * raw strings; integers and doubles of any bit pattern; booleans, null,
 * markers; tables, fields, elements, shared references and cycles), then
 * the first table built goes through core.encode, core.session (with
 * json/totable/field access/tostring; the table view must equal
 * core.normalize exactly) and core.normalize under lua_pcall.
 * The oracle: every body encode accepts is strict RFC 8259 JSON (read by
 * strict_json.c, which shares no code with the encoder) and decodes to the
 * normalized copy (extras folded back from AdditionalProperties, numbers
 * compared by value, the empty-array marker as an empty array).
 * A fresh lua_State per input, closed at the end, so LeakSanitizer sees any
 * buffer an error stranded. Built and run by scripts/fuzz (`make fuzz`). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "json/schema.h"
#include "strict_json.h"

int luaopen_graphcomm_core(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS   4096
#define MAX_STACK 200

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned byte(reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t bytes8(reader *r)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = (v << 8) | byte(r);
    return v;
}

/* ------------------------------------------------------------ dictionary */

static const char *const extra_words[] = {
    "@odata.type", "AdditionalProperties", "additionalProperties", "@ODATA.TYPE",
    "2024-01-31T09:30:00Z", "2024-01-31T09:30:00.123456789+05:30", "2016-12-31T23:59:60Z",
    "2023-02-29T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.99999999Z",
    "PT0.015S", "P1DT2H", "-PT15M", "P1Y", "PT", "P10675199DT2H48M5.4775807S",
    "PT99999999999999999999S", "1.5e300", "", "x", "\xC3\xA9", "\xED\xA0\x80", "\xFF",
    "participantEndpoint", "#microsoft.graph.communicationsIdentitySet", "year", "month",
    "day", "hour", "min", "sec", "isdst", "yday", "wday",
};

/* Picks word k of: the extras, type names, odata names, property names (as
 * written and with the first letter upper-cased), enum values. */
static void push_word(lua_State *L, unsigned k)
{
    unsigned n = (unsigned)(sizeof extra_words / sizeof extra_words[0]);
    int t, i;
    if (k < n) {
        lua_pushstring(L, extra_words[k]);
        return;
    }
    k -= n;
    for (t = 0; t < GC_NTYPES; t++) {
        if (k == 0) { lua_pushstring(L, gc_types[t].name); return; }
        if (k == 1) { lua_pushstring(L, gc_types[t].odata); return; }
        k -= 2;
        for (i = 0; i < gc_types[t].nprops; i++, k -= 2) {
            const char *name = gc_types[t].props[i].name;
            if (k == 0) { lua_pushstring(L, name); return; }
            if (k == 1) {
                lua_pushfstring(L, "%c%s", name[0] >= 'a' ? name[0] - 32 : name[0], name + 1);
                return;
            }
        }
    }
    for (t = 0; t < GC_NENUMS; t++)
        for (i = 0; i < gc_enums[t].nvalues; i++, k--)
            if (k == 0) {
                lua_pushstring(L, gc_enums[t].values[i]);
                return;
            }
    lua_pushinteger(L, (lua_Integer)k);
}

/* --------------------------------------------------------------- builder */

/* Runs one op; returns 0 when the input is exhausted. */
static int step(lua_State *L, reader *r, int base)
{
    unsigned op = byte(r), top = (unsigned)(lua_gettop(L) - base);
    double d;
    uint64_t u;
    if (r->n == 0 && op == 0)
        return 0;
    switch (op % 14) {
    case 0: case 1: case 2: push_word(L, byte(r) | (op & 0x10 ? 256u : 0u)); break;
    case 3: {
        unsigned len = byte(r);
        if (len > r->n) len = (unsigned)r->n;
        lua_pushlstring(L, (const char *)r->p, len);
        r->p += len; r->n -= len;
        break;
    }
    case 4: lua_pushinteger(L, (lua_Integer)(int64_t)bytes8(r)); break;
    case 5: u = bytes8(r); memcpy(&d, &u, sizeof d); lua_pushnumber(L, (lua_Number)d); break;
    case 6: lua_pushnumber(L, (lua_Number)(int8_t)byte(r) / 8.0); break;
    case 7: lua_pushboolean(L, byte(r) & 1); break;
    case 8: lua_pushlightuserdata(L, NULL); break;
    case 9: lua_newtable(L); break;
    case 10:   /* t[k] = v with [t k v] on top */
        if (top >= 3 && lua_istable(L, -3) && !lua_isnil(L, -2)
            && !(lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) != lua_tonumber(L, -2)))
            lua_rawset(L, -3);
        else if (top > 0)
            lua_pop(L, 1);
        break;
    case 11:   /* append v to the table below it */
        if (top >= 2 && lua_istable(L, -2))
            lua_rawseti(L, -2, (int)gc_rawlen(L, -2) + 1);
        else if (top > 0)
            lua_pop(L, 1);
        break;
    case 12:   /* a reference to a value deeper down: sharing and cycles */
        if (top > 0)
            lua_pushvalue(L, base + 1 + (int)(byte(r) % top));
        break;
    default: {
        unsigned which = byte(r) % 3;
        lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.core");
        if (which == 0) {
            lua_getfield(L, -1, "empty_array");
        } else {
            lua_newtable(L);
            lua_getfield(L, -2, "array_mt");
            if (which == 2) { lua_pushinteger(L, 1); lua_rawseti(L, -3, 1); }
            lua_setmetatable(L, -2);
        }
        lua_remove(L, -2);
    }
    }
    if (lua_gettop(L) - base > MAX_STACK)
        lua_settop(L, base + MAX_STACK / 2);
    return 1;
}

/* ------------------------------------------------------------- exercise */

static const char *const type_names[] = { "session", "segment", "endpoint", "mediaStream",
                                           "networkInfo", "userFeedback", "identitySet" };

/* Pushes the options table chosen by one byte. */
static void push_opts(lua_State *L, unsigned b)
{
    lua_newtable(L);
    lua_pushboolean(L, b & 1);
    lua_setfield(L, -2, "allow_unknown");
    lua_pushboolean(L, (b >> 1) & 1);
    lua_setfield(L, -2, "odata_type");
    if (b & 4) {
        lua_pushinteger(L, 16 + (lua_Integer)(b >> 3) * 8);
        lua_setfield(L, -2, "max_bytes");
    }
    if (b & 0x80) {
        lua_pushstring(L, type_names[(b >> 3) % (sizeof type_names / sizeof type_names[0])]);
        lua_setfield(L, -2, "type");
    }
}

static const char exercise[] =
    "local core, t, opts, strict_json = ...\n"
    "local function num_same(a, b)\n"
    "  if math.type(a) ~= math.type(b) then return a + 0.0 == b + 0.0 end\n"
    "  return a == b\n"
    "end\n"
    /* a: the normalized value, b: the decoded JSON */
    "local function same(a, b)\n"
    "  if a == core.empty_array then return type(b) == 'table' and next(b) == nil end\n"
    "  if type(a) == 'number' then return type(b) == 'number' and num_same(a, b) end\n"
    "  if type(a) ~= 'table' then return rawequal(a, b) end\n"
    "  if type(b) ~= 'table' then return false end\n"
    "  local view, ap = a, rawget(a, 'AdditionalProperties')\n"
    "  if type(ap) == 'table' and rawget(b, 'AdditionalProperties') == nil then\n"
    "    view = {}\n"
    "    for k, v in next, a do if k ~= 'AdditionalProperties' then view[k] = v end end\n"
    "    for k, v in next, ap do if view[k] ~= nil then return false end view[k] = v end\n"
    "  end\n"
    "  for k, v in next, view do if not same(v, rawget(b, k)) then return false end end\n"
    "  for k in next, b do if rawget(view, k) == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local body, err = core.encode(t, opts)\n"
    "if os.getenv('FUZZ_ENCODE_DEBUG') then io.stderr:write(tostring(body or err), '\\n') end\n"
    "assert(body or (err.kind == 'validation' and #err.errors > 0 and tostring(err)))\n"
    "if body then\n"
    "  local decoded, why = strict_json(body)\n"
    "  assert(decoded ~= nil, 'not strict JSON: ' .. tostring(why))\n"
    "  local n = assert(core.normalize(t, opts), 'encode accepted, normalize refused')\n"
    "  assert(same(n, decoded), 'the JSON does not decode to the normalized copy')\n"
    "end\n"
    /* the session's view (read back from its text) is the normalized copy exactly */
    "local function exact(a, b)\n"
    "  if type(a) ~= type(b) or getmetatable(a) ~= getmetatable(b) then return false end\n"
    "  if type(a) == 'number' then\n"
    "    return math.type(a) == math.type(b) and a == b and (a ~= 0 or 1 / a == 1 / b)\n"
    "  end\n"
    "  if type(a) ~= 'table' then return rawequal(a, b) end\n"
    "  for k, v in next, a do if not exact(v, rawget(b, k)) then return false end end\n"
    "  for k in next, b do if rawget(a, k) == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local s = core.session(t, opts)\n"
    "if s then\n"
    "  assert(s:json() == body, 'session json differs from encode')\n"
    "  local n = s:totable()\n"
    "  assert(exact(n, core.normalize(t, opts)), 'session view differs from normalize')\n"
    "  local again = core.encode(n, opts)\n"
    "  assert(again == body, 'normalized copy encodes differently')\n"
    "  local _ = s.id, s.Segments, s['@odata.type'], tostring(s)\n"
    "end\n"
    "core.normalize(t, opts)\n";

static void run_one(lua_State *L, reader *r)
{
    int base, i, root = 0;
    unsigned optb = byte(r);
    luaL_checkstack(L, MAX_STACK + 16, "fuzz: stack");
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.exercise");
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.core");
    base = lua_gettop(L);
    for (i = 0; i < MAX_OPS && step(L, r, base); i++)
        ;
    for (i = base + 1; i <= lua_gettop(L) && !root; i++)
        if (lua_istable(L, i))
            root = i;
    if (!root)
        return;
    lua_pushvalue(L, root);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    push_opts(L, optb);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.oracle");
    if (lua_pcall(L, 4, 0, 0) != 0) {
        const char *msg = lua_tostring(L, -1);
        /* An assertion of the exercise is a bug; a Lua error from a bad
         * argument (not possible here) or memory would be reported too. */
        fprintf(stderr, "fuzz_encode: %s\n", msg ? msg : "(error object)");
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    reader r;
    if (L == NULL)
        return 0;
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_graphcomm_core);
    lua_call(L, 0, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.core");
    if (luaL_loadstring(L, exercise) != 0)
        __builtin_trap();
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.exercise");
    lua_newtable(L);
    gc_open_strict_json(L);
    lua_getfield(L, -1, "strict_json");
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.oracle");
    lua_pop(L, 1);
    r.p = data;
    r.n = size;
    run_one(L, &r);
    lua_close(L);
    return 0;
}
