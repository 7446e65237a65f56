/* cmd_import.c - `must import imagefolder DIR OUT`: DIR/<class>/<image>.png to a
 * classification dataset with a deterministic train/val/test split. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "must/dataset.h"
#include "must/io.h"
#include "must/sampler.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must import imagefolder DIR OUT [--name NAME] [--val F] [--test F]\n"
            "                                       [--seed S]\n\n"
            "Builds the classification dataset OUT (docs/dataset-format.md) from the layout\n"
            "DIR/<class>/<image>.png: classes are the subdirectories in byte order, image ids\n"
            "<class>_<stem>.  Per class, a seeded shuffle puts a fraction F of the images in\n"
            "test (default 0.1), then F in val (default 0.1), the rest in train: the same\n"
            "DIR and seed (default 0) always give the same split.  Files other than .png\n"
            "are skipped and counted.  NAME defaults to OUT's last component.\n");
}

typedef struct entry {
    char *name;
} entry;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static void free_list(entry *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* Names in dir (no dot files) whose kind matches want_dir, sorted. */
static int list_dir(const char *dir, int want_dir, entry **out, int *n, must_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", dir, strerror(errno));
    int cap = 0, rc = MUST_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = must_path_join(dir, de->d_name);
        struct stat st;
        int ok = p && stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(p);
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            entry *v = realloc(*out, (size_t)cap * sizeof *v);
            if (!v) {
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                break;
            }
            *out = v;
        }
        size_t len = strlen(de->d_name) + 1;
        if (!((*out)[*n].name = malloc(len))) {
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            break;
        }
        memcpy((*out)[*n].name, de->d_name, len);
        (*n)++;
    }
    closedir(d);
    if (rc) {
        free_list(*out, *n);
        *out = NULL;
        *n = 0;
        return rc;
    }
    qsort(*out, (size_t)*n, sizeof **out, cmp_name);
    return MUST_OK;
}

static int is_png(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcmp(name + n - 4, ".png") == 0 || strcmp(name + n - 4, ".PNG") == 0);
}

/* <class>_<stem> with characters outside the id alphabet made '_'; an id
 * that would pass 64 characters keeps its head and a hash of the whole. */
