/* readback.c: JSON text the encoder wrote, read back into Lua values. A
 * session object keeps only its body's text; its table view is this value
 * walked again in build mode, made on first use (entries.c). The reader is
 * strict (no whitespace, only the escapes the writer uses, \uXXXX below
 * U+0080): anything else is an internal error, raised. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include "json/encode.h"
#include "json/number.h"

typedef struct reader {
    lua_State *L;
    const char *start, *p, *end;
    int depth;
    const gc_floats *floats;   /* offsets of whole floats, or NULL */
    int next_float;            /* the first of them not yet reached */
} reader;

static void value(reader *r);

static void bad(reader *r)
{
    luaL_error(r->L, "graphcomm: a session body does not read back as JSON "
                     "(internal error at byte %d)", (int)(r->p - r->start));
}

static int hex4(reader *r)
{
    static const char digits[] = "0123456789abcdef";
    int v = 0, i;
    if (r->end - r->p < 4)
        bad(r);
    for (i = 0; i < 4; i++, r->p++) {
        const char *d = *r->p ? strchr(digits, *r->p) : NULL;
        if (d == NULL)
            bad(r);                 /* the writer uses lower case */
        v = v * 16 + (int)(d - digits);
    }
    return v;
}

static char unescape(reader *r)
{
    int c;
    if (r->p == r->end)
        bad(r);
    switch (*r->p++) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u':
        c = hex4(r);
        if (c >= 0x80)
            bad(r);                 /* the writer escapes control characters only */
        return (char)c;
    default:
        bad(r);
        return 0;
    }
}

/* After the opening quote: pushes the string. Runs without escapes are
 * pushed in one piece. */
static void string(reader *r)
{
    lua_State *L = r->L;
    const char *run = r->p;
    luaL_Buffer b;
    while (r->p < r->end && *r->p != '"' && *r->p != '\\')
        r->p++;
    if (r->p < r->end && *r->p == '"') {
        lua_pushlstring(L, run, (size_t)(r->p - run));
        r->p++;
        return;
    }
    luaL_buffinit(L, &b);
    for (;;) {
        luaL_addlstring(&b, run, (size_t)(r->p - run));
        if (r->p == r->end)
            bad(r);
        if (*r->p++ == '"')
            break;
        luaL_addchar(&b, unescape(r));
        run = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\')
            r->p++;
    }
    luaL_pushresult(&b);
}

/* 1 if the number at r->p is a float the writer wrote as an integer. */
static int listed_float(reader *r)
{
    const gc_floats *f = r->floats;
    if (f == NULL || r->next_float >= f->n
        || f->at[r->next_float] != (uint32_t)(r->p - r->start))
        return 0;
    r->next_float++;
    return 1;
}

/* Integers (no '.', no exponent, not "-0", not listed as floats) within int64
 * as Lua integers, everything else through strtod with the locale's decimal
 * point. */
static void number(reader *r)
{
    lua_State *L = r->L;
    const char *s = r->p;
    char tmp[GC_NUM_BUFSZ + 1], *stop;
    int is_float = listed_float(r), neg = *s == '-';
    size_t n, i;
    uint64_t u = 0;
    double d;
    while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || *r->p == '-' || *r->p == '+'
                             || *r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        is_float |= *r->p == '.' || *r->p == 'e' || *r->p == 'E', r->p++;
    n = (size_t)(r->p - s);
    if (n == 0 || n > GC_NUM_BUFSZ)
        bad(r);
    if (!is_float && !(n == 2 && neg && s[1] == '0')) {
        for (i = (size_t)neg; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (u > (UINT64_MAX - 9) / 10)
                break;
            u = u * 10 + (uint64_t)(s[i] - '0');
        }
        if (i == n && i > (size_t)neg && u <= (uint64_t)INT64_MAX + (uint64_t)neg) {
            lua_pushinteger(L, (lua_Integer)(neg ? (int64_t)(0 - u) : (int64_t)u));
            return;
        }
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (i = 0; i < n; i++)
        if (tmp[i] == '.')
            tmp[i] = localeconv()->decimal_point[0];
    d = strtod(tmp, &stop);
    if (stop != tmp + n)
        bad(r);
    lua_pushnumber(L, (lua_Number)d);
}

static void literal(reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        bad(r);
    r->p += n;
}

/* After '{' or '[': the members or elements into a new table. */
static void container(reader *r, char close)
{
    lua_State *L = r->L;
    lua_Integer i = 0;
    if (++r->depth > GC_MAX_DEPTH + 8)
        bad(r);
    luaL_checkstack(L, 4, "graphcomm: nesting too deep");
    lua_newtable(L);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return;
    }
    for (;;) {
        if (close == '}') {
            if (r->p == r->end || *r->p++ != '"')
                bad(r);
            string(r);
            if (r->p == r->end || *r->p++ != ':')
                bad(r);
            value(r);
            lua_rawset(L, -3);
        } else {
            value(r);
            lua_rawseti(L, -2, (int)++i);
        }
        if (r->p == r->end)
            bad(r);
        if (*r->p == close)
            break;
        if (*r->p++ != ',')
            bad(r);
    }
    r->p++;
    r->depth--;
}

static void value(reader *r)
{
    if (r->p == r->end)
        bad(r);
    switch (*r->p) {
    case '{': r->p++; container(r, '}'); return;
    case '[': r->p++; container(r, ']'); return;
    case '"': r->p++; string(r); return;
    case 't': literal(r, "true", 4); lua_pushboolean(r->L, 1); return;
    case 'f': literal(r, "false", 5); lua_pushboolean(r->L, 0); return;
    case 'n': literal(r, "null", 4); lua_pushlightuserdata(r->L, NULL); return;
    default: number(r); return;
    }
}

void gc_readback(lua_State *L, const char *s, size_t n, const gc_floats *floats)
{
    reader r;
    r.L = L;
    r.start = r.p = s;
    r.end = s + n;
    r.depth = 0;
    r.floats = floats;
    r.next_float = 0;
    value(&r);
    if (r.p != r.end)
        bad(&r);
}
