/* depth.c - the monocular depth task plugin: the shared pixel head on P2
 * with one output, the log of the depth in metres.  Two losses, chosen by
 * the `loss` option:
 *   l1log  L1 between the predicted and the true log depth;
 *   ssi    scale-and-shift-invariant (MiDaS): per image, the prediction is
 *          first aligned to the target by least squares, s z + b ~ log g,
 *          over its valid pixels, and the loss is the L1 of what is left.
 *          The alignment is part of the graph: the gradient flows through
 *          s and b too.  A head trained so predicts depth up to a scale and
 *          a power; evaluation then aligns each image the same way first,
 *          as MiDaS's zero-shot protocol does.
 * Pseudo labels are the prediction as metres, exp(z) (the paper's §3.1:
 * depth "as is").  Metrics over the valid pixels (ground truth > 0) of the
 * whole dataset, pooled, with d the predicted and g the true depth:
 * delta1..3 (% of pixels with max(d / g, g / d) below 1.25^k), AbsRel (mean
 * |d - g| / g), RMSE (metres) and log10 (mean |log10 d - log10 g|).
 *
 * The prediction is the log-depth tensor (N, 1, S, S) at the batch size. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"
#include "../common/plugin-util.h"
#include "../common/pixhead.h"

#define KIND MUST_LABEL_DEPTH
/* exp() of the prediction is clamped to e^-10..e^10 metres (45 um to
 * 22 km): a wild early prediction must not become inf in a label file. */
#define ZMAX 10.0

enum { LOSS_L1LOG = 0, LOSS_SSI = 1 };

static const must_host *H;

typedef struct depth_config {
    int channels;
    int loss;
} depth_config;

static const must_task_option options[] = {
    {"channels", MUST_OPT_INT, offsetof(depth_config, channels), "64",
     "width of the head's three 3x3 convs", NULL, 1, 4096},
    {"loss", MUST_OPT_CHOICE, offsetof(depth_config, loss), "l1log",
     "l1log: L1 on log depth; ssi: scale-and-shift-invariant after per-image alignment",
     "l1log|ssi", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"delta1", "delta2", "delta3", "absrel", "rmse", "log10",
                                      NULL};
static const unsigned char lower_better[] = {0, 0, 0, 1, 1, 1};

/* The pixel head first, so that pixhead.h's callbacks serve it. */
typedef struct depth_head {
    pixhead ph;
    depth_config cfg;
} depth_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const depth_config *c = config;
    int rc = pixhead_cb_head_new(h, env, sizeof(depth_head), c->channels, 1, "depth", out, err);
    if (rc == MUST_OK)
        memcpy(&((depth_head *)*out)->cfg, c, sizeof *c);
    return rc;
}

static int check(const must_tensor *pred, const must_batch *b, must_err *err)
{
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->depth)
        return H->err_set(err, MUST_EINVAL, "depth: the batch carries no depth labels");
    if (pred->ndim != 4 || pred->shape[1] != 1)
        return H->err_set(err, MUST_ESHAPE, "depth: prediction is not (N, 1, H, W)");
    return pixhead_check_batch(H, pred, b, "depth", err);
}

/* ---- the scale-and-shift-invariant loss as an op ------------------------
 * Per image i with valid weights w (0/1), the least-squares alignment
 * solves A [s; b] = c with A = [[Σw z² + ridge, Σw z], [Σw z, Σw]] and
 * c = [Σw z t; Σw t]; the loss is Σ w |s z + b - t| / Σ_all w.  With
 * g_p = dL/dr_p = w_p sign(r_p) / W and u = A^-1 [Σ g z; Σ g], the chain
 * rule through (s, b) gives
 *     dL/dz_q = s g_q + w_q (u0 (t_q - 2 s z_q - b) - u1 s).
 * The ridge (1e-6 Σw on A's first entry, a constant) keeps A invertible
 * when a prediction is flat, and the formula holds with it. */

typedef struct ssi_saved {
    int n;
    size_t hw;
    double wsum;
    float *t, *w;        /* (N * HW) targets (log depth) and weights */
    double *sys;         /* (N, 5): a00, a01, a11, s, b */
} ssi_saved;

