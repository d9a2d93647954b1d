/* encode.c: the schema walk. An object's keys are looked up once (exact
 * spelling in the family's Lua table, then a case-insensitive scan), their
 * values parked in stack slots, and then written in the schema's order:
 * @odata.type, properties, extra properties sorted by key. */
#include <string.h>
#include "json/encode.h"
#include "json/number.h"

typedef struct objstate {
    int slot[GC_FAMILY_MAX];   /* stack index of each property's value, or 0 */
    int odata, addprop;        /* stack indexes of those values, or 0 */
    int extras;                /* table of names outside the schema, or 0 */
    int lk;                    /* the family's lookup table */
} objstate;

/* ----------------------------------------------------------- collecting */

/* Reports msg at the current path + key; the stack is left alone. */
static void key_error(gc_walk *w, const char *key, size_t n, const char *msg,
                      const char *hint)
{
    gc_path_push_name(w, key, n);
    if (hint)
        gc_walk_error(w, "%s (did you mean '%s'?)", msg, hint);
    else
        gc_walk_error(w, "%s", msg);
    gc_path_pop(w);
}

/* The same for the key at -2 of [.. key value]; pops the value. */
static void pair_error(gc_walk *w, const char *msg, const char *hint)
{
    size_t n;
    const char *k = lua_tolstring(w->L, -2, &n);
    key_error(w, k, n, msg, hint);
    lua_pop(w->L, 1);
}

/* With [.. key value] on top: stores the pair in the extras table (created
 * on first use, below the key) and pops the value. */
static void keep_extra(gc_walk *w, objstate *o)
{
    lua_State *L = w->L;
    if (!o->extras) {
        lua_newtable(L);
        lua_insert(L, -3);
        o->extras = lua_gettop(L) - 2;
    }
    lua_pushvalue(L, -2);
    lua_rawget(L, o->extras);
    if (!lua_isnil(L, -1)) {
        lua_pop(L, 1);
        pair_error(w, "given twice (directly and in AdditionalProperties)", NULL);
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, o->extras);
}

/* 1 + property index, GC_LK_ODATA, GC_LK_ADDPROP or 0, for the key at -2
 * (a string) in an object of a type of family `type`. */
static int lookup(gc_walk *w, int type, const gc_family *f, objstate *o)
{
    lua_State *L = w->L;
    size_t n;
    const char *s = lua_tostring(L, -2);
    int r = gc_keys_find(w->keys, type, s);
    if (r != 0)
        return r;
    lua_pushvalue(L, -2);
    lua_rawget(L, o->lk);
    r = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (r != 0)
        return r;
    s = lua_tolstring(L, -2, &n);
    return gc_lookup_fold(f, s, n);
}

static void collect(gc_walk *w, int type, int open, int idx, objstate *o)
{
    lua_State *L = w->L;
    const gc_family *f = gc_family_of(type);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int r, *dst;
        gc_walk_charge(w, 1);
        if (lua_type(L, -2) != LUA_TSTRING) {
            gc_walk_error(w, "object keys must be strings, got key %s", gc_describe(L, -2));
            lua_pop(L, 2);
            continue;
        }
        r = lookup(w, type, f, o);
        dst = r > 0 ? &o->slot[r - 1] : r == GC_LK_ODATA ? &o->odata
            : r == GC_LK_ADDPROP ? &o->addprop : NULL;
        if (dst && *dst) {
            const char *name = r > 0 ? f->props[r - 1]->name
                             : r == GC_LK_ODATA ? "@odata.type" : "AdditionalProperties";
            key_error(w, name, strlen(name), "given twice, in two spellings", NULL);
            lua_pop(L, 1);
        } else if (dst) {
            lua_pushvalue(L, -2);         /* lua_next takes the copy: the pair stays */
            *dst = lua_gettop(L) - 1;
        } else if (open || w->allow_unknown) {
            keep_extra(w, o);
        } else {
            size_t n;
            const char *s = lua_tolstring(L, -2, &n);
            pair_error(w, "unknown property", gc_suggest_prop(f, s, n));
        }
    }
}

