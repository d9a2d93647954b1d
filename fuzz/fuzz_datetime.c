/* fuzz_datetime.c: libFuzzer target for csrc/json/datetime.c: RFC 3339 text, Unix
 * seconds (the input's first 8 bytes as a double and as an int64) through
 * parse -> format -> parse (fuzz_ticks.h). Built by scripts/fuzz. */
#include "json/datetime.h"
#include "fuzz_ticks.h"

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,7} without trailing zeros]Z */
static int canonical(const char *s, int n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int i;
    if (n < 20 || s[n - 1] != 'Z')
        return 0;
    for (i = 0; i < 19; i++)
        if (shape[i] == 'd' ? !digit(s[i]) : s[i] != shape[i])
            return 0;
    if (n == 20)
        return 1;
    if (s[19] != '.' || n > 28 || s[n - 2] == '0')
        return 0;
    for (i = 20; i < n - 1; i++)
        if (!digit(s[i]))
            return 0;
    return 1;
}

static const ticks_api api = {
    "datetime", gc_datetime_parse, gc_datetime_from_unix, gc_datetime_from_unix_int,
    gc_datetime_format, GC_DT_BUFSZ, canonical
};

TICKS_FUZZER(api)
