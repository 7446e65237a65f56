/* normal.c - the surface normal task plugin: the shared pixel head on P2
 * with three outputs, normalised to unit length per pixel; the cosine loss
 * (1 - <n, n*>) over valid pixels; pseudo labels are the predicted unit
 * vectors.  Metrics: the angular error in degrees over the valid pixels of
 * the whole dataset, pooled: mean, median, RMSE, and the % of pixels under
 * 11.25, 22.5 and 30 degrees.  The paper fine-tunes it downstream only,
 * but it supports every role.
 *
 * The prediction is the unit-vector tensor (N, 3, S, S) at the batch size. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"
#include "../common/plugin-util.h"
#include "../common/pixhead.h"

#define KIND MUST_LABEL_NORMAL
#define NORM_EPS 1e-6f
/* The median comes from a histogram of the errors over 0..180 degrees in
 * steps of 0.01 (bounded memory on any dataset; exact to +-0.005). */
#define HIST_STEP 0.01
#define HIST_BINS 18000

static const must_host *H;

typedef struct normal_config {
    int channels;
} normal_config;

static const must_task_option options[] = {
    {"channels", MUST_OPT_INT, offsetof(normal_config, channels), "64",
     "width of the head's three 3x3 convs", NULL, 1, 4096},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"mean_deg",    "median_deg", "rmse_deg",
                                      "within_11.25", "within_22.5", "within_30", NULL};
static const unsigned char lower_better[] = {1, 1, 1, 0, 0, 0};

/* The head is the pixel head alone (pixhead.h's callbacks serve it): the
 * one option, channels, is its width. */
static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const normal_config *c = config;
    return pixhead_cb_head_new(h, env, sizeof(pixhead), c->channels, 3, "normal", out, err);
}

/* Normalised after the resize, so that every output pixel is a unit
 * vector. */
static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    must_tensor *x = pixhead_cb_forward(head, ctx, levels, in_h, in_w);
    return H->l2normalize(ctx, x, NORM_EPS); // (N, 3, S, S)
}

static int check(const must_tensor *pred, const must_batch *b, must_err *err)
{
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->normal || !b->normal_valid)
        return H->err_set(err, MUST_EINVAL, "normal: the batch carries no normal labels");
    if (pred->ndim != 4 || pred->shape[1] != 3)
        return H->err_set(err, MUST_ESHAPE, "normal: prediction is not (N, 3, H, W)");
    return pixhead_check_batch(H, pred, b, "normal", err);
}

static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    (void)head;
    must_tensor *n = pred;
    must_err e = {0};
    if (check(n, b, &e)) {
        H->ctx_fail(ctx, e.code, "%s", e.msg);
        return NULL;
    }
    size_t hw = (size_t)b->size * b->size;
    float *m = H->ctx_alloc(ctx, (size_t)b->n * hw * sizeof *m);
    if (!m)
        return NULL;
    for (int i = 0; i < b->n; i++) {
        int on = plugin_counts(b, example_mask, i, KIND);
        for (size_t q = (size_t)i * hw; q < (size_t)(i + 1) * hw; q++)
            m[q] = on && b->normal_valid[q] ? 1.0f : 0.0f;
    }
    return H->cosine_loss(ctx, n, b->normal, m);
}

static int pseudo_label(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    (void)head;
    (void)b;
    must_tensor *n = pred;
    if (n->ndim != 4 || n->shape[1] != 3 || i >= n->shape[0])
        return H->err_set(err, MUST_ESHAPE, "normal: no example %d in the prediction", i);
    int h = n->shape[2], w = n->shape[3];
    int rc = H->map_alloc(&out->normal, 3, h, w, err);
    if (rc)
        return rc;
    memcpy(out->normal.data, n->data + (size_t)i * 3 * h * w, 3 * (size_t)h * w * sizeof(float));
    out->has |= MUST_LABEL_BIT(KIND);
    return MUST_OK;
}

typedef struct normal_eval {
    double n, sum, sq, within[3];
    uint64_t *hist; /* (HIST_BINS) */
} normal_eval;

static void *eval_begin(void *head, must_err *err)
{
    (void)head;
    normal_eval *e = calloc(1, sizeof *e);
    if (e && !(e->hist = calloc(HIST_BINS, sizeof *e->hist))) {
        free(e);
        e = NULL;
    }
    if (!e)
        H->err_set(err, MUST_ENOMEM, "normal: out of memory");
    return e;
}

static int eval_merge(void *into, const void *from, must_err *err)
{
    (void)err;
    normal_eval *a = into;
    const normal_eval *b = from;
    a->n += b->n;
    a->sum += b->sum;
    a->sq += b->sq;
    for (int i = 0; i < 3; i++)
        a->within[i] += b->within[i];
    for (int i = 0; i < HIST_BINS; i++)
        a->hist[i] += b->hist[i];
    return MUST_OK;
}

/* The angle between two vectors in degrees; the prediction is unit, the
 * target is normalised here (labels are unit within 16-bit rounding). */
static double angle_deg(const float *p, const float *t, size_t stride)
{
    double dot = 0, pp = 0, tt = 0;
    for (int c = 0; c < 3; c++) {
        double a = p[c * stride], b = t[c * stride];
        dot += a * b;
        pp += a * a;
        tt += b * b;
    }
    double cosv = pp > 0 && tt > 0 ? dot / sqrt(pp * tt) : -1.0;
    cosv = cosv > 1 ? 1 : cosv < -1 ? -1 : cosv;
    return acos(cosv) * (180.0 / M_PI);
}

