/* dataset_write.c - creating a dataset directory: images and maps as they come,
 * text labels, split lists and dataset.ini at commit.  A shared writer
 * (must_dataset_writer_share) splits the image files over MPI ranks. */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io-impl.h"
#include "base/dist-impl.h"
#include "dataset-impl.h"
#include "image-impl.h"
#include "must/io.h"

typedef struct w_image {
    char *id;
    int jpg;             /* 1: images/<id>.jpg, a JPEG copied as it came */
    int split;
    int cls;             /* hard class, -1 soft */
    float *soft;         /* (K) owned, or NULL */
    must_boxes boxes;
} w_image;

struct must_dataset_writer {
    char *dir;
    char *name;
    unsigned tasks;
    ds_task t[MUST_LABEL_NKINDS];
    w_image *im;
    int n, cap;
    int *slots;          /* hash of ids: index + 1 */
    size_t nslots;
    int width, height;   /* of the first image */
    int uniform;         /* every image so far has that size */
    int ranks, rank;     /* shared over MPI ranks: image k is rank k mod ranks's */
};

static const int map_kinds[3] = {MUST_LABEL_SEGMENTATION, MUST_LABEL_DEPTH, MUST_LABEL_NORMAL};

/* A value dataset.ini can hold on one line without being cut by a comment. */
static int ini_safe(const char *s)
{
    return s && *s && !strpbrk(s, ";#\r\n") && s[0] != ' ' && s[strlen(s) - 1] != ' ';
}

static void free_tasks(ds_task *t)
{
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        for (int i = 0; i < t[k].nclasses; i++)
            free(t[k].classes[i]);
        free(t[k].classes);
        free(t[k].teacher);
        free(t[k].threshold);
        free(t[k].ids);
    }
}

void must_dataset_writer_abort(must_dataset_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        free(w->im[i].id);
        free(w->im[i].soft);
        must_boxes_free(&w->im[i].boxes);
    }
    free(w->im);
    free(w->slots);
    free_tasks(w->t);
    free(w->dir);
    free(w->name);
    free(w);
}

static int mkdir_sub(const char *dir, const char *sub, must_err *err)
{
    char *p = must_path_join(dir, sub);
    if (!p)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = must_mkdir_p(p, err);
    free(p);
    return rc;
}

/* The classes' ids in the set they came from (t's classes are set):
 * distinct, one per class. */
