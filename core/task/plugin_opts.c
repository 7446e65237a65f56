/* plugin_opts.c - the option tables of task plugins (fio's engine options):
 * INI text in, typed members of the plugin's config struct out. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "must/plugin.h"
#include "plugin-opts.h"

size_t must_opt_size(int type)
{
    switch (type) {
    case MUST_OPT_INT:
    case MUST_OPT_BOOL:
    case MUST_OPT_CHOICE:
        return sizeof(int);
    case MUST_OPT_FLOAT:
        return sizeof(float);
    case MUST_OPT_STRING:
        return MUST_OPT_STRING_MAX;
    default:
        return 0;
    }
}

const char *must_task_option_type_name(int type)
{
    return must_opt_type_name(type);
}

const char *must_opt_type_name(int type)
{
    switch (type) {
    case MUST_OPT_INT:
        return "int";
    case MUST_OPT_FLOAT:
        return "float";
    case MUST_OPT_BOOL:
        return "bool";
    case MUST_OPT_STRING:
        return "string";
    case MUST_OPT_CHOICE:
        return "choice";
    default:
        return "?";
    }
}

static int ranged(const must_task_option *o)
{
    return o->min != o->max;
}

/* Index of word in a "a|b|c" list, or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t wl = strlen(word);
    int i = 0;
    for (const char *c = choices; c;) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == wl && wl && strncmp(c, word, l) == 0)
            return i;
        c = bar ? bar + 1 : NULL;
        i++;
    }
    return -1;
}

int must_opt_parse(const must_task_option *o, const char *text, void *cfg, char *why,
                   size_t whylen)
{
    char *member = (char *)cfg + o->offset;
    char *end;
    switch (o->type) {
    case MUST_OPT_INT: {
        errno = 0;
        long v = strtol(text, &end, 10);
        if (!*text || *end || errno || v < -2147483647L - 1 || v > 2147483647L) {
            snprintf(why, whylen, "not a whole number");
            return MUST_EINVAL;
        }
        if (ranged(o) && (v < o->min || v > o->max)) {
            snprintf(why, whylen, "out of range %g..%g", o->min, o->max);
            return MUST_EINVAL;
        }
        int iv = (int)v;
        memcpy(member, &iv, sizeof iv);
        return MUST_OK;
    }
    case MUST_OPT_FLOAT: {
        errno = 0;
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v) || fabs(v) > 3.4e38) {
            snprintf(why, whylen, "not a finite number");
            return MUST_EINVAL;
        }
        if (ranged(o) && (v < o->min || v > o->max)) {
            snprintf(why, whylen, "out of range %g..%g", o->min, o->max);
            return MUST_EINVAL;
        }
        float fv = (float)v;
        memcpy(member, &fv, sizeof fv);
        return MUST_OK;
    }
    case MUST_OPT_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++)
            if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
                int v = strcasecmp(text, yes[i]) == 0;
                memcpy(member, &v, sizeof v);
                return MUST_OK;
            }
        snprintf(why, whylen, "not a boolean (true/false, yes/no, on/off, 1/0)");
        return MUST_EINVAL;
    }
    case MUST_OPT_STRING: {
        size_t n = strlen(text);
        if (n >= MUST_OPT_STRING_MAX) {
            snprintf(why, whylen, "longer than %d bytes", MUST_OPT_STRING_MAX - 1);
            return MUST_EINVAL;
        }
        memcpy(member, text, n + 1);
        return MUST_OK;
    }
    case MUST_OPT_CHOICE: {
        int k = choice_index(o->choices, text);
        if (k < 0) {
            snprintf(why, whylen, "not one of %s", o->choices);
            return MUST_EINVAL;
        }
        memcpy(member, &k, sizeof k);
        return MUST_OK;
    }
    default:
        snprintf(why, whylen, "option type %d unknown", o->type);
        return MUST_EINVAL;
    }
}

void must_opt_format(const must_task_option *o, const void *cfg, char *buf, size_t len)
{
    const char *member = (const char *)cfg + o->offset;
    int iv;
    float fv;
    switch (o->type) {
    case MUST_OPT_INT:
        memcpy(&iv, member, sizeof iv);
        snprintf(buf, len, "%d", iv);
        return;
    case MUST_OPT_FLOAT:
        memcpy(&fv, member, sizeof fv);
        /* The fewest digits that read back to the same float. */
        for (int p = 1; p <= 9; p++) {
            snprintf(buf, len, "%.*g", p, (double)fv);
            if (strtof(buf, NULL) == fv)
                return;
        }
        return;
    case MUST_OPT_BOOL:
        memcpy(&iv, member, sizeof iv);
        snprintf(buf, len, "%s", iv ? "true" : "false");
        return;
    case MUST_OPT_STRING:
        snprintf(buf, len, "%.*s", MUST_OPT_STRING_MAX - 1, member);
        return;
    case MUST_OPT_CHOICE: {
        memcpy(&iv, member, sizeof iv);
        const char *c = o->choices;
        for (int i = 0; c && i < iv; i++) {
            c = strchr(c, '|');
            c = c ? c + 1 : NULL;
        }
        size_t l = c ? (strchr(c, '|') ? (size_t)(strchr(c, '|') - c) : strlen(c)) : 0;
        snprintf(buf, len, "%.*s", (int)l, c ? c : "");
        return;
    }
    default:
        snprintf(buf, len, "?");
    }
}

