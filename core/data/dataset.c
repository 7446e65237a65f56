/* dataset.c - reading a dataset directory: dataset.ini, images/, splits, text labels. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset-impl.h"
#include "image-impl.h"
#include "must/io.h"

static const char *const split_names[MUST_NSPLITS] = {"train", "val", "test"};

const char *must_split_name(int split)
{
    return split >= 0 && split < MUST_NSPLITS ? split_names[split] : NULL;
}

int must_split_parse(const char *name)
{
    for (int s = 0; s < MUST_NSPLITS; s++)
        if (strcmp(name, split_names[s]) == 0)
            return s;
    return -1;
}

int must_dataset_id_valid(const char *id)
{
    size_t n = 0;
    if (!id || id[0] == '.' || id[0] == '\0')
        return 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok || n >= MUST_ID_MAX)
            return 0;
    }
    return 1;
}

/* Splits the next line off *p in place (without its "\n" or "\r\n"). */
static char *next_line(char **p)
{
    char *s = *p;
    if (!*s)
        return NULL;
    char *e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = s + strlen(s);
        e = *p;
    }
    if (e > s && e[-1] == '\r')
        e[-1] = '\0';
    return s;
}

/* A blank line or a '#' comment. */
static int skip_line(const char *s)
{
    return *s == '\0' || *s == '#';
}

/* ------------------------------------------------------------------------ */
/* images/ */

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int must_dataset_find(const must_dataset *ds, const char *id)
{
    if (!ds->nslots)
        return -1;
    size_t m = ds->nslots - 1, i = (size_t)hash_id(id) & m;
    for (; ds->slots[i]; i = (i + 1) & m)
        if (strcmp(ds->ids[ds->slots[i] - 1], id) == 0)
            return ds->slots[i] - 1;
    return -1;
}

/* An image file of images/: its id, and whether it is the .jpg. */
typedef struct ds_file {
    char *id;
    unsigned char jpg;
} ds_file;

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const ds_file *)a)->id, ((const ds_file *)b)->id);
}

/* "<id>.png" or "<id>.jpg" -> 0 or 1 and the id's length; -1 for other
 * files (a writer's temporaries "x.png.tmp.PID", notes). */
static int image_kind(const char *name, size_t *idlen)
{
    size_t len = strlen(name);
    if (len < 4)
        return -1;
    *idlen = len - 4;
    return strcmp(name + len - 4, ".png") == 0 ? 0 : strcmp(name + len - 4, ".jpg") == 0 ? 1 : -1;
}

/* The image files of dirpath into *files (unsorted); problems go to sink. */
static int list_images(must_dataset *ds, ds_sink *sink, const char *dirpath, DIR *d,
                       ds_file **files, int *n)
{
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t idlen;
        int jpg = image_kind(de->d_name, &idlen);
        if (jpg < 0)
            continue;
        char id[MUST_ID_MAX + 8];
        if (idlen > MUST_ID_MAX) {
            ds_issue(ds, sink, MUST_EFORMAT, dirpath, 0,
                     "'%s': image id longer than %d characters", de->d_name, MUST_ID_MAX);
            continue;
        }
        memcpy(id, de->d_name, idlen);
        id[idlen] = '\0';
        if (!must_dataset_id_valid(id)) {
            ds_issue(ds, sink, MUST_EFORMAT, dirpath, 0,
                     "'%s': '%s' is not a valid image id (A-Z a-z 0-9 _ - ., not starting "
                     "with '.')", de->d_name, id);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            ds_file *v = realloc(*files, (size_t)cap * sizeof *v);
            if (!v)
                return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
            *files = v;
        }
        if (!((*files)[*n].id = ds_strdup(id)))
            return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
        (*files)[(*n)++].jpg = (unsigned char)jpg;
    }
    return MUST_OK;
}

/* Sorted files into ds->ids and ds->jpg; an id with both a .png and a .jpg
 * is a problem, and keeps neither. */