static int take_ids(ds_task *t, const int *ids, const char *dir, const char *kn, must_err *err)
{
    for (int i = 0; i < t->nclasses; i++)
        for (int j = 0; j < i; j++)
            if (ids[i] == ids[j])
                return must_err_set(err, MUST_EINVAL, "%s: %s classes '%s' and '%s' have the "
                                    "same id %d", dir, kn, t->classes[j], t->classes[i], ids[i]);
    if (!(t->ids = malloc((size_t)t->nclasses * sizeof *t->ids)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    memcpy(t->ids, ids, (size_t)t->nclasses * sizeof *t->ids);
    t->nids = t->nclasses;
    return MUST_OK;
}

int must_dataset_writer_new(const char *dir, const must_dataset_spec *spec,
                            must_dataset_writer **out, must_err *err)
{
    *out = NULL;
    if (!ini_safe(spec->name))
        return must_err_set(err, MUST_EINVAL,
                            "%s: dataset name '%s' is empty or holds ';', '#' or a line end", dir,
                            spec->name ? spec->name : "");
    if (spec->tasks & ~MUST_LABEL_ALL)
        return must_err_set(err, MUST_EINVAL, "%s: task mask 0x%x has unknown bits", dir,
                            spec->tasks);
    must_dataset_writer *w = calloc(1, sizeof *w);
    if (!w)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    w->dir = ds_strdup(dir);
    w->name = ds_strdup(spec->name);
    w->tasks = spec->tasks;
    w->uniform = 1;
    int rc = MUST_OK;
    if (!w->dir || !w->name) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto fail;
    }
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        if (!(spec->tasks & MUST_LABEL_BIT(k)))
            continue;
        const must_task_spec *ts = &spec->task[k];
        const char *kn = must_label_kind_name(k);
        ds_task *t = &w->t[k];
        if (k <= MUST_LABEL_SEGMENTATION) {
            int maxk = k == MUST_LABEL_SEGMENTATION ? 255 : 1 << 20;
            if (ts->nclasses < 1 || ts->nclasses > maxk || !ts->classes) {
                rc = must_err_set(err, MUST_EINVAL, "%s: %s needs 1..%d class names, not %d", dir,
                                  kn, maxk, ts->nclasses);
                goto fail;
            }
            if (!(t->classes = calloc((size_t)ts->nclasses, sizeof *t->classes))) {
                rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                goto fail;
            }
            t->nclasses = ts->nclasses;
            for (int i = 0; i < ts->nclasses; i++) {
                const char *c = ts->classes[i];
                if (!ini_safe(c) || strchr(c, ',')) {
                    rc = must_err_set(err, MUST_EINVAL,
                                      "%s: %s class %d '%s' is empty or holds ',', ';', '#' or a "
                                      "line end", dir, kn, i, c ? c : "");
                    goto fail;
                }
                for (int j = 0; j < i; j++)
                    if (strcmp(ts->classes[j], c) == 0) {
                        rc = must_err_set(err, MUST_EINVAL, "%s: %s class '%s' named twice", dir,
                                          kn, c);
                        goto fail;
                    }
                if (!(t->classes[i] = ds_strdup(c))) {
                    rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                    goto fail;
                }
            }
        }
        if (k <= MUST_LABEL_SEGMENTATION && ts->ids && (rc = take_ids(t, ts->ids, dir, kn, err)))
            goto fail;
        t->source = ts->source;
        if (ts->source == MUST_SOURCE_PSEUDO) {
            if (!ini_safe(ts->teacher)) {
                rc = must_err_set(err, MUST_EINVAL,
                                  "%s: pseudo %s labels need a teacher checkpoint path (without "
                                  "';', '#' or line ends)", dir, kn);
                goto fail;
            }
            t->teacher = ds_strdup(ts->teacher);
        } else if (ts->source != MUST_SOURCE_SUPERVISED) {
            rc = must_err_set(err, MUST_EINVAL, "%s: %s source %d is not supervised or pseudo",
                              dir, kn, ts->source);
            goto fail;
        }
        if (ts->threshold) {
            if (!ini_safe(ts->threshold)) {
                rc = must_err_set(err, MUST_EINVAL, "%s: %s threshold '%s' cannot be written",
                                  dir, kn, ts->threshold);
                goto fail;
            }
            t->threshold = ds_strdup(ts->threshold);
        }
        if (k == MUST_LABEL_DEPTH) {
            t->scale = spec->depth_scale > 0.0f ? spec->depth_scale : 0.001f;
            if (!isfinite(t->scale)) {
                rc = must_err_set(err, MUST_EINVAL, "%s: depth scale is not finite", dir);
                goto fail;
            }
        }
    }
    char *ini = must_path_join(dir, "dataset.ini");
    if (!ini) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto fail;
    }
    int exists = must_file_exists(ini);
    free(ini);
    if (exists) {
        rc = must_err_set(err, MUST_EINVAL,
                          "%s: already holds a dataset (dataset.ini); refusing to overwrite it",
                          dir);
        goto fail;
    }
    if ((rc = mkdir_sub(dir, "images", err)) || (rc = mkdir_sub(dir, "splits", err)))
        goto fail;
    for (int j = 0; j < 3; j++) {
        char sub[32];
        snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(map_kinds[j]));
        if ((spec->tasks & MUST_LABEL_BIT(map_kinds[j])) && (rc = mkdir_sub(dir, sub, err)))
            goto fail;
    }
    if (spec->tasks & (MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION) |
                       MUST_LABEL_BIT(MUST_LABEL_DETECTION)))
        if ((rc = mkdir_sub(dir, "labels", err)))
            goto fail;
    *out = w;
    return MUST_OK;
