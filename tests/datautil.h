/* datautil.h - small synthetic datasets for the data layer's tests. */
#ifndef MUST_DATAUTIL_H
#define MUST_DATAUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/dataset.h"
#include "must/io.h"

static const char *const du_classes[] = {"sphere", "cube", "cylinder"};

static int du_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* rm -rf path */
static inline void du_rmrf(const char *path)
{
    nftw(path, du_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* $MUST_TEST_TMP/name, freshly emptied; static storage (one at a time). */
static inline const char *du_dir(const char *name)
{
    static char buf[4096];
    const char *tmp = getenv("MUST_TEST_TMP"); /* as testutil.h's test_tmpdir */
    snprintf(buf, sizeof buf, "%s/%s", tmp && *tmp ? tmp : "tests/tmp", name);
    du_rmrf(buf);
    return buf;
}

/* Image i of the synthetic set: a gradient with one rectangle of class
 * i % 3; its labels say exactly that. */
static inline int du_example(int i, int w, int h, unsigned tasks, must_image *img,
                             must_labels *l, must_err *err)
{
    int rc = must_image_alloc(img, w, h, 3, 8, err);
    if (rc)
        return rc;
    must_labels_init(l);
    int cls = i % 3;
    int x0 = 2 + i % 5, y0 = 3 + i % 4, x1 = w / 2 + i % 7, y1 = h / 2 + i % 3;
    unsigned char *p = img->pixels;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = x >= x0 && x < x1 && y >= y0 && y < y1;
            p[3 * (y * w + x) + 0] = (unsigned char)(in ? 200 * (cls == 0) + 40 : x * 255 / w);
            p[3 * (y * w + x) + 1] = (unsigned char)(in ? 200 * (cls == 1) + 40 : y * 255 / h);
            p[3 * (y * w + x) + 2] = (unsigned char)(in ? 200 * (cls == 2) + 40 : (i * 37) & 255);
        }
    if (tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) {
        if (i % 5 == 4) {
            float s[3] = {0.25f, 0.25f, 0.25f};
            s[cls] = 0.5f;
            if ((rc = must_labels_set_soft(l, 3, s, err)))
                return rc;
        }
        l->cls = i % 5 == 4 ? -1 : cls;
        l->has |= MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
    }
    if (tasks & MUST_LABEL_BIT(MUST_LABEL_DETECTION)) {
        must_box b = {(float)x0, (float)y0, (float)x1, (float)y1, cls, 1.0f, i % 4 == 3};
        if ((rc = must_boxes_push(&l->boxes, &b, err)))
            return rc;
        l->has |= MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    }
    if (tasks & MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)) {
        if ((rc = must_map_alloc(&l->seg, 1, h, w, err)))
            return rc;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int in = x >= x0 && x < x1 && y >= y0 && y < y1;
                l->seg.data[y * w + x] = y == h - 1 ? 255.0f : in ? (float)(1 + cls % 2) : 0.0f;
            }
        l->has |= MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    }
    if (tasks & MUST_LABEL_BIT(MUST_LABEL_DEPTH)) {
        if ((rc = must_map_alloc(&l->depth, 1, h, w, err)))
            return rc;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                l->depth.data[y * w + x] = x == 0 ? 0.0f : 1.0f + 0.125f * (float)x;
        l->has |= MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    }
    if (tasks & MUST_LABEL_BIT(MUST_LABEL_NORMAL)) {
        if ((rc = must_map_alloc(&l->normal, 3, h, w, err)))
            return rc;
        size_t n = (size_t)w * h;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int in = x >= x0 && x < x1 && y >= y0 && y < y1;
                size_t q = (size_t)y * w + x;
                if (y == 0)
                    continue; /* invalid row */
                l->normal.data[q] = in ? 0.6f : 0.0f;
                l->normal.data[n + q] = 0.0f;
                l->normal.data[2 * n + q] = in ? -0.8f : -1.0f;
            }
        l->has |= MUST_LABEL_BIT(MUST_LABEL_NORMAL);
    }
    return MUST_OK;
}