static void make_id(char *id, const char *cls, const char *file)
{
    char full[1024];
    size_t stem = strlen(file) - 4;
    snprintf(full, sizeof full, "%s_%.*s", cls, (int)stem, file);
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
    for (const char *p = cls; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = file; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(id, MUST_ID_MAX + 1, "%.*s-%016llx", MUST_ID_MAX - 17, full, (unsigned long long)h);
}

static int parse_fraction(const char *opt, const char *v, double *out)
{
    char *end;
    if (!v)
        return must_cli_usage_error("import imagefolder", "%s needs a value", opt);
    *out = strtod(v, &end);
    if (!*v || *end || !(*out >= 0.0 && *out <= 1.0))
        return must_cli_usage_error("import imagefolder", "%s: '%s' is not a fraction in [0, 1]",
                                    opt, v);
    return 0;
}

static int import_imagefolder(int argc, char **argv)
{
    const char *src = NULL, *out = NULL, *name = NULL;
    double fval = 0.1, ftest = 0.1;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--name") == 0) {
            if (!v)
                return must_cli_usage_error("import imagefolder", "--name needs a value");
            name = v;
            i++;
        } else if (strcmp(a, "--val") == 0 || strcmp(a, "--test") == 0) {
            if (parse_fraction(a, v, a[2] == 'v' ? &fval : &ftest))
                return 2;
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            if (!v || !*v || (seed = strtoull(v, &end, 10), *end) || v[0] == '-')
                return must_cli_usage_error("import imagefolder", "--seed: '%s' is not a whole "
                                            "number >= 0", v ? v : "");
            i++;
        } else if (a[0] == '-' && a[1]) {
            return must_cli_usage_error("import imagefolder", "unknown option '%s'", a);
        } else if (!src) {
            src = a;
        } else if (!out) {
            out = a;
        } else {
            return must_cli_usage_error("import imagefolder", "unexpected argument '%s'", a);
        }
    }
    if (!src || !out)
        return must_cli_usage_error("import imagefolder", "needs DIR and OUT");
    if (fval + ftest > 1.0)
        return must_cli_usage_error("import imagefolder", "--val %g and --test %g leave no "
                                    "room for train", fval, ftest);
    if (!name) {
        const char *slash = strrchr(out, '/');
        name = slash && slash[1] ? slash + 1 : out;
    }

    must_err e = {0};
    entry *classes = NULL, *files = NULL;
    int ncls = 0, nfiles = 0, rc, status = 1;
    long skipped = 0, counts[MUST_NSPLITS] = {0}, total = 0;
    const char **names = NULL;
    must_dataset_writer *w = NULL;
    if ((rc = list_dir(src, 1, &classes, &ncls, &e)))
        goto fail;
    if (ncls == 0) {
        must_err_set(&e, MUST_EINVAL, "%s: no class subdirectories", src);
        goto fail;
    }
    if (!(names = malloc((size_t)ncls * sizeof *names))) {
        must_err_set(&e, MUST_ENOMEM, "out of memory");
        goto fail;
    }
    for (int c = 0; c < ncls; c++)
        names[c] = classes[c].name;
    must_dataset_spec spec = {.name = name, .tasks = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)};
    spec.task[MUST_LABEL_CLASSIFICATION].nclasses = ncls;
    spec.task[MUST_LABEL_CLASSIFICATION].classes = names;
    spec.task[MUST_LABEL_CLASSIFICATION].source = MUST_SOURCE_SUPERVISED;
    if ((rc = must_dataset_writer_new(out, &spec, &w, &e)))
        goto fail;
    for (int c = 0; c < ncls; c++) {
        char *cdir = must_path_join(src, classes[c].name);
        if (!cdir || (rc = list_dir(cdir, 0, &files, &nfiles, &e))) {
            free(cdir);
            goto fail;
        }
        int *png = malloc((size_t)(nfiles ? nfiles : 1) * sizeof *png), npng = 0;
        if (!png) {
            free(cdir);
            must_err_set(&e, MUST_ENOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < nfiles; i++) {
            if (is_png(files[i].name))
                png[npng++] = i;
            else
                skipped++;
        }
        if (npng == 0)
            fprintf(stderr, "must import imagefolder: warning: class '%s' has no .png images\n",
                    classes[c].name);
        /* Per class: test first, then val, in a seeded order of the files. */
        long ntest = lround(ftest * npng), nval = lround(fval * npng);
        if (ntest + nval > npng)
            nval = npng - ntest;
        uint64_t key = must_hash64(seed, (uint64_t)c);
        for (int r = 0; r < npng && rc == MUST_OK; r++) {
            int i = png[must_permute(key, (size_t)npng, (size_t)r)];
            int split = r < ntest ? MUST_SPLIT_TEST : r < ntest + nval ? MUST_SPLIT_VAL
                                                                        : MUST_SPLIT_TRAIN;
            char id[MUST_ID_MAX + 1];
            make_id(id, classes[c].name, files[i].name);
            char *path = must_path_join(cdir, files[i].name);
            must_labels l;
            must_labels_init(&l);
            l.has = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
            l.cls = c;
            rc = path ? must_dataset_writer_add_file(w, id, split, path, &l, &e)
                      : must_err_set(&e, MUST_ENOMEM, "out of memory");
            if (rc == MUST_EINVAL && strstr(e.msg, "duplicate image id"))
                must_err_set(&e, MUST_EINVAL, "%s: its id '%s' is taken by an earlier file "
                             "(names that differ only in characters outside A-Z a-z 0-9 _ - .)",
                             path, id);
            free(path);
            counts[split]++;
            total++;
        }
        free(png);
        free(cdir);
        free_list(files, nfiles);
        files = NULL;
        nfiles = 0;
        if (rc)
            goto fail;
    }
    rc = must_dataset_writer_commit(w, &e);
    w = NULL;
    if (rc)
        goto fail;
    printf("%s: %ld images of %d classes from %s; train %ld, val %ld, test %ld", out, total, ncls,
           src, counts[MUST_SPLIT_TRAIN], counts[MUST_SPLIT_VAL], counts[MUST_SPLIT_TEST]);
    if (skipped)
        printf("; skipped %ld files that are not .png", skipped);
    printf("\n");
    status = 0;
fail:
    if (status)
        fprintf(stderr, "must import imagefolder: %s\n", e.msg);
    must_dataset_writer_abort(w);
    free_list(files, nfiles);
    free(names);
    free_list(classes, ncls);
    return status;
}

int must_cmd_import(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"imagefolder", import_imagefolder}, {NULL, NULL}};
    return must_cli_dispatch("import", "format", argc, argv, subs, usage);
}
