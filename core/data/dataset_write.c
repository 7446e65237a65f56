/* dataset_write.c - creating a dataset directory: images and maps as they come,
 * text labels, split lists and dataset.ini at commit; and one kind added to
 * a set that exists (must_dataset_add_kind), through the same code.  A shared
 * writer (must_dataset_writer_share) splits the image files over MPI ranks. */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf-impl.h"
#include "base/io-impl.h"
#include "base/dist-impl.h"
#include "dataset-impl.h"
#include "image-impl.h"
#include "must/io.h"
#include "must/kinds.h"

typedef struct w_image {
    char *id;
    int jpg;             /* 1: images/<id>.jpg, a JPEG copied as it came */
    int split;
    int cls;             /* hard class, -1 soft */
    float *soft;         /* (K) owned, or NULL */
    must_boxes boxes;
    void *ext[MUST_LABEL_MAX_KINDS]; /* registered kinds with a text store: the label */
} w_image;

struct must_dataset_writer {
    char *dir;
    char *name;
    unsigned tasks;
    ds_task t[MUST_LABEL_MAX_KINDS];
    w_image *im;
    int n, cap;
    int *slots;          /* hash of ids: index + 1 */
    size_t nslots;
    int width, height;   /* of the first image */
    int uniform;         /* every image so far has that size */
    const must_dataset *base; /* must_dataset_add_kind: the set the kinds join */
    int ranks, rank;     /* shared over MPI ranks: image k is rank k mod ranks's */
};


/* A value dataset.ini can hold on one line without being cut by a comment. */
static int ini_safe(const char *s)
{
    return s && *s && !strpbrk(s, ";#\r\n") && s[0] != ' ' && s[strlen(s) - 1] != ' ';
}

static void free_tasks(ds_task *t)
{
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++) {
        for (int i = 0; i < t[k].nclasses; i++)
            free(t[k].classes[i]);
        free(t[k].classes);
        free(t[k].teacher);
        free(t[k].threshold);
        free(t[k].ids);
        free(t[k].conf);
    }
}

/* What one image entry owns. */
static void free_image(w_image *e)
{
    free(e->id);
    free(e->soft);
    must_boxes_free(&e->boxes);
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS; k++)
        if (e->ext[k])
            must_label_kind_codec(k)->free(e->ext[k]);
    memset(e, 0, sizeof *e);
}

