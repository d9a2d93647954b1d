/* scalar.c: leaf values of the schema (String, Boolean, Int32, Int64,
 * Single, Double, DateTime, TimeSpan, enums): checked, written, and in
 * build mode pushed in normalized form. */
#include <stdlib.h>
#include <string.h>
#include "json/encode.h"
#include "json/number.h"
#include "json/datetime.h"
#include "json/timespan.h"
#include <lualib.h>

#define TWO53  9007199254740992.0
#define FLT_MAXV 3.4028234663852886e38

/* The value as given: the normalized form when it needs no change. */
static void keep(gc_walk *w, int idx)
{
    if (w->build)
        lua_pushvalue(w->L, idx);
}

static void drop(gc_walk *w)
{
    if (w->build)
        lua_pushnil(w->L);
}

static void wrong_type(gc_walk *w, int idx, const char *want)
{
    gc_walk_error(w, "expected %s, got %s", want, gc_describe(w->L, idx));
    lua_pop(w->L, 1);
    drop(w);
}

/* A value of the right type that does not read as one: err says why. */
static void bad_value(gc_walk *w, int idx, const char *err)
{
    gc_walk_error(w, "%s, got %s", err, gc_describe(w->L, idx));
    lua_pop(w->L, 1);
    drop(w);
}

/* ---------------------------------------------------------------- strings */

static void walk_string(gc_walk *w, int idx, int t)
{
    size_t n, bad;
    const char *s;
    if (t != LUA_TSTRING) {
        wrong_type(w, idx, "a string");
        return;
    }
    s = lua_tolstring(w->L, idx, &n);
    bad = gc_buf_string(w->L, w->buf, s, n);
    if (bad) {
        gc_walk_error(w, "invalid UTF-8 at byte %d", (int)bad);
        drop(w);
        return;
    }
    keep(w, idx);
}

/* Writes a canonical text (datetime, duration, enum) as a JSON string. */
static void put_quoted(gc_walk *w, const char *s, size_t n)
{
    char *p = gc_buf_reserve(w->L, w->buf, n + 2);
    p[0] = '"';
    memcpy(p + 1, s, n);
    p[n + 1] = '"';
    w->buf->len += n + 2;
    if (w->build)
        lua_pushlstring(w->L, s, n);
}

/* ------------------------------------------------------------------ enums */

static void enum_error(gc_walk *w, const gc_enum *e, int idx)
{
    lua_State *L = w->L;
    luaL_Buffer b;
    const char *hint = NULL;
    int i;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        hint = gc_suggest(s, n, e->values, e->nvalues);
    }
    luaL_buffinit(L, &b);
    for (i = 0; i < e->nvalues; i++) {
        if (i)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, e->values[i]);
    }
    luaL_pushresult(&b);
    gc_describe(L, idx);
    if (hint)
        gc_walk_error(w, "expected a %s (one of %s), got %s (did you mean '%s'?)",
                      e->name, lua_tostring(L, -2), lua_tostring(L, -1), hint);
    else
        gc_walk_error(w, "expected a %s (one of %s), got %s",
                      e->name, lua_tostring(L, -2), lua_tostring(L, -1));
    lua_pop(L, 2);
    drop(w);
}

/* Exact spellings hit the enum's lookup table; others fold case. */
static void walk_enum(gc_walk *w, const gc_prop *p, int idx, int t)
{
    lua_State *L = w->L;
    const gc_enum *e = &gc_enums[p->ref];
    const char *s;
    size_t n;
    int i;
    if (t != LUA_TSTRING) {
        enum_error(w, e, idx);
        return;
    }
    i = gc_keys_find(w->keys, GC_NTYPES + p->ref, lua_tostring(L, idx)) - 1;
    if (i < 0) {
        lua_rawgeti(L, w->schema, GC_SCHEMA_ENUM_SLOT(p->ref));
        lua_pushvalue(L, idx);
        lua_rawget(L, -2);
        i = (int)lua_tointeger(L, -1) - 1;
        lua_pop(L, 2);
    }
    if (i < 0) {
        s = lua_tolstring(L, idx, &n);
        i = gc_enum_fold(p->ref, s, n);
    }
    if (i < 0) {
        enum_error(w, e, idx);
        return;
    }
    put_quoted(w, e->values[i], strlen(e->values[i]));
}

/* ---------------------------------------------------------------- numbers */

/* A decimal integer followed by one of the suffixes ("" ends the list): 2 and
 * *out, 3 outside int64, 0 not such a text. */
