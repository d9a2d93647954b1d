/* timespan.h: Edm.Duration values (.NET TimeSpan) as signed 100 ns ticks:
 * ISO 8601 / xs:duration text or seconds in, XmlConvert's canonical form out. */
#ifndef GRAPHCOMM_TIMESPAN_H
#define GRAPHCOMM_TIMESPAN_H

#include <stddef.h>
#include <stdint.h>

#define GC_TS_BUFSZ 48

/* Each returns NULL, or a message saying what is wrong. */
const char *gc_timespan_parse(const char *s, size_t n, int64_t *ticks);
const char *gc_timespan_from_seconds(double secs, int64_t *ticks);
const char *gc_timespan_from_int(int64_t secs, int64_t *ticks);

/* As XmlConvert.ToString(TimeSpan): -P1DT2H3M4.5S, PT0S for zero. */
int gc_timespan_format(char *out, int64_t ticks);

#endif