static int take_images(must_dataset *ds, ds_sink *sink, const char *dirpath, ds_file *files,
                       int nf)
{
    qsort(files, (size_t)nf, sizeof *files, cmp_file);
    ds->ids = malloc((size_t)(nf ? nf : 1) * sizeof *ds->ids);
    ds->jpg = malloc((size_t)(nf ? nf : 1));
    if (!ds->ids || !ds->jpg) {
        for (int i = 0; i < nf; i++)
            free(files[i].id);
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nf; i++) {
        if (i + 1 < nf && strcmp(files[i].id, files[i + 1].id) == 0) {
            ds_issue(ds, sink, MUST_EFORMAT, dirpath, 0,
                     "'%s.png' and '%s.jpg': two images with one id", files[i].id, files[i].id);
            free(files[i].id);
            free(files[++i].id);
            continue;
        }
        ds->ids[ds->n] = files[i].id;
        ds->jpg[ds->n++] = files[i].jpg;
    }
    return MUST_OK;
}

static int read_images(must_dataset *ds, ds_sink *sink)
{
    char *dirpath = must_path_join(ds->dir, "images");
    if (!dirpath)
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    DIR *d = opendir(dirpath);
    if (!d) {
        ds_issue(ds, sink, MUST_ENOTFOUND, dirpath, 0, "cannot open the image directory: %s",
                 strerror(errno));
        free(dirpath);
        return MUST_OK;
    }
    ds->listed = 1;
    ds_file *files = NULL;
    int nf = 0;
    int rc = list_images(ds, sink, dirpath, d, &files, &nf);
    closedir(d);
    if (rc == MUST_OK)
        rc = take_images(ds, sink, dirpath, files, nf);
    else
        for (int i = 0; i < nf; i++)
            free(files[i].id);
    free(files);
    free(dirpath);
    if (rc)
        return rc;
    size_t ns = 16;
    while (ns < 2 * (size_t)ds->n)
        ns *= 2;
    ds->slots = calloc(ns, sizeof *ds->slots);
    if (!ds->slots)
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    ds->nslots = ns;
    for (int i = 0; i < ds->n; i++) {
        size_t j = (size_t)hash_id(ds->ids[i]) & (ns - 1);
        while (ds->slots[j])
            j = (j + 1) & (ns - 1);
        ds->slots[j] = i + 1;
    }
    if (ds->count_line && ds->count_decl != ds->n)
        ds_issue(ds, sink, MUST_EFORMAT, ds->ini_path, ds->count_line,
                 "[dataset] count: %d, but %s/images holds %d images (.png and .jpg)",
                 ds->count_decl, ds->dir, ds->n);
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Split lists and text label stores. */

typedef struct seen_at {
    int file;  /* which file first named the id, -1 none */
    int line;
} seen_at;

/* Reads a text file; a missing file is a problem only when `needed`.
 * *buf is NULL when there is nothing to parse. */
static int read_text(must_dataset *ds, ds_sink *sink, const char *path, int needed, char **buf)
{
    must_err e = {0};
    int rc = must_file_read(path, buf, NULL, &e);
    if (rc == MUST_ENOMEM)
        return must_err_set(sink->err, rc, "%s", e.msg);
    if (rc == MUST_ENOTFOUND && !needed)
        return MUST_OK;
    if (rc) {
        ds_issue(ds, sink, rc, path, 0, "cannot read: %s",
                 rc == MUST_ENOTFOUND ? "no such file" : e.msg);
        *buf = NULL;
    }
    return MUST_OK;
}

static int read_splits(must_dataset *ds, ds_sink *sink)
{
    seen_at *seen = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *seen);
    char *paths[MUST_NSPLITS] = {0};
    int rc = MUST_OK;
    if (!seen)
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < ds->n; i++)
        seen[i].file = -1;
    for (int s = 0; s < MUST_NSPLITS && !sink->stop; s++) {
        paths[s] = ds_path(ds, "splits", split_names[s], ".txt");
        char *buf = NULL;
        if (!paths[s] || (rc = read_text(ds, sink, paths[s], 0, &buf)))
            goto out;
        if (!buf)
            continue;
        int cap = 0, line = 0;
        char *p = buf, *l;
        while ((l = next_line(&p)) && !sink->stop) {
            line++;
            l = ds_trim(l);
            if (skip_line(l))
                continue;
            if (!must_dataset_id_valid(l)) {
                ds_issue(ds, sink, MUST_EFORMAT, paths[s], line, "'%s' is not a valid image id",
                         l);
                continue;
            }
            int idx = must_dataset_find(ds, l);
            if (idx < 0) {
                ds_issue(ds, sink, MUST_ENOTFOUND, paths[s], line,
                         "names '%s', but images/%s.png does not exist (nor .jpg)", l, l);
                continue;
            }
            if (seen[idx].file >= 0) {
                ds_issue(ds, sink, MUST_EFORMAT, paths[s], line,
                         "duplicate image '%s' (already in %s.txt at line %d)", l,
                         split_names[seen[idx].file], seen[idx].line);
                continue;
            }
            seen[idx].file = s;
            seen[idx].line = line;
            if (ds->nsplit[s] == cap) {
                cap = cap ? 2 * cap : 256;
                int *v = realloc(ds->split[s], (size_t)cap * sizeof *v);
                if (!v) {
                    free(buf);
                    rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                    goto out;
                }
                ds->split[s] = v;
            }
            ds->split[s][ds->nsplit[s]++] = idx;
        }
        free(buf);
    }
