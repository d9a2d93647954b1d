/* jsonbuf.h: the JSON output buffer. It lives in a userdata (metatable
 * "graphcomm.jsonbuf", __gc frees it), so a Lua error thrown while it is being
 * filled can never strand the memory. Writers reserve, then write in place. */
#ifndef GRAPHCOMM_JSONBUF_H
#define GRAPHCOMM_JSONBUF_H

#include <stddef.h>
#include <string.h>
#include "lua/compat.h"

typedef struct gc_buf {
    char *data;
    size_t len, cap;
    size_t max;      /* past this the body is refused: writing stops growing */
    int over;        /* set once the body went past max */
} gc_buf;

#define GC_BUF_MT "graphcomm.jsonbuf"

/* Pushes a new, empty buffer userdata. */
gc_buf *gc_buf_push(lua_State *L);
/* Makes room for n more bytes; raises "not enough memory" when malloc fails. */
void gc_buf_grow(lua_State *L, gc_buf *b, size_t n);
/* Writes s as a JSON string; returns 0, or 1 + the offset of the first byte
 * that is not valid UTF-8. */
size_t gc_buf_string(lua_State *L, gc_buf *b, const char *s, size_t n);

static inline char *gc_buf_reserve(lua_State *L, gc_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        gc_buf_grow(L, b, n);
    return b->data + b->len;
}

static inline void gc_buf_putc(lua_State *L, gc_buf *b, char c)
{
    *gc_buf_reserve(L, b, 1) = c;
    b->len++;
}

static inline void gc_buf_put(lua_State *L, gc_buf *b, const char *s, size_t n)
{
    memcpy(gc_buf_reserve(L, b, n), s, n);
    b->len += n;
}

#endif
