/* entries.c: the Lua face of the encoder: core.encode (the update fast
 * path), core.session (the graphcomm.session userdata), core.normalize,
 * core.null. Each function keeps its JSON buffer as upvalue 2 between calls,
 * so a typical encode allocates nothing but the result string. */
#include <string.h>
#include "json/encode.h"

#define GC_SESSION_MT "graphcomm.session"
#define BUF_KEEP_MAX ((size_t)1 << 20)   /* larger buffers are not kept */

#if LUA_VERSION_NUM >= 502
#define set_uservalue(L, i) lua_setuservalue(L, i)
#define get_uservalue(L, i) lua_getuservalue(L, i)
#else
#define set_uservalue(L, i) lua_setfenv(L, i)
#define get_uservalue(L, i) lua_getfenv(L, i)
#endif

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
    o->allow_unknown = o->odata_type = 0;
    o->build = build;
    o->max_bytes = GC_DEFAULT_MAX_BYTES;
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

/* Runs the walk on argument 1; leaves the results on top, returns ok. */
static int run(lua_State *L, int build)
{
    gc_encode_opts o;
    gc_buf *b;
    int ok, bufidx;
    luaL_checktype(L, 1, LUA_TTABLE);
    read_opts(L, 2, &o, build);
    lua_settop(L, 2);
    b = take_buf(L);
    bufidx = lua_gettop(L);
    ok = gc_encode(L, 1, &o, b, lua_upvalueindex(1));
    give_back(L, bufidx, b);
    return ok;
}

/* --------------------------------------------------------------- sessions */

static int is_session(lua_State *L, int idx)
{
    return gc_testudata(L, idx, GC_SESSION_MT) != NULL;
}

/* Pushes field i of the session's uservalue: 1 = JSON text, 2 = normalized. */
static void session_part(lua_State *L, int idx, int i)
{
    get_uservalue(L, idx);
    lua_rawgeti(L, -1, i);
    lua_remove(L, -2);
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
    if (is_session(L, 1)) {
        session_part(L, 1, 1);
        return 1;
    }
    if (run(L, 0))
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int l_normalize(lua_State *L)
{
    if (is_session(L, 1)) {
        session_part(L, 1, 2);
        deep_copy(L, lua_gettop(L));
        return 1;
    }
    if (run(L, 1)) {
        lua_pop(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int l_session(lua_State *L)
{
    if (is_session(L, 1)) {
        lua_settop(L, 1);
        return 1;
    }
    if (!run(L, 1)) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_newuserdata(L, 1);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, -3);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, -4);
    lua_rawseti(L, -2, 2);
    set_uservalue(L, -2);
    luaL_getmetatable(L, GC_SESSION_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int s_json(lua_State *L)
{
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_part(L, 1, 1);
    return 1;
}

static int s_totable(lua_State *L)
{
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_part(L, 1, 2);
    deep_copy(L, lua_gettop(L));
    return 1;
}

static int s_tostring(lua_State *L)
{
    size_t n;
    const char *json;
    luaL_checkudata(L, 1, GC_SESSION_MT);
    session_part(L, 1, 1);
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

/* s.name: methods first (upvalue 1), then the normalized value of a
 * property, by any spelling the encoder accepts. */
static int s_index(lua_State *L)
{
    const gc_family *f = gc_family_of(GC_T_SESSION);
    size_t n;
    const char *k;
    int r;
    luaL_checkudata(L, 1, GC_SESSION_MT);
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    k = lua_tolstring(L, 2, &n);
    r = gc_lookup_fold(f, k, n);
    if (r == 0)
        return 0;
    session_part(L, 1, 2);
    lua_getfield(L, -1, r > 0 ? f->props[r - 1]->name
                       : r == GC_LK_ODATA ? "@odata.type" : "AdditionalProperties");
    deep_copy(L, lua_gettop(L));
    return 1;
}

static void open_session_mt(lua_State *L)
{
    luaL_newmetatable(L, GC_SESSION_MT);
    lua_pushliteral(L, GC_SESSION_MT);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_createtable(L, 0, 2);             /* methods */
    lua_pushcfunction(L, s_json);
    lua_setfield(L, -2, "json");
    lua_pushcfunction(L, s_totable);
    lua_setfield(L, -2, "totable");
    lua_pushcclosure(L, s_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* ------------------------------------------------------------------ open */

static void set_walker(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushvalue(L, -1);                 /* the schema registry */
    lua_pushboolean(L, 0);                /* no buffer yet */
    lua_pushcclosure(L, fn, 2);
    lua_setfield(L, -3, name);
}

void gc_open_session(lua_State *L)
{
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    gc_schema_push(L);
    gc_load_int64_ctypes(L, lua_gettop(L));
    open_session_mt(L);
    set_walker(L, "encode", l_encode);
    set_walker(L, "session", l_session);
    set_walker(L, "normalize", l_normalize);
    lua_pop(L, 1);
}