out:
    for (int s = 0; s < MUST_NSPLITS; s++)
        free(paths[s]);
    free(seen);
    return rc;
}

static int read_classification(must_dataset *ds, ds_sink *sink)
{
    const int k = ds->t[MUST_LABEL_CLASSIFICATION].nclasses;
    char *path = ds_path(ds, "labels", "classification", ".txt"), *buf = NULL;
    int *line_of = calloc((size_t)(ds->n ? ds->n : 1), sizeof *line_of);
    float *soft = malloc((size_t)(k > 0 ? k : 1) * sizeof *soft);
    int rc = MUST_OK;
    if (!path || !line_of || !soft) {
        rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = read_text(ds, sink, path, 1, &buf)) || !buf || k == 0)
        goto out;
    int line = 0;
    char *p = buf, *l;
    while ((l = next_line(&p)) && !sink->stop) {
        line++;
        char *t = ds_trim(l);
        if (skip_line(t))
            continue;
        const char *id;
        int cls;
        must_err e = {0};
        if (must_label_parse_cls(t, k, &id, &cls, soft, &e)) {
            ds_issue(ds, sink, MUST_EFORMAT, path, line, "%s", e.msg);
            continue;
        }
        int idx = must_dataset_find(ds, id);
        if (idx < 0) {
            ds_issue(ds, sink, MUST_ENOTFOUND, path, line,
                     "labels '%s', but images/%s.png does not exist (nor .jpg)", id, id);
            continue;
        }
        if (line_of[idx]) {
            ds_issue(ds, sink, MUST_EFORMAT, path, line,
                     "duplicate image '%s' (already labelled at line %d)", id, line_of[idx]);
            continue;
        }
        line_of[idx] = line;
        ds->has_cls[idx] = 1;
        ds->cls[idx] = cls;
        if (cls < 0) {
            if (!ds->soft && !(ds->soft = calloc((size_t)ds->n * k, sizeof *ds->soft))) {
                rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(ds->soft + (size_t)idx * k, soft, (size_t)k * sizeof *soft);
        }
    }
    if (!sink->stop) {
        int missing = 0, first = -1;
        for (int i = 0; i < ds->n; i++)
            if (!ds->has_cls[i] && missing++ == 0)
                first = i;
        if (missing)
            ds_issue(ds, sink, MUST_EFORMAT, path, 0,
                     "%d image%s without a classification label (first: '%s')", missing,
                     missing == 1 ? "" : "s", ds->ids[first]);
    }
out:
    free(buf);
    free(path);
    free(line_of);
    free(soft);
    return rc;
}

