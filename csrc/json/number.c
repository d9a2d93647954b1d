/* number.c: integer and double formatting (locale-proof, shortest round
 * trip) and exact decimal-to-fixed-point parsing. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json/number.h"

#define TWO53 9007199254740992.0

/* -------------------------------------------------------------- integers */

int gc_fmt_ticks_fraction(char *out, int64_t frac)
{
    int i, len = 8;
    if (frac == 0)
        return 0;
    out[0] = '.';
    for (i = 7; i >= 1; i--)
        out[i] = (char)('0' + (int)(frac % 10)), frac /= 10;
    while (out[len - 1] == '0')
        len--;
    return len;
}

int gc_fmt_int(char *out, int64_t v)
{
    char tmp[24];
    int n = 0, len = 0;
    /* Work on the magnitude as unsigned: INT64_MIN has no positive twin. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

/* --------------------------------------------------------------- doubles */

static const double pow10_tab[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* Writes m * 10^-k (m > 0, k >= 1) as plain decimal text. */
static int fmt_fixed(char *out, int neg, int64_t m, int k)
{
    char digits[24];
    int nd = gc_fmt_int(digits, m), len = 0, i;
    if (neg)
        out[len++] = '-';
    if (nd <= k) {
        out[len++] = '0';
        out[len++] = '.';
        for (i = nd; i < k; i++)
            out[len++] = '0';
        memcpy(out + len, digits, (size_t)nd);
        return len + nd;
    }
    memcpy(out + len, digits, (size_t)(nd - k));
    len += nd - k;
    out[len++] = '.';
    memcpy(out + len, digits + nd - k, (size_t)k);
    return len + k;
}

/* The common case without printf: the fewest decimals k for which the
 * nearest k-decimal number m/10^k reads back as d. m and 10^k are exact
 * doubles, so the division is correctly rounded, just as strtod would be. */
static int fmt_short_decimal(char *out, double d)
{
    int neg = d < 0, k;
    double a = neg ? -d : d;
    if (a < 1e-5 || a >= 1e15)
        return 0;
    for (k = 1; k <= 17; k++) {
        double m = a * pow10_tab[k];
        int64_t r;
        if (m >= TWO53)
            return 0;
        r = (int64_t)(m + 0.5);
        if ((double)r / pow10_tab[k] == a)
            return fmt_fixed(out, neg, r, k);
    }
    return 0;
}

/* printf may write the locale's decimal point: make it '.'. Only a point
 * of one byte can occur in the positions we look at; others are dropped. */
static int fix_point(char *s, int n)
{
    int i, j = 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E')
            s[j++] = c;
        else if (j == 0 || s[j - 1] != '.')
            s[j++] = '.';
    }
    return j;
}

/* Lua 5.5's way: %.15g, read back, more digits only when needed. A normal
 * double whose shortest text has at most 15 digits prints as that text under
 * %.15g (%g drops the trailing zeros); a subnormal has fewer significant
 * bits, so its shortest text may be shorter still: start from one digit. */
static int fmt_printf(char *out, double d)
{
    char tmp[64];
    int p = (d > -DBL_MIN && d < DBL_MIN) ? 1 : 15, n = 0;
    for (; p <= 17; p++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", p, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (n < 0 || n >= (int)sizeof tmp)
        n = snprintf(tmp, sizeof tmp, "%.17g", d);
    n = fix_point(tmp, n);
    if (n > GC_NUM_BUFSZ)
        n = GC_NUM_BUFSZ;
    memcpy(out, tmp, (size_t)n);
    return n;
}

int gc_fmt_double(char *out, double d)
{
    int n;
    if (d == 0) {
        if (1.0 / d < 0) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    if (d > -TWO53 && d < TWO53 && d == (double)(int64_t)d)
        return gc_fmt_int(out, (int64_t)d);
    n = fmt_short_decimal(out, d);
    return n ? n : fmt_printf(out, d);
}

/* ---------------------------------------------------- decimal to scaled */

typedef struct decimal {
    char digits[40];   /* significant digits, no leading zeros */
    int nd;            /* how many kept */
    int point;         /* value = 0.digits * 10^point */
    int neg;
    int dropped;       /* a non-zero digit was dropped past digits[] */
} decimal;

static int parse_exponent(const char *s, size_t n, size_t *i, int *exp)
{
    int neg = 0, e = 0, any = 0;
    if (*i < n && (s[*i] == '+' || s[*i] == '-'))
        neg = s[(*i)++] == '-';
    for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++, any = 1)
        if (e < 100000)
            e = e * 10 + (s[*i] - '0');
    *exp = neg ? -e : e;
    return any;
}

static void add_digit(decimal *d, char c, int before_point)
{
    if (d->nd == 0 && c == '0') {
        if (!before_point)
            d->point--;
        return;
    }
    if (before_point)
        d->point++;
    if (d->nd < (int)sizeof d->digits)
        d->digits[d->nd++] = c;
    else if (c != '0')
        d->dropped = 1;
}

static int parse_decimal(const char *s, size_t n, decimal *d)
{
    size_t i = 0;
    int any = 0, exp = 0;
    memset(d, 0, sizeof *d);
    if (i < n && (s[i] == '+' || s[i] == '-'))
        d->neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1)
        add_digit(d, s[i], 1);
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1)
            add_digit(d, s[i], 0);
    if (!any)
        return GC_NUM_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (!parse_exponent(s, n, &i, &exp))
            return GC_NUM_SYNTAX;
    }
    if (i != n)
        return GC_NUM_SYNTAX;
    d->point += exp;
    return 0;
}

int gc_decimal_scaled(const char *s, size_t n, int scale, int64_t *out)
{
    decimal d;
    uint64_t v = 0;
    int rc = parse_decimal(s, n, &d), pos, i;
    if (rc)
        return rc;
    *out = 0;
    if (d.nd == 0)
        return 0;
    pos = d.point + scale;           /* digits that land left of the point */
    if (pos > 19)
        return GC_NUM_RANGE;
    for (i = 0; i < pos; i++) {
        v = v * 10 + (uint64_t)(i < d.nd ? d.digits[i] - '0' : 0);
    }
    if (pos >= 0 && pos < d.nd && d.digits[pos] >= '5')
        v++;
    if (v > (uint64_t)INT64_MAX)
        return GC_NUM_RANGE;
    *out = d.neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int gc_double_scaled(double d, int scale, int64_t *out)
{
    char buf[GC_NUM_BUFSZ];
    int n = gc_fmt_double(buf, d);
    return gc_decimal_scaled(buf, (size_t)n, scale, out);
}
