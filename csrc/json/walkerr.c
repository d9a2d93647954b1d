/* walkerr.c: validation errors collected during the walk: paths such as
 * segments[1].media[2].streams[1].averageJitter, messages, did-you-mean
 * hints, and the final error object. */
#include <stdarg.h>
#include <string.h>
#include "json/encode.h"
#include "json/number.h"

/* ------------------------------------------------------------------ path */

void gc_path_push_name(gc_walk *w, const char *name, size_t len)
{
    if (w->npath < (int)(sizeof w->path / sizeof w->path[0])) {
        w->path[w->npath].name = name;
        w->path[w->npath].len = len;
    }
    w->npath++;
}

void gc_path_push_index(gc_walk *w, lua_Integer i)
{
    if (w->npath < (int)(sizeof w->path / sizeof w->path[0])) {
        w->path[w->npath].name = NULL;
        w->path[w->npath].index = i;
    }
    w->npath++;
}

static void push_path(gc_walk *w)
{
    luaL_Buffer b;
    int i, n = w->npath, max = (int)(sizeof w->path / sizeof w->path[0]);
    char num[GC_NUM_BUFSZ];
    luaL_buffinit(w->L, &b);
    for (i = 0; i < n && i < max; i++) {
        const gc_seg *s = &w->path[i];
        if (s->name == NULL) {
            luaL_addchar(&b, '[');
            luaL_addlstring(&b, num, (size_t)gc_fmt_int(num, (int64_t)s->index));
            luaL_addchar(&b, ']');
            continue;
        }
        if (i > 0)
            luaL_addchar(&b, '.');
        luaL_addlstring(&b, s->name, s->len);
    }
    luaL_pushresult(&b);
}

/* ---------------------------------------------------------------- errors */

void gc_walk_error(gc_walk *w, const char *fmt, ...)
{
    lua_State *L = w->L;
    va_list ap;
    if (w->nerrors >= GC_MAX_ERRORS) {
        w->dropped++;
        return;
    }
    luaL_checkstack(L, 8, "graphcomm: nesting too deep");
    if (lua_type(L, w->errors) != LUA_TTABLE) {
        lua_newtable(L);
        lua_replace(L, w->errors);
    }
    lua_createtable(L, 0, 2);
    push_path(w);
    lua_setfield(L, -2, "path");
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_setfield(L, -2, "message");
    lua_rawseti(L, w->errors, ++w->nerrors);
}

/* Pushes "path: message" (or just the message when the path is empty). */
static void push_entry(lua_State *L, int list, int i)
{
    size_t n;
    lua_rawgeti(L, list, i);
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "message");
    lua_remove(L, -3);
    lua_tolstring(L, -2, &n);
    if (n > 0) {
        lua_pushliteral(L, ": ");
        lua_insert(L, -2);
        lua_concat(L, 3);
    } else {
        lua_remove(L, -2);
    }
}

/* "2 errors: a: ...; b: ...": the first ten, then a count. Built by
 * concatenation on the stack (a luaL_Buffer must own the stack top). */
static void push_summary(lua_State *L, int list, int n, int total)
{
    int i;
    lua_pushfstring(L, "%d error%s: ", total, total == 1 ? "" : "s");
    for (i = 1; i <= n && i <= 10; i++) {
        if (i > 1)
            lua_pushliteral(L, "; ");
        push_entry(L, list, i);
        lua_concat(L, i > 1 ? 3 : 2);
    }
    if (total > 10) {
        lua_pushfstring(L, "; ... and %d more", total - 10);
        lua_concat(L, 2);
    }
}

