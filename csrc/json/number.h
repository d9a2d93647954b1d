/* number.h: number text both ways: integers, shortest round-trip doubles,
 * and decimal text scaled to fixed point (seconds to 100 ns ticks). */
#ifndef GRAPHCOMM_NUMBER_H
#define GRAPHCOMM_NUMBER_H

#include <stddef.h>
#include <stdint.h>

#define GC_NUM_BUFSZ 40

/* Each writes into out (GC_NUM_BUFSZ bytes, not terminated) and returns the length. */
int gc_fmt_int(char *out, int64_t v);
int gc_fmt_double(char *out, double d);   /* d finite: shortest text that reads back as d */
/* frac (0 to 9999999, in 100 ns ticks) as ".fffffff" with trailing zeros trimmed;
 * nothing for 0. For DateTime and TimeSpan alike. */
int gc_fmt_ticks_fraction(char *out, int64_t frac);

/* [+-]digits[.digits][(e|E)[+-]digits] times 10^scale, rounded half away from
 * zero, into *out. Returns 0, GC_NUM_SYNTAX or GC_NUM_RANGE. */
#define GC_NUM_SYNTAX 1
#define GC_NUM_RANGE  2
int gc_decimal_scaled(const char *s, size_t n, int scale, int64_t *out);
/* The same for a double, read as the decimal it prints as (so 0.015 is 0.015). */
int gc_double_scaled(double d, int scale, int64_t *out);

#endif
