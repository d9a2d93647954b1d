/* timespan.c: TimeSpan parsing (xs:duration without years and months, which
 * have no fixed length) and .NET XmlConvert's canonical writing. */
#include "json/timespan.h"
#include "json/number.h"

#define TICKS_PER_SEC INT64_C(10000000)

static const char *const too_big = "duration too large for a TimeSpan";
static const char *const shape =
    "expected an ISO 8601 duration such as PT0.015S, P1DT2H or -PT15M";

/* --------------------------------------------------------------- parsing */

/* Adds count units of `unit` ticks to *acc, failing on overflow. */
static int add_units(uint64_t *acc, uint64_t count, uint64_t unit)
{
    const uint64_t limit = (uint64_t)INT64_MAX;
    if (count != 0 && unit > limit / count)
        return 0;
    if (count * unit > limit - *acc)
        return 0;
    *acc += count * unit;
    return 1;
}

/* Reads digits at s[*i]; returns 0 if there are none or they overflow. */
static int read_count(const char *s, size_t n, size_t *i, uint64_t *v)
{
    size_t start = *i;
    *v = 0;
    for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++) {
        if (*v > (UINT64_C(1) << 62) / 10)
            return 0;
        *v = *v * 10 + (uint64_t)(s[*i] - '0');
    }
    return *i > start;
}

/* The seconds component "n[.f]", s[*i] up to end; a fraction is rounded to ticks. */
static const char *read_seconds(const char *s, size_t start, size_t end, uint64_t *acc)
{
    int64_t t;
    int rc;
    if (s[start] == '.' || s[end - 1] == '.')
        return shape;
    rc = gc_decimal_scaled(s + start, end - start, 7, &t);
    if (rc == GC_NUM_RANGE)
        return too_big;
    if (rc != 0)
        return shape;
    return add_units(acc, (uint64_t)t, 1) ? NULL : too_big;
}

static int upper(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* One component "nX" of the date part (D) or the time part (H, M, S). */
static const char *component(const char *s, size_t n, size_t *i, int in_time,
                             int *last, uint64_t *acc)
{
    static const char order[] = "DHMS";
    size_t start = *i;
    uint64_t v;
    int unit, rank;
    while (*i < n && ((s[*i] >= '0' && s[*i] <= '9') || s[*i] == '.'))
        (*i)++;
    if (*i == n || *i == start)
        return shape;
    unit = upper(s[*i]);
    if (!in_time && (unit == 'Y' || unit == 'M' || unit == 'W'))
        return "years, months and weeks have no fixed length: use days (P30D)";
    for (rank = 0; order[rank] && order[rank] != unit; rank++)
        ;
    if (!order[rank] || (rank == 0) == in_time || rank <= *last)
        return shape;
    *last = rank;
    if (unit == 'S') {
        const char *err = read_seconds(s, start, *i, acc);
        (*i)++;
        return err;
    }
    *i = start;
    if (!read_count(s, n, i, &v) || s[*i] == '.')
        return s[*i] == '.' ? "only seconds may have a fraction" : too_big;
    (*i)++;
    return add_units(acc, v, unit == 'D' ? 86400 * TICKS_PER_SEC
                            : unit == 'H' ? 3600 * TICKS_PER_SEC : 60 * TICKS_PER_SEC)
        ? NULL : too_big;
}

const char *gc_timespan_parse(const char *s, size_t n, int64_t *ticks)
{
    size_t i = 0;
    int neg = 0, last = -1, parts = 0, in_time = 0;
    uint64_t acc = 0;
    const char *err;
    if (i < n && s[i] == '-')
        neg = 1, i++;
    if (i >= n || upper(s[i]) != 'P')
        return shape;
    for (i++; i < n; parts++) {
        if (upper(s[i]) == 'T' && !in_time) {
            in_time = 1, i++;
            if (i == n)
                return shape;
            continue;
        }
        if ((err = component(s, n, &i, in_time, &last, &acc)) != NULL)
            return err;
    }
    if (parts == 0)
        return shape;
    *ticks = neg ? -(int64_t)acc : (int64_t)acc;
    return NULL;
}

const char *gc_timespan_from_seconds(double secs, int64_t *ticks)
{
    if (secs != secs || secs > 9.2e11 || secs < -9.2e11)
        return too_big;
    return gc_double_scaled(secs, 7, ticks) == 0 ? NULL : too_big;
}

const char *gc_timespan_from_int(int64_t secs, int64_t *ticks)
{
    if (secs > INT64_MAX / TICKS_PER_SEC || secs < -(INT64_MAX / TICKS_PER_SEC))
        return too_big;
    *ticks = secs * TICKS_PER_SEC;
    return NULL;
}

/* --------------------------------------------------------------- writing */

static int put_unit(char *out, int len, uint64_t v, char unit)
{
    len += gc_fmt_int(out + len, (int64_t)v);
    out[len++] = unit;
    return len;
}

int gc_timespan_format(char *out, int64_t ticks)
{
    uint64_t t = ticks < 0 ? (uint64_t)0 - (uint64_t)ticks : (uint64_t)ticks;
    uint64_t days = t / (86400 * TICKS_PER_SEC), rest = t % (86400 * TICKS_PER_SEC);
    uint64_t h = rest / (3600 * TICKS_PER_SEC), m = rest / (60 * TICKS_PER_SEC) % 60;
    uint64_t s = rest / TICKS_PER_SEC % 60, frac = rest % TICKS_PER_SEC;
    int len = 0;
    if (ticks < 0)
        out[len++] = '-';
    out[len++] = 'P';
    if (days)
        len = put_unit(out, len, days, 'D');
    if (h || m || s || frac || !days) {
        out[len++] = 'T';
        if (h)
            len = put_unit(out, len, h, 'H');
        if (m)
            len = put_unit(out, len, m, 'M');
        if (s || frac || (!h && !m)) {
            len += gc_fmt_int(out + len, (int64_t)s);
            len += gc_fmt_ticks_fraction(out + len, (int64_t)frac);
            out[len++] = 'S';
        }
    }
    return len;
}
