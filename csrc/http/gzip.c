/* gzip.c: core.gzip(s) compresses a request body (Content-Encoding: gzip).
 * The output buffer is a userdata, and zlib's own state is released before
 * anything that could raise, so a Lua error leaks nothing. */
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include "lua/core.h"

void gc_open_gzip(lua_State *L);

/* core.gzip(s [, level]) -> gzip member holding s */
static int l_gzip(lua_State *L)
{
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    lua_Integer lv = luaL_optinteger(L, 2, Z_DEFAULT_COMPRESSION);
    int level = lv >= -1 && lv <= 9 ? (int)lv : -2;
    z_stream z;
    unsigned char *out;
    size_t bound;
    int rc;
    luaL_argcheck(L, level >= -1 && level <= 9, 2, "level must be -1..9");
    luaL_argcheck(L, len < 0x40000000u, 1, "body too large to compress");
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16 selects the gzip wrapper; deflateBound needs an initialised stream,
     * so size the buffer from zlib's documented worst case plus the gzip header and trailer. */
    bound = len + len / 1000 + 64 + 18;
    out = lua_newuserdata(L, bound);
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return luaL_error(L, "graphcomm: deflateInit2 failed");
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)bound;
    rc = deflate(&z, Z_FINISH);
    bound = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        return luaL_error(L, "graphcomm: deflate failed");
    lua_pushlstring(L, (const char *)out, bound);
    return 1;
}

void gc_open_gzip(lua_State *L)
{
    lua_pushcfunction(L, l_gzip);
    lua_setfield(L, -2, "gzip");
}
