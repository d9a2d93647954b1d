/* fuzz_headers.c: libFuzzer target for the response-header reader of
 * csrc/http/response.c (gc_push_header_block): any header block becomes a table
 * whose names are non-empty, lower-case, without ':', CR... (as received),
 * and whose values have no LF and no blanks at either end; the status line is
 * never a header; no name or value is longer than the input. One lua_State
 * for the run, emptied after each input. Built by scripts/fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "http/transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, __VA_ARGS__); __builtin_trap(); } } while (0)

static lua_State *state;

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* 1 if s[0..n) occurs in the input as is (values are copied, never changed). */
static int in_input(const char *s, size_t n, const uint8_t *data, size_t size)
{
    size_t i;
    if (n == 0)
        return 1;
    for (i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    const char *first_nl;
    lua_State *L;
    if (copy == NULL)
        return 0;
    if (state == NULL)
        state = luaL_newstate();
    L = state;
    memcpy(copy, data, size);
    gc_push_header_block(L, copy, size);
    first_nl = memchr(data, '\n', size);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t kn, vn, i;
        const char *k, *v;
        CHECK(lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING, "not strings\n");
        k = lua_tolstring(L, -2, &kn);
        v = lua_tolstring(L, -1, &vn);
        CHECK(kn > 0 && kn <= size && vn <= size, "lengths %zu %zu\n", kn, vn);
        for (i = 0; i < kn; i++)
            CHECK(k[i] != ':' && k[i] != '\n' && !(k[i] >= 'A' && k[i] <= 'Z'), "name %.*s\n",
                  (int)kn, k);
        CHECK(memchr(v, '\n', vn) == NULL, "LF in value\n");
        CHECK(vn == 0 || (!blank(v[0]) && !blank(v[vn - 1])), "blank at an end: [%.*s]\n",
              (int)vn, v);
        if (size <= 512 && memchr(v, ',', vn) == NULL)
            CHECK(in_input(v, vn, data, size), "value not from the input: %.*s\n", (int)vn, v);
        /* the name came after the first line break: never from the status line */
        CHECK(first_nl != NULL, "a header from a block without a line break\n");
        lua_pop(L, 1);
    }
    lua_settop(L, 0);
    free(copy);
    return 0;
}