static int read_detection(must_dataset *ds, ds_sink *sink)
{
    const int k = ds->t[MUST_LABEL_DETECTION].nclasses;
    char *path = ds_path(ds, "labels", "detection", ".txt"), *buf = NULL;
    int rc = MUST_OK;
    if (!path)
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    if ((rc = read_text(ds, sink, path, 1, &buf)) || !buf || k == 0)
        goto out;
    int line = 0;
    char *p = buf, *l;
    while ((l = next_line(&p)) && !sink->stop) {
        line++;
        char *t = ds_trim(l);
        if (skip_line(t))
            continue;
        const char *id;
        must_box b;
        must_err e = {0};
        if (must_label_parse_box(t, k, &id, &b, &e)) {
            ds_issue(ds, sink, MUST_EFORMAT, path, line, "%s", e.msg);
            continue;
        }
        int idx = must_dataset_find(ds, id);
        if (idx < 0) {
            ds_issue(ds, sink, MUST_ENOTFOUND, path, line,
                     "labels '%s', but images/%s.png does not exist (nor .jpg)", id, id);
            continue;
        }
        if (ds->width && (b.x1 > (float)ds->width || b.y1 > (float)ds->height)) {
            ds_issue(ds, sink, MUST_EFORMAT, path, line,
                     "box of '%s' (%g %g %g %g) leaves the %dx%d image", id, b.x0, b.y0, b.x1,
                     b.y1, ds->width, ds->height);
            continue;
        }
        must_boxes *bx = &ds->boxes[idx];
        if (bx->n == bx->cap) {
            int *bl = realloc(ds->box_lines[idx], (size_t)(bx->cap ? 2 * bx->cap : 4) * sizeof *bl);
            if (!bl) {
                rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
                goto out;
            }
            ds->box_lines[idx] = bl;
        }
        ds->box_lines[idx][bx->n] = line;
        if (must_boxes_push(bx, &b, NULL)) {
            rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    free(buf);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------------ */

int ds_read(const char *dir, ds_sink *sink, must_dataset **out)
{
    *out = NULL;
    must_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return must_err_set(sink->err, MUST_ENOMEM, "out of memory");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    ds->dir = malloc(n + 1);
    if (ds->dir) {
        memcpy(ds->dir, dir, n);
        ds->dir[n] = '\0';
    }
    ds->name = ds->dir ? ds_strdup(ds->dir) : NULL;
    ds->ini_path = ds->dir ? must_path_join(ds->dir, "dataset.ini") : NULL;
    int rc = MUST_ENOMEM;
    if (!ds->name || !ds->ini_path)
        goto fail_oom;
    if ((rc = ds_read_ini(ds, sink)) || sink->stop)
        goto fail;
    if ((rc = read_images(ds, sink)) || sink->stop)
        goto fail;
    if ((rc = read_splits(ds, sink)) || sink->stop)
        goto fail;
    size_t nn = (size_t)(ds->n ? ds->n : 1);
    ds->cls = malloc(nn * sizeof *ds->cls);
    ds->has_cls = calloc(nn, 1);
    ds->boxes = calloc(nn, sizeof *ds->boxes);
    ds->box_lines = calloc(nn, sizeof *ds->box_lines);
    if (!ds->cls || !ds->has_cls || !ds->boxes || !ds->box_lines)
        goto fail_oom;
    for (int i = 0; i < ds->n; i++)
        ds->cls[i] = -1;
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION))
        if ((rc = read_classification(ds, sink)) || sink->stop)
            goto fail;
    if (ds->tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION))
        if ((rc = read_detection(ds, sink)) || sink->stop)
            goto fail;
    *out = ds;
    return MUST_OK;
fail_oom:
    rc = must_err_set(sink->err, MUST_ENOMEM, "out of memory");
fail:
    if (rc == MUST_OK && sink->report) { /* check mode keeps what it has */
        *out = ds;
        return MUST_OK;
    }
    must_dataset_close(ds);
    return rc ? rc : (sink->err ? sink->err->code : MUST_EFORMAT);
}

int must_dataset_open(const char *dir, must_dataset **out, must_err *err)
{
    must_err local = {0};
    ds_sink sink = {.err = err ? err : &local};
    return ds_read(dir, &sink, out);
}

