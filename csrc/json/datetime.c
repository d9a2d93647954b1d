/* datetime.c: DateTimeOffset parsing and formatting on .NET ticks, with
 * our own calendar arithmetic (never mktime: the process's TZ must not
 * matter). Range: 0001-01-01 to 9999-12-31, as .NET's DateTime. */
#include <string.h>
#include "json/datetime.h"
#include "json/number.h"

#define TICKS_PER_SEC  INT64_C(10000000)
#define TICKS_PER_DAY  (INT64_C(86400) * TICKS_PER_SEC)
#define EPOCH_DAYS     INT64_C(719162)          /* 0001-01-01 .. 1970-01-01 */
#define MAX_TICKS      INT64_C(3155378975999999999)

static const char *const out_of_range = "outside the years 0001 to 9999";

/* ------------------------------------------------------------- calendar */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Checks the fields and turns them into ticks (frac in ticks, < 1 s). */
static const char *compose(int y, int mo, int d, int h, int mi, int s,
                           int64_t frac, int64_t *ticks)
{
    if (y < 1 || y > 9999)
        return "year outside 0001 to 9999";
    if (mo < 1 || mo > 12)
        return "impossible date: month must be 1 to 12";
    if (d < 1 || d > days_in_month(y, mo))
        return "impossible date: no such day in that month";
    if (h > 23 || mi > 59)
        return "impossible time: hour must be 0 to 23, minute 0 to 59";
    if (s == 60)
        return "leap seconds (second 60) cannot be represented";
    if (s > 59)
        return "impossible time: second must be 0 to 59";
    *ticks = ((days_from_civil(y, mo, d) + EPOCH_DAYS) * 86400
              + h * 3600 + mi * 60 + s) * TICKS_PER_SEC + frac;
    return NULL;
}

/* ----------------------------------------------------------- RFC 3339 */

static int digits(const char *s, size_t n, size_t at, int count)
{
    int v = 0, i;
    if (at + (size_t)count > n)
        return -1;
    for (i = 0; i < count; i++) {
        char c = s[at + (size_t)i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

/* Fraction digits after the point, rounded to 7 (100 ns ticks). */
static size_t parse_fraction(const char *s, size_t n, size_t i, int64_t *frac)
{
    int64_t v = 0;
    int nd = 0, round = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
        if (nd < 7)
            v = v * 10 + (s[i] - '0');
        else if (nd == 7)
            round = s[i] >= '5';
    }
    for (; nd < 7 && nd > 0; nd++)
        v *= 10;
    *frac = v + round;
    return i;
}

static const char *parse_offset(const char *s, size_t n, size_t i, int *minutes)
{
    int sign, h, m;
    if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        *minutes = 0;
        return NULL;
    }
    if (i >= n || (s[i] != '+' && s[i] != '-'))
        return "a time zone (Z or +HH:MM) is required";
    sign = s[i] == '-' ? -1 : 1;
    h = digits(s, n, i + 1, 2);
    m = digits(s, n, i + 4, 2);
    if (h < 0 || m < 0 || s[i + 3] != ':' || i + 6 != n)
        return "bad time zone offset (want Z or +HH:MM)";
    if (h > 23 || m > 59)
        return "impossible time zone offset";
    *minutes = sign * (h * 60 + m);
    return NULL;
}

const char *gc_datetime_parse(const char *s, size_t n, int64_t *ticks)
{
    static const char *const shape =
        "expected an RFC 3339 date-time such as 2024-01-31T09:30:00Z";
    int y = digits(s, n, 0, 4), mo = digits(s, n, 5, 2), d = digits(s, n, 8, 2);
    int h = digits(s, n, 11, 2), mi = digits(s, n, 14, 2), sec = digits(s, n, 17, 2);
    int offset = 0;
    int64_t frac = 0;
    size_t i = 19;
    const char *err;
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0 || s[4] != '-'
        || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':')
        return shape;
    if (i < n && s[i] == '.') {
        size_t j = parse_fraction(s, n, i + 1, &frac);
        if (j == i + 1)
            return shape;
        i = j;
    }
    if ((err = parse_offset(s, n, i, &offset)) != NULL)
        return err;
    if ((err = compose(y, mo, d, h, mi, sec, frac, ticks)) != NULL)
        return err;
    *ticks -= (int64_t)offset * 60 * TICKS_PER_SEC;
    return *ticks < 0 || *ticks > MAX_TICKS ? out_of_range : NULL;
}

/* --------------------------------------------------------- Unix seconds */