static void ssi_solve(const float *z, const float *t, const float *w, size_t hw, double *sys)
{
    double a00 = 0, a01 = 0, a11 = 0, c0 = 0, c1 = 0;
    for (size_t q = 0; q < hw; q++) {
        double wq = w[q], zq = z[q];
        a00 += wq * zq * zq;
        a01 += wq * zq;
        a11 += wq;
        c0 += wq * zq * t[q];
        c1 += wq * t[q];
    }
    a00 += 1e-6 * a11;
    double det = a00 * a11 - a01 * a01;
    sys[0] = a00;
    sys[1] = a01;
    sys[2] = a11;
    sys[3] = a11 > 0 ? (a11 * c0 - a01 * c1) / det : 0.0;
    sys[4] = a11 > 0 ? (a00 * c1 - a01 * c0) / det : 0.0;
}

static void ssi_bw(must_ctx *ctx, must_node *nd)
{
    (void)ctx;
    must_tensor *z = nd->in[0];
    const ssi_saved *sv = nd->saved;
    if (!z->grad || sv->wsum == 0.0)
        return;
    double gout = nd->out->grad[0] / sv->wsum;
    for (int i = 0; i < sv->n; i++) {
        const double *y = sv->sys + 5 * (size_t)i;
        if (y[2] == 0.0)
            continue;
        const float *zi = z->data + (size_t)i * sv->hw, *t = sv->t + (size_t)i * sv->hw,
                    *w = sv->w + (size_t)i * sv->hw;
        float *gz = z->grad + (size_t)i * sv->hw;
        double s = y[3], b = y[4], gzs = 0.0, g1 = 0.0;
        for (size_t q = 0; q < sv->hw; q++) {
            double r = s * zi[q] + b - t[q];
            double g = w[q] * gout * ((r > 0) - (r < 0));
            gzs += g * zi[q];
            g1 += g;
        }
        double det = y[0] * y[2] - y[1] * y[1];
        double u0 = (y[2] * gzs - y[1] * g1) / det, u1 = (y[0] * g1 - y[1] * gzs) / det;
        for (size_t q = 0; q < sv->hw; q++) {
            if (w[q] == 0.0f)
                continue;
            double r = s * zi[q] + b - t[q];
            double g = w[q] * gout * ((r > 0) - (r < 0));
            gz[q] += (float)(s * g + w[q] * (u0 * (t[q] - 2.0 * s * zi[q] - b) - u1 * s));
        }
    }
}

static must_tensor *ssi_loss(must_ctx *ctx, must_tensor *z, float *t, float *w)
{
    int n = z->shape[0];
    size_t hw = z->numel / (size_t)n;
    ssi_saved *sv = H->ctx_alloc(ctx, sizeof *sv);
    double *sys = H->ctx_alloc(ctx, 5 * (size_t)n * sizeof *sys);
    int one[1] = {1};
    must_tensor *out = H->tensor_new(ctx, 1, one);
    if (!sv || !sys || !out)
        return NULL;
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z->data + (size_t)i * hw, *ti = t + (size_t)i * hw,
                    *wi = w + (size_t)i * hw;
        double *y = sys + 5 * (size_t)i;
        ssi_solve(zi, ti, wi, hw, y);
        for (size_t q = 0; q < hw; q++) {
            sum += wi[q] * fabs(y[3] * zi[q] + y[4] - ti[q]);
            wsum += wi[q];
        }
    }
    out->data[0] = wsum > 0 ? (float)(sum / wsum) : 0.0f;
    *sv = (ssi_saved){.n = n, .hw = hw, .wsum = wsum, .t = t, .w = w, .sys = sys};
    must_node *nd = H->tape_record(ctx, "depth_ssi_loss", ssi_bw, out, 1, &z);
    if (nd)
        nd->saved = sv;
    return out;
}

static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    depth_head *d = head;
    must_tensor *z = pred; // (N, 1, S, S) log depth
    must_err e = {0};
    if (check(z, b, &e)) {
        H->ctx_fail(ctx, e.code, "%s", e.msg);
        return NULL;
    }
    size_t hw = (size_t)b->size * b->size, n = (size_t)b->n * hw;
    float *t = H->ctx_alloc(ctx, n * sizeof *t), *w = H->ctx_alloc(ctx, n * sizeof *w);
    if (!t || !w)
        return NULL;
    for (int i = 0; i < b->n; i++) {
        int on = plugin_counts(b, example_mask, i, KIND);
        for (size_t q = (size_t)i * hw; q < (size_t)(i + 1) * hw; q++) {
            float dv = b->depth[q];
            int valid = on && dv > 0.0f && isfinite(dv);
            t[q] = valid ? logf(dv) : 0.0f;
            w[q] = valid ? 1.0f : 0.0f;
        }
    }
    if (d->cfg.loss == LOSS_SSI)
        return ssi_loss(ctx, z, t, w);
    return H->l1(ctx, z, t, w);
}

