/* anyjson.c: generic JSON for what the schema does not describe
 * (AdditionalProperties, opts.allow_unknown, feedback tokens): any Lua value
 * that has a JSON form, objects written with sorted keys, empty tables as {}
 * unless marked as arrays (cjson.empty_array, cjson.array_mt,
 * cjson.empty_array_mt, or graphcomm's own core.empty_array / core.array_mt),
 * and the depth cap that also stops cycles. */
#include <stdlib.h>
#include <string.h>
#include "json/encode.h"
#include "json/number.h"

#define GC_ARRAY_MT "graphcomm.array_mt"
static const char empty_array_tag = 0;   /* core.empty_array points here */

/* ---------------------------------------------------------------- markers */

int gc_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* Pushes field `name` of package.loaded[mod] (nil when absent). Raw reads
 * only: a metatable on package.loaded or on a module must not run code in
 * the walk. */
static void raw_field(lua_State *L, const char *name)
{
    if (lua_istable(L, -1)) {
        lua_pushstring(L, name);
        lua_rawget(L, -2);
    } else {
        lua_pushnil(L);
    }
    lua_remove(L, -2);
}

static void push_cjson_field(lua_State *L, const char *mod, const char *name)
{
    lua_pushliteral(L, "_LOADED");
    lua_rawget(L, LUA_REGISTRYINDEX);
    raw_field(L, mod);
    raw_field(L, name);
}

/* Is the value at the stack top equal to cjson[name] or cjson.safe[name]? */
static int is_cjson(lua_State *L, const char *name)
{
    int same;
    push_cjson_field(L, "cjson", name);
    same = !lua_isnil(L, -1) && lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    if (same)
        return 1;
    push_cjson_field(L, "cjson.safe", name);
    same = !lua_isnil(L, -1) && lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    return same;
}

int gc_is_empty_array_marker(lua_State *L, int idx)
{
    int r;
    if (lua_type(L, idx) != LUA_TLIGHTUSERDATA || lua_touserdata(L, idx) == NULL)
        return 0;
    if (lua_touserdata(L, idx) == (void *)&empty_array_tag)
        return 1;
    lua_pushvalue(L, idx);
    r = is_cjson(L, "empty_array");
    lua_pop(L, 1);
    return r;
}

/* 1 if the table at idx has an array-marking metatable. */
static int has_array_mt(lua_State *L, int idx)
{
    int r;
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, GC_ARRAY_MT);
    r = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    r = r || is_cjson(L, "array_mt") || is_cjson(L, "empty_array_mt");
    lua_pop(L, 1);
    return r;
}

/* Registers core.empty_array, core.array_mt and core.int64_mt. */
void gc_open_anyjson(lua_State *L);
void gc_open_anyjson(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&empty_array_tag);
    lua_setfield(L, -2, "empty_array");
    luaL_newmetatable(L, GC_ARRAY_MT);
    lua_pushliteral(L, "graphcomm.array_mt");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "array_mt");
    luaL_newmetatable(L, GC_INT64_MT);
    lua_pushliteral(L, "graphcomm.int64_mt");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "int64_mt");
}

/* --------------------------------------------------------- depth, cycles */

/* Every table level pushes a few values (parked values, keys, messages):
 * room for them is made here, once a level. Every table visit passes here,
 * so this is also where the walk stops once the body went past max_bytes or
 * the work budget is spent (see gc_walk_charge): past either point the body
 * is refused anyway, and a table reached by very many paths (a DAG) would
 * otherwise take time exponential in its size. */
int gc_enter_table(gc_walk *w, int idx)
{
    const void *p = lua_topointer(w->L, idx);
    int i;
    if (w->stopped || w->buf->over || ++w->work > w->budget) {
        w->stopped = 1;
        return 0;
    }
    luaL_checkstack(w->L, 24, "graphcomm: nesting too deep");
    for (i = 0; i < w->depth && i < GC_MAX_DEPTH; i++)
        if (w->tables[i] == p) {
            gc_walk_error(w, "cycle: this table contains itself");
            return 0;
        }
    if (w->depth >= GC_MAX_DEPTH) {
        gc_walk_error(w, "nested deeper than %d tables", GC_MAX_DEPTH);
        return 0;
    }
    w->tables[w->depth++] = p;
    return 1;
}

void gc_leave_table(gc_walk *w)
{
    w->depth--;
}