/* Folds the AdditionalProperties table into the extras. */
static void merge_additional(gc_walk *w, const gc_family *f, int type, objstate *o)
{
    lua_State *L = w->L;
    int v = o->addprop;
    gc_path_push_name(w, "AdditionalProperties", 20);
    if (lua_type(L, v) != LUA_TTABLE) {
        if (!gc_is_null(L, v)) {
            gc_walk_error(w, "expected a table of extra properties, got %s", gc_describe(L, v));
            lua_pop(L, 1);
        }
        gc_path_pop(w);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, v)) {
        size_t n;
        const char *s;
        gc_walk_charge(w, 1);
        if (lua_type(L, -2) != LUA_TSTRING) {
            gc_walk_error(w, "keys must be strings, got key %s", gc_describe(L, -2));
            lua_pop(L, 2);
            continue;
        }
        s = lua_tolstring(L, -2, &n);
        if (gc_lookup_fold(f, s, n) != 0) {
            lua_pushfstring(L, "'%s' is a property of %s: set it directly, "
                               "not in AdditionalProperties", s, gc_types[type].name);
            key_error(w, s, n, lua_tostring(L, -1), NULL);
            lua_pop(L, 2);
            continue;
        }
        keep_extra(w, o);
    }
    gc_path_pop(w);
}

/* ------------------------------------------------------------- @odata.type */

static void derived_names(lua_State *L, int type)
{
    luaL_Buffer b;
    int i, n = 0;
    luaL_buffinit(L, &b);
    for (i = 0; i < GC_NTYPES; i++)
        if (gc_type_is_a(i, type)) {
            if (n++)
                luaL_addstring(&b, ", ");
            luaL_addstring(&b, gc_types[i].odata);
        }
    luaL_pushresult(&b);
}

/* The type @odata.type selects (the declared one or a derived one), or -1. */
static int resolve_type(gc_walk *w, int type, objstate *o)
{
    lua_State *L = w->L;
    int t = -1;
    if (!o->odata)
        return type;
    if (lua_type(L, o->odata) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, o->odata, &n);
        t = gc_type_by_name(s, n);
        if (t >= 0 && gc_type_is_a(t, type))
            return t;
    }
    gc_path_push_name(w, "@odata.type", 11);
    derived_names(L, type);
    gc_describe(L, o->odata);
    gc_walk_error(w, "expected %s, got %s", lua_tostring(L, -2), lua_tostring(L, -1));
    lua_pop(L, 2);
    gc_path_pop(w);
    return -1;
}

/* ---------------------------------------------------------------- writing */

static void put_key(gc_walk *w, const char *name, size_t n, int *first)
{
    char *p = gc_buf_reserve(w->L, w->buf, n + 4);
    if (!*first)
        *p++ = ',', w->buf->len++;
    *first = 0;
    p[0] = '"';
    memcpy(p + 1, name, n);
    p[n + 1] = '"';
    p[n + 2] = ':';
    w->buf->len += n + 3;
}

static void write_odata(gc_walk *w, int type, int result, int *first)
{
    const char *od = gc_types[type].odata;
    put_key(w, "@odata.type", 11, first);
    gc_buf_putc(w->L, w->buf, '"');
    gc_buf_put(w->L, w->buf, od, strlen(od));
    gc_buf_putc(w->L, w->buf, '"');
    if (result) {
        lua_pushstring(w->L, od);
        lua_setfield(w->L, result, "@odata.type");
    }
}

static void write_props(gc_walk *w, const gc_family *f, int type, objstate *o,
                        int result, int *first)
{
    lua_State *L = w->L;
    int i;
    for (i = 0; i < f->n; i++) {
        const gc_prop *p = f->props[i];
        if (!o->slot[i])
            continue;
        gc_path_push_name(w, p->name, f->namelen[i]);
        if (f->owner[i] != type && !gc_family_allows(f, i, type)) {
            gc_walk_error(w, "a property of %s only: set \"@odata.type\" to \"%s\"",
                          gc_types[f->owner[i]].name, gc_types[f->owner[i]].odata);
        } else {
            put_key(w, p->name, f->namelen[i], first);
            gc_walk_value(w, p, o->slot[i]);
            if (result)
                lua_setfield(L, result, p->name);
        }
        gc_path_pop(w);
    }
}

/* Tokens of an open type go straight into the object; other extras under
 * AdditionalProperties in the normalized copy (so it validates again). */
static void write_extras(gc_walk *w, int open, objstate *o, int result, int *first)
{
    lua_State *L = w->L;
    gc_walk_members(w, o->extras, open, first);
    if (!result)
        return;
    if (!open) {
        lua_setfield(L, result, "AdditionalProperties");
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, result);
    }
    lua_pop(L, 1);
}