fail:
    must_dataset_writer_abort(w);
    return rc;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int find_id(const must_dataset_writer *w, const char *id)
{
    if (!w->nslots)
        return -1;
    size_t m = w->nslots - 1;
    for (size_t i = (size_t)hash_str(id) & m; w->slots[i]; i = (i + 1) & m)
        if (strcmp(w->im[w->slots[i] - 1].id, id) == 0)
            return w->slots[i] - 1;
    return -1;
}

static int insert_id(must_dataset_writer *w, int idx, must_err *err)
{
    if (2 * (size_t)(w->n + 1) > w->nslots) {
        size_t ns = w->nslots ? 2 * w->nslots : 256;
        int *s = calloc(ns, sizeof *s);
        if (!s)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (int i = 0; i < w->n; i++) {
            size_t j = (size_t)hash_str(w->im[i].id) & (ns - 1);
            while (s[j])
                j = (j + 1) & (ns - 1);
            s[j] = i + 1;
        }
        free(w->slots);
        w->slots = s;
        w->nslots = ns;
    }
    size_t j = (size_t)hash_str(w->im[idx].id) & (w->nslots - 1);
    while (w->slots[j])
        j = (j + 1) & (w->nslots - 1);
    w->slots[j] = idx + 1;
    return MUST_OK;
}

static char *label_path(const must_dataset_writer *w, int kind, const char *id)
{
    size_t n = strlen(w->dir) + strlen(id) + 40;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/labels/%s/%s.png", w->dir, must_label_kind_name(kind), id);
    return p;
}