void gc_walk_finish_error(gc_walk *w)
{
    lua_State *L = w->L;
    int total = w->nerrors + w->dropped;
    if (w->dropped) {
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, "");
        lua_setfield(L, -2, "path");
        lua_pushfstring(L, "... and %d more errors not listed", w->dropped);
        lua_setfield(L, -2, "message");
        lua_rawseti(L, w->errors, w->nerrors + 1);
    }
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, "validation");
    lua_setfield(L, -2, "kind");
    lua_pushvalue(L, w->errors);
    lua_setfield(L, -2, "errors");
    push_summary(L, w->errors, w->nerrors, total);
    lua_setfield(L, -2, "message");
    luaL_getmetatable(L, "graphcomm.error");
    if (lua_istable(L, -1))
        lua_setmetatable(L, -2);
    else
        lua_pop(L, 1);
}

/* ----------------------------------------------------------- did you mean */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive Levenshtein distance; strings longer than 63 are "far". */
static int distance(const char *a, size_t na, const char *b, size_t nb)
{
    int row[64], i, j;
    if (na > 63 || nb > 63)
        return 1000;
    for (j = 0; j <= (int)nb; j++)
        row[j] = j;
    for (i = 1; i <= (int)na; i++) {
        int diag = row[0], cur;
        row[0] = i;
        for (j = 1; j <= (int)nb; j++) {
            int cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
            cur = diag + cost;
            if (row[j] + 1 < cur) cur = row[j] + 1;
            if (row[j - 1] + 1 < cur) cur = row[j - 1] + 1;
            diag = row[j];
            row[j] = cur;
        }
    }
    return row[nb];
}

static int threshold(size_t len)
{
    return len <= 3 ? 1 : len <= 6 ? 2 : 3;
}

const char *gc_suggest(const char *s, size_t len, const char *const *names, int n)
{
    const char *best = NULL;
    int bestd = threshold(len) + 1, i;
    for (i = 0; i < n; i++) {
        int d = distance(s, len, names[i], strlen(names[i]));
        if (d < bestd)
            bestd = d, best = names[i];
    }
    return best;
}

const char *gc_suggest_prop(const gc_family *f, const char *s, size_t len)
{
    const char *names[GC_FAMILY_MAX + 1];
    int i;
    for (i = 0; i < f->n; i++)
        names[i] = f->props[i]->name;
    names[i++] = "@odata.type";
    return gc_suggest(s, len, names, i);
}

/* ------------------------------------------------------------- describe */

static const char *describe_string(lua_State *L, int idx)
{
    size_t n, i, m;
    const char *s = lua_tolstring(L, idx, &n);
    char out[48];
    m = n > 40 ? 40 : n;
    out[0] = '\'';
    for (i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i + 1] = (char)(c < 0x20 || c >= 0x7f ? '?' : c);
    }
    memcpy(out + m + 1, n > m ? "...'" : "'", n > m ? 4 : 1);
    lua_pushlstring(L, out, m + 1 + (n > m ? 4 : 1));
    return lua_tostring(L, -1);
}

static const char *describe_number(lua_State *L, int idx)
{
    char out[GC_NUM_BUFSZ];
    double d = (double)lua_tonumber(L, idx);
    int n;
    if (gc_isinteger(L, idx))
        n = gc_fmt_int(out, (int64_t)lua_tointeger(L, idx));
    else if (d != d)
        return lua_pushstring(L, "nan"), lua_tostring(L, -1);
    else if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
        return lua_pushstring(L, d > 0 ? "inf" : "-inf"), lua_tostring(L, -1);
    else
        n = gc_fmt_double(out, d);
    lua_pushlstring(L, out, (size_t)n);
    return lua_tostring(L, -1);
}

const char *gc_describe(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return describe_string(L, idx);
    case LUA_TNUMBER: return describe_number(L, idx);
    case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNIL: lua_pushliteral(L, "nil"); break;
    case LUA_TLIGHTUSERDATA:
        lua_pushstring(L, lua_touserdata(L, idx) ? "a light userdata" : "null"); break;
    default: lua_pushfstring(L, "a %s", lua_typename(L, lua_type(L, idx)));
    }
    return lua_tostring(L, -1);
}
