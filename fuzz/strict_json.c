/* strict_json.c: the fuzzers' JSON oracle, written apart from the encoder so
 * that it shares none of its mistakes. A strict RFC 8259 reader: one value
 * with optional whitespace around it, objects without duplicate names, the
 * number grammar of section 6, strings of well-formed UTF-8 with every
 * control character escaped and \u escapes (surrogates in pairs only), depth
 * at most 200. It decodes into Lua values: objects and arrays as tables,
 * null as the light userdata NULL (core.null), integers that fit as Lua
 * integers, other numbers as doubles. */
#include <stdlib.h>
#include <string.h>
#include "strict_json.h"

typedef struct rd {
    lua_State *L;
    const unsigned char *s;
    size_t i, n;
    int depth;
    const char *err;
} rd;

static int fail(rd *r, const char *why)
{
    if (!r->err)
        r->err = why;
    return 0;
}

static void ws(rd *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n'
                           || r->s[r->i] == '\r'))
        r->i++;
}

static int lit(rd *r, const char *w)
{
    size_t k = strlen(w);
    if (r->n - r->i < k || memcmp(r->s + r->i, w, k) != 0)
        return fail(r, "bad literal");
    r->i += k;
    return 1;
}

static int digits(rd *r)
{
    size_t start = r->i;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
        r->i++;
    return r->i > start;
}

static int number(rd *r)
{
    size_t start = r->i;
    int is_int = 1;
    char tmp[400];
    if (r->i < r->n && r->s[r->i] == '-')
        r->i++;
    if (r->i < r->n && r->s[r->i] == '0')
        r->i++;
    else if (!(r->i < r->n && r->s[r->i] >= '1' && r->s[r->i] <= '9') || !digits(r))
        return fail(r, "bad number");
    if (r->i < r->n && r->s[r->i] == '.') {
        r->i++;
        is_int = 0;
        if (!digits(r))
            return fail(r, "bad fraction");
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        is_int = 0;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
            r->i++;
        if (!digits(r))
            return fail(r, "bad exponent");
    }
    if (r->i - start >= sizeof tmp)
        return fail(r, "number too long for the oracle");
    memcpy(tmp, r->s + start, r->i - start);
    tmp[r->i - start] = '\0';
    if (is_int) {
        long long v = strtoll(tmp, NULL, 10);
        double d = strtod(tmp, NULL);
        if (d > -9.2e18 && d < 9.2e18) {
            lua_pushinteger(r->L, (lua_Integer)v);
            return 1;
        }
    }
    lua_pushnumber(r->L, (lua_Number)strtod(tmp, NULL));
    return 1;
}

static int hex4(rd *r, unsigned *v)
{
    int k;
    *v = 0;
    if (r->n - r->i < 4)
        return fail(r, "short \\u escape");
    for (k = 0; k < 4; k++) {
        unsigned c = r->s[r->i++];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= c - '0';
        else if (c >= 'a' && c <= 'f') *v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') *v |= c - 'A' + 10;
        else return fail(r, "bad \\u escape");
    }
    return 1;
}

