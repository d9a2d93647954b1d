/* fuzz_number.c: libFuzzer target for csrc/json/number.c: every finite double
 * (the input's first 8 bytes) formats to text that is a strict JSON number
 * and reads back (strtod) as the same double, with no more than 17
 * significant digits; every int64 formats to its decimal text; and decimal
 * text scaled to ticks never overflows silently. Built by scripts/fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json/number.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, __VA_ARGS__); __builtin_trap(); } } while (0)

/* -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int json_number(const char *s, int n)
{
    int i = 0, d;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0') i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    if (i < n && s[i] == '.') {
        d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i == n;
}

static int significant(const char *s, int n)
{
    int i, count = 0, started = 0;
    for (i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] < '0' || s[i] > '9') continue;
        if (s[i] != '0') started = 1;
        count += started;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[GC_NUM_BUFSZ + 1], expect[32];
    double d, back;
    int64_t i, scaled;
    int n;
    if (size >= 8) {
        memcpy(&d, data, sizeof d);
        memcpy(&i, data, sizeof i);
        if (d == d && d - d == 0) {
            n = gc_fmt_double(out, d);
            CHECK(n > 0 && n <= GC_NUM_BUFSZ, "double %a: %d bytes\n", d, n);
            out[n] = '\0';
            CHECK(json_number(out, n), "double %a: %s is no JSON number\n", d, out);
            back = strtod(out, NULL);
            CHECK(back == d && (d != 0 || (1 / back == 1 / d) || out[0] != '-'),
                  "double %a: %s reads back as %a\n", d, out, back);
            CHECK(significant(out, n) <= 17, "double %a: %s is not short\n", d, out);
        }
        n = gc_fmt_int(out, i);
        snprintf(expect, sizeof expect, "%lld", (long long)i);
        CHECK(n == (int)strlen(expect) && memcmp(out, expect, (size_t)n) == 0,
              "int %lld written as %.*s\n", (long long)i, n, out);
    }
    if (gc_decimal_scaled((const char *)data, size, 7, &scaled) == 0 && size < 40) {
        /* the text, read as a long double, times 10^7 is close to the result */
        char text[48];
        long double v, tol;
        memcpy(text, data, size);
        text[size] = '\0';
        v = strtold(text, NULL) * 1e7L;
        tol = 0.5000001L + (v < 0 ? -v : v) * 1e-17L;
        CHECK(v - (long double)scaled <= tol && (long double)scaled - v <= tol,
              "%s scaled to %lld\n", text, (long long)scaled);
    }
    return 0;
}