int must_opts_check(const must_task_option *opts, size_t config_size, const char *file,
                    must_err *err)
{
    if (!opts)
        return MUST_OK;
    void *scratch = calloc(1, config_size ? config_size : 1);
    if (!scratch)
        return must_err_set(err, MUST_ENOMEM, "plugin file %s: out of memory", file);
    int rc = MUST_OK;
    for (int i = 0; opts[i].name && rc == MUST_OK; i++) {
        const must_task_option *o = &opts[i];
        char why[256];
        if (i >= 256)
            rc = must_err_set(err, MUST_EINVAL, "plugin file %s: option table has no end", file);
        else if (!must_plugin_name_valid(o->name))
            rc = must_err_set(err, MUST_EINVAL,
                              "plugin file %s: option name '%s' is not a plain word", file,
                              o->name);
        else if (!must_opt_size(o->type))
            rc = must_err_set(err, MUST_EINVAL, "plugin file %s: option '%s' has type %d",
                              file, o->name, o->type);
        else if (o->offset > config_size || must_opt_size(o->type) > config_size - o->offset)
            rc = must_err_set(err, MUST_EINVAL,
                              "plugin file %s: option '%s' (offset %zu, %zu bytes) lies outside "
                              "config_size %zu",
                              file, o->name, o->offset, must_opt_size(o->type), config_size);
        else if (o->type == MUST_OPT_CHOICE && (!o->choices || !*o->choices))
            rc = must_err_set(err, MUST_EINVAL, "plugin file %s: choice option '%s' has no choices",
                              file, o->name);
        else if (o->min > o->max)
            rc = must_err_set(err, MUST_EINVAL, "plugin file %s: option '%s' has min %g > max %g",
                              file, o->name, o->min, o->max);
        else if (!o->def || must_opt_parse(o, o->def, scratch, why, sizeof why) != MUST_OK)
            rc = must_err_set(err, MUST_EINVAL, "plugin file %s: default of option '%s' ('%s') is %s",
                              file, o->name, o->def ? o->def : "(null)",
                              o->def ? why : "missing");
        for (int j = 0; j < i && rc == MUST_OK; j++)
            if (strcmp(opts[j].name, o->name) == 0)
                rc = must_err_set(err, MUST_EINVAL, "plugin file %s: option '%s' appears twice",
                                  file, o->name);
    }
    free(scratch);
    return rc;
}

int must_opts_defaults(const must_task_option *opts, void *cfg, size_t config_size,
                       must_err *err)
{
    memset(cfg, 0, config_size);
    for (int i = 0; opts && opts[i].name; i++) {
        char why[256];
        if (must_opt_parse(&opts[i], opts[i].def, cfg, why, sizeof why) != MUST_OK)
            return must_err_set(err, MUST_EINVAL, "option '%s': default '%s' is %s",
                                opts[i].name, opts[i].def, why);
    }
    return MUST_OK;
}