static int parse_decimal(const char *s, const char *const *suffixes, int64_t *out)
{
    uint64_t v = 0;
    int neg = *s == '-', any = 0, ok = 0;
    if (neg)
        s++;
    for (; *s >= '0' && *s <= '9'; s++, any = 1) {
        if (v > (UINT64_MAX - 9) / 10)
            return 3;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    for (; *suffixes; suffixes++)
        ok = ok || strcmp(s, *suffixes) == 0;
    if (!any || !ok)
        return 0;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return 3;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 2;
}

/* An exact integer where Lua has none (5.1 without LuaJIT's int64): a table
 * { "digits" } with the core.int64_mt metatable, as graphcomm.json decodes
 * integers past 2^53 there. */
int gc_is_int64(lua_State *L, int idx)
{
    int r;
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, GC_INT64_MT);
    r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

static int read_marked(lua_State *L, int idx, int64_t *i)
{
    static const char *const none[] = { "", NULL };
    int kind = 0;
    if (!gc_is_int64(L, idx))
        return 0;
    lua_rawgeti(L, idx, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
        kind = parse_decimal(lua_tostring(L, -1), none, i);
    lua_pop(L, 1);
    return kind;
}

/* LuaJIT's int64_t and uint64_t cdata are told by their ctype, never by their
 * text: tostring() would run a struct's own __tostring (user code inside the
 * walk, and a struct could pass for "5LL"). The C API cannot see a ctype, so
 * at load the core keeps LuaJIT's own ffi.istype (a C function: no user code)
 * and the two ctypes in the schema registry; a value that istype accepts is
 * a boxed 64-bit integer whose payload lua_topointer points at. */
#define INT64_SLOT  (-1)
#define UINT64_SLOT (-2)
#define ISTYPE_SLOT 0

/* 1 if the cdata at idx has the ctype in registry slot `slot`. */
static int cdata_is(gc_walk *w, int idx, int slot)
{
    lua_State *L = w->L;
    int r;
    lua_rawgeti(L, w->schema, ISTYPE_SLOT);
    lua_rawgeti(L, w->schema, slot);
    lua_pushvalue(L, idx);
    lua_call(L, 2, 1);
    r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

static int read_cdata(gc_walk *w, int idx, int64_t *i)
{
    lua_State *L = w->L;
    uint64_t u;
    int is_signed;
    lua_rawgeti(L, w->schema, ISTYPE_SLOT);
    is_signed = lua_iscfunction(L, -1);
    lua_pop(L, 1);
    if (!is_signed)
        return 0;                           /* not LuaJIT, or no FFI */
    is_signed = cdata_is(w, idx, INT64_SLOT);
    if (!is_signed && !cdata_is(w, idx, UINT64_SLOT))
        return 0;
    memcpy(&u, lua_topointer(L, idx), sizeof u);
    if (is_signed) {
        *i = (int64_t)u;
        return 2;
    }
    if (u > (uint64_t)INT64_MAX)
        return 3;
    *i = (int64_t)u;
    return 2;
}

#if defined(LUA_FFILIBNAME)
/* Calls ffi[fn](arg) with the function and argument on the stack top; leaves
 * the result, or nil on any error. */
static void ffi_call(lua_State *L, int ffi, const char *fn)
{
    lua_getfield(L, ffi, fn);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Fills the registry slots (LuaJIT with FFI only), after checking on a
 * value that the payload reads as expected: else cdata are never numbers. */
static void open_int64(lua_State *L, int schema)
{
    int base = lua_gettop(L), ffi;
    int64_t probe = 0;
    lua_getglobal(L, "require");
    lua_pushliteral(L, LUA_FFILIBNAME);
    if (!lua_isfunction(L, -2) || lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        lua_settop(L, base);
        return;
    }
    ffi = lua_gettop(L);
    lua_pushliteral(L, "int64_t");
    ffi_call(L, ffi, "typeof");             /* base + 2 */
    lua_pushliteral(L, "uint64_t");
    ffi_call(L, ffi, "typeof");             /* base + 3 */
    lua_getfield(L, ffi, "istype");         /* base + 4 */
    lua_getfield(L, ffi, "new");
    lua_pushvalue(L, base + 2);
    lua_pushnumber(L, -123456789.0);
    if (lua_pcall(L, 2, 1, 0) == 0 && lua_type(L, -1) == LUA_TCDATA)
        memcpy(&probe, lua_topointer(L, -1), sizeof probe);
    if (probe == -123456789 && lua_iscfunction(L, base + 4)
        && lua_type(L, base + 2) == LUA_TCDATA && lua_type(L, base + 3) == LUA_TCDATA) {
        lua_pushvalue(L, base + 2);
        lua_rawseti(L, schema, INT64_SLOT);
        lua_pushvalue(L, base + 3);
        lua_rawseti(L, schema, UINT64_SLOT);
        lua_pushvalue(L, base + 4);
        lua_rawseti(L, schema, ISTYPE_SLOT);
    }
    lua_settop(L, base);
}
#endif

void gc_load_int64_ctypes(lua_State *L, int schema)
{
#if defined(LUA_FFILIBNAME)
    open_int64(L, schema);
#else
    (void)L;
    (void)schema;
#endif
}

int gc_read_number(gc_walk *w, int idx, int t, double *d, int64_t *i)
{
    lua_State *L = w->L;
    if (t == LUA_TNUMBER) {
        if (gc_isinteger(L, idx)) {
            *i = (int64_t)lua_tointeger(L, idx);
            return 2;
        }
        *d = (double)lua_tonumber(L, idx);
        return 1;
    }
    if (t == LUA_TTABLE)
        return read_marked(L, idx, i);
    return t == LUA_TCDATA ? read_cdata(w, idx, i) : 0;
}

static void put_int(gc_walk *w, int64_t v, int idx)
{
    char *p = gc_buf_reserve(w->L, w->buf, GC_NUM_BUFSZ);
    int small = v > -(int64_t)TWO53 && v < (int64_t)TWO53;
    w->buf->len += (size_t)gc_fmt_int(p, v);
    if (!small && !(lua_type(w->L, idx) == LUA_TNUMBER && gc_isinteger(w->L, idx)))
        gc_walk_inexact(w);         /* the copy keeps a box, or a float */
    if (!w->build)
        return;
    if (small)
        lua_pushinteger(w->L, (lua_Integer)v);
    else
        lua_pushvalue(w->L, idx);   /* keep the int64 cdata (or marked table) itself */
}

void gc_walk_double_text(gc_walk *w, const char *text, int n)
{
#if LUA_VERSION_NUM >= 503
    int i;
    if (n == 2 && text[0] == '-' && text[1] == '0')
        return;                     /* gc_readback reads "-0" as a float */
    for (i = 0; i < n; i++)
        if (text[i] == '.' || text[i] == 'e' || text[i] == 'E')
            return;
    if (w->floats && w->floats->n < GC_MAX_FLOATS && w->buf->len <= UINT32_MAX)
        w->floats->at[w->floats->n++] = (uint32_t)(text - w->buf->data);
    else
        gc_walk_inexact(w);
#else
    (void)w, (void)text, (void)n;   /* one number type: 3.0 is 3 */
#endif
}

static void put_double(gc_walk *w, double d)
{
    char *p = gc_buf_reserve(w->L, w->buf, GC_NUM_BUFSZ);
    int n = gc_fmt_double(p, d);
    w->buf->len += (size_t)n;
    gc_walk_double_text(w, p, n);
    if (w->build)
        lua_pushnumber(w->L, (lua_Number)d);
}

static void value_error(gc_walk *w, int idx, const char *what)
{
    gc_walk_error(w, "%s %s", gc_describe(w->L, idx), what);
    lua_pop(w->L, 1);
    drop(w);
}

/* A float becomes an integer only when whole and below 2^53 in magnitude:
 * past that a float cannot tell neighbouring integers apart. */
static void walk_integer(gc_walk *w, const gc_prop *p, int idx, int t)
{
    double d = 0;
    int64_t i = 0;
    int k = gc_read_number(w, idx, t, &d, &i);
    int is32 = p->kind == GC_K_INT32;
    if (k == 0) {
        wrong_type(w, idx, is32 ? "an Int32 number" : "an Int64 number");
        return;
    }
    if (k == 1) {
        if (d != d || d - d != 0) {
            value_error(w, idx, "is not a finite number");
            return;
        }
        if (!is32 && (d < -TWO53 || d > TWO53)) {
            value_error(w, idx, "is a float beyond 2^53, which cannot hold every integer: "
                        "pass an integer (Lua 5.3+) or int64 cdata such as 123LL (LuaJIT)");
            return;
        }
        if (d >= -TWO53 && d <= TWO53 && d != (double)(int64_t)d) {
            value_error(w, idx, is32 ? "is not a whole number (Int32)"
                                     : "is not a whole number (Int64)");
            return;
        }
        i = d >= -TWO53 && d <= TWO53 ? (int64_t)d : INT64_MAX;
    }
    if (k == 3 || (is32 && (i < -2147483647 - 1 || i > 2147483647))) {
        value_error(w, idx, is32 ? "is out of range for Int32 (-2147483648 to 2147483647)"
                                 : "is out of range for Int64");
        return;
    }
    put_int(w, i, idx);
}

static void walk_float(gc_walk *w, const gc_prop *p, int idx, int t)
{
    double d = 0;
    int64_t i = 0;
    int k = gc_read_number(w, idx, t, &d, &i);
    int single = p->kind == GC_K_SINGLE;
    if (k == 0) {
        wrong_type(w, idx, single ? "a number (Single)" : "a number (Double)");
        return;
    }
    if (k == 2 || k == 3) {
        if (k == 3 || i > (int64_t)TWO53 || i < -(int64_t)TWO53) {
            gc_walk_error(w, "integer too large to be exact as a %s",
                          single ? "Single" : "Double");
            drop(w);
            return;
        }
        put_int(w, i, idx);
        return;
    }
    if (d != d || d - d != 0) {
        value_error(w, idx, "is not a finite number");
        return;
    }
    if (single && (d > FLT_MAXV || d < -FLT_MAXV)) {
        value_error(w, idx, "is outside the range of a Single (float32)");
        return;
    }
    put_double(w, d);
}

/* ------------------------------------------------------- dates, durations */

/* DateTime and TimeSpan are read the same way (a string, a number, for DateTime also a
 * table) into 100 ns ticks and written back canonical: one walk, two descriptions. */
typedef struct {
    const char *(*parse)(const char *s, size_t n, int64_t *ticks);
    const char *(*from_table)(lua_State *L, int idx, int64_t *ticks);   /* NULL: none */
    const char *(*from_double)(double secs, int64_t *ticks);
    const char *(*from_int)(int64_t secs, int64_t *ticks);
    int (*format)(char *out, int64_t ticks);
    const char *too_large;   /* an integer beyond int64 */
    const char *expected;    /* the wrong-type message */
} gc_ticks_kind;

static const gc_ticks_kind datetime_kind = {
    gc_datetime_parse, gc_datetime_from_table, gc_datetime_from_unix,
    gc_datetime_from_unix_int, gc_datetime_format, "outside the years 0001 to 9999",
    "a date-time (RFC 3339 string, Unix seconds or os.date(\"!*t\") table)"
};

static const gc_ticks_kind timespan_kind = {
    gc_timespan_parse, NULL, gc_timespan_from_seconds, gc_timespan_from_int,
    gc_timespan_format, "duration too large for a TimeSpan",
    "an ISO 8601 duration (such as PT0.015S) or a number of seconds"
};

static void walk_ticks(gc_walk *w, int idx, int t, const gc_ticks_kind *kind)
{
    lua_State *L = w->L;
    char out[GC_DT_BUFSZ > GC_TS_BUFSZ ? GC_DT_BUFSZ : GC_TS_BUFSZ];
    const char *err;
    int64_t ticks = 0, i = 0;
    double d = 0;
    size_t n;
    int k;
    if (t == LUA_TSTRING) {
        const char *s = lua_tolstring(L, idx, &n);
        err = kind->parse(s, n, &ticks);
    } else if (t == LUA_TTABLE && kind->from_table) {
        err = kind->from_table(L, idx, &ticks);
    } else if ((k = gc_read_number(w, idx, t, &d, &i)) != 0) {
        err = k == 1 ? kind->from_double(d, &ticks)
            : k == 2 ? kind->from_int(i, &ticks) : kind->too_large;
    } else {
        wrong_type(w, idx, kind->expected);
        return;
    }
    if (err) {
        bad_value(w, idx, err);
        return;
    }
    put_quoted(w, out, (size_t)kind->format(out, ticks));
}

/* --------------------------------------------------------------- dispatch */

void gc_walk_scalar(gc_walk *w, const gc_prop *p, int idx, int t)
{
    switch (p->kind) {
    case GC_K_STRING: walk_string(w, idx, t); return;
    case GC_K_BOOL:
        if (t != LUA_TBOOLEAN) {
            wrong_type(w, idx, "a boolean");
            return;
        }
        if (lua_toboolean(w->L, idx))
            gc_buf_put(w->L, w->buf, "true", 4);
        else
            gc_buf_put(w->L, w->buf, "false", 5);
        keep(w, idx);
        return;
    case GC_K_INT32: case GC_K_INT64: walk_integer(w, p, idx, t); return;
    case GC_K_SINGLE: case GC_K_DOUBLE: walk_float(w, p, idx, t); return;
    case GC_K_DATETIME: walk_ticks(w, idx, t, &datetime_kind); return;
    case GC_K_TIMESPAN: walk_ticks(w, idx, t, &timespan_kind); return;
    case GC_K_ENUM: walk_enum(w, p, idx, t); return;
    default: wrong_type(w, idx, "a value"); return;
    }
}
