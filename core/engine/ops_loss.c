/* ops_loss.c - losses: softmax cross-entropy (hard and soft targets),
 * elementwise regression and binary losses, cosine loss for normals.
 *
 * Every loss is a mean over what it counts (positions not ignored, mask
 * weights) and is 0 with a zero gradient when nothing is counted; the count
 * goes to the context too (must_ctx_loss_counted), for a data-parallel
 * trainer that weighs each rank's mean by its share of the whole batch.  Sums run
 * over fixed blocks whose partial sums are added in block order, so the
 * value does not depend on the thread count.  Labels, targets and masks are
 * copied into the arena: backward runs after the caller may have freed them.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine-impl.h"
#include "vexp.h"

/* Pixels per block for the per-position losses: the class loop then reads
 * contiguous runs of each (H, W) plane. */
#define TILE 256
/* Elements per block for the elementwise losses. */
#define CHUNK 4096
/* Below this many input floats an OpenMP region costs more than it saves. */
#define PAR_MIN 16384

static must_tensor *loss_fail(must_ctx *ctx, const char *op, const char *what,
                              const must_tensor *x)
{
    char s[64];
    must_ctx_fail(ctx, MUST_ESHAPE, "%s: input shape %s: %s", op,
                  must_shape_str(x, s, sizeof s), what);
    return NULL;
}

static must_tensor *null_arg(must_ctx *ctx, const char *op, const char *what)
{
    must_ctx_fail(ctx, MUST_EINVAL, "%s: no %s given", op, what);
    return NULL;
}

/* Sum of n partial sums in index order. */
static double sum_ordered(const double *v, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* ---- softmax cross-entropy with hard labels ---- */

struct ce_saved {
    const int32_t *labels; /* (N, H*W) */
    float *lse;            /* (N, H*W): log-sum-exp of each position's logits */
    int ignore;
    double inv_count;      /* 1 / counted positions, 0 when none */
};

/* logits (N, K) or (N, K, H, W) seen as (N, K, hw). */
static void ce_dims(const must_tensor *x, int *n, int *k, size_t *hw)
{
    *n = x->shape[0];
    *k = x->shape[1];
    *hw = x->ndim == 4 ? (size_t)x->shape[2] * (size_t)x->shape[3] : 1;
}

static void ce_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0];
    const struct ce_saved *sv = nd->saved;
    if (!x->grad || sv->inv_count == 0.0)
        return;
    int n, k;
    size_t hw;
    ce_dims(x, &n, &k, &hw);
    float scale = (float)(nd->out->grad[0] * sv->inv_count);
    size_t tiles = (hw + TILE - 1) / TILE;
    long ntask = (long)((size_t)n * tiles);
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (long task = 0; task < ntask; task++) {
        size_t b = (size_t)task / tiles, p0 = ((size_t)task % tiles) * TILE;
        size_t np = hw - p0 < TILE ? hw - p0 : TILE;
        const float *xb = x->data + b * k * hw + p0, *lse = sv->lse + b * hw + p0;
        const int32_t *lab = sv->labels + b * hw + p0;
        float *gb = x->grad + b * k * hw + p0;
        float s[TILE];
        for (size_t p = 0; p < np; p++)
            s[p] = lab[p] == sv->ignore ? 0.0f : scale;
        /* d/dx_c = (softmax_c - [c == label]) / count */
        for (int c = 0; c < k; c++) {
            const float *xc = xb + c * hw;
            float *gc = gb + c * hw;
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                gc[p] += s[p] * must_vexpf(xc[p] - lse[p]);
        }
        for (size_t p = 0; p < np; p++)
            if (lab[p] != sv->ignore)
                gb[(size_t)lab[p] * hw + p] -= s[p];
    }
}

