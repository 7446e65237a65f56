/* conf_table.c - a whole key table: checked, its defaults filled in, its
 * keys found and listed (one value at a time is conf.c's). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-impl.h"

#define TABLE_MAX 256 /* rows: a table without its NULL end stops here */

const must_conf_key *must_conf_find(const must_conf_key *keys, const char *name)
{
    for (const must_conf_key *k = keys; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

int must_conf_count(const must_conf_key *keys)
{
    int n = 0;
    while (keys && keys[n].name)
        n++;
    return n;
}

void must_conf_names(const must_conf_key *keys, const char *extra, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const must_conf_key *k = keys; k && k->name && used + 1 < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k == keys ? "" : ", ", k->name);
    if (extra && used + 1 < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", extra);
}

void must_conf_describe(const must_conf_key *keys, const char *section, must_conf_doc_fn fn,
                        void *user)
{
    for (const must_conf_key *k = keys; k->name; k++)
        fn(user, section, k->name, k->def ? k->def : "", k->help ? k->help : "");
}

/* ------------------------------------------------------------------------ */
/* Checking. */

/* A plain word of at most 64 bytes: [a-z0-9_]+. */
static int key_name_ok(const char *s)
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return n <= 64;
}

/* 1 when the row's type (and flags) are allowed under rules. */
static int type_ok(const must_conf_key *k, unsigned rules)
{
    int t = MUST_CONF_TYPE(k->type), flags = k->type & ~0xfff;
    if (rules & MUST_CONF_CHECK_ABI)
        return t >= MUST_CONF_INT && t <= MUST_CONF_CHOICE && !(flags & ~MUST_CONF_PSEUDO);
    if (flags & ~(MUST_CONF_OPTIONAL | MUST_CONF_PSEUDO) ||
        ((flags & MUST_CONF_OPTIONAL) && t != MUST_CONF_CHOICE))
        return 0;
    return t >= MUST_CONF_USER || must_conf_size(k) > 0;
}

/* The row's problem, leaving its default aside, or MUST_OK. */
static int check_row(const must_conf_key *k, size_t size, unsigned rules, must_err *err)
{
    size_t bytes = must_conf_size(k);
    if (!key_name_ok(k->name))
        return must_err_set(err, MUST_EINVAL, "option name '%s' is not a plain word", k->name);
    if (!type_ok(k, rules))
        return must_err_set(err, MUST_EINVAL, "option '%s' has type %d", k->name, k->type);
    if (bytes && (k->offset > size || bytes > size - k->offset))
        return must_err_set(err, MUST_EINVAL,
                            "option '%s' (offset %zu, %zu bytes) lies outside config_size %zu",
                            k->name, k->offset, bytes, size);
    if (MUST_CONF_TYPE(k->type) == MUST_CONF_CHOICE && (!k->choices || !*k->choices))
        return must_err_set(err, MUST_EINVAL, "choice option '%s' has no choices", k->name);
    if (k->min > k->max)
        return must_err_set(err, MUST_EINVAL, "option '%s' has min %g > max %g", k->name, k->min,
                            k->max);
    if ((rules & MUST_CONF_CHECK_ABI) && !k->def)
        return must_err_set(err, MUST_EINVAL, "default of option '%s' ('(null)') is missing",
                            k->name);
    return MUST_OK;
}

/* Bytes a scratch struct needs to hold every member of the table. */
static size_t extent(const must_conf_key *keys)
{
    size_t n = 1;
    for (const must_conf_key *k = keys; k->name; k++)
        if (k->offset + must_conf_size(k) > n)
            n = k->offset + must_conf_size(k);
    return n;
}

/* Parses the default of every row the engine knows into scratch. */
static int check_defaults(const must_conf_key *keys, void *scratch, must_err *err)
{
    int rc = MUST_OK;
    for (const must_conf_key *k = keys; k->name && rc == MUST_OK; k++) {
        char why[256];
        if (k->def && MUST_CONF_TYPE(k->type) < MUST_CONF_USER &&
            must_conf_parse(k, k->def, scratch, why, sizeof why) != MUST_OK)
            rc = must_err_set(err, MUST_EINVAL, "default of option '%s' ('%s') is %s", k->name,
                              k->def, why);
        if (MUST_CONF_TYPE(k->type) == MUST_CONF_STRDUP) {
            char *s, *none = NULL;
            memcpy(&s, (char *)scratch + k->offset, sizeof s);
            free(s);
            memcpy((char *)scratch + k->offset, &none, sizeof none);
        }
    }
    return rc;
}

int must_conf_check(const must_conf_key *keys, size_t size, unsigned rules, must_err *err)
{
    if (!keys)
        return MUST_OK;
    int n = 0;
    while (n < TABLE_MAX && keys[n].name)
        n++;
    if (n == TABLE_MAX)
        return must_err_set(err, MUST_EINVAL, "option table has no end");
    for (int i = 0; i < n; i++) {
        int rc = check_row(&keys[i], size, rules, err);
        for (int j = 0; j < i && rc == MUST_OK; j++)
            if (strcmp(keys[j].name, keys[i].name) == 0)
                rc = must_err_set(err, MUST_EINVAL, "option '%s' appears twice", keys[i].name);
        if (rc)
            return rc;
    }
    void *scratch = calloc(1, extent(keys));
    if (!scratch)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = check_defaults(keys, scratch, err);
    free(scratch);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Defaults. */

int must_conf_defaults(const must_conf_key *keys, void *base, const must_conf_hooks *hooks,
                       must_err *err)
{
    for (const must_conf_key *k = keys; k && k->name; k++) {
        char why[512];
        int rc;
        if (!k->def)
            continue;
        if (MUST_CONF_TYPE(k->type) < MUST_CONF_USER)
            rc = must_conf_parse(k, k->def, base, why, sizeof why);
        else if (hooks && hooks->parse)
            rc = hooks->parse(hooks->user, k, base, k->def, why, sizeof why);
        else
            continue;
        if (rc == MUST_ENOMEM)
            return must_err_set(err, rc, "out of memory");
        if (rc)
            return must_err_set(err, rc, "option '%s': default '%s' is %s", k->name, k->def, why);
    }
    return MUST_OK;
}