const char *gc_datetime_from_unix(double secs, int64_t *ticks)
{
    int64_t t;
    if (secs != secs || secs > 4e11 || secs < -7e10)
        return out_of_range;
    if (gc_double_scaled(secs, 7, &t) != 0)
        return out_of_range;
    *ticks = t + EPOCH_DAYS * TICKS_PER_DAY;
    return *ticks < 0 || *ticks > MAX_TICKS ? out_of_range : NULL;
}

const char *gc_datetime_from_unix_int(int64_t secs, int64_t *ticks)
{
    if (secs > INT64_C(400000000000) || secs < -INT64_C(70000000000))
        return out_of_range;
    *ticks = secs * TICKS_PER_SEC + EPOCH_DAYS * TICKS_PER_DAY;
    return *ticks < 0 || *ticks > MAX_TICKS ? out_of_range : NULL;
}

/* ------------------------------------------------------------ date table */

/* One integer field; *v untouched when absent and optional. */
static const char *table_int(lua_State *L, int idx, const char *k, int need, int *v)
{
    lua_Number x;
    const char *err = NULL;
    lua_pushstring(L, k);
    lua_rawget(L, idx);
    if (lua_type(L, -1) == LUA_TNIL) {
        if (need)
            err = "date table needs year, month and day";
    } else if (lua_type(L, -1) != LUA_TNUMBER) {
        err = "date table fields must be numbers";
    } else {
        x = lua_tonumber(L, -1);
        if (!(x >= -100000 && x <= 100000) || x != (lua_Number)(int)x)
            err = "date table fields must be whole numbers (sec may have a fraction)";
        else
            *v = (int)x;
    }
    lua_pop(L, 1);
    return err;
}

static const char *table_sec(lua_State *L, int idx, int *sec, int64_t *frac)
{
    lua_Number x;
    int64_t t;
    int type;
    lua_pushliteral(L, "sec");
    lua_rawget(L, idx);
    type = lua_type(L, -1);
    x = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return NULL;
    if (type != LUA_TNUMBER || !(x >= 0 && x < 61) || gc_double_scaled((double)x, 7, &t) != 0)
        return "impossible time: sec must be 0 to 59 (a number)";
    /* The whole second as given (60 is a leap second); the fraction, rounded to
     * ticks, may come to a whole second (59.99999999), which carries as in text. */
    *sec = (int)x;
    *frac = t - (int64_t)*sec * TICKS_PER_SEC;
    return NULL;
}

static const char *table_keys(lua_State *L, int idx)
{
    static const char *const known[] = { "year", "month", "day", "hour", "min", "sec",
                                         "isdst", "yday", "wday", NULL };
    int i, ok;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t n;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
        ok = 0;
        for (i = 0; k && known[i] && !ok; i++)     /* lengths too: "year\0x" is no "year" */
            ok = strlen(known[i]) == n && memcmp(known[i], k, n) == 0;
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return "date table takes only year, month, day, hour, min, sec (isdst, yday, wday ignored)";
        }
    }
    return NULL;
}

const char *gc_datetime_from_table(lua_State *L, int idx, int64_t *ticks)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    int64_t frac = 0;
    const char *err;
    if ((err = table_keys(L, idx)) || (err = table_int(L, idx, "year", 1, &y))
        || (err = table_int(L, idx, "month", 1, &mo)) || (err = table_int(L, idx, "day", 1, &d))
        || (err = table_int(L, idx, "hour", 0, &h)) || (err = table_int(L, idx, "min", 0, &mi))
        || (err = table_sec(L, idx, &s, &frac)))
        return err;
    if (h < 0 || mi < 0)
        return "impossible time: hour and min cannot be negative";
    if ((err = compose(y, mo, d, h, mi, s, frac, ticks)))
        return err;
    return *ticks > MAX_TICKS ? out_of_range : NULL;
}

/* ------------------------------------------------------------- writing */

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

int gc_datetime_format(char *out, int64_t ticks)
{
    int64_t days = ticks / TICKS_PER_DAY, rest = ticks % TICKS_PER_DAY;
    int64_t secs = rest / TICKS_PER_SEC, frac = rest % TICKS_PER_SEC;
    int y, m, d, len = 19;
    civil_from_days(days - EPOCH_DAYS, &y, &m, &d);
    put2(out, y / 100);
    put2(out + 2, y % 100);
    out[4] = '-'; put2(out + 5, m);
    out[7] = '-'; put2(out + 8, d);
    out[10] = 'T'; put2(out + 11, (int)(secs / 3600));
    out[13] = ':'; put2(out + 14, (int)(secs / 60 % 60));
    out[16] = ':'; put2(out + 17, (int)(secs % 60));
    len += gc_fmt_ticks_fraction(out + len, frac);
    out[len++] = 'Z';
    return len;
}
