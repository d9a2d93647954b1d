/* fuzz_ticks.h: the parse/format round trip shared by fuzz_datetime.c and
 * fuzz_timespan.c. Text that parses must format to a canonical text that
 * parses back to the same ticks and formats to itself; seconds (double or
 * integer) that convert must format to text that parses back to them. */
#ifndef GRAPHCOMM_FUZZ_TICKS_H
#define GRAPHCOMM_FUZZ_TICKS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct ticks_api {
    const char *name;
    const char *(*parse)(const char *s, size_t n, int64_t *ticks);
    const char *(*from_double)(double secs, int64_t *ticks);
    const char *(*from_int)(int64_t secs, int64_t *ticks);
    int (*format)(char *out, int64_t ticks);
    int bufsz;
    int (*canonical)(const char *s, int n);   /* the shape every format must have */
} ticks_api;

#define TICKS_CHECK(c, what, ...) do { if (!(c)) { \
    fprintf(stderr, "%s: " what "\n", api->name, __VA_ARGS__); __builtin_trap(); } } while (0)

static void ticks_round_trip(const ticks_api *api, int64_t ticks, const char *from)
{
    char out[64], again[64];
    int64_t back = 0;
    int n, m;
    const char *err;
    n = api->format(out, ticks);
    TICKS_CHECK(n > 0 && n < api->bufsz, "format wrote %d bytes (from %s)", n, from);
    TICKS_CHECK(api->canonical(out, n), "not canonical: %.*s (from %s)", n, out, from);
    err = api->parse(out, (size_t)n, &back);
    TICKS_CHECK(err == NULL, "own text %.*s refused: %s (from %s)", n, out, err ? err : "", from);
    TICKS_CHECK(back == ticks, "%.*s reads back as %lld, not %lld (from %s)", n, out,
                (long long)back, (long long)ticks, from);
    m = api->format(again, back);
    TICKS_CHECK(m == n && memcmp(out, again, (size_t)n) == 0, "format not stable: %.*s", n, out);
}

static void ticks_fuzz(const ticks_api *api, const uint8_t *data, size_t size)
{
    int64_t ticks = 0;
    char from[32];
    if (api->parse((const char *)data, size, &ticks) == NULL)
        ticks_round_trip(api, ticks, "text");
    if (size >= 8) {
        double d;
        int64_t i;
        memcpy(&d, data, sizeof d);
        memcpy(&i, data, sizeof i);
        if (api->from_double(d, &ticks) == NULL) {
            snprintf(from, sizeof from, "%.17g s", d);
            ticks_round_trip(api, ticks, from);
        }
        if (api->from_int(i, &ticks) == NULL) {
            snprintf(from, sizeof from, "%lld s", (long long)i);
            ticks_round_trip(api, ticks, from);
        }
    }
}

/* The target's entry point over its description. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define TICKS_FUZZER(api) \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) \
    { ticks_fuzz(&(api), data, size); return 0; }

#endif