must_tensor *must_op_cross_entropy(must_ctx *ctx, must_tensor *logits, const int32_t *labels,
                                   int ignore_index)
{
    static const char op[] = "cross_entropy";
    if (!logits)
        return NULL;
    if (logits->ndim != 2 && logits->ndim != 4)
        return loss_fail(ctx, op, "logits must be (N, K) or (N, K, H, W)", logits);
    if (!labels)
        return null_arg(ctx, op, "labels");
    int n, k;
    size_t hw;
    ce_dims(logits, &n, &k, &hw);
    size_t npos = (size_t)n * hw;
    /* Checked before any work so that the message names the first bad one. */
    size_t counted = 0;
    for (size_t i = 0; i < npos; i++) {
        int32_t l = labels[i];
        if (l == ignore_index)
            continue;
        if (l < 0 || l >= k) {
            char s[64];
            must_shape_str(logits, s, sizeof s);
            if (logits->ndim == 4)
                must_ctx_fail(ctx, MUST_EINVAL,
                              "%s: label %d at (n %zu, y %zu, x %zu) is outside [0, %d) "
                              "for logits %s (ignore index %d)",
                              op, (int)l, i / hw, (i % hw) / (size_t)logits->shape[3],
                              (i % hw) % (size_t)logits->shape[3], k, s, ignore_index);
            else
                must_ctx_fail(ctx, MUST_EINVAL,
                              "%s: label %d of example %zu is outside [0, %d) for logits %s "
                              "(ignore index %d)",
                              op, (int)l, i, k, s, ignore_index);
            return NULL;
        }
        counted++;
    }
    must_tensor *y = must_scalar_new(ctx);
    struct ce_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    int32_t *lab = sv ? must_ctx_dup(ctx, labels, npos * sizeof *labels) : NULL;
    float *lse = lab ? must_ctx_alloc(ctx, npos * sizeof(float)) : NULL;
    size_t tiles = (hw + TILE - 1) / TILE;
    long ntask = (long)((size_t)n * tiles);
    double *part = lse ? must_ctx_alloc(ctx, (size_t)ntask * sizeof(double)) : NULL;
    if (!part)
        return NULL;
    sv->labels = lab;
    sv->lse = lse;
    sv->ignore = ignore_index;
    sv->inv_count = counted ? 1.0 / (double)counted : 0.0;
    must_ctx_loss_counted(ctx, (double)counted);
    const must_tensor *x = logits;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (long task = 0; task < ntask; task++) {
        size_t b = (size_t)task / tiles, p0 = ((size_t)task % tiles) * TILE;
        size_t np = hw - p0 < TILE ? hw - p0 : TILE;
        const float *xb = x->data + b * k * hw + p0;
        const int32_t *lb = lab + b * hw + p0;
        float *ls = lse + b * hw + p0;
        float mx[TILE], se[TILE];
        for (size_t p = 0; p < np; p++) {
            mx[p] = xb[p];
            se[p] = 0.0f;
        }
        for (int c = 1; c < k; c++) {
            const float *xc = xb + c * hw;
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                mx[p] = xc[p] > mx[p] ? xc[p] : mx[p];
        }
        /* Shifting by the maximum keeps every exp in (0, 1]. */
        for (int c = 0; c < k; c++) {
            const float *xc = xb + c * hw;
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                se[p] += must_vexpf(xc[p] - mx[p]);
        }
        double acc = 0.0;
        for (size_t p = 0; p < np; p++) {
            ls[p] = mx[p] + logf(se[p]);
            if (lb[p] != ignore_index)
                acc += (double)ls[p] - (double)xb[(size_t)lb[p] * hw + p];
        }
        part[task] = acc;
    }
    y->data[0] = (float)(sum_ordered(part, ntask) * sv->inv_count);
    must_node *nd = must_tape_record(ctx, op, ce_bw, y, 1, &logits);
    if (nd)
        nd->saved = sv;
    return y;
}

/* ---- softmax cross-entropy with soft targets ---- */

struct sce_saved {
    const float *targets; /* (N, K) */
    const float *mask;    /* (N) or NULL */
    float *lse;           /* (N) */
    double inv_wsum;      /* 1 / sum of mask weights, 0 when none */
};

static void sce_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0]; // (N, K)
    const struct sce_saved *sv = nd->saved;
    if (!x->grad || sv->inv_wsum == 0.0)
        return;
    int n = x->shape[0], k = x->shape[1];
    float scale = (float)(nd->out->grad[0] * sv->inv_wsum);
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (int b = 0; b < n; b++) {
        float m = sv->mask ? sv->mask[b] : 1.0f;
        if (m == 0.0f)
            continue;
        const float *xr = x->data + (size_t)b * k, *t = sv->targets + (size_t)b * k;
        float *g = x->grad + (size_t)b * k;
        float ts = 0.0f;
        for (int c = 0; c < k; c++)
            ts += t[c];
        /* loss = sum(t) lse - <t, x>: d/dx_c = sum(t) softmax_c - t_c */
        float s = m * scale;
        for (int c = 0; c < k; c++)
            g[c] += s * (ts * must_vexpf(xr[c] - sv->lse[b]) - t[c]);
    }
}