static double clampz(double z)
{
    return z < -ZMAX ? -ZMAX : z > ZMAX ? ZMAX : z;
}

static int pseudo_label(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    (void)head;
    (void)b;
    must_tensor *z = pred;
    if (z->ndim != 4 || z->shape[1] != 1 || i >= z->shape[0])
        return H->err_set(err, MUST_ESHAPE, "depth: no example %d in the prediction", i);
    int h = z->shape[2], w = z->shape[3];
    int rc = H->map_alloc(&out->depth, 1, h, w, err);
    if (rc)
        return rc;
    const float *zi = z->data + (size_t)i * h * w;
    for (size_t q = 0; q < (size_t)h * w; q++)
        out->depth.data[q] = (float)exp(clampz(zi[q]));
    out->has |= MUST_LABEL_BIT(KIND);
    return MUST_OK;
}

typedef struct depth_eval {
    depth_head *d;
    double n, within[3], absrel, sq, log10;
} depth_eval;

static void *eval_begin(void *head, must_err *err)
{
    depth_eval *e = calloc(1, sizeof *e);
    if (!e)
        H->err_set(err, MUST_ENOMEM, "depth: out of memory");
    else
        e->d = head;
    return e;
}

static int eval_merge(void *into, const void *from, must_err *err)
{
    (void)err;
    depth_eval *a = into;
    const depth_eval *b = from;
    a->n += b->n;
    for (int i = 0; i < 3; i++)
        a->within[i] += b->within[i];
    a->absrel += b->absrel;
    a->sq += b->sq;
    a->log10 += b->log10;
    return MUST_OK;
}

/* Adds one image: truth gt, log-depth prediction zi, the pixels to count
 * in w (0/1); t is room for hw floats.  With the ssi loss the prediction is
 * aligned to the truth first, as the loss aligns it. */
static void score_image(depth_eval *e, const float *gt, const float *zi, float *t,
                        const float *w, size_t hw)
{
    for (size_t q = 0; q < hw; q++)
        t[q] = w[q] != 0.0f ? logf(gt[q]) : 0.0f;
    double y[5] = {0, 0, 0, 1, 0};
    if (e->d->cfg.loss == LOSS_SSI)
        ssi_solve(zi, t, w, hw, y);
    for (size_t q = 0; q < hw; q++) {
        if (w[q] == 0.0f)
            continue;
        double ds = gt[q], dp = exp(clampz(y[3] * zi[q] + y[4]));
        double ratio = dp > ds ? dp / ds : ds / dp;
        e->n += 1;
        e->within[0] += ratio < 1.25;
        e->within[1] += ratio < 1.25 * 1.25;
        e->within[2] += ratio < 1.25 * 1.25 * 1.25;
        e->absrel += fabs(dp - ds) / ds;
        e->sq += (dp - ds) * (dp - ds);
        e->log10 += fabs(log10(dp) - log10(ds));
    }
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    depth_eval *e = state;
    must_tensor *z = pred;
    int rc = check(z, b, err);
    if (rc)
        return rc;
    size_t hw = (size_t)b->size * b->size;
    float *t = malloc(2 * hw * sizeof *t);
    if (!t)
        return H->err_set(err, MUST_ENOMEM, "depth: out of memory");
    float *w = t + hw;
    for (int i = 0; i < b->n; i++) {
        if (!plugin_counts(b, NULL, i, KIND))
            continue;
        const float *gt = b->depth + (size_t)i * hw, *zi = z->data + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++)
            w[q] = gt[q] > 0.0f && isfinite(gt[q]);
        score_image(e, gt, zi, t, w, hw);
    }
    free(t);
    return MUST_OK;
}

/* A label in metres is scored as the log-depth prediction log(d), over the
 * pixels where both it and the truth have depth. */