void must_dataset_close(must_dataset *ds)
{
    if (!ds)
        return;
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        ds_task *t = &ds->t[k];
        for (int i = 0; i < t->nclasses; i++)
            free(t->classes[i]);
        free(t->classes);
        free(t->teacher);
        free(t->threshold);
        free(t->ids);
        for (int i = 0; i < t->nx; i++) {
            free(t->xkeys[i]);
            free(t->xvals[i]);
        }
        free(t->xkeys);
        free(t->xvals);
    }
    for (int i = 0; i < ds->n; i++)
        free(ds->ids[i]);
    if (ds->boxes)
        for (int i = 0; i < ds->n; i++)
            must_boxes_free(&ds->boxes[i]);
    if (ds->box_lines)
        for (int i = 0; i < ds->n; i++)
            free(ds->box_lines[i]);
    free(ds->box_lines);
    for (int s = 0; s < MUST_NSPLITS; s++)
        free(ds->split[s]);
    free(ds->ids);
    free(ds->jpg);
    free(ds->slots);
    free(ds->cls);
    free(ds->soft);
    free(ds->has_cls);
    free(ds->boxes);
    free(ds->dir);
    free(ds->name);
    free(ds->ini_path);
    free(ds);
}

/* ------------------------------------------------------------------------ */
/* Accessors. */

const char *must_dataset_dir(const must_dataset *ds) { return ds->dir; }
const char *must_dataset_name(const must_dataset *ds) { return ds->name; }
unsigned must_dataset_tasks(const must_dataset *ds) { return ds->tasks; }
int must_dataset_count(const must_dataset *ds) { return ds->n; }

const char *must_dataset_id(const must_dataset *ds, int index)
{
    return index >= 0 && index < ds->n ? ds->ids[index] : NULL;
}

void must_dataset_size(const must_dataset *ds, int *width, int *height)
{
    *width = ds->width;
    *height = ds->height;
}

int must_dataset_nclasses(const must_dataset *ds, int kind)
{
    return kind >= 0 && kind < MUST_LABEL_NKINDS ? ds->t[kind].nclasses : 0;
}

const char *must_dataset_class_name(const must_dataset *ds, int kind, int cls)
{
    if (kind < 0 || kind >= MUST_LABEL_NKINDS || cls < 0 || cls >= ds->t[kind].nclasses)
        return NULL;
    return ds->t[kind].classes[cls];
}

int must_dataset_source(const must_dataset *ds, int kind)
{
    return kind >= 0 && kind < MUST_LABEL_NKINDS ? ds->t[kind].source : MUST_SOURCE_SUPERVISED;
}

const char *must_dataset_teacher(const must_dataset *ds, int kind)
{
    return kind >= 0 && kind < MUST_LABEL_NKINDS ? ds->t[kind].teacher : NULL;
}

const int *must_dataset_class_ids(const must_dataset *ds, int kind)
{
    return kind >= 0 && kind < MUST_LABEL_NKINDS && ds->t[kind].nids ? ds->t[kind].ids : NULL;
}

float must_dataset_depth_scale(const must_dataset *ds)
{
    return ds->t[MUST_LABEL_DEPTH].scale;
}

int must_dataset_split(const must_dataset *ds, int split, const int **indices)
{
    if (split < 0 || split >= MUST_NSPLITS) {
        *indices = NULL;
        return 0;
    }
    *indices = ds->split[split];
    return ds->nsplit[split];
}

char *must_dataset_image_path(const must_dataset *ds, int index)
{
    if (index < 0 || index >= ds->n)
        return NULL;
    return ds_path(ds, "images", ds->ids[index], ds->jpg[index] ? ".jpg" : ".png");
}

char *must_dataset_label_path(const must_dataset *ds, int kind, int index)
{
    if (index < 0 || index >= ds->n || kind < MUST_LABEL_SEGMENTATION || kind > MUST_LABEL_NORMAL)
        return NULL;
    char sub[32];
    snprintf(sub, sizeof sub, "labels/%s", must_label_kind_name(kind));
    return ds_path(ds, sub, ds->ids[index], ".png");
}

int must_dataset_cls(const must_dataset *ds, int index, const float **soft)
{
    *soft = NULL;
    if (index < 0 || index >= ds->n)
        return -1;
    if (ds->cls[index] < 0 && ds->soft && ds->has_cls[index])
        *soft = ds->soft + (size_t)index * ds->t[MUST_LABEL_CLASSIFICATION].nclasses;
    return ds->cls[index];
}

