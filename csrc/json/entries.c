/* entries.c: the Lua face of the encoder: core.encode (the update fast
 * path), core.session (the graphcomm.session userdata), core.normalize,
 * core.null. Each function keeps its JSON buffer as upvalue 2 between calls,
 * so a typical encode allocates nothing but the result string.
 *
 * A session object is a userdata holding its root type, and two parts (see
 * get_part): its JSON text and its normalized table. The text, made at creation,
 * is the snapshot: later changes to the caller's table cannot reach it. The
 * normalized table (totable, s.name, core.normalize) is made from the text on
 * first use, so creating one costs about what core.encode does; when the
 * creating walk saw values its text does not keep (gc_walk_inexact: markers,
 * 64-bit boxes), it stops there and the object is made as before, by a walk
 * in build mode whose text and table both become it. Whole floats, which the
 * text writes as integers, are listed by offset (gc_floats) instead. */
#include <string.h>
#include "json/encode.h"

#define GC_SESSION_MT "graphcomm.session"
#define BUF_KEEP_MAX ((size_t)1 << 20)   /* larger buffers are not kept */

void gc_open_session(lua_State *L);

/* ---------------------------------------------------------------- options */

static int opt_bool(lua_State *L, int opts, const char *k)
{
    int r;
    lua_getfield(L, opts, k);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "opts.%s must be a boolean", k));
    r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

static void read_opts(lua_State *L, int opts, gc_encode_opts *o, int build)
{
    o->type = GC_T_SESSION;
    o->allow_unknown = o->odata_type = o->stop_inexact = 0;
    o->build = build;
    o->max_bytes = GC_DEFAULT_MAX_BYTES;
    o->floats = NULL;
    if (lua_isnoneornil(L, opts))
        return;
    luaL_checktype(L, opts, LUA_TTABLE);
    o->allow_unknown = opt_bool(L, opts, "allow_unknown");
    o->odata_type = opt_bool(L, opts, "odata_type");
    lua_getfield(L, opts, "max_bytes");
    if (!lua_isnil(L, -1)) {
        lua_Number m = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(m >= 1 && m <= 1e15))
            luaL_argerror(L, 2, "opts.max_bytes must be a positive number");
        o->max_bytes = (size_t)m;
    }
    lua_getfield(L, opts, "type");
    if (!lua_isnil(L, -1)) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        o->type = lua_type(L, -1) == LUA_TSTRING ? gc_type_by_name(s, n) : -1;
        if (o->type < 0)
            luaL_argerror(L, 2, "opts.type must name a call-records type (such as \"segment\")");
    }
    lua_pop(L, 2);
}

/* ----------------------------------------------------------------- buffer */

/* Pushes the cached buffer (taking it out of the cache, so that a nested
 * call, or an error thrown half way, can never share it) or a new one. */
static gc_buf *take_buf(lua_State *L)
{
    gc_buf *b = (gc_buf *)lua_touserdata(L, lua_upvalueindex(2));
    if (b == NULL)
        return gc_buf_push(L);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushboolean(L, 0);
    lua_replace(L, lua_upvalueindex(2));
    return b;
}

static void give_back(lua_State *L, int idx, gc_buf *b)
{
    if (b->cap > BUF_KEEP_MAX)
        return;
    lua_pushvalue(L, idx);
    lua_replace(L, lua_upvalueindex(2));
}

/* Walks argument 1 with the options o; leaves the results on top, returns
 * what gc_encode does. */
static int walk(lua_State *L, const gc_encode_opts *o)
{
    gc_buf *b = take_buf(L);
    int r, bufidx = lua_gettop(L);
    r = gc_encode(L, 1, o, b, lua_upvalueindex(1));
    give_back(L, bufidx, b);
    return r;
}

/* Reads the arguments (table, opts) and walks; see walk. A session's first
 * walk (fl: where its floats go) stops at an inexact value. */
static int run(lua_State *L, int build, gc_floats *fl, gc_encode_opts *o)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    read_opts(L, 2, o, build);
    o->stop_inexact = fl != NULL;
    o->floats = fl;
    lua_settop(L, 2);
    return walk(L, o);
}

/* --------------------------------------------------------------- sessions */

static int is_session(lua_State *L, int idx)
{
    return gc_testudata(L, idx, GC_SESSION_MT) != NULL;
}