/* ----------------------------------------------------------------- objects */

void gc_walk_object(gc_walk *w, int type, int idx, int force_odata)
{
    lua_State *L = w->L;
    const gc_family *f = gc_family_of(type);
    int open = gc_types[type].open_bool, base = lua_gettop(L), result = 0, first = 1;
    int final;
    objstate o;
    if (lua_type(L, idx) != LUA_TTABLE) {
        gc_walk_error(w, "expected an object (%s), got %s", gc_types[type].name,
                      gc_describe(L, idx));
        lua_pop(L, 1);
        if (w->build)
            lua_pushnil(L);
        return;
    }
    if (!gc_enter_table(w, idx)) {
        if (w->build)
            lua_pushnil(L);
        return;
    }
    luaL_checkstack(L, 2 * f->n + 12, "graphcomm: object too large");
    memset(o.slot, 0, sizeof(int) * (size_t)f->n);
    o.odata = o.addprop = o.extras = 0;
    lua_rawgeti(L, w->schema, type + 1);
    o.lk = lua_gettop(L);
    if (w->build) {
        lua_createtable(L, 0, 8);
        result = lua_gettop(L);
    }
    collect(w, type, open, idx, &o);
    final = resolve_type(w, type, &o);
    if (o.addprop)
        merge_additional(w, f, type, &o);
    gc_buf_putc(L, w->buf, '{');
    if (final >= 0 && (o.odata || force_odata))
        write_odata(w, final, result, &first);
    write_props(w, f, final >= 0 ? final : type, &o, result, &first);
    if (o.extras)
        write_extras(w, open, &o, result, &first);
    gc_buf_putc(L, w->buf, '}');
    gc_leave_table(w);
    if (result) {
        lua_pushvalue(L, result);
        lua_replace(L, base + 1);
    }
    lua_settop(L, base + (result != 0));
}

/* ------------------------------------------------------------------ arrays */

/* Checks that the table at idx is a sequence 1..n; reports the first flaw. */
static int check_sequence(gc_walk *w, int idx, lua_Integer *len)
{
    lua_State *L = w->L;
    lua_Integer n = (lua_Integer)gc_rawlen(L, idx), count = 0, i;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
        if (!(k >= 1 && k <= 9007199254740992.0) || k != (lua_Number)(lua_Integer)k) {
            gc_walk_error(w, "expected an array (a Lua sequence), but it has the key %s",
                          gc_describe(L, -2));
            lua_pop(L, 3);
            return 0;
        }
        count++;
        lua_pop(L, 1);
    }
    gc_walk_charge(w, (size_t)count);
    if (count != n) {
        for (i = 1; ; i++) {
            lua_rawgeti(L, idx, (int)i);
            if (lua_isnil(L, -1))
                break;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        gc_walk_error(w, "array has a hole: index %d is missing", (int)i);
        return 0;
    }
    *len = n;
    return 1;
}

static void walk_element(gc_walk *w, const gc_prop *p, int idx)
{
    int t = lua_type(w->L, idx);
    if (t == LUA_TLIGHTUSERDATA && lua_touserdata(w->L, idx) == NULL) {
        gc_walk_error(w, "null cannot be an element of %s", p->name);
        if (w->build)
            lua_pushnil(w->L);
    } else if (p->kind == GC_K_OBJECT) {
        gc_walk_object(w, p->ref, idx, 0);
    } else {
        gc_walk_scalar(w, p, idx, t);
    }
}

/* t[1..n] of the table at idx as a JSON array, each element walked by elem
 * (schema arrays here, generic JSON in anyjson.c); in build mode the
 * normalized copy is left on the stack. */
void gc_walk_elements(gc_walk *w, int idx, lua_Integer n, gc_elem_fn elem, const gc_prop *p)
{
    lua_State *L = w->L;
    lua_Integer i;
    if (w->build)
        lua_createtable(L, (int)n, 0);
    gc_buf_putc(L, w->buf, '[');
    for (i = 1; i <= n && !w->stopped; i++) {
        if (i > 1)
            gc_buf_putc(L, w->buf, ',');
        lua_rawgeti(L, idx, (int)i);
        gc_path_push_index(w, i);
        elem(w, p, lua_gettop(L));
        gc_path_pop(w);
        if (w->build)
            lua_rawseti(L, -3, (int)i);
        lua_pop(L, 1);
    }
    gc_buf_putc(L, w->buf, ']');
}