/* ---------------------------------------------------------------- objects */

typedef struct member {
    const char *key;
    size_t len;
} member;

static int member_cmp(const void *a, const void *b)
{
    const member *x = (const member *)a, *y = (const member *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Collects the string keys of the table at idx, sorted, and pins each key
 * string: the pointers must not rely on the walked table, since a finalizer
 * run by any allocation further on can empty it, and the collector then frees
 * keys still listed here. Up to PIN_ON_STACK keys go into `small` and stay
 * pinned on the Lua stack (no allocation); more go into a userdata array,
 * pinned by a table beside it. The caller resets the stack top afterwards. */
#define PIN_ON_STACK 32

static member *collect_keys(gc_walk *w, int idx, member *small, size_t *count)
{
    lua_State *L = w->L;
    size_t n = 0, i = 0;
    member *m = small;
    int pins = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n += lua_type(L, -2) == LUA_TSTRING;
        lua_pop(L, 1);
    }
    gc_walk_charge(w, n);
    if (n > PIN_ON_STACK) {
        m = (member *)lua_newuserdata(L, n * sizeof(member));
        lua_createtable(L, n > 0x7fffffff ? 0x7fffffff : (int)n, 0);
        pins = lua_gettop(L);
    } else {
        luaL_checkstack(L, (int)n + 4, "graphcomm: nesting too deep");
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && i < n) {
            m[i].key = lua_tolstring(L, -1, &m[i].len);
            lua_pushvalue(L, -1);
            if (pins)
                lua_rawseti(L, pins, (int)++i);
            else
                lua_insert(L, -2), i++;     /* the copy stays below the iteration key */
        }
    }
    qsort(m, i, sizeof(member), member_cmp);
    *count = i;
    return m;
}

static void walk_member(gc_walk *w, int idx, const member *m, int bool_only, int result)
{
    lua_State *L = w->L;
    int v;
    luaL_checkstack(L, 8, "graphcomm: nesting too deep");
    lua_pushlstring(L, m->key, m->len);
    lua_rawget(L, idx);
    v = lua_gettop(L);
    gc_path_push_name(w, m->key, m->len);
    if (bool_only && lua_type(L, v) != LUA_TBOOLEAN) {
        gc_walk_error(w, "feedback tokens are booleans, got %s", gc_describe(L, v));
        lua_pop(L, 1);
        if (w->build)
            lua_pushnil(L);
    } else {
        gc_walk_any(w, v);
    }
    gc_path_pop(w);
    if (w->build) {
        lua_pushlstring(L, m->key, m->len);
        lua_insert(L, -2);
        lua_rawset(L, result);
    }
    lua_pop(L, 1);
}

void gc_walk_members(gc_walk *w, int idx, int bool_only, int *first)
{
    lua_State *L = w->L;
    size_t n, i;
    member small[PIN_ON_STACK], *m;
    int result = 0, keys;
    if (w->build) {
        lua_newtable(L);
        result = lua_gettop(L);
    }
    keys = lua_gettop(L);
    m = collect_keys(w, idx, small, &n);
    for (i = 0; i < n && !w->stopped; i++) {
        if (!*first)
            gc_buf_putc(L, w->buf, ',');
        *first = 0;
        if (gc_buf_string(L, w->buf, m[i].key, m[i].len)) {
            gc_walk_error(w, "a key is not valid UTF-8");
            continue;
        }
        gc_buf_putc(L, w->buf, ':');
        walk_member(w, idx, &m[i], bool_only, result);
    }
    lua_settop(L, keys);
}

/* ----------------------------------------------------------------- tables */

static int is_integer_key(lua_State *L, int idx, lua_Integer *k)
{
    lua_Number d;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    d = lua_tonumber(L, idx);
    if (!(d >= 1 && d <= 9007199254740992.0) || d != (lua_Number)(lua_Integer)d)
        return 0;
    *k = (lua_Integer)d;
    return 1;
}

/* Counts keys: strings, and integers 1..n (max key in *max). */
static void classify(gc_walk *w, int idx, size_t *total, size_t *strings,
                     size_t *ints, lua_Integer *max)
{
    lua_State *L = w->L;
    lua_Integer k;
    *total = *strings = *ints = 0;
    *max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        (*total)++;
        if (lua_type(L, -2) == LUA_TSTRING)
            (*strings)++;
        else if (is_integer_key(L, -2, &k)) {
            (*ints)++;
            if (k > *max)
                *max = k;
        }
        lua_pop(L, 1);
    }
    gc_walk_charge(w, *total);
}

