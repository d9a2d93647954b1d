/* compat.c: portable versions of the 5.2+ auxiliary functions graphcomm uses. */
#include "lua/compat.h"

void gc_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}

void *gc_testudata(lua_State *L, int ud, const char *tname)
{
    void *p = lua_touserdata(L, ud);
    int same;
    if (p == NULL || !lua_getmetatable(L, ud))
        return NULL;
    luaL_getmetatable(L, tname);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

void gc_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, tname)) {
        gc_setfuncs(L, meta);
        lua_pushstring(L, tname);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        gc_setfuncs(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