must_tensor *must_op_soft_cross_entropy(must_ctx *ctx, must_tensor *logits,
                                        const float *targets, const float *example_mask)
{
    static const char op[] = "soft_cross_entropy";
    if (!logits)
        return NULL;
    if (logits->ndim != 2)
        return loss_fail(ctx, op, "logits must be (N, K)", logits);
    if (!targets)
        return null_arg(ctx, op, "targets");
    int n = logits->shape[0], k = logits->shape[1];
    must_tensor *y = must_scalar_new(ctx);
    struct sce_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *t = sv ? must_ctx_dup(ctx, targets, logits->numel * sizeof(float)) : NULL;
    float *mask = t && example_mask ? must_ctx_dup(ctx, example_mask, (size_t)n * sizeof(float))
                                    : NULL;
    float *lse = t && (mask || !example_mask) ? must_ctx_alloc(ctx, (size_t)n * sizeof(float))
                                              : NULL;
    double *part = lse ? must_ctx_alloc(ctx, (size_t)n * sizeof(double)) : NULL;
    if (!part)
        return NULL;
    const must_tensor *x = logits;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (int b = 0; b < n; b++) {
        const float *xr = x->data + (size_t)b * k, *tr = t + (size_t)b * k;
        float m = mask ? mask[b] : 1.0f;
        float mx = xr[0];
        for (int c = 1; c < k; c++)
            mx = xr[c] > mx ? xr[c] : mx;
        float se = 0.0f;
        for (int c = 0; c < k; c++)
            se += must_vexpf(xr[c] - mx);
        lse[b] = mx + logf(se);
        double l = 0.0;
        if (m != 0.0f)
            for (int c = 0; c < k; c++)
                l += (double)tr[c] * ((double)lse[b] - (double)xr[c]);
        part[b] = m != 0.0f ? m * l : 0.0;
    }
    double wsum = 0.0;
    for (int b = 0; b < n; b++)
        wsum += mask ? mask[b] : 1.0f;
    sv->targets = t;
    sv->mask = mask;
    sv->lse = lse;
    sv->inv_wsum = wsum != 0.0 ? 1.0 / wsum : 0.0;
    must_ctx_loss_counted(ctx, wsum);
    y->data[0] = (float)(sum_ordered(part, n) * sv->inv_wsum);
    must_node *nd = must_tape_record(ctx, op, sce_bw, y, 1, &logits);
    if (nd)
        nd->saved = sv;
    return y;
}

/* ---- elementwise losses ---- */

enum ew_kind { EW_BCE, EW_HUBER, EW_L1, EW_L2 };

static const char *const ew_name[] = {"bce_logits", "huber", "l1", "l2"};

struct ew_saved {
    const float *target, *mask;
    double inv_wsum;   /* 1 / sum of mask weights, 0 when none */
    float delta;
    int kind;
};

/* Per-element loss and derivative of each kind.  The loops below are
 * instantiated once per kind so that no switch runs per element, and the
 * signs are formed without branches: random signs would mispredict half of
 * them. */
static inline float bce_loss(float x, float t, float delta)
{
    (void)delta; /* -t log s(x) - (1 - t) log(1 - s(x)), without overflow */
    return (x > 0.0f ? x : 0.0f) - x * t + log1pf(expf(-fabsf(x)));
}
static inline float bce_grad(float x, float t, float delta)
{
    (void)delta; /* sigmoid(x) - t, in a form that cannot overflow */
    float e = expf(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e) - t;
}
static inline float huber_loss(float x, float t, float delta)
{
    float d = x - t, a = fabsf(d);
    return a < delta ? 0.5f * d * d : delta * (a - 0.5f * delta);
}
static inline float huber_grad(float x, float t, float delta)
{
    float d = x - t;
    return fabsf(d) < delta ? d : copysignf(delta, d);
}
static inline float l1_loss(float x, float t, float delta)
{
    (void)delta;
    return fabsf(x - t);
}
static inline float l1_grad(float x, float t, float delta)
{
    (void)delta; /* sign(d), 0 at 0 as in PyTorch */
    float d = x - t;
    return (float)((d > 0.0f) - (d < 0.0f));
}
static inline float l2_loss(float x, float t, float delta)
{
    (void)delta;
    return (x - t) * (x - t);
}
static inline float l2_grad(float x, float t, float delta)
{
    (void)delta;
    return 2.0f * (x - t);
}

