/* handle.c: closeable userdata objects whose methods are written in Lua (the client).
 * Like liolib's files: one named metatable per type, methods under __index, one
 * idempotent close for close/__gc/__close, a (closed) __tostring, and every method
 * refused after close (by state(), which each method calls first).  The object's Lua
 * state table is its uservalue (LPeg's way), so nothing is held by registry
 * references that could leak. */
#include <string.h>
#include "lua/core.h"

void gc_open_handle(lua_State *L);

typedef struct {
    int closed;
} gc_handle;

#if LUA_VERSION_NUM >= 502
#define handle_setstate(L, i)  lua_setuservalue(L, i)
#define handle_getstate(L, i)  lua_getuservalue(L, i)
#else
#define handle_setstate(L, i)  lua_setfenv(L, i)
#define handle_getstate(L, i)  lua_getfenv(L, i)
#endif

/* "graphcomm.client" -> "client", for messages. */
static const char *short_name(const char *tname)
{
    const char *dot = strrchr(tname, '.');
    return dot ? dot + 1 : tname;
}

/* The name of the Lua method that called us, as luaL_argerror would give it. */
static const char *caller_name(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "n", &ar) && ar.name != NULL)
        return ar.name;
    return "?";
}

/* Raises the message at -1 positioned at the user's call of the method. */
static int raise_at_user(lua_State *L)
{
    luaL_where(L, 2);
    lua_insert(L, -2);
    lua_concat(L, 2);
    return lua_error(L);
}

/* ---------------------------------------------------------------- object methods */

/* close/__gc/__close: runs the class's __on_close(state) once. */
static int l_close(lua_State *L)
{
    gc_handle *h = luaL_checkudata(L, 1, lua_tostring(L, lua_upvalueindex(1)));
    if (h->closed)
        return 0;
    h->closed = 1;
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__on_close");
    if (lua_isfunction(L, -1)) {
        handle_getstate(L, 1);
        /* A failing hook must not stop __gc nor leave the object half-open. */
        if (lua_pcall(L, 1, 0, 0) != 0)
            lua_pop(L, 1);
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    const char *tname = lua_tostring(L, lua_upvalueindex(1));
    gc_handle *h = luaL_checkudata(L, 1, tname);
    if (h->closed)
        lua_pushfstring(L, "%s (closed)", tname);
    else
        lua_pushfstring(L, "%s (%p)", tname, (void *)h);
    return 1;
}

/* ---------------------------------------------------------------- class functions */

/* new(state) -> object */
static int l_new(lua_State *L)
{
    gc_handle *h;
    luaL_checktype(L, 1, LUA_TTABLE);
    h = lua_newuserdata(L, sizeof *h);
    h->closed = 0;
    luaL_getmetatable(L, lua_tostring(L, lua_upvalueindex(1)));
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    handle_setstate(L, -2);
    return 1;
}

/* state(obj) -> the state table; raises on a wrong type or a closed object. */
static int l_state(lua_State *L)
{
    const char *tname = lua_tostring(L, lua_upvalueindex(1));
    gc_handle *h = gc_testudata(L, 1, tname);
    if (h == NULL) {
        lua_pushfstring(L, "bad argument #1 to '%s' (%s expected, got %s)",
                        caller_name(L), tname, luaL_typename(L, 1));
        return raise_at_user(L);
    }
    if (h->closed) {
        lua_pushfstring(L, "attempt to use a closed %s", short_name(tname));
        return raise_at_user(L);
    }
    handle_getstate(L, 1);
    return 1;
}

/* is_closed(obj) -> boolean, for tests and for close-aware helpers. */
static int l_is_closed(lua_State *L)
{
    gc_handle *h = luaL_checkudata(L, 1, lua_tostring(L, lua_upvalueindex(1)));
    lua_pushboolean(L, h->closed);
    return 1;
}

static void set_closure(lua_State *L, int meta, const char *field, lua_CFunction f, int nup)
{
    lua_pushcclosure(L, f, nup);
    lua_setfield(L, meta, field);
}

/* The __index table: a raw copy of methods (no metatable, so a lookup never runs Lua
 * code from inside the core) and close.  A table, not a C function: on LuaJIT a C
 * __index ended the trace at every method call.  A closed object's methods are still
 * found; each raises through state(), at the user's call. */
static void push_index(lua_State *L, int methods, int close)
{
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, methods) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushliteral(L, "close");
    lua_pushvalue(L, close);
    lua_rawset(L, -3);
}

/* core.handle_class(tname, methods, on_close) -> new, state, is_closed
 * Defines (or redefines) the metatable tname; methods is read now, so it must be
 * complete (a method added later is not seen). */
static int l_handle_class(lua_State *L)
{
    int meta;
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 3);
    luaL_newmetatable(L, lua_tostring(L, 1));
    meta = lua_gettop(L);                          /* 4 */
    lua_pushvalue(L, 1);
    lua_setfield(L, meta, "__name");
    lua_pushvalue(L, 3);
    lua_setfield(L, meta, "__on_close");
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_close, 1);               /* 5: the close function */
    lua_pushvalue(L, -1);
    lua_setfield(L, meta, "__gc");
    lua_pushvalue(L, -1);
    lua_setfield(L, meta, "__close");
    push_index(L, 2, 5);
    lua_setfield(L, meta, "__index");
    lua_pushvalue(L, 1);
    set_closure(L, meta, "__tostring", l_tostring, 1);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_new, 1);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_state, 1);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_is_closed, 1);
    return 3;
}

void gc_open_handle(lua_State *L)
{
    lua_pushcfunction(L, l_handle_class);
    lua_setfield(L, -2, "handle_class");
}