/* A session's parts: 1 = JSON text, 2 = normalized table, or until it is
 * made nil or a string holding the text's gc_floats offsets. Lua 5.4
 * keeps them as two user values (no table to allocate); earlier Luas in a
 * uservalue (environment) table. */
#define PART_JSON 1
#define PART_TABLE 2

#if LUA_VERSION_NUM >= 504
static void new_session(lua_State *L, int type)
{
    *(int *)lua_newuserdatauv(L, sizeof(int), 2) = type;
}

static void get_part(lua_State *L, int idx, int part)
{
    lua_getiuservalue(L, idx, part);
}

static void set_part(lua_State *L, int idx, int part)   /* pops the value */
{
    lua_setiuservalue(L, idx, part);
}
#else
#if LUA_VERSION_NUM >= 502
#define set_uservalue(L, i) lua_setuservalue(L, i)
#define get_uservalue(L, i) lua_getuservalue(L, i)
#else
#define set_uservalue(L, i) lua_setfenv(L, i)
#define get_uservalue(L, i) lua_getfenv(L, i)
#endif

static void new_session(lua_State *L, int type)
{
    *(int *)lua_newuserdata(L, sizeof(int)) = type;
    lua_createtable(L, 2, 0);
    set_uservalue(L, -2);
}

static void get_part(lua_State *L, int idx, int part)
{
    get_uservalue(L, idx);
    lua_rawgeti(L, -1, part);
    lua_remove(L, -2);
}

static void set_part(lua_State *L, int idx, int part)
{
    get_uservalue(L, idx);
    lua_insert(L, -2);
    lua_rawseti(L, -2, part);
    lua_pop(L, 1);
}
#endif

static void session_json(lua_State *L, int idx)
{
    get_part(L, idx, PART_JSON);
}

/* Pushes the session's normalized table, made on first use: its text read
 * back and walked again in build mode (names outside the schema are in the
 * text at their object's level, hence allow_unknown; the walk puts them
 * under AdditionalProperties as the creating walk did). That walk must give
 * the same text back; schema is the schema registry's index. */
static void session_table(lua_State *L, int idx, int schema)
{
    gc_encode_opts o;
    gc_floats fl;
    size_t n;
    const char *json;
    int top;
    get_part(L, idx, PART_TABLE);
    if (lua_istable(L, -1))
        return;
    fl.n = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, -1, &n);
        fl.n = (int)(n / sizeof(uint32_t) < GC_MAX_FLOATS ? n / sizeof(uint32_t) : GC_MAX_FLOATS);
        memcpy(fl.at, s, (size_t)fl.n * sizeof(uint32_t));
    }
    top = lua_gettop(L);
    o.type = *(const int *)lua_touserdata(L, idx);
    o.allow_unknown = o.build = 1;
    o.odata_type = o.stop_inexact = 0;
    o.max_bytes = (size_t)-1;
    o.floats = NULL;
    session_json(L, idx);                 /* top + 1: the text, pinned while read */
    json = lua_tolstring(L, top + 1, &n);
    gc_readback(L, json, n, &fl);         /* top + 2 */
    if (!gc_encode(L, top + 2, &o, gc_buf_push(L), schema) || !lua_rawequal(L, top + 1, -1))
        luaL_error(L, "graphcomm: a session body does not read back as itself (internal error)");
    lua_pushvalue(L, -2);                 /* the normalized table */
    set_part(L, idx, PART_TABLE);
    lua_pushvalue(L, -2);
    lua_replace(L, top);
    lua_settop(L, top);
}

/* A deep copy, keeping metatables (the array markers) of the copied tables. */
static void deep_copy(lua_State *L, int idx)
{
    luaL_checkstack(L, 6, "graphcomm: table too deep");
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushvalue(L, idx);
        return;
    }
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        deep_copy(L, lua_gettop(L));
        lua_remove(L, -2);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    if (lua_getmetatable(L, idx))
        lua_setmetatable(L, -2);
}