void must_dataset_writer_abort(must_dataset_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free_image(&w->im[i]);
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

/* The classes of built-in kind k (classification, detection,
 * segmentation) from its spec. */
static int take_classes(ds_task *t, const must_task_spec *ts, const char *dir, int k,
                        must_err *err)
{
    const char *kn = must_label_kind_name(k);
    int maxk = k == MUST_LABEL_SEGMENTATION ? 255 : 1 << 20;
    if (ts->nclasses < 1 || ts->nclasses > maxk || !ts->classes)
        return must_err_set(err, MUST_EINVAL, "%s: %s needs 1..%d class names, not %d", dir, kn,
                            maxk, ts->nclasses);
    if (!(t->classes = calloc((size_t)ts->nclasses, sizeof *t->classes)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    t->nclasses = ts->nclasses;
    for (int i = 0; i < ts->nclasses; i++) {
        const char *c = ts->classes[i];
        if (!ini_safe(c) || strchr(c, ','))
            return must_err_set(err, MUST_EINVAL,
                                "%s: %s class %d '%s' is empty or holds ',', ';', '#' or a line "
                                "end", dir, kn, i, c ? c : "");
        for (int j = 0; j < i; j++)
            if (strcmp(ts->classes[j], c) == 0)
                return must_err_set(err, MUST_EINVAL, "%s: %s class '%s' named twice", dir, kn,
                                    c);
        if (!(t->classes[i] = ds_strdup(c)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    return ts->ids ? take_ids(t, ts->ids, dir, kn, err) : MUST_OK;
}

/* A registered kind's [<kind>] keys: the spec's, or the defaults. */
static int take_conf(ds_task *t, const must_label_codec *c, const void *conf, must_err *err)
{
    if (!c->keys)
        return MUST_OK;
    if (!(t->conf = calloc(1, c->keys_size)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (conf) {
        memcpy(t->conf, conf, c->keys_size);
        return MUST_OK;
    }
    return must_conf_defaults(c->keys, t->conf, NULL, err);
}

/* Kind k's entry of the spec into t: classes (built-in kinds with
 * classes), keys (registered kinds), provenance, the depth scale. */
static int take_task(ds_task *t, const must_dataset_spec *spec, const char *dir, int k,
                     must_err *err)
{
    const must_task_spec *ts = &spec->task[k];
    const char *kn = must_label_kind_name(k);
    const must_label_codec *c = must_label_kind_codec(k);
    int rc = MUST_OK;
    if (k <= MUST_LABEL_SEGMENTATION)
        rc = take_classes(t, ts, dir, k, err);
    else if (c)
        rc = take_conf(t, c, spec->kind_conf[k], err);
    if (rc)
        return rc;
    t->source = ts->source;
    if (ts->source == MUST_SOURCE_PSEUDO) {
        if (!ini_safe(ts->teacher))
            return must_err_set(err, MUST_EINVAL,
                                "%s: pseudo %s labels need a teacher checkpoint path (without "
                                "';', '#' or line ends)", dir, kn);
        t->teacher = ds_strdup(ts->teacher);
    } else if (ts->source != MUST_SOURCE_SUPERVISED) {
        return must_err_set(err, MUST_EINVAL, "%s: %s source %d is not supervised or pseudo", dir,
                            kn, ts->source);
    }
    if (ts->threshold) {
        if (!ini_safe(ts->threshold))
            return must_err_set(err, MUST_EINVAL, "%s: %s threshold '%s' cannot be written", dir,
                                kn, ts->threshold);
        t->threshold = ds_strdup(ts->threshold);
    }
    if (k == MUST_LABEL_DEPTH) {
        t->scale = spec->depth_scale > 0.0f ? spec->depth_scale : 0.001f;
        if (!isfinite(t->scale))
            return must_err_set(err, MUST_EINVAL, "%s: depth scale is not finite", dir);
    }
    return MUST_OK;
}

/* 1 when kind k keeps one file per image under labels/<kind>/. */
static int file_store(int k)
{
    const must_label_codec *c = must_label_kind_codec(k);
    return c ? c->store == MUST_STORE_FILES
             : k >= MUST_LABEL_SEGMENTATION && k <= MUST_LABEL_NORMAL;
}

/* The directories the spec's kinds write into. */
static int make_dirs(const char *dir, unsigned tasks, must_err *err)
{
    int rc;
    if ((rc = mkdir_sub(dir, "images", err)) || (rc = mkdir_sub(dir, "splits", err)))
        return rc;
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++) {
        if (!(tasks & MUST_LABEL_BIT(k)))
            continue;
        char sub[96];
        snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(k));
        if ((rc = mkdir_sub(dir, file_store(k) ? sub : "labels", err)))
            return rc;
    }
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
    if (spec->tasks & ~must_label_kinds_all())
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
    for (int k = 0; k < MUST_LABEL_MAX_KINDS && !rc; k++)
        if (spec->tasks & MUST_LABEL_BIT(k))
            rc = take_task(&w->t[k], spec, dir, k, err);
    if (rc)
        goto fail;
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
    if ((rc = make_dirs(dir, spec->tasks, err)))
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
    const must_label_codec *c = must_label_kind_codec(kind);
    size_t n = strlen(w->dir) + strlen(id) + 120;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/labels/%s/%s%s", w->dir, must_label_kind_name(kind), id,
                 c ? c->ext : ".png");
    return p;
}

/* A registered kind's label: written to its file now, or kept in e for
 * its text store at commit (must/kinds.h). */
static int take_registered(must_dataset_writer *w, int k, const char *id, int width, int height,
                           const must_labels *l, w_image *e, int mine, must_err *err)
{
    const must_label_codec *c = must_label_kind_codec(k);
    if (!l->ext[k])
        return must_err_set(err, MUST_EINVAL, "%s: image '%s' has a %s label without its object",
                            w->dir, id, must_label_kind_name(k));
    if (c->store == MUST_STORE_TEXT) {
        int rc = c->copy(&e->ext[k], l->ext[k], err);
        return rc ? must_err_prefix(err, "%s: image '%s': %s", w->dir, id,
                                    must_label_kind_name(k))
                  : MUST_OK;
    }
    if (!mine)
        return MUST_OK; /* another rank writes this image's files */
    char *path = label_path(w, k, id);
    if (!path)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    must_label_file f = {.path = path, .id = id, .width = width, .height = height,
                         .conf = w->t[k].conf, .kind = k};
    int rc = c->write(&f, l->ext[k], err);
    if (rc)
        must_err_prefix(err, "%s", path);
    free(path);
    return rc;
}

/* Checks labels against the spec and the image size; writes the maps; fills e. */
static int take_labels(must_dataset_writer *w, const char *id, int width, int height,
                       const must_labels *l, w_image *e, int mine, must_err *err)
{
    unsigned extra = l->has & ~w->tasks, missing = w->tasks & ~l->has;
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
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
    for (int k = MUST_LABEL_SEGMENTATION; k <= MUST_LABEL_NORMAL; k++) {
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
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS; k++) {
        int rc = (w->tasks & MUST_LABEL_BIT(k)) ? take_registered(w, k, id, width, height, l, e, mine,
                                                                   err)
                                                 : MUST_OK;
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

/* A new entry for image id: the id and split checked, room made, its
 * labels taken (maps and a registered kind's files written). */
static int entry_new(must_dataset_writer *w, const char *id, int split, int jpg, int width,
                     int height, const must_labels *labels, w_image *e, must_err *err)
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
    *e = (w_image){.split = split, .cls = -1, .jpg = jpg};
    must_labels none;
    must_labels_init(&none);
    int rc = take_labels(w, id, width, height, labels ? labels : &none, e, writes(w), err);
    if (rc == MUST_OK && !(e->id = ds_strdup(id)))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc)
        free_image(e);
    return rc;
}

/* Makes entry e (of an image of width x height) part of the set. */
static int entry_push(must_dataset_writer *w, w_image *e, int width, int height, must_err *err)
{
    if (w->n == 0) {
        w->width = width;
        w->height = height;
    } else if (width != w->width || height != w->height) {
        w->uniform = 0;
    }
    w->im[w->n] = *e;
    int rc = insert_id(w, w->n, err);
    if (rc) {
        free_image(e);
        return rc;
    }
    w->n++;
    return MUST_OK;
}

static int add_common(must_dataset_writer *w, const char *id, int split, int width, int height,
                      const must_image *img, const char *src, int jpg, const must_labels *labels,
                      must_err *err)
{
    w_image e;
    int rc = entry_new(w, id, split, jpg, width, height, labels, &e, err);
    if (rc)
        return rc;
    char *path = ds_path(&(must_dataset){.dir = w->dir}, "images", id, jpg ? ".jpg" : ".png");
    if (!path) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    } else if (!writes(w)) {
        rc = MUST_OK; /* another rank writes it */
    } else if (img) {
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
    free(path);
    if (rc) {
        free_image(&e);
        return rc;
    }
    return entry_push(w, &e, width, height, err);
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

/* A registered kind's codec keys, as INI text. */
static int emit_conf(FILE *fp, int k, const ds_task *t)
{
    const must_label_codec *c = must_label_kind_codec(k);
    int r = 0;
    for (const must_conf_key *key = c && t->conf ? c->keys : NULL; key && key->name; key++) {
        char v[MUST_CONF_STRING_MAX + 64];
        must_conf_format(key, t->conf, v, sizeof v);
        r |= fprintf(fp, "%s = %s\n", key->name, v);
    }
    return r;
}

/* Kind k's section. */
static int emit_section(FILE *fp, int k, const ds_task *t)
{
    int r = fprintf(fp, "\n[%s]\n", must_label_kind_name(k));
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
    r |= emit_conf(fp, k, t);
    r |= fprintf(fp, "source = %s\n", t->source == MUST_SOURCE_PSEUDO ? "pseudo" : "supervised");
    if (t->teacher)
        r |= fprintf(fp, "teacher = %s\n", t->teacher);
    if (t->threshold)
        r |= fprintf(fp, "threshold = %s\n", t->threshold);
    for (int i = 0; i < t->nids; i++)
        r |= fprintf(fp, "%s%d%s", i ? ", " : "ids = ", t->ids[i], i + 1 < t->nids ? "" : "\n");
    for (int i = 0; i < t->nx; i++)
        r |= fprintf(fp, "%s = %s\n", t->xkeys[i], t->xvals[i]);
    return r;
}

/* dataset.ini of a set called name with `tasks`, count images, a declared
 * size (0: none) and the kinds' sections from t. */
static int emit_ini_of(FILE *fp, const char *name, unsigned tasks, int count, int width,
                       int height, const ds_task *t)
{
    int r = fprintf(fp, "; written by must %s (format: docs/dataset-format.md)\n[dataset]\n"
                        "name = %s\ntasks =", PACKAGE_VERSION, name);
    const char *sep = " ";
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
        if (tasks & MUST_LABEL_BIT(k)) {
            r |= fprintf(fp, "%s%s", sep, must_label_kind_name(k));
            sep = ", ";
        }
    r |= fprintf(fp, "\ncount = %d\n", count);
    if (width > 0 && height > 0)
        r |= fprintf(fp, "width = %d\nheight = %d\n", width, height);
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
        if (tasks & MUST_LABEL_BIT(k))
            r |= emit_section(fp, k, &t[k]);
    return r < 0 ? MUST_EIO : MUST_OK;
}

static int emit_ini(FILE *fp, const must_dataset_writer *w, int arg)
{
    (void)arg;
    if (w->base) { /* the set's own sections, and the new kind's */
        const must_dataset *b = w->base;
        ds_task t[MUST_LABEL_MAX_KINDS];
        memcpy(t, b->t, sizeof t);
        for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
            if (w->tasks & MUST_LABEL_BIT(k))
                t[k] = w->t[k];
        return emit_ini_of(fp, b->name, b->tasks | w->tasks, b->n, b->width, b->height, t);
    }
    int uniform = w->n && w->uniform;
    return emit_ini_of(fp, w->name, w->tasks, w->n, uniform ? w->width : 0,
                       uniform ? w->height : 0, w->t);
}

/* A registered kind's text store: every image's lines, in id order. */
static int emit_store(FILE *fp, const must_dataset_writer *w, int k)
{
    const must_label_codec *c = must_label_kind_codec(k);
    char *path = must_path_join(w->dir, "labels");
    must_label_file f = {.path = path, .conf = w->t[k].conf, .kind = k};
    int rc = path ? MUST_OK : MUST_ENOMEM;
    for (int i = 0; i < w->n && rc == MUST_OK; i++) {
        f.id = w->im[i].id;
        rc = w->im[i].ext[k] ? c->format(fp, &f, w->im[i].ext[k]) : MUST_OK;
    }
    free(path);
    return rc;
}

/* Removes images (.png, and .jpg in images/) and label files (ext) in
 * DIR/sub that this writer did not write: leftovers of an earlier writer
 * that was cut off would otherwise join the set (or give an id two
 * images). */
static int remove_strays(must_dataset_writer *w, const char *sub, const char *ext_of,
                         must_err *err)
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
    size_t el = strlen(ext_of);
    struct dirent *de;
    int rc = MUST_OK;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len < el + 1 || len - el > MUST_ID_MAX)
            continue;
        const char *ext = de->d_name + len - el;
        int jpg = images && strcmp(ext, ".jpg") == 0;
        if (!jpg && strcmp(ext, ext_of) != 0)
            continue;
        char id[MUST_ID_MAX + 1];
        memcpy(id, de->d_name, len - el);
        id[len - el] = '\0';
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

/* The label files of every file store that this writer did not write. */
static int remove_label_strays(must_dataset_writer *w, must_err *err)
{
    int rc = MUST_OK;
    for (int k = 0; k < MUST_LABEL_MAX_KINDS && !rc; k++) {
        if (!(w->tasks & MUST_LABEL_BIT(k)) || !file_store(k))
            continue;
        const must_label_codec *c = must_label_kind_codec(k);
        char sub[96];
        snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(k));
        rc = remove_strays(w, sub, c ? c->ext : ".png", err);
    }
    return rc;
}

/* The text stores: labels/classification.txt, labels/detection.txt and a
 * registered kind's labels/<kind>.txt. */
static int write_stores(must_dataset_writer *w, must_err *err)
{
    static const char *const builtin[2] = {"labels/classification.txt", "labels/detection.txt"};
    int (*const emit[2])(FILE *, const must_dataset_writer *, int) = {emit_cls, emit_det};
    int rc = MUST_OK;
    for (int k = 0; k < 2 && !rc; k++) {
        if (!(w->tasks & MUST_LABEL_BIT(k)))
            continue;
        char *p = must_path_join(w->dir, builtin[k]);
        rc = p ? write_text(p, emit[k], w, 0, err)
               : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(p);
    }
    for (int k = MUST_LABEL_NKINDS; k < MUST_LABEL_MAX_KINDS && !rc; k++) {
        if (!(w->tasks & MUST_LABEL_BIT(k)) || file_store(k))
            continue;
        char *p = ds_path(&(must_dataset){.dir = w->dir}, "labels", must_label_kind_name(k),
                          ".txt");
        rc = p ? write_text(p, emit_store, w, k, err)
               : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(p);
    }
    return rc;
}

static int commit_here(must_dataset_writer *w, must_err *err)
{
    int rc = MUST_OK;
    char *p = NULL;
    /* Sorted by id: the files do not depend on the order images came in
     * (a pseudo-labeller adding from several threads writes the same set). */
    if (w->n > 1) /* qsort's base may not be NULL, even for none */
        qsort(w->im, (size_t)w->n, sizeof *w->im, cmp_image);
    if (w->nslots)
        memset(w->slots, 0, w->nslots * sizeof *w->slots);
    for (int i = 0; i < w->n; i++) {
        size_t j = (size_t)hash_str(w->im[i].id) & (w->nslots - 1);
        while (w->slots[j])
            j = (j + 1) & (w->nslots - 1);
        w->slots[j] = i + 1;
    }
    if ((rc = remove_strays(w, "images", ".png", err)) || (rc = remove_label_strays(w, err)))
        goto out;
    if (must_io_remove_temps(w->dir) < 0) {
        rc = must_err_set(err, MUST_EIO, "%s: cannot remove the temporary files (NAME.tmp.PID) "
                                         "of a writer that was cut off", w->dir);
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
    if ((rc = write_stores(w, err)))
        goto out;
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

/* ------------------------------------------------------------------------ */
/* A kind added to a set that exists. */

/* A writer of kind `kind` alone into ds's directory. */
static int added_writer(const must_dataset *ds, const must_dataset_spec *spec, int kind,
                        must_dataset_writer **out, must_err *err)
{
    must_dataset_writer *w = calloc(1, sizeof *w);
    if (!w)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    *out = w;
    w->base = ds;
    w->tasks = MUST_LABEL_BIT(kind);
    w->uniform = 1;
    if (!(w->dir = ds_strdup(ds->dir)) || !(w->name = ds_strdup(ds->name)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = take_task(&w->t[kind], spec, ds->dir, kind, err);
    char sub[96];
    snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(kind));
    return rc ? rc : mkdir_sub(ds->dir, file_store(kind) ? sub : "labels", err);
}

/* Image i's label from fn, taken as the writer takes an added image's. */
static int add_label(must_dataset_writer *w, const must_dataset *ds, int i,
                     must_dataset_label_fn fn, void *user, must_err *err)
{
    int width, height;
    must_labels l;
    must_labels_init(&l);
    int rc = ds_image_size(ds, i, &width, &height, err);
    if (!rc && (rc = fn(user, ds, i, &l, err)) == MUST_OK) {
        w_image e;
        rc = entry_new(w, ds->ids[i], -1, ds->jpg[i], width, height, &l, &e, err);
        if (!rc)
            rc = entry_push(w, &e, width, height, err);
    }
    must_labels_free(&l);
    return rc;
}

int must_dataset_add_kind(const char *dir, int kind, const must_dataset_spec *spec,
                          must_dataset_label_fn fn, void *user, must_err *err)
{
    must_dataset *ds = NULL;
    must_dataset_writer *w = NULL;
    int rc = must_dataset_open(dir, &ds, err);
    if (rc)
        return rc;
    if (!must_label_kind_name(kind))
        rc = must_err_set(err, MUST_EINVAL, "%s: label kind %d is not in use", dir, kind);
    else if (ds->tasks & MUST_LABEL_BIT(kind))
        rc = must_err_set(err, MUST_EINVAL, "dataset \"%s\" (%s) already carries %s labels",
                          ds->name, dir, must_label_kind_name(kind));
    else
        rc = added_writer(ds, spec, kind, &w, err);
    for (int i = 0; i < ds->n && !rc; i++)
        rc = add_label(w, ds, i, fn, user, err);
    /* The store first, dataset.ini last: until the rename the set is as
     * it was, and a store left behind by a cut-off run is overwritten (or
     * its strays removed) by the next. */
    if (!rc && !(rc = remove_label_strays(w, err)) && !(rc = write_stores(w, err))) {
        char *p = must_path_join(ds->dir, "dataset.ini");
        rc = p ? write_text(p, emit_ini, w, 0, err)
               : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(p);
    }
    must_dataset_writer_abort(w);
    must_dataset_close(ds);
    return rc;
}
