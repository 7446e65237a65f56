/* dataset_common.c - what the dataset reader, its dataset.ini part, the
 * checker and the writer share: problems, paths, strings. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset-impl.h"

void ds_issue(const must_dataset *ds, ds_sink *s, int code, const char *path, int line,
              const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX], where[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!path)
        where[0] = '\0';
    else if (line > 0)
        snprintf(where, sizeof where, "%s:%d: ", path, line);
    else
        snprintf(where, sizeof where, "%s: ", path);
    s->problems++;
    if (s->report) {
        char full[2 * MUST_ERR_MSG_MAX + 64];
        snprintf(full, sizeof full, "dataset \"%s\": %s%s", ds->name, where, msg);
        s->report(s->user, 1, full);
    }
    if (!s->report && !s->stop) {
        must_err_set(s->err, code, "dataset \"%s\": %s%s", ds->name, where, msg);
        s->stop = 1;
    }
}

char *ds_path(const must_dataset *ds, const char *sub, const char *id, const char *ext)
{
    size_t n = strlen(ds->dir) + strlen(sub) + strlen(id) + strlen(ext) + 4;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s/%s%s", ds->dir, sub, id, ext);
    return p;
}

char *ds_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *ds_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

