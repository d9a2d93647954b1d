/* error.c: core.error(tbl) gives a table the "graphcomm.error" metatable,
 * whose __tostring reads well in one line for every kind:
 *   graphcomm: validation failed: 2 errors: a.b: ...; c: ...
 *   graphcomm: http 405 MethodNotAllowed: <message> (request-id <id>)
 *   graphcomm: transport: <message>      (auth, declined and others alike) */
#include <string.h>
#include "lua/error.h"

/* The line is built as pieces on the stack, joined by one lua_concat. */

/* Pushes t[k] as a string and returns 1, or pushes nothing and returns 0. */
static int field(lua_State *L, const char *k)
{
    lua_getfield(L, 1, k);
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        lua_tostring(L, -1);   /* a number becomes its text in place */
        return 1;
    }
    lua_pop(L, 1);
    return 0;
}

/* Pushes "path: message" of the error table at the top (replacing it). */
static void push_entry(lua_State *L)
{
    const char *path, *msg;
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "message");
    path = lua_isstring(L, -2) ? lua_tostring(L, -2) : "";
    msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "?";
    lua_pushfstring(L, "%s%s%s", path, path[0] ? ": " : "", msg);
    lua_replace(L, -4);
    lua_pop(L, 2);
}

/* One piece: "N errors: path: message; ..." from t.errors. */
static void push_error_list(lua_State *L)
{
    int i, n;
    lua_getfield(L, 1, "errors");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "invalid value");
        return;
    }
    n = (int)gc_rawlen(L, -1);
    lua_pushfstring(L, "%d error%s: ", n, n == 1 ? "" : "s");
    for (i = 1; i <= n; i++) {
        if (i > 1)
            lua_pushliteral(L, "; ");
        lua_rawgeti(L, -1 - (i > 1) - 1, i);
        push_entry(L);
        lua_concat(L, i > 1 ? 3 : 2);
    }
    lua_remove(L, -2);
}

static int push_http(lua_State *L)
{
    int n = 1;
    lua_pushliteral(L, "http");
    if (field(L, "status")) { lua_pushliteral(L, " "); lua_insert(L, -2); n += 2; }
    if (field(L, "code")) { lua_pushliteral(L, " "); lua_insert(L, -2); n += 2; }
    if (field(L, "message")) { lua_pushliteral(L, ": "); lua_insert(L, -2); n += 2; }
    if (field(L, "request_id")) {
        lua_pushliteral(L, " (request-id ");
        lua_insert(L, -2);
        lua_pushliteral(L, ")");
        n += 3;
    }
    return n;
}

/* Replaces the string at the top with a copy whose CR and LF (a message from a
 * plain-text error body, a name in a validation path) are spaces: one line always. */
static void one_line(lua_State *L)
{
    size_t len, i;
    const char *s = lua_tolstring(L, -1, &len);
    luaL_Buffer b;
    if (memchr(s, '\n', len) == NULL && memchr(s, '\r', len) == NULL)
        return;
    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            continue;
        luaL_addchar(&b, (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i]);
    }
    luaL_pushresult(&b);
    lua_remove(L, -2);
}

static int error_tostring(lua_State *L)
{
    const char *kind;
    int n = 1;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "kind");
    kind = lua_isstring(L, -1) ? lua_tostring(L, -1) : "error";
    lua_pushliteral(L, "graphcomm: ");
    if (strcmp(kind, "validation") == 0) {
        lua_pushliteral(L, "validation failed: ");
        if (!field(L, "message"))
            push_error_list(L);
        n += 2;
    } else if (strcmp(kind, "http") == 0) {
        n += push_http(L);
    } else {
        lua_pushfstring(L, "%s: ", kind);
        n++;
        if (field(L, "code")) { lua_pushliteral(L, ": "); n += 2; }
        if (!field(L, "message"))
            lua_pushliteral(L, "(no message)");
        n++;
    }
    lua_concat(L, n);
    one_line(L);
    return 1;
}

static int l_error(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_getmetatable(L, GC_ERROR_MT);
    lua_setmetatable(L, 1);
    return 1;
}

void gc_open_error(lua_State *L)
{
    luaL_newmetatable(L, GC_ERROR_MT);
    lua_pushliteral(L, GC_ERROR_MT);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_error);
    lua_setfield(L, -2, "error");
}
