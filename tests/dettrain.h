/* dettrain.h - a synthetic detection set of coloured rectangles, and a small
 * trainer for the detection plugin (a backbone, the plugin's head, SGD,
 * VOC/COCO evaluation), shared by the test suite and tests/det_train.c.
 * The plugin's files are compiled in and given the loader's host table, so
 * that the trainer can read the head's timers; the tests load the built
 * plugin through the loader as well. */
#ifndef MUST_DETTRAIN_H
#define MUST_DETTRAIN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "det-impl.h"
#include "base/conf-impl.h"
#include "task/plugin-impl.h"
#include "must/dataset.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/plugin.h"

static const char *const dt_classes[3] = {"red", "green", "blue"};

/* Image i: a smooth random background with 0-3 rectangles (one image in
 * eight empty) of three classes told apart by their hue, 10-60% of the image
 * side, overlapping one another by IoU 0.3 at most. */
static inline int dt_rect_image(uint64_t seed, int i, int S, must_image *img, must_labels *l,
                                must_err *err)
{
    must_rng r;
    must_rng_seed(&r, seed * 1000003u + (uint64_t)i);
    int rc = must_image_alloc(img, S, S, 3, 8, err);
    if (rc)
        return rc;
    must_labels_init(l);
    l->has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    float bg[2][3];
    for (int k = 0; k < 6; k++)
        bg[k / 3][k % 3] = 40.0f + 140.0f * must_rng_uniform(&r);
    uint8_t *p = img->pixels;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) {
                float t = (float)(x + y) / (float)(2 * S);
                float v = bg[0][c] * (1 - t) + bg[1][c] * t + 30.0f * (must_rng_uniform(&r) - 0.5f);
                p[3 * (y * S + x) + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    int n = must_rng_uniform(&r) < 0.125f ? 0 : 1 + (int)must_rng_below(&r, 3);
    for (int k = 0, tries = 0; k < n && tries < 50; tries++) {
        float side = S * (0.1f + 0.5f * must_rng_uniform(&r));
        float ar = exp2f(2.0f * must_rng_uniform(&r) - 1.0f);
        float w = side / sqrtf(ar), h = side * sqrtf(ar);
        w = w > S - 2 ? S - 2 : w;
        h = h > S - 2 ? S - 2 : h;
        float x0 = floorf(must_rng_uniform(&r) * (S - w)), y0 = floorf(must_rng_uniform(&r) * (S - h));
        must_box b = {x0, y0, floorf(x0 + w), floorf(y0 + h), (int)must_rng_below(&r, 3), 1.0f, 0};
        float bb[4] = {b.x0, b.y0, b.x1, b.y1};
        int clash = 0;
        for (int q = 0; q < l->boxes.n; q++) {
            float o[4] = {l->boxes.v[q].x0, l->boxes.v[q].y0, l->boxes.v[q].x1, l->boxes.v[q].y1};
            clash |= det_iou(bb, o) > 0.3f;
        }
        if (clash || b.x1 - b.x0 < 4 || b.y1 - b.y0 < 4)
            continue;
        /* A saturated hue of the class, jittered, with a darker border. */
        float col[3] = {60, 60, 60};
        col[b.cls] = 200.0f + 55.0f * must_rng_uniform(&r);
        col[(b.cls + 1) % 3] += 60.0f * must_rng_uniform(&r);
        for (int y = (int)b.y0; y < (int)b.y1; y++)
            for (int x = (int)b.x0; x < (int)b.x1; x++) {
                int edge = x == (int)b.x0 || y == (int)b.y0 || x == (int)b.x1 - 1 || y == (int)b.y1 - 1;
                for (int c = 0; c < 3; c++)
                    p[3 * (y * S + x) + c] = (uint8_t)(edge ? col[c] * 0.5f : col[c]);
            }
        if ((rc = must_boxes_push(&l->boxes, &b, err)))
            return rc;
        k++;
    }
    return MUST_OK;
}

/* Writes ntrain + nval such images into dir (which must not hold a set). */
static inline int dt_make_rects(const char *dir, int ntrain, int nval, int S, uint64_t seed,
                                must_err *err)
{
    must_dataset_spec spec = {.name = "rects", .tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_DETECTION] = (must_task_spec){
        .nclasses = 3, .classes = dt_classes, .source = MUST_SOURCE_SUPERVISED};
    must_dataset_writer *w;
    int rc = must_dataset_writer_new(dir, &spec, &w, err);
    if (rc)
        return rc;
    for (int i = 0; i < ntrain + nval && !rc; i++) {
        must_image img = {0};
        must_labels l;
        char id[32];
        snprintf(id, sizeof id, "r%05d", i);
        rc = dt_rect_image(seed, i, S, &img, &l, err);
        if (!rc)
            rc = must_dataset_writer_add(w, id, i < ntrain ? MUST_SPLIT_TRAIN : MUST_SPLIT_VAL, &img,
                                         &l, err);
        must_image_free(&img);
        must_labels_free(&l);
    }
    if (rc) {
        must_dataset_writer_abort(w);
        return rc;
    }
    return must_dataset_writer_commit(w, err);
}

/* ---- a small trainer ------------------------------------------------------ */

typedef struct dt_opts {
    int size, batch, steps, threads, workers;
    double lr;
    int warmup;
    uint64_t seed;
    must_backbone_config bb;
    /* Options of the head over the defaults, as "key=value" strings. */
    const char *set[16];
    int eval_at[8];       /* also evaluate after these steps (ascending, 0 ends the list) */
    /* Also train the classification, segmentation and depth plugins (loaded
     * by name) on the same backbone, against fixed random labels: the
     * multi-task step whose speed the issue asks about. */
    int with_heads;
    /* Called after training with the trained model, before it is freed. */
    int (*after)(void *user, const must_task_ops *ops, void *head, must_backbone *bb,
                 must_dataset *ds, must_err *err);
    void *after_user;
    int progress;         /* print the loss every this many steps on stderr (0: never) */
    int no_eval;          /* skip the final evaluation (timing runs) */
} dt_opts;

typedef struct dt_result {
    double loss_first, loss_last;
    double ap50, ap, ap75;
    double step_s;        /* median seconds per training step */
    det_timers timers;    /* summed over the timed steps */
    double train_s;       /* wall time of all steps */
    double cpu_s;         /* CPU time of all steps, every thread (survives a busy machine) */
    int nonfinite;        /* a loss or gradient was NaN or Inf */
    int nevals;
    double ap50_at[8];    /* AP50 after each of o->eval_at */
} dt_result;

/* The reference-size backbone for tests: ResNet-18 at a quarter width, no
 * stem pool (P3 at stride 4, so 64-pixel images have a 16x16 P3), FPN 32. */
static inline void dt_opts_default(dt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = 64;
    o->batch = 8;
    o->steps = 100;
    o->threads = 0;
    o->lr = 0.02;
    o->warmup = 20;
    o->seed = 1;
    must_backbone_config_default(&o->bb);
    o->bb.depth = 18;
    o->bb.width = 0.25f;
    o->bb.stem_pool = 0;
    o->bb.fpn_channels = 32;
}

/* Sets "key=value" in a config through the loader's option parser. */
static inline int dt_config_set(const must_task_ops *ops, void *cfg, const char *kv, must_err *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return must_err_set(err, MUST_EINVAL, "'%s' is not key=value", kv);
    for (const must_task_option *o = ops->options; o->name; o++) {
        if (strlen(o->name) != (size_t)(eq - kv) || strncmp(o->name, kv, (size_t)(eq - kv)))
            continue;
        char why[256];
        if (must_conf_parse(o, eq + 1, cfg, why, sizeof why))
            return must_err_set(err, MUST_EINVAL, "%s: %s", o->name, why);
        return MUST_OK;
    }
    return must_err_set(err, MUST_ENOTFOUND, "no option '%.*s'", (int)(eq - kv), kv);
}

static inline double dt_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int dt_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The batch's images as a (B, 3, S, S) tensor in ctx. */
static inline must_tensor *dt_images(must_ctx *ctx, const must_batch *b)
{
    must_tensor *x = must_tensor_new4(ctx, b->n, 3, b->size, b->size);
    if (x)
        memcpy(x->data, b->images, x->numel * sizeof(float));
    return x;
}

/* One pass over the validation split in file order, fitted, not augmented. */
static inline int dt_val_loader(must_dataset *ds, int size, int batch, must_loader **L,
                                must_err *err)
{
    must_loader_opts lo;
    must_loader_defaults(&lo);
    lo.size = size;
    lo.batch = batch;
    lo.workers = 0;
    lo.split = MUST_SPLIT_VAL;
    lo.augment = 0;
    lo.epochs = 1;
    lo.drop_last = 0;
    lo.sampler.shuffle = 0;
    return must_loader_new(&ds, 1, &lo, L, err);
}

/* Evaluates on the validation split: AP50, AP, AP75 into v[3]. */
static inline int dt_evaluate(const must_task_ops *ops, void *head, must_backbone *bb,
                              must_dataset *ds, const dt_opts *o, double *v, must_err *err)
{
    must_loader *L;
    int rc = dt_val_loader(ds, o->size, o->batch, &L, err);
    if (rc)
        return rc;
    must_ctx *ctx = must_ctx_new(o->threads);
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    void *st = ops->eval_begin(head, err);
    const must_batch *b;
    unsigned want = ops->head_levels(head);
    while (st && (rc = must_loader_next(L, &b, err)) == 1) {
        must_ctx_reset(ctx);
        must_tensor *lv[MUST_NLEVELS];
        rc = must_backbone_forward(bb, ctx, dt_images(ctx, b), want, lv);
        void *pred = rc ? NULL : ops->forward(head, ctx, lv, b->size, b->size);
        if (!pred) {
            rc = must_err_set(err, must_ctx_error(ctx)->code, "%s", must_ctx_error(ctx)->msg);
            break;
        }
        if ((rc = ops->eval_add(st, pred, b, err)))
            break;
    }
    if (!st)
        rc = err->code;
    else if (rc == 0)
        rc = ops->eval_end(st, v, err);
    must_ctx_free(ctx);
    must_loader_free(L);
    return rc;
}

/* The other tasks' heads, and the random labels they train against. */
typedef struct dt_others {
    must_task *t[3];
    int32_t *cls, *seg;
    float *soft, *depth;
} dt_others;

static inline void dt_others_free(dt_others *x)
{
    for (int k = 0; k < 3; k++)
        must_task_free(x->t[k]);
    free(x->cls);
    free(x->seg);
    free(x->soft);
    free(x->depth);
    memset(x, 0, sizeof *x);
}

static inline int dt_others_new(dt_others *x, const must_feature_desc *fd, const dt_opts *o,
                                must_err *err)
{
    static const char *const names[3] = {"classification", "segmentation", "depth"};
    static const int ncls[3] = {10, 10, 0};
    memset(x, 0, sizeof *x);
    for (int k = 0; k < 3; k++) {
        must_task_env env = {.features = fd, .nclasses = ncls[k], .image_size = o->size,
                             .seed = o->seed + 1 + (uint64_t)k};
        int rc = must_task_new(names[k], NULL, &x->t[k], err);
        if (!rc)
            rc = must_task_build(x->t[k], &env, err);
        if (rc) {
            dt_others_free(x);
            return rc;
        }
    }
    size_t B = (size_t)o->batch, px = B * o->size * o->size;
    x->cls = malloc(B * sizeof *x->cls);
    x->soft = calloc(B * 10, sizeof *x->soft);
    x->seg = malloc(px * sizeof *x->seg);
    x->depth = malloc(px * sizeof *x->depth);
    if (!x->cls || !x->soft || !x->seg || !x->depth) {
        dt_others_free(x);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    must_rng r;
    must_rng_seed(&r, o->seed);
    for (size_t i = 0; i < B; i++) {
        x->cls[i] = (int32_t)must_rng_below(&r, 10);
        x->soft[i * 10 + (size_t)x->cls[i]] = 1.0f;
    }
    for (size_t q = 0; q < px; q++) {
        x->seg[q] = (int32_t)must_rng_below(&r, 10);
        x->depth[q] = 0.5f + 4.0f * must_rng_uniform(&r);
    }
    return MUST_OK;
}

static inline unsigned dt_others_levels(const dt_others *x)
{
    unsigned m = 0;
    for (int k = 0; k < 3; k++)
        m |= x->t[k] ? must_task_levels(x->t[k]) : 0;
    return m;
}

/* Adds the other heads' losses to loss, on a copy of the batch that carries
 * their random labels. */
static inline must_tensor *dt_others_loss(dt_others *x, must_ctx *ctx, must_tensor *loss,
                                          must_tensor *const lv[MUST_NLEVELS],
                                          const must_batch *b)
{
    if (!x->t[0])
        return loss;
    must_batch c = *b;
    unsigned has[64];
    for (int i = 0; i < c.n && i < 64; i++)
        has[i] = MUST_LABEL_ALL;
    c.tasks = MUST_LABEL_ALL;
    c.has = has;
    c.ncls = 10;
    c.cls = x->cls;
    c.cls_soft = x->soft;
    c.seg = x->seg;
    c.depth = x->depth;
    for (int k = 0; k < 3 && loss; k++)
        loss = must_op_add(ctx, loss,
                           must_task_loss(x->t[k], ctx,
                                          must_task_forward(x->t[k], ctx, lv, c.size, c.size),
                                          &c, NULL));
    return loss;
}

static inline int dt_train(const char *dir, const dt_opts *o, dt_result *res, must_err *err)
{
    memset(res, 0, sizeof *res);
    const must_task_ops *ops = must_task_init(must_host_table(), err);
    if (!ops)
        return err->code;
    must_dataset *ds = NULL;
    int rc = must_dataset_open(dir, &ds, err);
    if (rc)
        return rc;
    must_backbone *bb = must_backbone_new(&o->bb, err);
    if (!bb) {
        must_dataset_close(ds);
        return err->code;
    }
    must_feature_desc fd;
    must_backbone_features(bb, &fd);
    det_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if ((rc = must_conf_defaults(ops->options, &cfg, NULL, err)))
        goto out0;
    for (int k = 0; k < 16 && o->set[k]; k++)
        if ((rc = dt_config_set(ops, &cfg, o->set[k], err)))
            goto out0;
    int K = must_dataset_nclasses(ds, MUST_LABEL_DETECTION);
    const char *names[256];
    if (K < 1 || K > 256) {
        rc = must_err_set(err, MUST_EINVAL, "%s: %d detection classes (1..256 here)", dir, K);
        goto out0;
    }
    for (int k = 0; k < K; k++)
        names[k] = must_dataset_class_name(ds, MUST_LABEL_DETECTION, k);
    must_task_env env = {&fd, K, names, o->size, o->seed, "detection.", MUST_LABEL_DETECTION};
    void *head = NULL;
    if ((rc = ops->head_new(must_host_table(), &cfg, &env, &head, err)))
        goto out0;
    dt_others others = {0};
    must_optim *opt = NULL;
    must_loader *L = NULL;
    if (o->with_heads && (rc = dt_others_new(&others, &fd, o, err)))
        goto out1;
    must_params *sets[5] = {must_backbone_params(bb), ops->head_params(head)};
    int nsets = 2;
    for (int k = 0; k < 3 && others.t[k]; k++)
        sets[nsets++] = must_task_params(others.t[k]);
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = o->lr;
    oc.momentum = 0.9;
    oc.weight_decay = 1e-4;
    oc.warmup_steps = o->warmup;
    oc.warmup_start = 0.01;
    oc.clip_norm = 10.0;
    oc.threads = o->threads;
    opt = must_optim_new(&oc, sets, nsets, err);
    must_loader_opts lo;
    must_loader_defaults(&lo);
    lo.size = o->size;
    lo.batch = o->batch;
    lo.workers = o->workers;
    lo.split = MUST_SPLIT_TRAIN;
    lo.sampler.seed = o->seed;
    lo.aug.scale_min = 0.9f;
    lo.aug.scale_max = 1.1f;
    if (!opt || (rc = must_loader_new(&ds, 1, &lo, &L, err))) {
        rc = rc ? rc : err->code;
        goto out1;
    }
    must_ctx *ctx = must_ctx_new(o->threads);
    double *times = calloc((size_t)o->steps + 1, sizeof *times);
    unsigned want = ops->head_levels(head) | dt_others_levels(&others);
    det_head *dh = head;
    double t_all = det_now(), c_all = dt_cpu();
    for (int step = 0; step < o->steps; step++) {
        const must_batch *b;
        if ((rc = must_loader_next(L, &b, err)) != 1) {
            rc = rc ? rc : must_err_set(err, MUST_EINVAL, "the loader ran dry");
            break;
        }
        rc = MUST_OK;
        if (step == 1)
            memset(&dh->timers, 0, sizeof dh->timers); /* the first step builds the anchors */
        double t0 = det_now();
        must_ctx_reset(ctx);
        for (int k = 0; k < nsets; k++)
            must_params_zero_grad(sets[k]);
        must_tensor *lv[MUST_NLEVELS], *loss = NULL;
        if (must_backbone_forward(bb, ctx, dt_images(ctx, b), want, lv) == MUST_OK)
            loss = dt_others_loss(&others, ctx,
                                  ops->loss(head, ctx, ops->forward(head, ctx, lv, b->size, b->size),
                                            b, NULL),
                                  lv, b);
        if (!loss || must_backward(ctx, loss)) {
            rc = must_err_set(err, must_ctx_error(ctx)->code, "step %d: %s", step,
                              must_ctx_error(ctx)->msg);
            break;
        }
        double lval = loss->data[0];
        if (!isfinite(lval))
            res->nonfinite = 1;
        if (step == 0)
            res->loss_first = lval;
        res->loss_last = lval;
        if ((rc = must_optim_step(opt, NULL, err))) {
            res->nonfinite = 1;
            break;
        }
        times[step] = det_now() - t0;
        if (o->progress && (step + 1) % o->progress == 0)
            fprintf(stderr, "step %d loss %.4f (%.3f s)\n", step + 1, lval, times[step]);
        if (res->nevals < 8 && o->eval_at[res->nevals] == step + 1) {
            /* Evaluation's time counts neither in the steps nor in their timers. */
            double v[3], te = det_now(), ce = dt_cpu();
            det_timers keep = dh->timers;
            if ((rc = dt_evaluate(ops, head, bb, ds, o, v, err)))
                break;
            res->ap50_at[res->nevals++] = v[0];
            if (o->progress)
                fprintf(stderr, "step %d AP50 %.4f AP %.4f\n", step + 1, v[0], v[1]);
            dh->timers = keep;
            t_all += det_now() - te;
            c_all += dt_cpu() - ce;
        }
    }
    res->train_s = det_now() - t_all;
    res->cpu_s = dt_cpu() - c_all;
    res->timers = dh->timers;
    if (o->steps > 1) {
        qsort(times + 1, (size_t)o->steps - 1, sizeof *times, dt_cmp_double);
        res->step_s = times[1 + (o->steps - 1) / 2];
    }
    free(times);
    must_ctx_free(ctx);
    if (!rc && !o->no_eval) {
        double v[3];
        if (!(rc = dt_evaluate(ops, head, bb, ds, o, v, err)))
            res->ap50 = v[0], res->ap = v[1], res->ap75 = v[2];
    }
    if (!rc && o->after)
        rc = o->after(o->after_user, ops, head, bb, ds, err);
out1:
    dt_others_free(&others);
    must_loader_free(L);
    must_optim_free(opt);
    ops->head_free(head);
out0:
    must_backbone_free(bb);
    must_dataset_close(ds);
    return rc;
}

#endif
