/* fuzz_timespan.c: libFuzzer target for csrc/json/timespan.c: ISO 8601 durations
 * and seconds (the input's first 8 bytes as a double and as an int64) through
 * parse -> format -> parse (fuzz_ticks.h). Built by scripts/fuzz. */
#include "json/timespan.h"
#include "fuzz_ticks.h"

/* -?P[nD][T[nH][nM][n[.f]S]] with at least one component, or PT0S. */
static int canonical(const char *s, int n)
{
    static const char order[] = "DHMS";
    int i = 0, last = -1, any = 0, in_time = 0, time_any = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i++] != 'P')
        return 0;
    while (i < n) {
        int start = i, k;
        const char *u;
        if (s[i] == 'T') {
            if (in_time)
                return 0;
            in_time = 1;
            i++;
            continue;
        }
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            i++;
        if (i == start || i >= n || (u = strchr(order, s[i])) == NULL || s[i] == '\0')
            return 0;
        k = (int)(u - order);
        if (k <= last || (k == 0) == in_time || (k != 3 && memchr(s + start, '.', (size_t)(i - start))))
            return 0;
        last = k;
        any = 1;
        time_any += in_time;
        i++;
    }
    return any && (!in_time || time_any);
}

static const ticks_api api = {
    "timespan", gc_timespan_parse, gc_timespan_from_seconds, gc_timespan_from_int,
    gc_timespan_format, GC_TS_BUFSZ, canonical
};

TICKS_FUZZER(api)