/* Skipping weight-0 elements, not multiplying by 0, lets masked targets hold
 * NaN (invalid depth, say). */
#define EW_SUM(LOSS)                                                          \
    for (size_t i = i0; i < i1; i++) {                                        \
        float w = m ? m[i] : 1.0f;                                            \
        if (w != 0.0f) {                                                      \
            acc += (double)w * LOSS(xd[i], t[i], delta);                      \
            wacc += w;                                                        \
        }                                                                     \
    }
#define EW_GRAD(GRAD)                                                         \
    for (size_t i = i0; i < i1; i++) {                                        \
        float w = m ? m[i] : 1.0f;                                            \
        if (w != 0.0f)                                                        \
            g[i] += w * scale * GRAD(xd[i], t[i], delta);                     \
    }

static void ew_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0];
    const struct ew_saved *sv = nd->saved;
    if (!x->grad || sv->inv_wsum == 0.0)
        return;
    float scale = (float)(nd->out->grad[0] * sv->inv_wsum);
    size_t nel = x->numel;
    long nchunk = (long)((nel + CHUNK - 1) / CHUNK);
    const float *xd = x->data, *t = sv->target, *m = sv->mask;
    float *g = x->grad, delta = sv->delta;
    int kind = sv->kind;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (nel >= PAR_MIN)
    for (long ch = 0; ch < nchunk; ch++) {
        size_t i0 = (size_t)ch * CHUNK, i1 = i0 + CHUNK < nel ? i0 + CHUNK : nel;
        switch (kind) {
        case EW_BCE:
            EW_GRAD(bce_grad)
            break;
        case EW_HUBER:
            EW_GRAD(huber_grad)
            break;
        case EW_L1:
            EW_GRAD(l1_grad)
            break;
        default:
            EW_GRAD(l2_grad)
            break;
        }
    }
}

static must_tensor *ew_op(must_ctx *ctx, int kind, must_tensor *x, const float *target,
                          const float *mask, float delta)
{
    const char *op = ew_name[kind];
    if (!x)
        return NULL;
    if (!target)
        return null_arg(ctx, op, "target");
    if (kind == EW_HUBER && !(delta > 0.0f)) {
        must_ctx_fail(ctx, MUST_EINVAL, "huber: delta %g must be positive", (double)delta);
        return NULL;
    }
    size_t nel = x->numel;
    long nchunk = (long)((nel + CHUNK - 1) / CHUNK);
    must_tensor *y = must_scalar_new(ctx);
    struct ew_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *t = sv ? must_ctx_dup(ctx, target, nel * sizeof(float)) : NULL;
    float *m = t && mask ? must_ctx_dup(ctx, mask, nel * sizeof(float)) : NULL;
    double *part = t && (m || !mask) ? must_ctx_alloc(ctx, 2 * (size_t)nchunk * sizeof(double))
                                     : NULL;
    if (!part)
        return NULL;
    double *wpart = part + nchunk;
    const float *xd = x->data;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (nel >= PAR_MIN)
    for (long ch = 0; ch < nchunk; ch++) {
        size_t i0 = (size_t)ch * CHUNK, i1 = i0 + CHUNK < nel ? i0 + CHUNK : nel;
        double acc = 0.0, wacc = 0.0;
        switch (kind) {
        case EW_BCE:
            EW_SUM(bce_loss)
            break;
        case EW_HUBER:
            EW_SUM(huber_loss)
            break;
        case EW_L1:
            EW_SUM(l1_loss)
            break;
        default:
            EW_SUM(l2_loss)
            break;
        }
        part[ch] = acc;
        wpart[ch] = wacc;
    }
    double wsum = sum_ordered(wpart, nchunk);
    sv->target = t;
    sv->mask = m;
    sv->inv_wsum = wsum != 0.0 ? 1.0 / wsum : 0.0;
    must_ctx_loss_counted(ctx, wsum);
    sv->delta = delta;
    sv->kind = kind;
    y->data[0] = (float)(sum_ordered(part, nchunk) * sv->inv_wsum);
    must_node *nd = must_tape_record(ctx, op, ew_bw, y, 1, &x);
    if (nd)
        nd->saved = sv;
    return y;
}