const must_boxes *must_dataset_boxes(const must_dataset *ds, int index)
{
    return index >= 0 && index < ds->n ? &ds->boxes[index] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Per-example loading. */

static int load_map(const must_dataset *ds, int kind, int index, int w, int h, must_map *m,
                    must_err *err)
{
    char *path = must_dataset_label_path(ds, kind, index);
    if (!path)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc;
    if (kind == MUST_LABEL_SEGMENTATION)
        rc = must_label_read_seg(path, m, err);
    else if (kind == MUST_LABEL_DEPTH)
        rc = must_label_read_depth(path, ds->t[MUST_LABEL_DEPTH].scale, m, err);
    else
        rc = must_label_read_normal(path, m, err);
    if (rc == MUST_OK && (m->width != w || m->height != h)) {
        rc = must_err_set(err, MUST_ESHAPE, "%s: label is %dx%d but its image is %dx%d", path,
                          m->width, m->height, w, h);
        must_map_free(m);
    }
    if (rc)
        must_err_prefix(err, "dataset \"%s\"", ds->name);
    free(path);
    return rc;
}

int ds_image_size(const must_dataset *ds, int index, int *w, int *h, must_err *err)
{
    char *path = must_dataset_image_path(ds, index);
    if (!path)
        return must_err_set(err, index < 0 || index >= ds->n ? MUST_EINVAL : MUST_ENOMEM,
                            "dataset \"%s\": no image %d", ds->name, index);
    int rc = must_image_info(path, NULL, w, h, NULL, NULL, err);
    free(path);
    return rc ? must_err_prefix(err, "dataset \"%s\"", ds->name) : MUST_OK;
}

int must_dataset_load(const must_dataset *ds, int index, unsigned want, must_map *image,
                      must_labels *labels, must_err *err)
{
    return ds_load_scaled(ds, index, want, 1.0f, image, NULL, NULL, NULL, labels, err);
}

int ds_load_scaled(const must_dataset *ds, int index, unsigned want, float min_scale,
                   must_map *image, float *scale, int *full_w, int *full_h, must_labels *labels,
                   must_err *err)
{
    if (index < 0 || index >= ds->n)
        return must_err_set(err, MUST_EINVAL, "dataset \"%s\": image index %d out of 0..%d",
                            ds->name, index, ds->n - 1);
    char *path = must_dataset_image_path(ds, index);
    if (!path)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    must_image img = {0};
    int w, h;
    int rc = must_image_read_scaled(path, &img, 3, min_scale, ds->width, ds->height, scale,
                                    &w, &h, err);
    free(path);
    if (rc)
        return must_err_prefix(err, "dataset \"%s\"", ds->name);
    if (full_w)
        *full_w = w;
    if (full_h)
        *full_h = h;
    if (image) {
        rc = must_map_alloc(image, 3, img.height, img.width, err);
        if (rc) {
            must_image_free(&img);
            return rc;
        }
        const uint8_t *p = img.pixels;
        size_t n = (size_t)img.width * img.height;
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                image->data[c * n + i] = (float)p[3 * i + c] * (1.0f / 255.0f);
    }
    must_image_free(&img);
    if (!labels)
        return MUST_OK;
    unsigned get = want & ds->tasks;
    if (get & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        const float *soft;
        int c = must_dataset_cls(ds, index, &soft);
        if (soft)
            rc = must_labels_set_soft(labels, ds->t[MUST_LABEL_CLASSIFICATION].nclasses, soft,
                                      err);
        else
            labels->cls = c;
        if (rc)
            goto fail;
        labels->has |= MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
    }
    if (get & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        if ((rc = must_boxes_copy(&labels->boxes, &ds->boxes[index], err)))
            goto fail;
        labels->has |= MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    }
    static const int maps[3] = {MUST_LABEL_SEGMENTATION, MUST_LABEL_DEPTH, MUST_LABEL_NORMAL};
    for (int j = 0; j < 3; j++) {
        int k = maps[j];
        if (!(get & MUST_LABEL_BIT(k)))
            continue;
        must_map *m = k == MUST_LABEL_SEGMENTATION ? &labels->seg
                      : k == MUST_LABEL_DEPTH      ? &labels->depth
                                                   : &labels->normal;
        must_map_free(m);
        if ((rc = load_map(ds, k, index, w, h, m, err)))
            goto fail;
        labels->has |= MUST_LABEL_BIT(k);
    }
    return MUST_OK;
fail:
    if (image)
        must_map_free(image);
    return rc;
}
