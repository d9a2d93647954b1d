/* encode.h: the validator/encoder walk, shared by encode.c (objects and
 * arrays), scalar.c (leaf values), anyjson.c (generic JSON) and walkerr.c
 * (errors with paths). One walk validates, writes JSON into the buffer and,
 * in build mode, also builds the normalized copy: then every walk function
 * pushes exactly one value (nil where the input was bad). */
#ifndef GRAPHCOMM_ENCODE_H
#define GRAPHCOMM_ENCODE_H

#include <stdint.h>
#include "lua/compat.h"
#include "json/jsonbuf.h"
#include "json/schema.h"

#define GC_MAX_DEPTH  64     /* tables inside tables, schema and generic alike */
#define GC_MAX_ERRORS 100    /* listed one by one; the rest are counted */
#define GC_DEFAULT_MAX_BYTES ((size_t)4 << 20)

#ifndef LUA_TCDATA
#define LUA_TCDATA 10        /* LuaJIT's FFI values; lua.h does not name it */
#endif

typedef struct gc_seg {
    const char *name;        /* NULL: an array index */
    size_t len;
    lua_Integer index;
} gc_seg;

/* Where the text has whole floats written as integers ("3" for 3.0, Lua 5.3+):
 * the byte offsets of those numbers, in order, so that gc_readback can read
 * them back as floats. More than GC_MAX_FLOATS make the walk inexact. */
#define GC_MAX_FLOATS 32
typedef struct gc_floats {
    int n;
    uint32_t at[GC_MAX_FLOATS];
} gc_floats;

typedef struct gc_walk {
    lua_State *L;
    gc_buf *buf;
    int schema;              /* absolute index of the schema registry table */
    const gc_keys *keys;     /* its lookups by key address (pinned on the stack) */
    int errors;              /* absolute index of the error list (nil until the first) */
    int nerrors, dropped;
    int build;               /* also build the normalized copy */
    int allow_unknown;
    int depth, npath;
    int stopped;             /* past max_bytes or the work budget: walk no further */
    int inexact;             /* the normalized copy holds a value its JSON text does not
                              * read back as (gc_readback): see gc_walk_inexact */
    int stop_inexact;        /* then stop the walk (see gc_encode_opts) */
    gc_floats *floats;       /* NULL: whole floats make the walk inexact */
    size_t work, budget;     /* table visits and entries read, and their cap */
    gc_seg path[GC_MAX_DEPTH + 8];
    const void *tables[GC_MAX_DEPTH + 8];   /* tables being walked: cycles */
} gc_walk;

typedef struct gc_encode_opts {
    int type;                /* root type id */
    int allow_unknown;
    int odata_type;          /* write @odata.type on the root even when absent */
    int build;
    int stop_inexact;        /* not build: stop at the first inexact value, push
                              * nothing and return GC_ENC_INEXACT (the caller walks
                              * again in build mode) */
    size_t max_bytes;
    gc_floats *floats;       /* filled by the walk when not NULL (see gc_floats) */
} gc_encode_opts;

/* The entry point. On success pushes (normalized table if build, then) the
 * JSON string and returns GC_ENC_EXACT or GC_ENC_INEXACT; otherwise pushes a
 * validation error object and returns 0. schema is the absolute index of the
 * schema registry. GC_ENC_EXACT: the normalized copy is what walking
 * gc_readback(JSON text) again in build mode gives (so it can be made later,
 * from the text alone); GC_ENC_INEXACT: it is not (see gc_walk_inexact). */
#define GC_ENC_EXACT   1
#define GC_ENC_INEXACT 2
int gc_encode(lua_State *L, int idx, const gc_encode_opts *o, gc_buf *buf, int schema);

/* readback.c: pushes the Lua value of JSON text the encoder wrote: objects
 * and arrays as plain tables, null as graphcomm.null, a number without '.' or
 * exponent as an integer unless its offset is in floats (NULL: none), others
 * as doubles. Raises on text it did not write. */
void gc_readback(lua_State *L, const char *s, size_t n, const gc_floats *floats);

