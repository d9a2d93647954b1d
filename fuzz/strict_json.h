/* strict_json.h: the fuzzers' independent RFC 8259 reader (strict_json.c). */
#ifndef GRAPHCOMM_FUZZ_STRICT_JSON_H
#define GRAPHCOMM_FUZZ_STRICT_JSON_H

#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>

/* Decodes s[0..n) and pushes the value, returning NULL; or pushes nothing and
 * returns why the text is not strict JSON. */
const char *gc_strict_json(lua_State *L, const char *s, size_t n);
/* Sets field strict_json (a Lua function: s -> value | nil, why) of the table on top. */
void gc_open_strict_json(lua_State *L);

#endif