/* Checks labels against the spec and the image size; writes the maps; fills e. */
static int take_labels(must_dataset_writer *w, const char *id, int width, int height,
                       const must_labels *l, w_image *e, int mine, must_err *err)
{
    unsigned extra = l->has & ~w->tasks, missing = w->tasks & ~l->has;
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        if ((extra | missing) & MUST_LABEL_BIT(k))
            return must_err_set(err, MUST_EINVAL, "%s: image '%s' %s a %s label", w->dir, id,
                                (missing & MUST_LABEL_BIT(k)) ? "lacks" : "has (not in the set)",
                                must_label_kind_name(k));
    if (w->tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        int k = w->t[MUST_LABEL_CLASSIFICATION].nclasses;
        if (l->soft) {
            if (l->nsoft != k)
                return must_err_set(err, MUST_EINVAL,
                                    "%s: image '%s': soft label has %d values, the set %d "
                                    "classes", w->dir, id, l->nsoft, k);
            double sum = 0.0;
            for (int i = 0; i < k; i++) {
                if (!(l->soft[i] >= 0.0f && l->soft[i] <= 1.0f))
                    return must_err_set(err, MUST_EINVAL,
                                        "%s: image '%s': soft label value %d is %g, not in "
                                        "[0, 1]", w->dir, id, i, l->soft[i]);
                sum += l->soft[i];
            }
            if (fabs(sum - 1.0) > 1e-3)
                return must_err_set(err, MUST_EINVAL, "%s: image '%s': soft label sums to %g",
                                    w->dir, id, sum);
            if (!(e->soft = malloc((size_t)k * sizeof *e->soft)))
                return must_err_set(err, MUST_ENOMEM, "out of memory");
            memcpy(e->soft, l->soft, (size_t)k * sizeof *e->soft);
            e->cls = -1;
        } else {
            if (l->cls < 0 || l->cls >= k)
                return must_err_set(err, MUST_EINVAL, "%s: image '%s': class %d out of 0..%d",
                                    w->dir, id, l->cls, k - 1);
            e->cls = l->cls;
        }
    }
    if (w->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        int k = w->t[MUST_LABEL_DETECTION].nclasses;
        for (int i = 0; i < l->boxes.n; i++) {
            must_box b = l->boxes.v[i];
            if (b.cls < 0 || b.cls >= k || !(b.score >= 0.0f && b.score <= 1.0f) ||
                (b.difficult != 0 && b.difficult != 1) || !isfinite(b.x0) || !isfinite(b.y0) ||
                !isfinite(b.x1) || !isfinite(b.y1))
                return must_err_set(err, MUST_EINVAL,
                                    "%s: image '%s': box %d (class %d, score %g, difficult %d) "
                                    "is not valid", w->dir, id, i, b.cls, b.score, b.difficult);
            b.x0 = fmaxf(b.x0, 0.0f);
            b.y0 = fmaxf(b.y0, 0.0f);
            b.x1 = fminf(b.x1, (float)width);
            b.y1 = fminf(b.y1, (float)height);
            if (!(b.x0 < b.x1 && b.y0 < b.y1))
                continue; /* nothing of it inside the image */
            if (must_boxes_push(&e->boxes, &b, err))
                return MUST_ENOMEM;
        }
    }
    for (int j = 0; j < 3; j++) {
        int k = map_kinds[j];
        if (!(w->tasks & MUST_LABEL_BIT(k)))
            continue;
        const must_map *m = k == MUST_LABEL_SEGMENTATION ? &l->seg
                            : k == MUST_LABEL_DEPTH      ? &l->depth
                                                         : &l->normal;
        if (m->width != width || m->height != height)
            return must_err_set(err, MUST_ESHAPE,
                                "%s: image '%s' is %dx%d but its %s map is %dx%d", w->dir, id,
                                width, height, must_label_kind_name(k), m->width, m->height);
        if (k == MUST_LABEL_SEGMENTATION) {
            size_t n = (size_t)width * height;
            int nc = w->t[k].nclasses;
            for (size_t i = 0; i < n; i++) {
                float v = m->data[i];
                if (v != (float)MUST_SEG_IGNORE && !(v >= 0.0f && v < (float)nc && v == floorf(v)))
                    return must_err_set(err, MUST_EINVAL,
                                        "%s: image '%s': segmentation value %g at (%zu, %zu) is "
                                        "not a class in 0..%d or 255", w->dir, id, v,
                                        i % (size_t)width, i / (size_t)width, nc - 1);
            }
        }
        if (!mine)
            continue; /* another rank writes this image's maps */
        char *path = label_path(w, k, id);
        if (!path)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        int rc = k == MUST_LABEL_SEGMENTATION ? must_label_write_seg(path, m, err)
                 : k == MUST_LABEL_DEPTH ? must_label_write_depth(path, m, w->t[k].scale, err)
                                         : must_label_write_normal(path, m, err);
        free(path);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* 1 when this rank writes the next image's files (always, unshared). */
static int writes(const must_dataset_writer *w)
{
    return w->ranks <= 1 || w->n % w->ranks == w->rank;
}

void must_dataset_writer_share(must_dataset_writer *w)
{
    w->ranks = must_dist_group_size();
    w->rank = must_dist_group_rank();
}

static int add_common(must_dataset_writer *w, const char *id, int split, int width, int height,
                      const must_image *img, const char *src, int jpg, const must_labels *labels,
                      must_err *err)
{
    if (!must_dataset_id_valid(id))
        return must_err_set(err, MUST_EINVAL,
                            "%s: '%s' is not a valid image id (1-%d of A-Z a-z 0-9 _ - ., not "
                            "starting with '.')", w->dir, id ? id : "", MUST_ID_MAX);
    if (find_id(w, id) >= 0)
        return must_err_set(err, MUST_EINVAL, "%s: duplicate image id '%s'", w->dir, id);
    if (split < -1 || split >= MUST_NSPLITS)
        return must_err_set(err, MUST_EINVAL, "%s: image '%s': split %d unknown", w->dir, id,
                            split);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        w_image *im = realloc(w->im, (size_t)cap * sizeof *im);
        if (!im)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        w->im = im;
        w->cap = cap;
    }
    w_image e = {.split = split, .cls = -1, .jpg = jpg};
    must_labels none;
    must_labels_init(&none);
    int mine = writes(w);
    int rc = take_labels(w, id, width, height, labels ? labels : &none, &e, mine, err);
    char *path = NULL;
    if (rc == MUST_OK && !(e.id = ds_strdup(id)))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc == MUST_OK &&
        !(path = ds_path(&(must_dataset){.dir = w->dir}, "images", id, jpg ? ".jpg" : ".png")))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc == MUST_OK && mine) {
        if (img) {
            rc = must_png_write(path, img, err);
        } else {
            char *buf;
            size_t len;
            rc = must_file_read(src, &buf, &len, err);
            if (rc == MUST_OK) {
                rc = must_file_write_atomic(path, buf, len, err);
                free(buf);
            }
        }
    }
    free(path);
    if (rc) {
        free(e.id);
        free(e.soft);
        must_boxes_free(&e.boxes);
        return rc;
    }
    if (w->n == 0) {
        w->width = width;
        w->height = height;
    } else if (width != w->width || height != w->height) {
        w->uniform = 0;
    }
    w->im[w->n] = e;
    if ((rc = insert_id(w, w->n, err))) {
        free(e.id);
        free(e.soft);
        must_boxes_free(&e.boxes);
        return rc;
    }
    w->n++;
    return MUST_OK;
}