static void add_angle(normal_eval *e, double a)
{
    e->n += 1;
    e->sum += a;
    e->sq += a * a;
    e->within[0] += a < 11.25;
    e->within[1] += a < 22.5;
    e->within[2] += a < 30.0;
    long bin = (long)(a / HIST_STEP);
    e->hist[bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin]++;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    normal_eval *e = state;
    must_tensor *n = pred;
    int rc = check(n, b, err);
    if (rc)
        return rc;
    size_t hw = (size_t)b->size * b->size;
    for (int i = 0; i < b->n; i++) {
        if (!plugin_counts(b, NULL, i, KIND))
            continue;
        const float *p = n->data + (size_t)i * 3 * hw, *t = b->normal + (size_t)i * 3 * hw;
        const uint8_t *v = b->normal_valid + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++)
            if (v[q])
                add_angle(e, angle_deg(p + q, t + q, hw));
    }
    return MUST_OK;
}

/* A label's vectors are scored as the prediction, over the pixels where both
 * it (not (0, 0, 0)) and the truth are valid. */
static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    normal_eval *e = state;
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->normal || !b->normal_valid)
        return H->err_set(err, MUST_EINVAL, "normal: the batch carries no normals");
    int S = b->size;
    size_t hw = (size_t)S * S;
    for (int i = 0; i < b->n; i++) {
        const must_labels *g = &guess[i];
        if (!plugin_counts(b, NULL, i, KIND) || !(g->has & MUST_LABEL_BIT(KIND)))
            continue;
        if (g->normal.channels != 3 || g->normal.height != S || g->normal.width != S)
            return H->err_set(err, MUST_ESHAPE, "normal: a label of %dx%d to score against a "
                                                "%dx%d batch", g->normal.width,
                              g->normal.height, S, S);
        const float *p = g->normal.data, *t = b->normal + (size_t)i * 3 * hw;
        const uint8_t *v = b->normal_valid + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++)
            if (v[q] && (p[q] != 0.0f || p[hw + q] != 0.0f || p[2 * hw + q] != 0.0f))
                add_angle(e, angle_deg(p + q, t + q, hw));
    }
    return MUST_OK;
}

/* The median as the centre of the histogram bin holding the middle error
 * (the mean of the two middle ones' bins for an even count). */
static double hist_median(const uint64_t *hist, double n)
{
    uint64_t total = (uint64_t)n, lo = (total - 1) / 2, hi = total / 2, seen = 0;
    double a = -1, b = -1;
    for (int k = 0; k < HIST_BINS && b < 0; k++) {
        uint64_t next = seen + hist[k];
        if (a < 0 && lo < next)
            a = (k + 0.5) * HIST_STEP;
        if (b < 0 && hi < next)
            b = (k + 0.5) * HIST_STEP;
        seen = next;
    }
    return 0.5 * (a + b);
}

static int eval_end(void *state, double *values, must_err *err)
{
    normal_eval *e = state;
    int rc = MUST_OK;
    if (e->n == 0) {
        rc = H->err_set(err, MUST_EINVAL, "normal: no valid pixel was evaluated");
    } else {
        values[0] = e->sum / e->n;
        values[1] = hist_median(e->hist, e->n);
        values[2] = sqrt(e->sq / e->n);
        for (int k = 0; k < 3; k++)
            values[3 + k] = 100.0 * e->within[k] / e->n;
    }
    free(e->hist);
    free(e);
    return rc;
}

/* The usual normal map colours, (n + 1) / 2 as RGB, over valid pixels. */
static int draw(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    (void)head;
    (void)b;
    int mw, mh;
    const float *m;
    if (pred) {
        const must_tensor *n = pred;
        mh = n->shape[2];
        mw = n->shape[3];
        m = n->data + (size_t)i * 3 * mh * mw;
    } else {
        if (!(label->has & MUST_LABEL_BIT(KIND)))
            return MUST_OK;
        mh = label->normal.height;
        mw = label->normal.width;
        m = label->normal.data;
    }
    if (mw <= 0 || mh <= 0)
        return H->err_set(err, MUST_EINVAL, "normal: empty map to draw");
    size_t hw = (size_t)mw * mh;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            size_t q = plugin_map_index(x, y, img->width, img->height, mw, mh);
            float v[3] = {m[q], m[hw + q], m[2 * hw + q]};
            if (v[0] == 0.0f && v[1] == 0.0f && v[2] == 0.0f)
                continue; /* invalid */
            unsigned char col[3];
            for (int c = 0; c < 3; c++) {
                float u = (v[c] + 1.0f) * 0.5f;
                col[c] = (unsigned char)(255.0f * (u < 0 ? 0 : u > 1 ? 1 : u) + 0.5f);
            }
            plugin_blend(img, x, y, col, 1.0f);
        }
    return MUST_OK;
}

MUST_TASK_PLUGIN(H,
                 .name = "normal",
                 .version = PACKAGE_VERSION,
                 .summary = "pixel head on P2 predicting unit surface normals; cosine loss "
                            "over valid pixels",
                 .label_kind = KIND,
                 .metrics = metrics,
                 .lower_better = lower_better,
                 .options = options,
                 .config_size = sizeof(normal_config),
                 .head_new = head_new,
                 .head_free = pixhead_cb_head_free,
                 .head_params = pixhead_cb_head_params,
                 .head_levels = pixhead_cb_head_levels,
                 .forward = forward,
                 .loss = loss,
                 .pseudo_label = pseudo_label,
                 .eval_begin = eval_begin,
                 .eval_merge = eval_merge,
                 .eval_add = eval_add,
                 .eval_end = eval_end,
                 .draw = draw,
                 .eval_add_labels = eval_add_labels);
