/* voc_sets.c - which images a VOC folder has for a kind, and their splits:
 * the lists of ImageSets/Main (detection) or ImageSets/Segmentation
 * (segmentation) when there are any, else every label file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import-impl.h"
#include "voc-impl.h"
#include "must/io.h"

/* The four lists the devkit writes per folder (VOCopts.imgsetpath); the
 * per-class ones (aeroplane_train.txt) repeat them with a flag per image
 * and are not read. */
const char *voc_list_name(int split)
{
    switch (split) {
    case MUST_SPLIT_TRAIN:
        return "train.txt";
    case MUST_SPLIT_VAL:
        return "val.txt";
    case MUST_SPLIT_TEST:
        return "test.txt";
    case VOC_SPLIT_TRAINVAL:
        return "trainval.txt";
    default:
        return "";
    }
}

typedef struct entry {
    char *id;
    int split;
    long line;
} entry;

typedef struct entries {
    int n, cap;
    entry *v;
} entries;

static void entries_free(entries *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->v[i].id);
    free(e->v);
    memset(e, 0, sizeof *e);
}

static int push(entries *e, const char *id, size_t len, int split, long line, must_err *err)
{
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 256;
        entry *v = realloc(e->v, (size_t)cap * sizeof *v);
        if (!v)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        e->v = v;
        e->cap = cap;
    }
    char *copy = strndup(id, len);
    if (!copy)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    e->v[e->n++] = (entry){copy, split, line};
    return MUST_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->id, ((const entry *)b)->id);
}

static const entry *find(const entries *e, const char *id)
{
    entry key = {(char *)id, 0, 0};
    return bsearch(&key, e->v, (size_t)e->n, sizeof *e->v, cmp_entry);
}

/* DIR/lists/<split's list>, or NULL when out of memory. */
static char *list_path(const char *dir, const char *lists, int split)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%s/%s", lists, voc_list_name(split));
    return must_path_join(dir, rel);
}

/* One list's ids into e with split; *present = 0 when there is no such file.
 * One image id per line, blanks around it and blank lines left out. */
static int read_list(const char *path, int split, entries *e, int *present, must_err *err)
{
    *present = must_file_exists(path);
    if (!*present)
        return MUST_OK;
    char *buf;
    size_t len;
    int rc = must_file_read(path, &buf, &len, err);
    if (rc)
        return rc;
    long line = 0;
    for (char *p = buf, *end = buf + len; !rc && p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
        char *a = p, *b = stop;
        p = nl ? nl + 1 : end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a == b)
            continue;
        char id[MUST_ID_MAX + 2];
        snprintf(id, sizeof id, "%.*s", (int)(b - a), a);
        if ((size_t)(b - a) > MUST_ID_MAX || !must_dataset_id_valid(id))
            rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: '%.*s' is not an image id (one per "
                              "line: 1-64 of A-Z a-z 0-9 _ - ., not starting with '.')", path,
                              line + 1, (int)(b - a > 80 ? 80 : b - a), a);
        else
            rc = push(e, a, (size_t)(b - a), split, line + 1, err);
    }
    free(buf);
    return rc;
}

/* Sorted; an id listed twice is an error naming both places. */
static int sort_unique(const char *dir, const char *lists, entries *e, must_err *err)
{
    if (e->n > 1) /* qsort's base may not be NULL, even for none */
        qsort(e->v, (size_t)e->n, sizeof *e->v, cmp_entry);
    for (int i = 1; i < e->n; i++) {
        const entry *a = &e->v[i - 1], *b = &e->v[i];
        if (strcmp(a->id, b->id) != 0)
            continue;
        char *pa = list_path(dir, lists, a->split), *pb = list_path(dir, lists, b->split);
        int rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: '%s' is listed again (%s:%ld): an "
                              "image is in one split", pb ? pb : "?", b->line, b->id,
                              pa ? pa : "?", a->line);
        free(pa);
        free(pb);
        return rc;
    }
    return MUST_OK;
}

/* trainval.txt (tv, sorted) beside train.txt or val.txt: the same ids as
 * the two together, as the devkit makes it. */
static int check_trainval(const char *dir, const char *lists, const entries *e,
                          const entries *tv, must_err *err)
{
    char *ptv = list_path(dir, lists, VOC_SPLIT_TRAINVAL);
    int rc = ptv ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < tv->n; i++) {
        const entry *x = find(e, tv->v[i].id);
        if (!x || x->split == MUST_SPLIT_TEST)
            rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: '%s' is %s: trainval.txt lists the "
                              "ids of train.txt and val.txt", ptv, tv->v[i].line, tv->v[i].id,
                              x ? "in test.txt" : "in neither train.txt nor val.txt");
    }
    for (int i = 0; !rc && i < e->n; i++) {
        if (e->v[i].split == MUST_SPLIT_TEST || find(tv, e->v[i].id))
            continue;
        char *p = list_path(dir, lists, e->v[i].split);
        rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: '%s' is not in %s, which lists the ids "
                          "of train.txt and val.txt", p ? p : "?", e->v[i].line, e->v[i].id,
                          ptv);
        free(p);
    }
    free(ptv);
    return rc;
}