int must_dataset_writer_add(must_dataset_writer *w, const char *id, int split,
                            const must_image *img, const must_labels *labels, must_err *err)
{
    if (!img || (img->channels != 1 && img->channels != 3) || img->depth != 8)
        return must_err_set(err, MUST_EINVAL, "%s: image '%s' must be 8-bit gray or RGB", w->dir,
                            id ? id : "");
    return add_common(w, id, split, img->width, img->height, img, NULL, 0, labels, err);
}

int must_dataset_writer_add_file(must_dataset_writer *w, const char *id, int split,
                                 const char *path, const must_labels *labels, must_err *err)
{
    int format, width, height;
    int rc = must_image_info(path, &format, &width, &height, NULL, NULL, err);
    if (rc)
        return rc;
    if (!writes(w)) /* another rank checks and copies it; the header's size */
        return add_common(w, id, split, width, height, NULL, path, format == MUST_IMAGE_JPEG,
                          labels, err);
    /* Decoded once to check it.  A JPEG at 1/8 of its size: libjpeg still
     * reads every byte of its entropy data, so a cut or corrupt file fails
     * all the same, in a fraction of the time (its size is the header's). */
    must_image img = {0};
    if (format == MUST_IMAGE_JPEG)
        rc = must_image_read_scaled(path, &img, 3, 0.0f, 0, 0, NULL, &width, &height, err);
    else
        rc = must_png_read(path, &img, 3, 8, err);
    if (rc)
        return rc;
    if (format != MUST_IMAGE_JPEG) {
        width = img.width;
        height = img.height;
    }
    must_image_free(&img);
    return add_common(w, id, split, width, height, NULL, path, format == MUST_IMAGE_JPEG, labels,
                      err);
}

/* ---- commit ---- */

static int cmp_image(const void *a, const void *b)
{
    return strcmp(((const w_image *)a)->id, ((const w_image *)b)->id);
}

static int write_text(const char *path, int (*emit)(FILE *, const must_dataset_writer *, int),
                      const must_dataset_writer *w, int arg, must_err *err)
{
    must_afile af;
    int rc = must_afile_open(&af, path, err);
    if (rc)
        return rc;
    if (emit(af.fp, w, arg)) {
        must_afile_abort(&af);
        return must_err_set(err, MUST_EIO, "%s: write failed", path);
    }
    return must_afile_commit(&af, err);
}

