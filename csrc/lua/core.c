/* core.c: luaopen_graphcomm_core, the module's only exported symbol.
 * Every concern registers itself here with one line. */
#include <curl/curl.h>
#include "lua/core.h"

/* One line a concern: each function lives in its own file, and this list is
 * the only place that calls one (error first: the metatable every error
 * object gets exists before any other concern loads). */
#define GC_OPENERS(X) \
    X(gc_open_error) \
    X(gc_open_anyjson) X(gc_open_schema_info) X(gc_open_session) \
    X(gc_open_multi) X(gc_open_digest) \
    X(gc_open_jwt) X(gc_open_privfile) \
    X(gc_open_util) X(gc_open_http) X(gc_open_gzip) X(gc_open_handle) \
    X(gc_open_signal) \
    X(gc_open_flock) \


#define GC_DECLARE(fn) void fn(lua_State *L);
GC_OPENERS(GC_DECLARE)

GC_API int luaopen_graphcomm_core(lua_State *L);

/* core.version is graphcomm.version's string (lua/graphcomm/version.lua, the
 * version's one home); left unset when that module cannot be found. */
static void set_version(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "graphcomm.version");
    if (lua_pcall(L, 1, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING)
        lua_setfield(L, -2, "version");
    else
        lua_pop(L, 1);
}

int luaopen_graphcomm_core(lua_State *L)
{
    static int curl_ready = 0;
    /* curl_global_init is not thread-safe on old libcurls: once, at first load. */
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return luaL_error(L, "graphcomm: curl_global_init failed");
        curl_ready = 1;
    }
    lua_newtable(L);
    set_version(L);
#define GC_CALL(fn) fn(L);
    GC_OPENERS(GC_CALL)
    return 1;
}
