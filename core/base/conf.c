/* conf.c - one key's value: INI text into its member of a struct, and back
 * (the row is must/conf.h's must_conf_key; the tables are in
 * conf_table.c). */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf-impl.h"

const char *must_conf_type_name(int type)
{
    static const char *const names[] = {"?",    "int",    "float", "bool", "string", "choice",
                                        "long", "u64",    "double", "text", "word", "string",
                                        "range"};
    int t = MUST_CONF_TYPE(type);
    return t > 0 && t <= MUST_CONF_RANGE ? names[t] : "?";
}

size_t must_conf_size(const must_conf_key *k)
{
    switch (MUST_CONF_TYPE(k->type)) {
    case MUST_CONF_INT:
    case MUST_CONF_BOOL:
    case MUST_CONF_CHOICE: return sizeof(int);
    case MUST_CONF_FLOAT: return sizeof(float);
    case MUST_CONF_STRING: return MUST_CONF_STRING_MAX;
    case MUST_CONF_LONG: return sizeof(long);
    case MUST_CONF_U64: return sizeof(uint64_t);
    case MUST_CONF_DOUBLE: return sizeof(double);
    case MUST_CONF_TEXT:
    case MUST_CONF_WORD: return k->max >= 1 && k->max < 1e6 ? (size_t)k->max + 1 : 0;
    case MUST_CONF_STRDUP: return sizeof(char *);
    case MUST_CONF_RANGE: return 2 * sizeof(float);
    default: return 0;
    }
}

int must_conf_refuse(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return MUST_EINVAL;
}

static int ranged(const must_conf_key *k)
{
    return k->min != k->max;
}

/* ------------------------------------------------------------------------ */
/* Parsing, one function per family of types.  Each writes why (what
 * follows "'TEXT' is ") on failure and leaves the member alone. */

static int fail(char *why, size_t whylen, const char *fmt, double a, double b)
{
    snprintf(why, whylen, fmt, a, b);
    return MUST_EINVAL;
}

static int out_of_range(const must_conf_key *k, double v, char *why, size_t whylen)
{
    if (ranged(k) && (v < k->min || v > k->max))
        return fail(why, whylen, "out of range %.15g..%.15g", k->min, k->max);
    return MUST_OK;
}

static int parse_whole(const must_conf_key *k, const char *text, void *at, char *why,
                       size_t whylen)
{
    char *end;
    errno = 0;
    int t = MUST_CONF_TYPE(k->type);
    if (t == MUST_CONF_U64) {
        /* strtoull takes "-1" as 2^64 - 1. */
        unsigned long long u = strtoull(text, &end, 10);
        if (!*text || *end || errno || strchr(text, '-'))
            return fail(why, whylen, "not a whole number >= 0", 0, 0);
        if (out_of_range(k, (double)u, why, whylen))
            return MUST_EINVAL;
        uint64_t v = (uint64_t)u;
        memcpy(at, &v, sizeof v);
        return MUST_OK;
    }
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || (t == MUST_CONF_INT && (v < INT32_MIN || v > INT32_MAX)))
        return fail(why, whylen, "not a whole number", 0, 0);
    if (out_of_range(k, (double)v, why, whylen))
        return MUST_EINVAL;
    if (t == MUST_CONF_INT) {
        int iv = (int)v;
        memcpy(at, &iv, sizeof iv);
    } else {
        memcpy(at, &v, sizeof v);
    }
    return MUST_OK;
}

/* A finite number (within float's range for a float) into *v; why when not. */
static int parse_real(const char *text, int single, double *v, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    *v = strtod(text, &end);
    if (!*text || *end)
        return fail(why, whylen, "not a number", 0, 0);
    if (errno || !isfinite(*v) || (single && fabs(*v) > FLT_MAX))
        return fail(why, whylen, "not a finite number", 0, 0);
    return MUST_OK;
}

static int parse_number(const must_conf_key *k, const char *text, void *at, char *why,
                        size_t whylen)
{
    int single = MUST_CONF_TYPE(k->type) == MUST_CONF_FLOAT;
    double v;
    if (parse_real(text, single, &v, why, whylen) || out_of_range(k, v, why, whylen))
        return MUST_EINVAL;
    if (single) {
        float f = (float)v;
        memcpy(at, &f, sizeof f);
    } else {
        memcpy(at, &v, sizeof v);
    }
    return MUST_OK;
}

static int parse_bool(const char *text, void *at, char *why, size_t whylen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            int v = strcasecmp(text, yes[i]) == 0;
            memcpy(at, &v, sizeof v);
            return MUST_OK;
        }
    return fail(why, whylen, "not a boolean (true/false, yes/no, on/off, 1/0)", 0, 0);
}

/* Index of word in a "a|b|c" list, or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t wl = strlen(word);
    int i = 0;
    for (const char *c = choices; c; i++) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == wl && wl && strncmp(c, word, l) == 0)
            return i;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

static int parse_choice(const must_conf_key *k, const char *text, void *at, char *why,
                        size_t whylen)
{
    int i = choice_index(k->choices, text);
    if (i < 0 && !(*text == '\0' && (k->type & MUST_CONF_OPTIONAL))) {
        snprintf(why, whylen, "not one of %s", k->choices ? k->choices : "(none)");
        return MUST_EINVAL;
    }
    memcpy(at, &i, sizeof i);
    return MUST_OK;
}

static int plain_word(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* STRING, TEXT and WORD: a copy into the char array. */
static int parse_chars(const must_conf_key *k, const char *text, void *at, char *why,
                       size_t whylen)
{
    int t = MUST_CONF_TYPE(k->type);
    size_t n = strlen(text), cap = t == MUST_CONF_STRING ? MUST_CONF_STRING_MAX : must_conf_size(k);
    if (t == MUST_CONF_WORD && !plain_word(text))
        return fail(why, whylen, "not a plain name ([a-z0-9_-]+)", 0, 0);
    if (n + 1 > cap)
        return fail(why, whylen, "longer than %g bytes", (double)cap - 1, 0);
    if (t != MUST_CONF_STRING && ranged(k) && n < k->min)
        return fail(why, whylen, "shorter than %g bytes", k->min, 0);
    memcpy(at, text, n + 1);
    return MUST_OK;
}