static int emit_split(FILE *fp, const must_dataset_writer *w, int split)
{
    for (int i = 0; i < w->n; i++)
        if (w->im[i].split == split && fprintf(fp, "%s\n", w->im[i].id) < 0)
            return MUST_EIO;
    return MUST_OK;
}

static int emit_cls(FILE *fp, const must_dataset_writer *w, int arg)
{
    (void)arg;
    int k = w->t[MUST_LABEL_CLASSIFICATION].nclasses;
    for (int i = 0; i < w->n; i++)
        if (must_label_write_cls(fp, w->im[i].id, w->im[i].cls, k, w->im[i].soft))
            return MUST_EIO;
    return MUST_OK;
}

static int emit_det(FILE *fp, const must_dataset_writer *w, int arg)
{
    (void)arg;
    for (int i = 0; i < w->n; i++)
        for (int j = 0; j < w->im[i].boxes.n; j++)
            if (must_label_write_box(fp, w->im[i].id, &w->im[i].boxes.v[j]))
                return MUST_EIO;
    return MUST_OK;
}

static void fmt_float(char *buf, size_t len, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

static int emit_ini(FILE *fp, const must_dataset_writer *w, int arg)
{
    (void)arg;
    int r = fprintf(fp, "; written by must %s (format: docs/dataset-format.md)\n[dataset]\n"
                        "name = %s\ntasks =", PACKAGE_VERSION, w->name);
    const char *sep = " ";
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        if (w->tasks & MUST_LABEL_BIT(k)) {
            r |= fprintf(fp, "%s%s", sep, must_label_kind_name(k));
            sep = ", ";
        }
    r |= fprintf(fp, "\ncount = %d\n", w->n);
    if (w->n && w->uniform)
        r |= fprintf(fp, "width = %d\nheight = %d\n", w->width, w->height);
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        if (!(w->tasks & MUST_LABEL_BIT(k)))
            continue;
        const ds_task *t = &w->t[k];
        r |= fprintf(fp, "\n[%s]\n", must_label_kind_name(k));
        if (t->nclasses) {
            r |= fprintf(fp, "classes =");
            for (int i = 0; i < t->nclasses; i++)
                r |= fprintf(fp, "%s%s", i ? ", " : " ", t->classes[i]);
            r |= fprintf(fp, "\n");
        }
        if (k == MUST_LABEL_DEPTH) {
            char b[32];
            fmt_float(b, sizeof b, t->scale);
            r |= fprintf(fp, "scale = %s\n", b);
        }
        if (k == MUST_LABEL_NORMAL)
            r |= fprintf(fp, "encoding = %s\n", MUST_NORMAL_ENCODING);
        r |= fprintf(fp, "source = %s\n", t->source == MUST_SOURCE_PSEUDO ? "pseudo" : "supervised");
        if (t->teacher)
            r |= fprintf(fp, "teacher = %s\n", t->teacher);
        if (t->threshold)
            r |= fprintf(fp, "threshold = %s\n", t->threshold);
        for (int i = 0; i < t->nids; i++)
            r |= fprintf(fp, "%s%d%s", i ? ", " : "ids = ", t->ids[i],
                         i + 1 < t->nids ? "" : "\n");
    }
    return r < 0 ? MUST_EIO : MUST_OK;
}

/* Removes images (.png, and .jpg in images/) and maps in DIR/sub that this
 * writer did not write: leftovers of an earlier writer that was cut off
 * would otherwise join the set (or give an id two images). */
