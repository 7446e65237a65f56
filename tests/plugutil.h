/* plugutil.h - helpers for the task plugins' tests: tasks on a made-up
 * feature description, hand-filled batches and predictions. */
#ifndef MUST_PLUGUTIL_H
#define MUST_PLUGUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "must/plugin.h"
#include "testutil.h"

/* A backbone that offers C5 (c5 channels, stride 32) and P2 (p2 channels,
 * stride 4). */
static inline must_feature_desc pu_features(int c5, int p2)
{
    must_feature_desc f;
    memset(&f, 0, sizeof f);
    if (c5) {
        f.present |= MUST_LEVEL_BIT(MUST_C5);
        f.channels[MUST_C5] = c5;
        f.stride[MUST_C5] = 32;
    }
    if (p2) {
        f.present |= MUST_LEVEL_BIT(MUST_P2);
        f.channels[MUST_P2] = p2;
        f.stride[MUST_P2] = 4;
    }
    return f;
}

/* Loads `plugin`, applies "key=value" options (NULL-terminated) and builds
 * its head for nclasses classes on f; fails the test on any error. */
static inline must_task *pu_task(const char *plugin, int nclasses, const must_feature_desc *f,
                                 const char *const *opts)
{
    must_err e = {0};
    must_task *t = NULL;
    ck_assert_msg(must_task_new(plugin, NULL, &t, &e) == MUST_OK, "%s", e.msg);
    for (int i = 0; opts && opts[i]; i++) {
        char key[64];
        const char *eq = strchr(opts[i], '=');
        ck_assert(eq && (size_t)(eq - opts[i]) < sizeof key);
        memcpy(key, opts[i], (size_t)(eq - opts[i]));
        key[eq - opts[i]] = '\0';
        ck_assert_msg(must_task_set(t, key, eq + 1, "test", &e) == MUST_OK, "%s", e.msg);
    }
    must_task_env env = {.features = f, .nclasses = nclasses, .image_size = 8, .seed = 7};
    ck_assert_msg(must_task_build(t, &env, &e) == MUST_OK, "%s", e.msg);
    return t;
}

/* A batch of n examples of size x size with every dense label array
 * allocated (segmentation 255, depth 0, normals invalid) and every example
 * carrying every kind; ncls classification classes (targets one-hot of
 * class 0). */
static inline must_batch *pu_batch_new(int n, int size, int ncls)
{
    must_batch *b = calloc(1, sizeof *b);
    size_t hw = (size_t)size * size;
    b->n = n;
    b->size = size;
    b->tasks = MUST_LABEL_ALL;
    b->ncls = ncls;
    b->has = calloc((size_t)n, sizeof *b->has);
    b->tf = calloc((size_t)n, sizeof *b->tf);
    b->cls = calloc((size_t)n, sizeof *b->cls);
    b->cls_soft = calloc((size_t)n * (ncls ? ncls : 1), sizeof *b->cls_soft);
    b->seg = malloc((size_t)n * hw * sizeof *b->seg);
    b->depth = calloc((size_t)n * hw, sizeof *b->depth);
    b->normal = calloc((size_t)n * 3 * hw, sizeof *b->normal);
    b->normal_valid = calloc((size_t)n * hw, 1);
    for (int i = 0; i < n; i++) {
        b->has[i] = MUST_LABEL_ALL;
        b->tf[i] = (must_aug_tf){0.0f, 0.0f, 1.0f, size, size, 0};
        if (ncls)
            b->cls_soft[(size_t)i * ncls] = 1.0f;
    }
    for (size_t q = 0; q < (size_t)n * hw; q++)
        b->seg[q] = MUST_SEG_IGNORE;
    return b;
}

/* Sets example i's hard class (and its one-hot row). */
static inline void pu_batch_cls(must_batch *b, int i, int cls)
{
    b->cls[i] = cls;
    for (int k = 0; k < b->ncls; k++)
        b->cls_soft[(size_t)i * b->ncls + k] = k == cls ? 1.0f : 0.0f;
}

/* Sets example i's normal at pixel q (and marks it valid). */
static inline void pu_batch_normal(must_batch *b, int i, size_t q, float x, float y, float z)
{
    size_t hw = (size_t)b->size * b->size;
    b->normal[(size_t)i * 3 * hw + q] = x;
    b->normal[(size_t)i * 3 * hw + hw + q] = y;
    b->normal[(size_t)i * 3 * hw + 2 * hw + q] = z;
    b->normal_valid[(size_t)i * hw + q] = 1;
}

static inline void pu_batch_free(must_batch *b)
{
    if (!b)
        return;
    free(b->has);
    free(b->tf);
    free(b->cls);
    free(b->cls_soft);
    free(b->seg);
    free(b->depth);
    free(b->normal);
    free(b->normal_valid);
    free(b);
}

/* A tensor of the given shape filled from v (n values). */
static inline must_tensor *pu_tensor(must_ctx *ctx, int n, int c, int h, int w, const float *v)
{
    must_tensor *t = must_tensor_new4(ctx, n, c, h, w);
    ck_assert_ptr_nonnull(t);
    memcpy(t->data, v, t->numel * sizeof(float));
    return t;
}

/* Runs a whole evaluation over one batch with a given prediction. */
static inline int pu_eval1(must_task *t, void *pred, const must_batch *b, double *values,
                           must_err *e)
{
    must_task_eval *ev;
    int rc = must_task_eval_begin(t, &ev, e);
    if (rc)
        return rc;
    rc = must_task_eval_add(ev, pred, b, e);
    int rc2 = must_task_eval_end(ev, values, rc ? NULL : e);
    return rc ? rc : rc2;
}

#define ck_assert_msg_has(msg, s) \
    ck_assert_msg(strstr((msg), (s)) != NULL, "'%s' not in '%s'", (s), (msg))

#endif