/* An element of a generic array (gc_walk_elements): no schema property. */
static void any_element(gc_walk *w, const gc_prop *p, int idx)
{
    (void)p;
    gc_walk_any(w, idx);
}

/* An empty table: [] when marked as an array, else {}. Keeps the marker
 * metatable on the normalized copy. */
static void walk_empty(gc_walk *w, int idx, int array)
{
    lua_State *L = w->L;
    gc_buf_put(L, w->buf, array ? "[]" : "{}", 2);
    if (array)
        gc_walk_inexact(w);             /* the copy keeps the marker metatable */
    if (!w->build)
        return;
    lua_newtable(L);
    if (array && lua_getmetatable(L, idx))
        lua_setmetatable(L, -2);
}

static void walk_any_table(gc_walk *w, int idx)
{
    size_t total, strings, ints;
    lua_Integer max;
    int array, first = 1;
    if (!gc_enter_table(w, idx)) {
        if (w->build)
            lua_pushnil(w->L);
        return;
    }
    array = has_array_mt(w->L, idx);
    classify(w, idx, &total, &strings, &ints, &max);
    if (total == 0)
        walk_empty(w, idx, array);
    else if (strings == total && !array) {
        gc_buf_putc(w->L, w->buf, '{');
        gc_walk_members(w, idx, 0, &first);
        gc_buf_putc(w->L, w->buf, '}');
    } else if (ints == total && (size_t)max == total)
        gc_walk_elements(w, idx, max, any_element, NULL);
    else {
        gc_walk_error(w, "a table must be an array (keys 1..n) or an object "
                         "(string keys): this one has %s",
                      ints == total ? "holes" : "mixed keys");
        if (w->build)
            lua_pushnil(w->L);
    }
    gc_leave_table(w);
}

/* ----------------------------------------------------------------- values */

static void not_json(gc_walk *w, int idx)
{
    gc_walk_error(w, "%s cannot be written as JSON", gc_describe(w->L, idx));
    lua_pop(w->L, 1);
    if (w->build)
        lua_pushnil(w->L);
}

static void walk_any_number(gc_walk *w, int idx)
{
    lua_State *L = w->L;
    char *p;
    double d = 0;
    int64_t i = 0;
    int k = gc_read_number(w, idx, lua_type(L, idx), &d, &i), n;
    if (k == 0 || k == 3 || (k == 1 && (d != d || d - d != 0))) {
        not_json(w, idx);
        return;
    }
    p = gc_buf_reserve(L, w->buf, GC_NUM_BUFSZ);
    n = k == 2 ? gc_fmt_int(p, i) : gc_fmt_double(p, d);
    w->buf->len += (size_t)n;
    if (lua_type(L, idx) != LUA_TNUMBER)
        gc_walk_inexact(w);             /* the copy keeps the box itself */
    else if (k == 1)
        gc_walk_double_text(w, p, n);
    if (w->build)
        lua_pushvalue(L, idx);
}

void gc_walk_any(gc_walk *w, int idx)
{
    lua_State *L = w->L;
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        n = gc_buf_string(L, w->buf, s, n);
        if (n)
            gc_walk_error(w, "invalid UTF-8 at byte %d", (int)n);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            gc_buf_put(L, w->buf, "true", 4);
        else
            gc_buf_put(L, w->buf, "false", 5);
        break;
    case LUA_TNUMBER: case LUA_TCDATA:
        walk_any_number(w, idx);
        return;
    case LUA_TTABLE:
        if (gc_is_int64(L, idx))
            walk_any_number(w, idx);
        else
            walk_any_table(w, idx);
        return;
    case LUA_TLIGHTUSERDATA:
        if (gc_is_null(L, idx)) {
            gc_buf_put(L, w->buf, "null", 4);
            break;
        }
        if (gc_is_empty_array_marker(L, idx)) {
            gc_buf_put(L, w->buf, "[]", 2);
            gc_walk_inexact(w);         /* the copy keeps the marker */
            break;
        }
        /* fall through */
    default:
        not_json(w, idx);
        return;
    }
    if (w->build)
        lua_pushvalue(L, idx);
}