static void put_utf8(luaL_Buffer *b, unsigned cp)
{
    if (cp < 0x80) {
        luaL_addchar(b, (char)cp);
    } else if (cp < 0x800) {
        luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, k;
    if (c < 0x80) return 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < len) return 0;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return 0;
    for (k = 2; k < len; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return len;
}

static int string(rd *r)
{
    luaL_Buffer b;
    r->i++;                                  /* the opening quote */
    luaL_buffinit(r->L, &b);
    for (;;) {
        unsigned c, cp, lo;
        size_t len;
        if (r->i >= r->n)
            return fail(r, "unterminated string");
        c = r->s[r->i];
        if (c == '"') {
            r->i++;
            luaL_pushresult(&b);
            return 1;
        }
        if (c < 0x20)
            return fail(r, "raw control character in a string");
        if (c != '\\') {
            if ((len = utf8_len(r->s + r->i, r->n - r->i)) == 0)
                return fail(r, "invalid UTF-8 in a string");
            luaL_addlstring(&b, (const char *)r->s + r->i, len);
            r->i += len;
            continue;
        }
        if (++r->i >= r->n)
            return fail(r, "unterminated escape");
        c = r->s[r->i++];
        switch (c) {
        case '"': case '\\': case '/': luaL_addchar(&b, (char)c); break;
        case 'b': luaL_addchar(&b, '\b'); break;
        case 'f': luaL_addchar(&b, '\f'); break;
        case 'n': luaL_addchar(&b, '\n'); break;
        case 'r': luaL_addchar(&b, '\r'); break;
        case 't': luaL_addchar(&b, '\t'); break;
        case 'u':
            if (!hex4(r, &cp))
                return 0;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(r, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
                    return fail(r, "lone high surrogate");
                r->i += 2;
                if (!hex4(r, &lo))
                    return 0;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(r, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
            break;
        default:
            return fail(r, "bad escape");
        }
    }
}

static int value(rd *r);

static int array(rd *r)
{
    lua_Integer k = 0;
    r->i++;
    lua_newtable(r->L);
    ws(r);
    if (r->i < r->n && r->s[r->i] == ']') {
        r->i++;
        return 1;
    }
    for (;;) {
        if (!value(r))
            return 0;
        lua_rawseti(r->L, -2, (int)++k);
        ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == ']') {
            r->i++;
            return 1;
        }
        return fail(r, "expected , or ]");
    }
}

static int object(rd *r)
{
    r->i++;
    lua_newtable(r->L);
    ws(r);
    if (r->i < r->n && r->s[r->i] == '}') {
        r->i++;
        return 1;
    }
    for (;;) {
        ws(r);
        if (!(r->i < r->n && r->s[r->i] == '"'))
            return fail(r, "expected a member name");
        if (!string(r))
            return 0;
        lua_pushvalue(r->L, -1);
        lua_rawget(r->L, -3);
        if (!lua_isnil(r->L, -1))
            return fail(r, "duplicate member name");
        lua_pop(r->L, 1);
        ws(r);
        if (!(r->i < r->n && r->s[r->i] == ':'))
            return fail(r, "expected :");
        r->i++;
        if (!value(r))
            return 0;
        lua_rawset(r->L, -3);
        ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == '}') {
            r->i++;
            return 1;
        }
        return fail(r, "expected , or }");
    }
}

static int value(rd *r)
{
    int ok;
    ws(r);
    if (r->i >= r->n)
        return fail(r, "expected a value");
    if (++r->depth > 200)
        return fail(r, "too deep for the oracle");
    luaL_checkstack(r->L, 8, "oracle");
    switch (r->s[r->i]) {
    case '{': ok = object(r); break;
    case '[': ok = array(r); break;
    case '"': ok = string(r); break;
    case 't': ok = lit(r, "true") && (lua_pushboolean(r->L, 1), 1); break;
    case 'f': ok = lit(r, "false") && (lua_pushboolean(r->L, 0), 1); break;
    case 'n': ok = lit(r, "null") && (lua_pushlightuserdata(r->L, NULL), 1); break;
    default: ok = number(r);
    }
    r->depth--;
    return ok;
}

const char *gc_strict_json(lua_State *L, const char *s, size_t n)
{
    rd r;
    int top = lua_gettop(L);
    r.L = L;
    r.s = (const unsigned char *)s;
    r.i = 0;
    r.n = n;
    r.depth = 0;
    r.err = NULL;
    if (value(&r)) {
        ws(&r);
        if (r.i == r.n)
            return NULL;
        fail(&r, "text after the value");
    }
    lua_settop(L, top);
    return r.err;
}

/* strict_json(s) -> value | nil, why: the same from Lua. */
static int l_strict_json(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *err = gc_strict_json(L, s, n);
    if (err == NULL)
        return 1;
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

void gc_open_strict_json(lua_State *L)
{
    lua_pushcfunction(L, l_strict_json);
    lua_setfield(L, -2, "strict_json");
}