must_tensor *must_op_bce_logits(must_ctx *ctx, must_tensor *x, const float *target,
                                const float *mask)
{
    return ew_op(ctx, EW_BCE, x, target, mask, 0.0f);
}

must_tensor *must_op_huber(must_ctx *ctx, must_tensor *x, const float *target, const float *mask,
                           float delta)
{
    return ew_op(ctx, EW_HUBER, x, target, mask, delta);
}

must_tensor *must_op_l1(must_ctx *ctx, must_tensor *x, const float *target, const float *mask)
{
    return ew_op(ctx, EW_L1, x, target, mask, 0.0f);
}

must_tensor *must_op_l2(must_ctx *ctx, must_tensor *x, const float *target, const float *mask)
{
    return ew_op(ctx, EW_L2, x, target, mask, 0.0f);
}

/* ---- cosine loss over 3 channels ---- */

struct cos_saved {
    const float *target; /* (N, 3, H*W) */
    const float *mask;   /* (N, H*W) or NULL */
    double inv_wsum;
};

static void cos_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0]; // (N, 3, H, W)
    const struct cos_saved *sv = nd->saved;
    if (!x->grad || sv->inv_wsum == 0.0)
        return;
    int n = x->shape[0];
    size_t hw = x->numel / ((size_t)n * 3);
    float scale = (float)(nd->out->grad[0] * sv->inv_wsum);
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (int b = 0; b < n; b++) {
        const float *m = sv->mask ? sv->mask + (size_t)b * hw : NULL;
        const float *t = sv->target + (size_t)b * 3 * hw;
        float *g = x->grad + (size_t)b * 3 * hw;
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < hw; p++) {
                float w = m ? m[p] : 1.0f;
                if (w != 0.0f)
                    g[c * hw + p] -= w * scale * t[c * hw + p];
            }
    }
}

must_tensor *must_op_cosine_loss(must_ctx *ctx, must_tensor *pred, const float *target,
                                 const float *mask)
{
    static const char op[] = "cosine_loss";
    if (!pred)
        return NULL;
    if ((pred->ndim != 2 && pred->ndim != 4) || pred->shape[1] != 3)
        return loss_fail(ctx, op, "needs (N, 3, H, W) or (N, 3)", pred);
    if (!target)
        return null_arg(ctx, op, "target");
    int n = pred->shape[0];
    size_t hw = pred->numel / ((size_t)n * 3);
    size_t tiles = (hw + TILE - 1) / TILE;
    long ntask = (long)((size_t)n * tiles);
    must_tensor *y = must_scalar_new(ctx);
    struct cos_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *t = sv ? must_ctx_dup(ctx, target, pred->numel * sizeof(float)) : NULL;
    float *m = t && mask ? must_ctx_dup(ctx, mask, (size_t)n * hw * sizeof(float)) : NULL;
    double *part = t && (m || !mask) ? must_ctx_alloc(ctx, 2 * (size_t)ntask * sizeof(double))
                                     : NULL;
    if (!part)
        return NULL;
    double *wpart = part + ntask;
    const must_tensor *x = pred;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (long task = 0; task < ntask; task++) {
        size_t b = (size_t)task / tiles, p0 = ((size_t)task % tiles) * TILE;
        size_t np = hw - p0 < TILE ? hw - p0 : TILE;
        const float *xb = x->data + b * 3 * hw + p0, *tb = t + b * 3 * hw + p0;
        const float *mb = m ? m + b * hw + p0 : NULL;
        double acc = 0.0, wacc = 0.0;
        for (size_t p = 0; p < np; p++) {
            float w = mb ? mb[p] : 1.0f;
            if (w == 0.0f)
                continue;
            float dot = xb[p] * tb[p] + xb[hw + p] * tb[hw + p] + xb[2 * hw + p] * tb[2 * hw + p];
            acc += (double)w * (1.0 - (double)dot);
            wacc += w;
        }
        part[task] = acc;
        wpart[task] = wacc;
    }
    double wsum = sum_ordered(wpart, ntask);
    sv->target = t;
    sv->mask = m;
    sv->inv_wsum = wsum != 0.0 ? 1.0 / wsum : 0.0;
    must_ctx_loss_counted(ctx, wsum);
    y->data[0] = (float)(sum_ordered(part, ntask) * sv->inv_wsum);
    must_node *nd = must_tape_record(ctx, op, cos_bw, y, 1, &pred);
    if (nd)
        nd->saved = sv;
    return y;
}
