/* INCRBYFLOAT's arithmetic, in C's `long double` as Redis 7.0 does it (util.c: string2ld and
 * ld2string in LD_STR_HUMAN mode, t_string.c: incrbyfloatCommand). Rust has no `long double`
 * (x87 80-bit extended on x86-64), and an f64 sum printed with 17 decimals differs from
 * Redis's in the last digits (10.5 + 0.1 prints 10.59999999999999964 in f64 and 10.6 in long
 * double), so the parse, the sum and the print are done here, with the C library Redis uses.
 * Strings in and out; no state; nothing allocated. */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: the longest input parsed, and the output buffer's size. */
#define SLUICE_LD_CHARS (5 * 1024)

/* Parses s[0..slen) as Redis's string2ld does: the whole string, no leading space, no NaN, no
 * overflow to infinity nor underflow to zero by ERANGE. */
static int sluice_string2ld(const char *s, size_t slen, long double *dp) {
    char buf[SLUICE_LD_CHARS];
    char *eptr;
    long double value;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE &&
         (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* The sum's text as Redis prints it: "%.17Lf", trailing zeros (and a bare dot) removed, "-0"
 * as "0". Returns the length, or 0 if `out` is too small. */
static size_t sluice_ld2human(char *out, size_t len, long double value) {
    int n = snprintf(out, len, "%.17Lf", value);
    size_t l;
    if (n < 0 || (size_t)n + 1 > len) return 0;
    l = (size_t)n;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    return l;
}

/* current (NULL when the key is missing: 0) + incr, written to out[0..outlen).
 * Returns the length written (> 0), or:
 *   -1  the current value is not a float
 *   -2  the increment is not a float
 *   -3  the sum is NaN or infinite
 *   -4  out is too small (never with SLUICE_LD_CHARS bytes: the largest long double prints
 *       in under 5,000) */
long sluice_incrbyfloat(const char *cur, size_t curlen, const char *incr, size_t incrlen,
                        char *out, size_t outlen) {
    long double value = 0, by = 0;
    size_t l;
    if (cur != NULL && !sluice_string2ld(cur, curlen, &value)) return -1;
    if (!sluice_string2ld(incr, incrlen, &by)) return -2;
    value += by;
    if (isnan(value) || isinf(value)) return -3;
    l = sluice_ld2human(out, outlen, value);
    if (l == 0) return -4;
    return (long)l;
}

/* The size of the output buffer to pass. */
size_t sluice_ld_chars(void) { return SLUICE_LD_CHARS; }