static int remove_strays(must_dataset_writer *w, const char *sub, must_err *err)
{
    char *d = must_path_join(w->dir, sub);
    if (!d)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    DIR *dp = opendir(d);
    if (!dp) {
        free(d);
        return MUST_OK;
    }
    int images = strcmp(sub, "images") == 0;
    struct dirent *de;
    int rc = MUST_OK;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || len - 4 > MUST_ID_MAX)
            continue;
        const char *ext = de->d_name + len - 4;
        int jpg = images && strcmp(ext, ".jpg") == 0;
        if (!jpg && strcmp(ext, ".png") != 0)
            continue;
        char id[MUST_ID_MAX + 1];
        memcpy(id, de->d_name, len - 4);
        id[len - 4] = '\0';
        int at = find_id(w, id);
        if (at >= 0 && (!images || w->im[at].jpg == jpg))
            continue;
        char *p = must_path_join(d, de->d_name);
        if (!p || remove(p) != 0)
            rc = must_err_set(err, p ? MUST_EIO : MUST_ENOMEM, "%s: cannot remove a stray file",
                              p ? p : d);
        free(p);
        if (rc)
            break;
    }
    closedir(dp);
    free(d);
    return rc;
}

static int commit_here(must_dataset_writer *w, must_err *err)
{
    int rc = MUST_OK;
    char *p = NULL;
    /* Sorted by id: the files do not depend on the order images came in
     * (a pseudo-labeller adding from several threads writes the same set). */
    qsort(w->im, (size_t)w->n, sizeof *w->im, cmp_image);
    if (w->nslots)
        memset(w->slots, 0, w->nslots * sizeof *w->slots);
    for (int i = 0; i < w->n; i++) {
        size_t j = (size_t)hash_str(w->im[i].id) & (w->nslots - 1);
        while (w->slots[j])
            j = (j + 1) & (w->nslots - 1);
        w->slots[j] = i + 1;
    }
    if ((rc = remove_strays(w, "images", err)))
        goto out;
    if (must_io_remove_temps(w->dir) < 0) {
        rc = must_err_set(err, MUST_EIO, "%s: cannot remove the temporary files (NAME.tmp.PID) "
                                         "of a writer that was cut off", w->dir);
        goto out;
    }
    for (int j = 0; j < 3; j++) {
        char sub[32];
        snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(map_kinds[j]));
        if ((w->tasks & MUST_LABEL_BIT(map_kinds[j])) && (rc = remove_strays(w, sub, err)))
            goto out;
    }
    for (int s = 0; s < MUST_NSPLITS; s++) {
        int any = 0;
        for (int i = 0; i < w->n && !any; i++)
            any = w->im[i].split == s;
        p = ds_path(&(must_dataset){.dir = w->dir}, "splits", must_split_name(s), ".txt");
        if (!p) {
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            goto out;
        }
        if (any)
            rc = write_text(p, emit_split, w, s, err);
        else
            remove(p); /* an old list would name images this set does not have */
        free(p);
        p = NULL;
        if (rc)
            goto out;
    }
    if (w->tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        p = must_path_join(w->dir, "labels/classification.txt");
        if (!p || (rc = write_text(p, emit_cls, w, 0, err)))
            goto out;
        free(p);
        p = NULL;
    }
    if (w->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        p = must_path_join(w->dir, "labels/detection.txt");
        if (!p || (rc = write_text(p, emit_det, w, 0, err)))
            goto out;
        free(p);
        p = NULL;
    }
    p = must_path_join(w->dir, "dataset.ini");
    if (p)
        rc = write_text(p, emit_ini, w, 0, err);
out:
    if (!p && rc == MUST_OK)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    free(p);
    must_dataset_writer_abort(w);
    return rc;
}

int must_dataset_writer_commit(must_dataset_writer *w, must_err *err)
{
    if (w->ranks <= 1)
        return commit_here(w, err);
    /* Shared: every rank's files are in place before rank 0 lists the
     * directory and writes the set's text files; every rank gets its
     * status. */
    int rc = must_dist_agree(MUST_OK, err);
    if (!rc && w->rank == 0)
        return must_dist_agree(commit_here(w, err), err);
    must_dataset_writer_abort(w);
    return rc ? rc : must_dist_agree(MUST_OK, err);
}
