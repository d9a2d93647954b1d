/* datetime.h: Edm.DateTimeOffset values as .NET ticks (100 ns since
 * 0001-01-01T00:00:00Z): parsing RFC 3339 text, Unix seconds and date
 * tables, and writing the canonical UTC form. */
#ifndef GRAPHCOMM_DATETIME_H
#define GRAPHCOMM_DATETIME_H

#include <stddef.h>
#include <stdint.h>
#include "lua/compat.h"

#define GC_DT_BUFSZ 32

/* Each returns NULL, or a message saying what is wrong. */
const char *gc_datetime_parse(const char *s, size_t n, int64_t *ticks);
const char *gc_datetime_from_unix(double secs, int64_t *ticks);
const char *gc_datetime_from_unix_int(int64_t secs, int64_t *ticks);
/* An os.date("!*t")-style table at the absolute index idx, read as UTC. */
const char *gc_datetime_from_table(lua_State *L, int idx, int64_t *ticks);

/* YYYY-MM-DDTHH:MM:SS[.fffffff]Z, trailing zeros of the fraction trimmed. */
int gc_datetime_format(char *out, int64_t ticks);

#endif