static int l_encode(lua_State *L)
{
    gc_encode_opts o;
    if (is_session(L, 1)) {
        session_json(L, 1);
        return 1;
    }
    if (run(L, 0, NULL, &o))
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int l_normalize(lua_State *L)
{
    gc_encode_opts o;
    if (is_session(L, 1)) {
        session_table(L, 1, lua_upvalueindex(1));
        deep_copy(L, lua_gettop(L));
        return 1;
    }
    if (run(L, 1, NULL, &o)) {
        lua_pop(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* Leaves [text] (or [table text] when the walk built) on the stack: see
 * the top of this file. */
static int l_session(lua_State *L)
{
    gc_encode_opts o;
    gc_floats fl;
    int r, built = 0, top;
    if (is_session(L, 1)) {
        lua_settop(L, 1);
        return 1;
    }
    r = run(L, 0, &fl, &o);
    if (r == GC_ENC_INEXACT) {
        lua_settop(L, 2);
        o.build = built = 1;
        o.stop_inexact = 0;
        o.floats = NULL;
        r = walk(L, &o);
    }
    if (!r) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    top = lua_gettop(L);
    new_session(L, o.type);
    lua_pushvalue(L, top);
    set_part(L, top + 1, PART_JSON);
    if (built || fl.n > 0) {
        if (built)
            lua_pushvalue(L, top - 1);
        else
            lua_pushlstring(L, (const char *)fl.at, (size_t)fl.n * sizeof(uint32_t));
        set_part(L, top + 1, PART_TABLE);
    }
    lua_pushvalue(L, lua_upvalueindex(3));   /* the metatable */
    lua_setmetatable(L, -2);
    return 1;
}

static int s_json(lua_State *L)
{
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_json(L, 1);
    return 1;
}

static int s_totable(lua_State *L)
{
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_table(L, 1, lua_upvalueindex(1));
    deep_copy(L, lua_gettop(L));
    return 1;
}

static int s_tostring(lua_State *L)
{
    size_t n;
    const char *json;
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_json(L, 1);
    json = lua_tolstring(L, -1, &n);
    lua_pushfstring(L, "graphcomm.session: %s", n > 60 ? "" : json);
    if (n > 60) {
        size_t cut = 60;
        while (cut > 0 && ((unsigned char)json[cut] & 0xC0) == 0x80)
            cut--;                        /* not inside a UTF-8 sequence */
        lua_pushlstring(L, json, cut);
        lua_pushliteral(L, "...");
        lua_concat(L, 3);
    }
    return 1;
}

/* s.name: methods first (upvalue 2), then the normalized value of a
 * property of the object's type, by any spelling the encoder accepts
 * (upvalue 1: the schema). */
static int s_index(lua_State *L)
{
    const gc_family *f;
    size_t n;
    const char *k;
    int r;
    f = gc_family_of(*(const int *)luaL_checkudata(L, 1, GC_SESSION_MT));
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));
    if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    k = lua_tolstring(L, 2, &n);
    r = gc_lookup_fold(f, k, n);
    if (r == 0)
        return 0;
    session_table(L, 1, lua_upvalueindex(1));
    lua_getfield(L, -1, r > 0 ? f->props[r - 1]->name
                       : r == GC_LK_ODATA ? "@odata.type" : "AdditionalProperties");
    deep_copy(L, lua_gettop(L));
    return 1;
}

/* schema: the schema registry's index, an upvalue of what reads the table. */
static void open_session_mt(lua_State *L, int schema)
{
    luaL_newmetatable(L, GC_SESSION_MT);
    lua_pushliteral(L, GC_SESSION_MT);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushvalue(L, schema);
    lua_createtable(L, 0, 2);             /* methods */
    lua_pushcfunction(L, s_json);
    lua_setfield(L, -2, "json");
    lua_pushvalue(L, schema);
    lua_pushcclosure(L, s_totable, 1);
    lua_setfield(L, -2, "totable");
    lua_pushcclosure(L, s_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* ------------------------------------------------------------------ open */

/* With the module table and the schema registry on top: module[name] = fn,
 * its upvalues the registry, its buffer (none yet) and for core.session the
 * session metatable. */
static void set_walker(lua_State *L, const char *name, lua_CFunction fn, int with_mt)
{
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 0);
    if (with_mt)
        luaL_getmetatable(L, GC_SESSION_MT);
    lua_pushcclosure(L, fn, 2 + with_mt);
    lua_setfield(L, -3, name);
}

void gc_open_session(lua_State *L)
{
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    gc_schema_push(L);
    gc_load_int64_ctypes(L, lua_gettop(L));
    open_session_mt(L, lua_gettop(L));
    set_walker(L, "encode", l_encode, 0);
    set_walker(L, "session", l_session, 1);
    set_walker(L, "normalize", l_normalize, 0);
    lua_pop(L, 1);
}