/* encode.c */
void gc_walk_value(gc_walk *w, const gc_prop *p, int idx);
void gc_walk_object(gc_walk *w, int type, int idx, int force_odata);
/* Writes t[1..n] of the table at idx as a JSON array, elem walking each
 * element (p passed through to it). */
typedef void (*gc_elem_fn)(gc_walk *w, const gc_prop *p, int idx);
void gc_walk_elements(gc_walk *w, int idx, lua_Integer n, gc_elem_fn elem, const gc_prop *p);

/* The normalized copy keeps what reading the JSON text back would not give:
 * a marker, a 64-bit box, a float written as an integer (Lua 5.3+) past
 * what w->floats can list. */
#define gc_walk_inexact(w) ((w)->inexact = 1, (w)->stopped |= (w)->stop_inexact)
/* After a double was written as text[0..n) (in the buffer): when the text
 * reads back as an integer and Lua tells integers from floats, lists its
 * offset in w->floats, or marks the walk inexact. */
void gc_walk_double_text(gc_walk *w, const char *text, int n);

/* scalar.c: a non-null leaf value of p's kind; t is lua_type(L, idx) */
void gc_walk_scalar(gc_walk *w, const gc_prop *p, int idx, int t);
/* Reads a number (or a LuaJIT int64 cdata) of type t: 0 not a number, 1
 * float in *d, 2 integer in *i, 3 an integer outside int64. */
int gc_read_number(gc_walk *w, int idx, int t, double *d, int64_t *i);
/* 1 if the value at idx is a marked exact integer (core.int64_mt: { "digits" }). */
#define GC_INT64_MT "graphcomm.int64_mt"
int gc_is_int64(lua_State *L, int idx);
/* At load: lets gc_read_number tell LuaJIT's int64 cdata by ctype (slots
 * -2..0 of the schema registry at the absolute index schema). */
void gc_load_int64_ctypes(lua_State *L, int schema);

/* anyjson.c: generic JSON (AdditionalProperties, allow_unknown, tokens) */
void gc_walk_any(gc_walk *w, int idx);
/* Writes the members of the string-keyed table at idx sorted by key, each
 * preceded by ',' unless *first; bool_only: values must be booleans. */
void gc_walk_members(gc_walk *w, int idx, int bool_only, int *first);
int gc_is_null(lua_State *L, int idx);
/* 1 if the value at idx is cjson.empty_array (a light userdata marker). */
int gc_is_empty_array_marker(lua_State *L, int idx);
/* 0 (nothing pushed, the error reported) when the table at idx cannot be
 * walked: a cycle, too deep, or the walk has stopped (w->stopped). */
int gc_enter_table(gc_walk *w, int idx);
void gc_leave_table(gc_walk *w);

/* The work budget: every table visit costs 1 (gc_enter_table) and every entry
 * a loop reads costs 1 more. A valid body costs a few units per byte of its
 * JSON, so GC_WORK_PER_BYTE * max_bytes never stops one; a table graph that
 * reaches the same tables by very many paths is stopped there. */
#define GC_WORK_PER_BYTE 4
#define GC_WORK_FLOOR 4096
static inline void gc_walk_charge(gc_walk *w, size_t n)
{
    w->work += n;
}

/* walkerr.c */
void gc_walk_error(gc_walk *w, const char *fmt, ...);
void gc_path_push_name(gc_walk *w, const char *name, size_t len);
void gc_path_push_index(gc_walk *w, lua_Integer i);
#define gc_path_pop(w) ((w)->npath--)
/* The closest of names[0..n) to s by edit distance, or NULL if none is close. */
const char *gc_suggest(const char *s, size_t len, const char *const *names, int n);
const char *gc_suggest_prop(const gc_family *f, const char *s, size_t len);
/* Pushes a short description of the value at idx: 'text', 12.5, a table... */
const char *gc_describe(lua_State *L, int idx);
void gc_walk_finish_error(gc_walk *w);   /* pushes the error object */

#endif
