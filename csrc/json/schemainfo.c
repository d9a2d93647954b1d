/* schemainfo.c: core.schema([name]) describes the schema to Lua (the CLI's
 * --set and graphcomm.diff need to know kinds and arrays): with no name, the
 * list of type names; with one, that type's properties in output order. */
#include <string.h>
#include "json/schema.h"

void gc_open_schema_info(lua_State *L);

static const char *const kind_names[] = { "string", "boolean", "int32", "int64",
    "single", "double", "datetime", "timespan", "enum", "object" };

static void set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static void push_prop(lua_State *L, const gc_prop *p, int owner)
{
    int i;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, kind_names[p->kind]);
    lua_setfield(L, -2, "kind");
    set_bool(L, "nullable", (p->flags & GC_F_NULLABLE) != 0);
    set_bool(L, "array", (p->flags & GC_F_ARRAY) != 0);
    lua_pushstring(L, gc_types[owner].name);
    lua_setfield(L, -2, "owner");
    if (p->kind == GC_K_OBJECT) {
        lua_pushstring(L, gc_types[p->ref].name);
        lua_setfield(L, -2, "type");
    } else if (p->kind == GC_K_ENUM) {
        const gc_enum *e = &gc_enums[p->ref];
        lua_pushstring(L, e->name);
        lua_setfield(L, -2, "enum");
        lua_createtable(L, e->nvalues, 0);
        for (i = 0; i < e->nvalues; i++) {
            lua_pushstring(L, e->values[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "values");
    }
}

/* The type's own chain of properties (base first), without derived extras. */
static void push_props(lua_State *L, int type)
{
    const gc_family *f = gc_family_of(type);
    int i, n = 0;
    lua_newtable(L);
    for (i = 0; i < f->n; i++)
        if (gc_type_is_a(type, f->owner[i])) {
            push_prop(L, f->props[i], f->owner[i]);
            lua_rawseti(L, -2, ++n);
        }
}

static void push_type(lua_State *L, int t)
{
    int i, n = 0;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, gc_types[t].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, gc_types[t].odata);
    lua_setfield(L, -2, "odata_type");
    set_bool(L, "open", gc_types[t].open_bool);
    if (gc_types[t].base >= 0) {
        lua_pushstring(L, gc_types[gc_types[t].base].name);
        lua_setfield(L, -2, "base");
    }
    lua_newtable(L);
    for (i = 0; i < GC_NTYPES; i++)
        if (i != t && gc_type_is_a(i, t)) {
            lua_pushstring(L, gc_types[i].name);
            lua_rawseti(L, -2, ++n);
        }
    lua_setfield(L, -2, "derived");
    push_props(L, t);
    lua_setfield(L, -2, "properties");
}

static int l_schema(lua_State *L)
{
    size_t n;
    const char *name = luaL_optlstring(L, 1, NULL, &n);
    int t, i;
    if (name == NULL) {
        lua_createtable(L, GC_NTYPES, 0);
        for (i = 0; i < GC_NTYPES; i++) {
            lua_pushstring(L, gc_types[i].name);
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    t = gc_type_by_name(name, n);
    if (t < 0)
        return luaL_argerror(L, 1, "not a call-records type name");
    push_type(L, t);
    return 1;
}

void gc_open_schema_info(lua_State *L)
{
    lua_pushcfunction(L, l_schema);
    lua_setfield(L, -2, "schema");
}
