/* common.c - what the importers share: sorted directory listings, image
 * ids, notes, seeded splits. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "import-impl.h"
#include "must/io.h"

void must_import_defaults(must_import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->val = 0.1;
    o->test = 0.1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void imp_names_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* 1 when dir/name is of the wanted kind. */
static int is_kind(const char *dir, const char *name, int want_dir)
{
    char *p = must_path_join(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
    free(p);
    return ok;
}

int imp_list_dir(const char *dir, int want_dir, char ***names, int *n, must_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", dir, strerror(errno));
    int cap = 0, rc = MUST_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !is_kind(dir, de->d_name, want_dir))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **v = realloc(*names, (size_t)cap * sizeof *v);
            if (!v) {
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                break;
            }
            *names = v;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc) {
        imp_names_free(*names, *n);
        *names = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1) /* an empty folder has no list: qsort's array may not be NULL */
        qsort(*names, (size_t)*n, sizeof **names, cmp_name);
    return MUST_OK;
}

size_t imp_image_ext(const char *name)
{
    static const char *const exts[3] = {".png", ".jpg", ".jpeg"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && strcasecmp(name + n - k, exts[i]) == 0)
            return k;
    }
    return 0;
}

void imp_make_id(char *id, const char *a, const char *b, size_t b_len)
{
    char full[1024];
    if (b)
        snprintf(full, sizeof full, "%s_%.*s", a, (int)b_len, b);
    else
        snprintf(full, sizeof full, "%s", a);
    for (char *p = full; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            *p = '_';
    }
    if (full[0] == '.')
        full[0] = '_';
    if (strlen(full) <= MUST_ID_MAX) {
        strcpy(id, full);
        return;
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    if (b) {
        h = (h ^ '/') * 1099511628211ull;
        for (const char *p = b; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
    }
    snprintf(id, MUST_ID_MAX + 1, "%.*s-%016llx", MUST_ID_MAX - 17, full, (unsigned long long)h);
}

void imp_note(const must_import_opts *o, const char *fmt, ...)
{
    if (!o || !o->note)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->note(o->user, line);
}

const char *imp_set_name(const must_import_opts *o, const char *out)
{
    if (o && o->name)
        return o->name;
    const char *slash = strrchr(out, '/');
    return slash && slash[1] ? slash + 1 : out;
}

int imp_split_of(long r, long n, double val, double test)
{
    long ntest = lround(test * (double)n), nval = lround(val * (double)n);
    if (ntest + nval > n)
        nval = n - ntest;
    return r < ntest ? MUST_SPLIT_TEST : r < ntest + nval ? MUST_SPLIT_VAL : MUST_SPLIT_TRAIN;
}
