/* jsonbuf.c: the growable JSON output buffer (a userdata with __gc) and the
 * RFC 8259 string writer, which also checks UTF-8. */
#include <stdlib.h>
#include "json/jsonbuf.h"

/* ------------------------------------------------------------ the buffer */

static int buf_gc(lua_State *L)
{
    gc_buf *b = (gc_buf *)lua_touserdata(L, 1);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}

gc_buf *gc_buf_push(lua_State *L)
{
    gc_buf *b = (gc_buf *)lua_newuserdata(L, sizeof(gc_buf));
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = (size_t)-1;
    b->over = 0;
    if (luaL_newmetatable(L, GC_BUF_MT)) {
        lua_pushcfunction(L, buf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* Geometric growth. Past b->max the body is refused anyway, so instead of
 * growing the buffer rewinds: the walk goes on (to report every error) in
 * bounded memory, and b->over tells the caller. */
void gc_buf_grow(lua_State *L, gc_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    char *p;
    if (n > b->max || b->len > b->max - n) {
        b->over = 1;
        b->len = 0;
        if (b->cap >= n)
            return;
    }
    if (n > ((size_t)-1) / 2 - b->len)
        luaL_error(L, "not enough memory");
    while (cap - b->len < n)
        cap *= 2;
    p = (char *)realloc(b->data, cap);
    if (p == NULL)
        luaL_error(L, "not enough memory");
    b->data = p;
    b->cap = cap;
}

/* ---------------------------------------------------------- string writer */

/* 0: copied as is; 1: escaped; 2: first byte of a UTF-8 sequence (checked);
 * 3: never valid in UTF-8. */
static const unsigned char char_class[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,
    3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,
    3,3,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,3,3,3,3,3,3,3,3,3,3,3,
};

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no
 * overlongs, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    unsigned lo = 0x80, hi = 0xBF;
    size_t i;
    if (n < len)
        return 0;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static void put_escape(lua_State *L, gc_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char *p = gc_buf_reserve(L, b, 6);
    p[0] = '\\';
    switch (c) {
    case '"':  p[1] = '"';  b->len += 2; return;
    case '\\': p[1] = '\\'; b->len += 2; return;
    case '\b': p[1] = 'b';  b->len += 2; return;
    case '\f': p[1] = 'f';  b->len += 2; return;
    case '\n': p[1] = 'n';  b->len += 2; return;
    case '\r': p[1] = 'r';  b->len += 2; return;
    case '\t': p[1] = 't';  b->len += 2; return;
    default:
        p[1] = 'u'; p[2] = '0'; p[3] = '0';
        p[4] = hex[c >> 4]; p[5] = hex[c & 15];
        b->len += 6;
    }
}

/* Copies runs of plain bytes (ASCII and checked UTF-8) with one memcpy each;
 * only quotes, backslashes and control characters stop a run. */
size_t gc_buf_string(lua_State *L, gc_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, j, k;
    gc_buf_putc(L, b, '"');
    while (i < n) {
        for (j = i; j < n; j++) {
            unsigned cls = char_class[s[j]];
            if (cls == 0)
                continue;
            if (cls != 2 || (k = utf8_seq(s + j, n - j)) == 0)
                break;
            j += k - 1;
        }
        gc_buf_put(L, b, (const char *)s + i, j - i);
        if (j == n)
            break;
        if (char_class[s[j]] != 1)
            return j + 1;
        put_escape(L, b, s[j]);
        i = j + 1;
    }
    gc_buf_putc(L, b, '"');
    return 0;
}