static void walk_array(gc_walk *w, const gc_prop *p, int idx)
{
    lua_State *L = w->L;
    lua_Integer n = 0;
    int ok;
    if (lua_type(L, idx) != LUA_TTABLE) {
        if (gc_is_empty_array_marker(L, idx)) {
            gc_buf_put(L, w->buf, "[]", 2);
            if (w->build)
                lua_newtable(L);
            return;
        }
        gc_walk_error(w, "expected an array (a Lua sequence), got %s", gc_describe(L, idx));
        lua_pop(L, 1);
        if (w->build)
            lua_pushnil(L);
        return;
    }
    ok = gc_enter_table(w, idx);
    if (!ok || !check_sequence(w, idx, &n)) {
        if (ok)
            gc_leave_table(w);
        if (w->build)
            lua_pushnil(L);
        return;
    }
    gc_walk_elements(w, idx, n, walk_element, p);
    gc_leave_table(w);
}

/* ------------------------------------------------------------------ values */

void gc_walk_value(gc_walk *w, const gc_prop *p, int idx)
{
    lua_State *L = w->L;
    int t = lua_type(L, idx);
    if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL) {
        if (p->flags & GC_F_NULLABLE) {
            gc_buf_put(L, w->buf, "null", 4);
            if (w->build)
                lua_pushlightuserdata(L, NULL);
        } else {
            gc_walk_error(w, "null is not allowed: %s is not nullable", p->name);
            if (w->build)
                lua_pushnil(L);
        }
    } else if (p->flags & GC_F_ARRAY) {
        walk_array(w, p, idx);
    } else if (p->kind == GC_K_OBJECT) {
        gc_walk_object(w, p->ref, idx, 0);
    } else {
        gc_walk_scalar(w, p, idx, t);
    }
}

/* ------------------------------------------------------------ entry point */

int gc_encode(lua_State *L, int idx, const gc_encode_opts *o, gc_buf *buf, int schema)
{
    gc_walk w;
    char num[GC_NUM_BUFSZ];
    int keys;
    w.L = L;
    w.buf = buf;
    w.schema = schema;
    lua_rawgeti(L, schema, GC_SCHEMA_KEYS_SLOT);
    w.keys = (const gc_keys *)lua_touserdata(L, -1);
    keys = lua_gettop(L);
    w.nerrors = w.dropped = w.depth = w.npath = w.stopped = w.inexact = 0;
    w.work = 0;
    w.budget = o->max_bytes > ((size_t)-1 - GC_WORK_FLOOR) / GC_WORK_PER_BYTE ? (size_t)-1
             : GC_WORK_PER_BYTE * o->max_bytes + GC_WORK_FLOOR;
    w.build = o->build;
    w.stop_inexact = o->stop_inexact && !o->build;
    w.floats = o->floats;
    if (w.floats)
        w.floats->n = 0;
    w.allow_unknown = o->allow_unknown;
    buf->len = 0;
    buf->over = 0;
    buf->max = o->max_bytes;
    lua_pushnil(L);
    w.errors = lua_gettop(L);
    gc_walk_object(&w, o->type, idx, o->odata_type);
    if (w.inexact && w.stop_inexact) {
        lua_remove(L, w.errors);
        lua_remove(L, keys);
        return GC_ENC_INEXACT;
    }
    num[gc_fmt_int(num, (int64_t)o->max_bytes)] = '\0';
    w.npath = 0;
    if (buf->over || buf->len > o->max_bytes)
        gc_walk_error(&w, "the body is larger than max_bytes (%s bytes)", num);
    else if (w.stopped)
        gc_walk_error(&w, "the body takes more work to check than max_bytes (%s bytes) "
                      "allows: a table reached by very many paths?", num);
    if (w.nerrors + w.dropped > 0) {
        if (w.build)
            lua_pop(L, 1);
        gc_walk_finish_error(&w);
    } else {
        lua_pushlstring(L, buf->data, buf->len);
    }
    lua_remove(L, w.errors);
    lua_remove(L, keys);
    return w.nerrors + w.dropped > 0 ? 0 : w.inexact ? GC_ENC_INEXACT : GC_ENC_EXACT;
}
