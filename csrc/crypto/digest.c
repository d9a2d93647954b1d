/* digest.c: core.sha256(s) -> lower-case hex. The bulk journal keys each
 * outcome by a digest of the body it sent, so a rerun can tell "this fix already
 * went through" without the journal holding any of the body itself. */
#include <openssl/evp.h>
#include "lua/core.h"

void gc_open_digest(lua_State *L);

static int l_sha256(lua_State *L)
{
    static const char hex[] = "0123456789abcdef";
    size_t len, i;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char out[2 * EVP_MAX_MD_SIZE];
    if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL))
        return luaL_error(L, "graphcomm: sha256 failed");
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    lua_pushlstring(L, out, 2 * (size_t)mdlen);
    return 1;
}

void gc_open_digest(lua_State *L)
{
    lua_pushcfunction(L, l_sha256);
    lua_setfield(L, -2, "sha256");
}