static int parse_strdup(const char *text, void *at, char *why, size_t whylen)
{
    char *copy = NULL;
    if (*text && !(copy = strdup(text))) {
        snprintf(why, whylen, "out of memory");
        return MUST_ENOMEM;
    }
    char *old;
    memcpy(&old, at, sizeof old);
    free(old);
    memcpy(at, &copy, sizeof copy);
    return MUST_OK;
}

/* "LO, HI" or one number for both, each a float read as strtof reads it. */
static int parse_range(const must_conf_key *k, const char *text, void *at, char *why,
                       size_t whylen)
{
    float r[2];
    const char *comma = strchr(text, ',');
    char *end;
    errno = 0;
    r[0] = strtof(text, &end);
    int ok = end != text && !errno && isfinite(r[0]);
    while (*end == ' ' || *end == '\t')
        end++;
    if (ok && comma && end == comma) {
        const char *s = comma + 1;
        r[1] = strtof(s, &end);
        ok = end != s && !errno && isfinite(r[1]);
        while (*end == ' ' || *end == '\t')
            end++;
    } else {
        r[1] = r[0];
    }
    if (!ok || *end)
        return fail(why, whylen, "not a range LO, HI (or one number) within %.15g..%.15g", k->min,
                    k->max);
    if (r[0] > r[1] || (ranged(k) && (r[0] < k->min || r[1] > k->max)))
        return fail(why, whylen, "not an ordered range within %.15g..%.15g", k->min, k->max);
    memcpy(at, r, sizeof r);
    return MUST_OK;
}

int must_conf_parse(const must_conf_key *k, const char *text, void *base, char *why,
                    size_t whylen)
{
    char *at = (char *)base + k->offset;
    switch (MUST_CONF_TYPE(k->type)) {
    case MUST_CONF_INT:
    case MUST_CONF_LONG:
    case MUST_CONF_U64: return parse_whole(k, text, at, why, whylen);
    case MUST_CONF_FLOAT:
    case MUST_CONF_DOUBLE: return parse_number(k, text, at, why, whylen);
    case MUST_CONF_BOOL: return parse_bool(text, at, why, whylen);
    case MUST_CONF_CHOICE: return parse_choice(k, text, at, why, whylen);
    case MUST_CONF_STRING:
    case MUST_CONF_TEXT:
    case MUST_CONF_WORD: return parse_chars(k, text, at, why, whylen);
    case MUST_CONF_STRDUP: return parse_strdup(text, at, why, whylen);
    case MUST_CONF_RANGE: return parse_range(k, text, at, why, whylen);
    default:
        snprintf(why, whylen, "of type %d, which has no parser here", k->type);
        return MUST_EINVAL;
    }
}

/* ------------------------------------------------------------------------ */
/* Formatting. */

/* The fewest digits that read back to the same float (or double). */
static void format_real(double v, int single, char *buf, size_t len)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
            return;
    }
}

static void format_choice(const must_conf_key *k, int i, char *buf, size_t len)
{
    const char *c = i >= 0 ? k->choices : NULL;
    for (int j = 0; c && j < i; j++) {
        c = strchr(c, '|');
        c = c ? c + 1 : NULL;
    }
    const char *bar = c ? strchr(c, '|') : NULL;
    size_t l = c ? (bar ? (size_t)(bar - c) : strlen(c)) : 0;
    snprintf(buf, len, "%.*s", (int)l, c ? c : "");
}

void must_conf_format(const must_conf_key *k, const void *base, char *buf, size_t len)
{
    const char *at = (const char *)base + k->offset;
    union {
        int i;
        long l;
        uint64_t u;
        float f[2];
        double d;
        const char *s;
    } v;
    size_t n = must_conf_size(k);
    if (n && n <= sizeof v)
        memcpy(&v, at, n);
    char lo[32], hi[32];
    switch (MUST_CONF_TYPE(k->type)) {
    case MUST_CONF_INT: snprintf(buf, len, "%d", v.i); return;
    case MUST_CONF_LONG: snprintf(buf, len, "%ld", v.l); return;
    case MUST_CONF_U64: snprintf(buf, len, "%" PRIu64, v.u); return;
    case MUST_CONF_FLOAT: format_real(v.f[0], 1, buf, len); return;
    case MUST_CONF_DOUBLE: format_real(v.d, 0, buf, len); return;
    case MUST_CONF_BOOL: snprintf(buf, len, "%s", v.i ? "true" : "false"); return;
    case MUST_CONF_CHOICE: format_choice(k, v.i, buf, len); return;
    case MUST_CONF_STRING:
    case MUST_CONF_TEXT:
    case MUST_CONF_WORD: snprintf(buf, len, "%.*s", (int)(n ? n - 1 : 0), at); return;
    case MUST_CONF_STRDUP: snprintf(buf, len, "%s", v.s ? v.s : ""); return;
    case MUST_CONF_RANGE:
        format_real(v.f[0], 1, lo, sizeof lo);
        format_real(v.f[1], 1, hi, sizeof hi);
        snprintf(buf, len, "%s, %s", lo, hi);
        return;
    default: snprintf(buf, len, "?");
    }
}