/* The four lists into e, sorted; *any = 0 when there is none. */
static int read_lists(const char *dir, const char *lists, entries *e, int *any, must_err *err)
{
    entries tv = {0};
    int present[MUST_NSPLITS + 1], rc = MUST_OK;
    for (int s = 0; !rc && s <= VOC_SPLIT_TRAINVAL; s++) {
        char *p = list_path(dir, lists, s);
        rc = p ? read_list(p, s, s == VOC_SPLIT_TRAINVAL ? &tv : e, &present[s], err)
               : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(p);
    }
    *any = !rc && (present[0] || present[1] || present[2] || present[3]);
    int train_or_val = !rc && (present[MUST_SPLIT_TRAIN] || present[MUST_SPLIT_VAL]);
    if (!rc && train_or_val && present[VOC_SPLIT_TRAINVAL]) {
        if (tv.n > 1) /* qsort's base may not be NULL, even for none */
            qsort(tv.v, (size_t)tv.n, sizeof *tv.v, cmp_entry);
        if (!(rc = sort_unique(dir, lists, e, err)) && !(rc = sort_unique(dir, lists, &tv, err)))
            rc = check_trainval(dir, lists, e, &tv, err);
    } else if (!rc) {
        /* trainval.txt alone: its ids are train or val, by the seed. */
        for (int i = 0; !rc && i < tv.n; i++)
            rc = push(e, tv.v[i].id, strlen(tv.v[i].id), VOC_SPLIT_TRAINVAL, tv.v[i].line, err);
        if (!rc)
            rc = sort_unique(dir, lists, e, err);
    }
    entries_free(&tv);
    return rc;
}

/* Every DIR/labels/<id><ext>, not listed. */
static int read_folder(const char *dir, const char *labels, const char *ext, entries *e,
                       must_err *err)
{
    char *folder = must_path_join(dir, labels), **names = NULL;
    int n = 0, rc = folder ? imp_list_dir(folder, 0, &names, &n, err)
                           : must_err_set(err, MUST_ENOMEM, "out of memory");
    size_t k = strlen(ext);
    for (int i = 0; !rc && i < n; i++) {
        size_t len = strlen(names[i]);
        if (len <= k || strcmp(names[i] + len - k, ext) != 0)
            continue; /* not a label file */
        char id[MUST_ID_MAX + 2];
        snprintf(id, sizeof id, "%.*s", (int)(len - k), names[i]);
        if (len - k > MUST_ID_MAX || !must_dataset_id_valid(id))
            rc = must_err_set(err, MUST_EFORMAT, "%s/%s: '%.*s' is not an image id (1-64 of "
                              "A-Z a-z 0-9 _ - ., not starting with '.')", folder, names[i],
                              (int)(len - k), names[i]);
        else
            rc = push(e, names[i], len - k, VOC_SPLIT_SEEDED, 0, err);
    }
    imp_names_free(names, n);
    free(folder);
    return rc;
}

void voc_ids_free(voc_ids *s)
{
    if (!s)
        return;
    if (s->id)
        for (int i = 0; i < s->n; i++)
            free(s->id[i]);
    free(s->id);
    free(s->split);
    free(s->line);
    free(s->has);
    memset(s, 0, sizeof *s);
}

/* e's entries into s (taking their ids), each label file looked for. */
static int fill(const char *dir, entries *e, voc_ids *s, must_err *err)
{
    size_t n = e->n ? (size_t)e->n : 1;
    s->id = calloc(n, sizeof *s->id);
    s->split = malloc(n * sizeof *s->split);
    s->line = malloc(n * sizeof *s->line);
    s->has = malloc(n);
    if (!s->id || !s->split || !s->line || !s->has)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < e->n; i++) {
        s->id[i] = e->v[i].id;
        e->v[i].id = NULL;
        s->split[i] = e->v[i].split;
        s->line[i] = e->v[i].line;
        s->n = i + 1;
        s->has[i] = 1;
        if (!s->listed)
            continue;
        char rel[MUST_ID_MAX + 64];
        snprintf(rel, sizeof rel, "%s/%s%s", s->labels, s->id[i], s->ext);
        char *p = must_path_join(dir, rel);
        if (!p)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        s->has[i] = (char)must_file_exists(p);
        free(p);
    }
    return MUST_OK;
}

int voc_ids_read(const char *dir, int kind, voc_ids *s, must_err *err)
{
    memset(s, 0, sizeof *s);
    int det = kind == MUST_LABEL_DETECTION;
    s->lists = det ? "ImageSets/Main" : "ImageSets/Segmentation";
    s->labels = det ? "Annotations" : "SegmentationClass";
    s->ext = det ? ".xml" : ".png";
    entries e = {0};
    int rc = read_lists(dir, s->lists, &e, &s->listed, err);
    if (!rc && !s->listed) {
        entries_free(&e);
        /* "a-b" sorts after "a"; qsort's base may not be NULL, even for none */
        if (!(rc = read_folder(dir, s->labels, s->ext, &e, err)) && e.n > 1)
            qsort(e.v, (size_t)e.n, sizeof *e.v, cmp_entry);
    }
    if (!rc)
        rc = fill(dir, &e, s, err);
    entries_free(&e);
    if (rc)
        voc_ids_free(s);
    return rc;
}