static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    depth_eval *e = state;
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->depth)
        return H->err_set(err, MUST_EINVAL, "depth: the batch carries no depth labels");
    int S = b->size;
    size_t hw = (size_t)S * S;
    float *t = malloc(3 * hw * sizeof *t);
    if (!t)
        return H->err_set(err, MUST_ENOMEM, "depth: out of memory");
    float *w = t + hw, *z = t + 2 * hw;
    int rc = MUST_OK;
    for (int i = 0; i < b->n; i++) {
        const must_labels *g = &guess[i];
        if (!plugin_counts(b, NULL, i, KIND) || !(g->has & MUST_LABEL_BIT(KIND)))
            continue;
        if (g->depth.channels != 1 || g->depth.height != S || g->depth.width != S) {
            rc = H->err_set(err, MUST_ESHAPE, "depth: a label of %dx%d to score against a "
                                              "%dx%d batch", g->depth.width, g->depth.height,
                            S, S);
            break;
        }
        const float *gt = b->depth + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++) {
            float d = g->depth.data[q];
            int ok = d > 0.0f && isfinite(d);
            w[q] = ok && gt[q] > 0.0f && isfinite(gt[q]);
            z[q] = ok ? logf(d) : 0.0f;
        }
        score_image(e, gt, z, t, w, hw);
    }
    free(t);
    return rc;
}

static int eval_end(void *state, double *values, must_err *err)
{
    depth_eval *e = state;
    int rc = MUST_OK;
    if (e->n == 0) {
        rc = H->err_set(err, MUST_EINVAL, "depth: no valid pixel was evaluated");
    } else {
        for (int k = 0; k < 3; k++)
            values[k] = 100.0 * e->within[k] / e->n;
        values[3] = e->absrel / e->n;
        values[4] = sqrt(e->sq / e->n);
        values[5] = e->log10 / e->n;
    }
    free(e);
    return rc;
}

/* Near is warm, far is cool, over the map's own range of log depth. */
static int draw(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    (void)head;
    (void)b;
    int mw, mh;
    const float *m;
    if (pred) {
        const must_tensor *z = pred;
        mh = z->shape[2];
        mw = z->shape[3];
        m = z->data + (size_t)i * mh * mw;
    } else {
        if (!(label->has & MUST_LABEL_BIT(KIND)))
            return MUST_OK;
        mh = label->depth.height;
        mw = label->depth.width;
        m = label->depth.data;
    }
    if (mw <= 0 || mh <= 0)
        return H->err_set(err, MUST_EINVAL, "depth: empty map to draw");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t q = 0; q < (size_t)mw * mh; q++) {
        if (!pred && !(m[q] > 0.0f))
            continue;
        double v = pred ? clampz(m[q]) : log(m[q]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (!(hi >= lo))
        return MUST_OK; /* nothing valid */
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            size_t q = plugin_map_index(x, y, img->width, img->height, mw, mh);
            if (!pred && !(m[q] > 0.0f))
                continue;
            double v = pred ? clampz(m[q]) : log(m[q]);
            double a = hi > lo ? (v - lo) / (hi - lo) : 0.5;
            unsigned char col[3] = {(unsigned char)(255 * (1 - a)),
                                    (unsigned char)(255 * (1 - fabs(2 * a - 1))),
                                    (unsigned char)(255 * a)};
            plugin_blend(img, x, y, col, 0.7f);
        }
    return MUST_OK;
}

MUST_TASK_PLUGIN(H,
                 .name = "depth",
                 .version = PACKAGE_VERSION,
                 .summary = "pixel head on P2 predicting log depth; L1 on log depth or "
                            "scale-and-shift-invariant loss",
                 .label_kind = KIND,
                 .metrics = metrics,
                 .lower_better = lower_better,
                 .options = options,
                 .config_size = sizeof(depth_config),
                 .head_new = head_new,
                 .head_free = pixhead_cb_head_free,
                 .head_params = pixhead_cb_head_params,
                 .head_levels = pixhead_cb_head_levels,
                 .forward = pixhead_cb_forward,
                 .loss = loss,
                 .pseudo_label = pseudo_label,
                 .eval_begin = eval_begin,
                 .eval_merge = eval_merge,
                 .eval_add = eval_add,
                 .eval_end = eval_end,
                 .draw = draw,
                 .eval_add_labels = eval_add_labels);
