/* images.c - every PNG and JPEG under a folder tree to a set without labels:
 * the unlabelled pool that the teachers pseudo-label (the paper's JFT and
 * ImageNet images play this part). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "import-impl.h"
#include "must/io.h"
#include "must/sampler.h"

/* Folders below DIR deeper than this are refused: a symbolic link to a
 * folder above it would otherwise be walked for ever. */
#define WALK_DEPTH_MAX 64

typedef struct walk {
    const char *root;
    char **rel;      /* image paths below root */
    int n, cap;
    long skipped;    /* files that are not images */
} walk;

static int push(walk *wk, const char *rel, const char *name, must_err *err)
{
    if (wk->n == wk->cap) {
        int cap = wk->cap ? 2 * wk->cap : 256;
        char **v = realloc(wk->rel, (size_t)cap * sizeof *v);
        if (!v)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        wk->rel = v;
        wk->cap = cap;
    }
    char *p = *rel ? must_path_join(rel, name) : strdup(name);
    if (!p)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    wk->rel[wk->n++] = p;
    return MUST_OK;
}

/* The images of root/rel and, in turn, of its folders. */
static int walk_dir(walk *wk, const char *rel, int depth, must_err *err)
{
    char *dir = *rel ? must_path_join(wk->root, rel) : strdup(wk->root);
    if (!dir)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (depth > WALK_DEPTH_MAX) {
        int rc = must_err_set(err, MUST_EINVAL, "%s: folders nested more than %d deep (a "
                              "symbolic link to a folder above?)", dir, WALK_DEPTH_MAX);
        free(dir);
        return rc;
    }
    char **names = NULL;
    int n = 0;
    int rc = imp_list_dir(dir, 0, &names, &n, err);
    for (int i = 0; !rc && i < n; i++) {
        if (imp_image_ext(names[i]))
            rc = push(wk, rel, names[i], err);
        else
            wk->skipped++;
    }
    imp_names_free(names, n);
    names = NULL;
    n = 0;
    if (!rc)
        rc = imp_list_dir(dir, 1, &names, &n, err);
    for (int i = 0; !rc && i < n; i++) {
        char *sub = *rel ? must_path_join(rel, names[i]) : strdup(names[i]);
        rc = sub ? walk_dir(wk, sub, depth + 1, err)
                 : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(sub);
    }
    imp_names_free(names, n);
    free(dir);
    return rc;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The id of a path below DIR: the path without its extension, made valid
 * (an id too long to keep whole hashes all of the stem).  -1 when out of
 * memory. */
static int path_id(char *id, const char *rel)
{
    size_t n = strlen(rel) - imp_image_ext(rel);
    char *stem = malloc(n + 1);
    if (!stem)
        return -1;
    memcpy(stem, rel, n);
    stem[n] = '\0';
    imp_make_id(id, stem, NULL, 0);
    free(stem);
    return 0;
}

/* Rewords the writer's "duplicate image id" with both files' names. */
static void name_duplicate(const walk *wk, int i, must_err *err)
{
    char id[MUST_ID_MAX + 1], other[MUST_ID_MAX + 1];
    if (path_id(id, wk->rel[i]))
        return;
    for (int j = 0; j < i; j++) {
        if (path_id(other, wk->rel[j]) == 0 && strcmp(id, other) == 0) {
            must_err_set(err, MUST_EINVAL, "%s/%s: its id '%s' is taken by %s/%s (names that "
                         "differ only in their extension, or in characters outside A-Z a-z "
                         "0-9 _ - .)", wk->root, wk->rel[i], id, wk->root, wk->rel[j]);
            return;
        }
    }
}

/* Adds the sorted images in a seeded split over the whole set. */
static int add_all(must_dataset_writer *w, const walk *wk, const must_import_opts *o,
                   must_import_counts *c, must_err *err)
{
    int *split = malloc((size_t)wk->n * sizeof *split);
    if (!split)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    uint64_t key = must_hash64(o->seed, 0);
    for (int r = 0; r < wk->n; r++)
        split[must_permute(key, (size_t)wk->n, (size_t)r)] = imp_split_of(r, wk->n, o->val,
                                                                          o->test);
    int rc = MUST_OK;
    for (int i = 0; !rc && i < wk->n; i++) {
        char id[MUST_ID_MAX + 1];
        char *path = path_id(id, wk->rel[i]) ? NULL : must_path_join(wk->root, wk->rel[i]);
        rc = path ? must_dataset_writer_add_file(w, id, split[i], path, NULL, err)
                  : must_err_set(err, MUST_ENOMEM, "out of memory");
        if (rc == MUST_EINVAL && strstr(err->msg, "duplicate image id"))
            name_duplicate(wk, i, err);
        free(path);
        if (!rc) {
            c->split[split[i]]++;
            c->images++;
        }
    }
    free(split);
    return rc;
}

int must_import_images(const char *dir, const char *out, const must_import_opts *o,
                       must_import_counts *c, must_err *err)
{
    must_import_opts defaults;
    if (!o) {
        must_import_defaults(&defaults);
        o = &defaults;
    }
    memset(c, 0, sizeof *c);
    if (o->val < 0 || o->test < 0 || o->val + o->test > 1.0)
        return must_err_set(err, MUST_EINVAL, "val %g and test %g are not fractions that "
                            "leave room for train", o->val, o->test);
    walk wk = {.root = dir};
    int rc = walk_dir(&wk, "", 0, err);
    c->skipped = wk.skipped;
    if (!rc && wk.n == 0)
        rc = must_err_set(err, MUST_ENOTFOUND, "%s: no images (.png, .jpg, .jpeg) at any depth",
                          dir);
    must_dataset_writer *w = NULL;
    if (!rc) {
        if (wk.n > 1) /* qsort's base may not be NULL, even for none */
            qsort(wk.rel, (size_t)wk.n, sizeof *wk.rel, cmp_path);
        must_dataset_spec spec = {.name = imp_set_name(o, out), .tasks = 0};
        rc = must_dataset_writer_new(out, &spec, &w, err);
        if (!rc) /* under mpirun, each rank writes its share (must/dataset.h) */
            must_dataset_writer_share(w);
    }
    if (!rc)
        rc = add_all(w, &wk, o, c, err);
    if (!rc) {
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
    must_dataset_writer_abort(w);
    imp_names_free(wk.rel, wk.n);
    return rc;
}