/* Writes a set of n images of w x h carrying `tasks` into dir: ids
 * "img000".., splits: every 10th image val, every 10th + 1 test, rest train. */
static inline int du_make_set(const char *dir, const char *name, int n, int w, int h,
                              unsigned tasks, must_err *err)
{
    must_dataset_spec spec = {.name = name, .tasks = tasks, .depth_scale = 0.001f};
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        spec.task[k].nclasses = 3;
        spec.task[k].classes = du_classes;
        spec.task[k].source = MUST_SOURCE_SUPERVISED;
    }
    static const char *const seg_classes[] = {"background", "thing", "stuff"};
    spec.task[MUST_LABEL_SEGMENTATION].classes = seg_classes;
    spec.task[MUST_LABEL_DETECTION].source = MUST_SOURCE_PSEUDO;
    spec.task[MUST_LABEL_DETECTION].teacher = "teachers/detection.safetensors";
    spec.task[MUST_LABEL_DETECTION].threshold = "0.5";
    must_dataset_writer *wr;
    int rc = must_dataset_writer_new(dir, &spec, &wr, err);
    if (rc)
        return rc;
    for (int i = 0; i < n && rc == MUST_OK; i++) {
        must_image img = {0};
        must_labels l;
        char id[32];
        snprintf(id, sizeof id, "img%03d", i);
        rc = du_example(i, w, h, tasks, &img, &l, err);
        if (rc == MUST_OK)
            rc = must_dataset_writer_add(wr, id, i % 10 == 0 ? MUST_SPLIT_VAL
                                                 : i % 10 == 1 ? MUST_SPLIT_TEST
                                                               : MUST_SPLIT_TRAIN,
                                         &img, &l, err);
        must_image_free(&img);
        must_labels_free(&l);
    }
    if (rc) {
        must_dataset_writer_abort(wr);
        return rc;
    }
    return must_dataset_writer_commit(wr, err);
}

/* Writes text to dir/rel (replacing it). */
static inline void du_write(const char *dir, const char *rel, const char *text)
{
    char *p = must_path_join(dir, rel);
    FILE *fp = fopen(p, "wb");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    free(p);
}

/* Appends text to dir/rel. */
static inline void du_append(const char *dir, const char *rel, const char *text)
{
    char *p = must_path_join(dir, rel);
    FILE *fp = fopen(p, "ab");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    free(p);
}

/* Reads dir/rel into a malloc'd string (NULL if missing). */
static inline char *du_read(const char *dir, const char *rel)
{
    char *p = must_path_join(dir, rel), *buf = NULL;
    int rc = must_file_read(p, &buf, NULL, NULL);
    free(p);
    return rc == MUST_OK ? buf : NULL;
}

/* Replaces the first occurrence of `from` with `to` in dir/rel. */
static inline int du_replace(const char *dir, const char *rel, const char *from, const char *to)
{
    char *s = du_read(dir, rel);
    if (!s)
        return -1;
    char *at = strstr(s, from);
    if (!at) {
        free(s);
        return -1;
    }
    size_t a = (size_t)(at - s), nf = strlen(from), nt = strlen(to), ns = strlen(s);
    char *o = malloc(ns - nf + nt + 1);
    memcpy(o, s, a);
    memcpy(o + a, to, nt);
    memcpy(o + a + nt, at + nf, ns - a - nf + 1);
    du_write(dir, rel, o);
    free(o);
    free(s);
    return 0;
}

/* Truncates dir/rel to `keep` bytes. */
static inline void du_truncate(const char *dir, const char *rel, long keep)
{
    char *p = must_path_join(dir, rel), *buf = NULL;
    size_t len = 0;
    if (must_file_read(p, &buf, &len, NULL) == MUST_OK) {
        FILE *fp = fopen(p, "wb");
        if (fp) {
            fwrite(buf, 1, (size_t)keep < len ? (size_t)keep : len, fp);
            fclose(fp);
        }
        free(buf);
    }
    free(p);
}

#endif
