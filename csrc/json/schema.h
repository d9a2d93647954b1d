/* schema.h: the call-records schema as data (types, properties, enums) and
 * the lookup tables the encoder consults. The data itself is in schema.c. */
#ifndef GRAPHCOMM_SCHEMA_H
#define GRAPHCOMM_SCHEMA_H

#include "lua/compat.h"

/* Value kinds a property can have. */
enum {
    GC_K_STRING, GC_K_BOOL, GC_K_INT32, GC_K_INT64, GC_K_SINGLE, GC_K_DOUBLE,
    GC_K_DATETIME, GC_K_TIMESPAN, GC_K_ENUM, GC_K_OBJECT
};

#define GC_F_NULLABLE 1  /* graphcomm.null allowed */
#define GC_F_ARRAY    2  /* a JSON array of the kind */

typedef struct gc_prop {
    const char *name;      /* the JSON spelling */
    unsigned char kind;
    unsigned char flags;
    short ref;             /* GC_K_OBJECT: type id; GC_K_ENUM: enum id */
} gc_prop;

/* Type ids: the order of gc_types[] in schema.c. */
enum {
    GC_T_SESSION, GC_T_SEGMENT, GC_T_ENDPOINT, GC_T_PARTICIPANT_ENDPOINT,
    GC_T_SERVICE_ENDPOINT, GC_T_USER_AGENT, GC_T_CLIENT_USER_AGENT,
    GC_T_SERVICE_USER_AGENT, GC_T_FAILURE_INFO, GC_T_MEDIA, GC_T_DEVICE_INFO,
    GC_T_NETWORK_INFO, GC_T_TRACE_ROUTE_HOP, GC_T_MEDIA_STREAM, GC_T_USER_FEEDBACK,
    GC_T_FEEDBACK_TOKEN_SET, GC_T_IDENTITY_SET, GC_T_COMMUNICATIONS_IDENTITY_SET,
    GC_T_IDENTITY, GC_T_USER_IDENTITY, GC_T_GRAPH_USER_IDENTITY,
    GC_NTYPES
};

/* Enum ids: the order of gc_enums[] in schema.c. */
enum {
    GC_E_AUDIO_CODEC, GC_E_VIDEO_CODEC, GC_E_MODALITY, GC_E_FAILURE_STAGE,
    GC_E_MEDIA_STREAM_DIRECTION, GC_E_NETWORK_CONNECTION_TYPE,
    GC_E_NETWORK_TRANSPORT_PROTOCOL, GC_E_WIFI_BAND, GC_E_WIFI_RADIO_TYPE,
    GC_E_CLIENT_PLATFORM, GC_E_PRODUCT_FAMILY, GC_E_SERVICE_ROLE,
    GC_E_USER_FEEDBACK_RATING, GC_E_ENDPOINT_TYPE,
    GC_NENUMS
};

typedef struct gc_type {
    const char *name;      /* "session" */
    const char *odata;     /* "#microsoft.graph.callRecords.session" */
    int base;              /* type id of the base type, or -1 */
    int open_bool;         /* any names, boolean values (feedbackTokenSet) */
    const gc_prop *props;  /* own properties, reference order */
    int nprops;
} gc_type;

typedef struct gc_enum {
    const char *name;
    const char *const *values;
    int nvalues;
} gc_enum;

/* A family: a type, its base's properties and every derived type's extras,
 * in output order, so that one lookup serves before @odata.type is known. */
#define GC_FAMILY_MAX 64
typedef struct gc_family {
    int n;
    const gc_prop *props[GC_FAMILY_MAX];
    unsigned char owner[GC_FAMILY_MAX];   /* type id that declares props[i] */
    unsigned char namelen[GC_FAMILY_MAX]; /* strlen(props[i]->name) */
} gc_family;

extern const gc_type gc_types[GC_NTYPES];
extern const gc_enum gc_enums[GC_NENUMS];

/* Lookup results besides 1 + property index. */
#define GC_LK_ODATA   (-1)   /* "@odata.type" */
#define GC_LK_ADDPROP (-2)   /* "AdditionalProperties" */

const gc_family *gc_family_of(int type);
int gc_type_is_a(int type, int ancestor);
int gc_family_allows(const gc_family *f, int i, int type); /* may type hold f->props[i]? */
int gc_type_by_name(const char *name, size_t len);   /* "session" or the odata name; -1 */
int gc_lookup_fold(const gc_family *f, const char *key, size_t len);
int gc_enum_fold(int e, const char *s, size_t len);  /* case-insensitive; -1 */

/* Pushes the schema registry table: [t+1] = lookup for type family t,
 * [GC_NTYPES+e+1] = exact-spelling lookup for enum e, [GC_SCHEMA_KEYS_SLOT]
 * = the same lookups by key address (gc_keys). */
void gc_schema_push(lua_State *L);
#define GC_SCHEMA_ENUM_SLOT(e) (GC_NTYPES + (e) + 1)
#define GC_SCHEMA_TABLES (GC_NTYPES + GC_NENUMS)
#define GC_SCHEMA_KEYS_SLOT (GC_SCHEMA_TABLES + 1)

/* The lookup tables' answers by the address of their key strings (a userdata
 * in the registry, one open-addressing table per lookup table, two thirds
 * full at most). Lua interns short strings, so a name the caller wrote is usually
 * the very string a lookup table holds, and its address finds the answer
 * without a Lua table read; anything else misses (0) and is read as before.
 * Addresses are compared, never followed, and the strings they name stay
 * alive as the registry's keys, so no other string can take one's address. */
typedef struct gc_keys {
    unsigned off[GC_SCHEMA_TABLES], mask[GC_SCHEMA_TABLES];
    const void **key;        /* the tables, one after another (NULL: free) */
    signed char *value;      /* each key's value (all fit: -2 to GC_FAMILY_MAX) */
} gc_keys;

static inline unsigned gc_key_hash(const void *p)
{
    return (unsigned)(((unsigned long long)(size_t)p * 0x9E3779B97F4A7C15ull) >> 32);
}

/* Lookup table `table` (t for family t, GC_NTYPES + e for enum e): the value
 * its key at address p has, or 0. */
static inline int gc_keys_find(const gc_keys *k, int table, const void *p)
{
    const void *const *key = k->key + k->off[table];
    unsigned m = k->mask[table], i = gc_key_hash(p) & m;
    for (;; i = (i + 1) & m) {
        if (key[i] == p)
            return k->value[k->off[table] + i];
        if (key[i] == NULL)
            return 0;
    }
}

#endif
