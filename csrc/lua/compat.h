/* compat.h: the few Lua C API differences between 5.1/LuaJIT, 5.3 and 5.4,
 * behind gc_-prefixed names so that no Lua symbol is ever redefined. */
#ifndef GRAPHCOMM_COMPAT_H
#define GRAPHCOMM_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#define GC_API __attribute__((visibility("default")))

#if LUA_VERSION_NUM >= 502
#define gc_rawlen(L, i)          lua_rawlen(L, i)
#define gc_setfuncs(L, l)        luaL_setfuncs(L, l, 0)
#define gc_newlib(L, l)          luaL_newlib(L, l)
#else
#define gc_rawlen(L, i)          lua_objlen(L, i)
#define gc_setfuncs(L, l)        luaL_register(L, NULL, l)
#define gc_newlib(L, l)          (lua_newtable(L), luaL_register(L, NULL, l))
#endif

#if LUA_VERSION_NUM >= 503
#define gc_isinteger(L, i)       lua_isinteger(L, i)
#else
#define gc_isinteger(L, i)       0
#endif

/* luaL_setmetatable / luaL_testudata exist from 5.2 on (LuaJIT 2.1 has testudata too,
 * but not under every build option): one portable definition of each. */
void gc_setmetatable(lua_State *L, const char *tname);
/* Registers the userdata class tname once: metamethods meta, __name, and __index = methods. */
void gc_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods);
void *gc_testudata(lua_State *L, int ud, const char *tname);

#endif
