/* model_ops.c - fused ops for the model's hot path.
 *
 * Batch norm is followed by a ReLU, or by a residual add and a ReLU, almost
 * everywhere in a ResNet-FPN.  As separate ops each of those is a full pass
 * over the activation forward and another backward, plus a tensor and its
 * gradient for the tape; all of them are memory-bound.  mop_bn_act does
 * y = act(bn(x) + res) in one op: forward reads x (twice in training: the
 * statistics, then the normalisation) and writes y; backward reads y, dy and
 * x and writes dx, dres and the parameter gradients.  It computes what the
 * engine's batchnorm, add and relu compute, in the same modes.
 *
 * mop_resize_sum is the paper's P2 fusion: the sum of several maps, each
 * resized bilinearly (align_corners = false, PyTorch's formula) to one size,
 * in one pass per output plane instead of a resize and an add per level.
 *
 * Both are parallel over channels or planes with every sum done by one thread
 * in a fixed order, so results do not depend on the thread count.
 */
#include "config.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "engine/engine-impl.h"
#include "model-impl.h"

/* Fewer elements than this run on one thread: the fork costs more. */
#define PAR_MIN 32768

/* Work is handed out in chunks of about CHUNK_ELEMS elements (whole channels
 * or planes) as threads ask for it, not split up front: on a shared machine
 * a thread that the OS preempts then holds up only its current chunk, not a
 * fixed half of the op.  Each channel or plane is still summed by one thread
 * in a fixed order, so results do not depend on who takes it. */
#define CHUNK_ELEMS 16384

static int work_chunk(size_t numel, int units)
{
    size_t per = numel / (size_t)(units > 0 ? units : 1);
    size_t c = per ? CHUNK_ELEMS / per : CHUNK_ELEMS;
    return c < 1 ? 1 : c > (size_t)units ? (units > 0 ? units : 1) : (int)c;
}

/* ---- batch norm + residual + ReLU ------------------------------------- */

typedef struct bnact_saved {
    float *mean, *invstd;   /* (C): what normalised x */
    int training, relu;
    double count;           /* > 0: synchronised over the ranks, the global count */
} bnact_saved;

/* The inner loops are branch-free with unconditional loads (a ReLU mask as
 * a branch mispredicts on half the elements of real activations), and
 * vectorised: GCC's -O2 vectorises no loop by itself, so elementwise loops
 * are marked `omp simd` and reductions are written as eight float lanes,
 * which it does vectorise, per plane totalled in double.  The lane split
 * depends only on the plane size, not on the thread count. */

/* Sums of (x - shift) and its square over n floats. */
static void moments(const float *restrict p, size_t n, float shift, double *s1, double *s2)
{
    float a[8] = {0}, q[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            float v = p[i + l] - shift;
            a[l] += v;
            q[l] += v * v;
        }
    for (; i < n; i++) {
        float v = p[i] - shift;
        a[0] += v;
        q[0] += v * v;
    }
    for (int l = 0; l < 8; l++) {
        *s1 += a[l];
        *s2 += q[l];
    }
}

/* dy masked by y > 0 when relu. */
static inline float masked(float dy, float y, int relu)
{
    return relu && !(y > 0.0f) ? 0.0f : dy;
}

/* Sums of g' and g' (x - mean) over n floats, g' = masked(dy, y, relu). */
static void grad_moments(const float *restrict dy, const float *restrict y,
                         const float *restrict x, size_t n, float mean, int relu, double *s1,
                         double *s2)
{
    float a[8] = {0}, q[8] = {0};
    size_t i = 0;
    if (relu) {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) {
                float d = dy[i + l], yv = y[i + l], g = yv > 0.0f ? d : 0.0f;
                a[l] += g;
                q[l] += g * (x[i + l] - mean);
            }
    } else {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) {
                float g = dy[i + l];
                a[l] += g;
                q[l] += g * (x[i + l] - mean);
            }
    }
    for (; i < n; i++) {
        float g = masked(dy[i], y[i], relu);
        a[0] += g;
        q[0] += g * (x[i] - mean);
    }
    for (int l = 0; l < 8; l++) {
        *s1 += a[l];
        *s2 += q[l];
    }
}

/* dx += k (g' - a - (x - mean) b); dres += g' (either may be NULL). */
static void grad_plane(const float *restrict g, const float *restrict y,
                       const float *restrict x, float *restrict dx, float *restrict dres,
                       size_t n, float k, float a, float b, float mean, int relu)
{
    if (relu) {
        if (dres) {
#pragma omp simd
            for (size_t i = 0; i < n; i++) {
                float d = g[i], yv = y[i];
                dres[i] += yv > 0.0f ? d : 0.0f;
            }
        }
        if (dx) {
#pragma omp simd
            for (size_t i = 0; i < n; i++) {
                float d = g[i], yv = y[i], gi = yv > 0.0f ? d : 0.0f;
                dx[i] += k * (gi - a - (x[i] - mean) * b);
            }
        }
    } else {
        if (dres) {
#pragma omp simd
            for (size_t i = 0; i < n; i++)
                dres[i] += g[i];
        }
        if (dx) {
#pragma omp simd
            for (size_t i = 0; i < n; i++)
                dx[i] += k * (g[i] - a - (x[i] - mean) * b);
        }
    }
}

/* Backward synchronised over the ranks (sync_bn, engine-impl.h): dx from
 * the sums of g' and g' (x - mean) over the global batch; gamma and beta
 * take this rank's sums, as every parameter gradient is summed over the
 * ranks afterwards. */
static void bnact_bw_sync(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *y = nd->out;
    must_tensor *res = nd->n_in > 3 ? nd->in[3] : NULL;
    const bnact_saved *s = nd->saved;
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    float *dx = x->grad, *dg = gamma->grad, *db = beta->grad, *dres = res ? res->grad : NULL;
    const float *dy = y->grad;
    double *sum = must_ctx_alloc(ctx, 2 * (size_t)C * sizeof *sum);
    if (!sum)
        return;
    const int chunk = work_chunk(x->numel, C);
#pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(dynamic, chunk) \
    if (x->numel >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double sg = 0.0, sgx = 0.0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            grad_moments(dy + o, y->data + o, x->data + o, HW, s->mean[c], s->relu, &sg, &sgx);
        }
        if (dg)
            dg[c] += (float)(sgx * s->invstd[c]);
        if (db)
            db[c] += (float)sg;
        sum[c] = sg;
        sum[C + c] = sgx;
    }
    /* dx and dres are wanted or not alike on every rank (the graph is). */
    if ((dx || dres) && must_ctx_bn_sum(ctx, sum, 2 * (size_t)C))
        return;
#pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(dynamic, chunk) \
    if (x->numel >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        const float inv = s->invstd[c], k = gamma->data[c] * inv;
        const float a = (float)(sum[c] / s->count);
        const float b = (float)(sum[C + c] / s->count) * inv * inv;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            grad_plane(dy + o, y->data + o, x->data + o, dx ? dx + o : NULL,
                       dres ? dres + o : NULL, HW, k, a, b, s->mean[c], s->relu);
        }
    }
}

/* Synchronised statistics (sync_bn): each rank's per-channel mean and sum
 * of squared deviations, from sums shifted by one sample as in one process,
 * combined over the ranks (must_ctx_bn_combine): mean[C], m2[C], *count. */
static int bnact_sync_moments(must_ctx *ctx, const must_tensor *x, double *mean, double *m2,
                              double *count)
{
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    const double M = (double)N * (double)HW;
    const int chunk = work_chunk(x->numel, C);
#pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(dynamic, chunk) \
    if (x->numel >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        const float shift = x->data[(size_t)c * HW];
        double s1 = 0.0, s2 = 0.0;
        for (int n = 0; n < N; n++)
            moments(x->data + ((size_t)n * C + c) * HW, HW, shift, &s1, &s2);
        double d = s1 / M, q = s2 - s1 * d;
        mean[c] = shift + d;
        m2[c] = q > 0 ? q : 0;
    }
    *count = M;
    return must_ctx_bn_combine(ctx, C, mean, m2, count);
}

static void bnact_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *y = nd->out;
    must_tensor *res = nd->n_in > 3 ? nd->in[3] : NULL;
    const bnact_saved *s = nd->saved;
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    const double M = (double)N * HW;
    const int relu = s->relu, training = s->training;
    float *dx = x->grad, *dg = gamma->grad, *db = beta->grad;
    float *dres = res ? res->grad : NULL;
    const float *dy = y->grad;
    const int chunk = work_chunk(x->numel, C);
#pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(dynamic, chunk) \
    if (x->numel >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        const float mean = s->mean[c], inv = s->invstd[c];
        double sg = 0.0, sgx = 0.0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            grad_moments(dy + o, y->data + o, x->data + o, HW, mean, relu, &sg, &sgx);
        }
        if (dg)
            dg[c] += (float)(sgx * inv);
        if (db)
            db[c] += (float)sg;
        const float k = gamma->data[c] * inv;
        /* Training: dx = k (g' - mean(g') - x_hat mean(g' x_hat)). */
        const float a = training ? (float)(sg / M) : 0.0f;
        const float b = training ? (float)(sgx / M) * inv * inv : 0.0f;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            grad_plane(dy + o, y->data + o, x->data + o, dx ? dx + o : NULL,
                       dres ? dres + o : NULL, HW, k, a, b, mean, relu);
        }
    }
}

/* Batch norm with mean mu and variance var as y = k x + b; returns
 * 1 / sqrt(var + eps).  Shared by bn_act and its folded inference, so both
 * have the same constants. */
static float bn_fold(double mu, double var, float gamma, float beta, float eps, float *k,
                     float *b)
{
    const float inv = (float)(1.0 / sqrt(var + eps));
    *k = gamma * inv;
    *b = beta - (float)mu * *k;
    return inv;
}

must_tensor *mop_bn_act(must_ctx *ctx, must_tensor *x, const mbn *bn, must_tensor *res,
                        int relu, float momentum, float eps)
{
    if (!x || !bn->gamma)
        return NULL;
    if (x->ndim != 4 || x->shape[1] != (int)bn->gamma->numel) {
        char sx[64], sg[64];
        must_ctx_fail(ctx, MUST_ESHAPE, "bn_act: input %s does not fit %s of shape %s",
                      must_shape_str(x, sx, sizeof sx), bn->gamma->name,
                      must_shape_str(bn->gamma, sg, sizeof sg));
        return NULL;
    }
    if (res && !must_shape_eq(res, x))
        return must_shape_fail(ctx, "bn_act (residual)", x, res);
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    const double M = (double)N * HW;
    const int training = must_ctx_training(ctx);
    must_tensor *y = must_tensor_new(ctx, 4, x->shape);
    bnact_saved *s = must_ctx_alloc(ctx, sizeof *s);
    float *mean = must_ctx_alloc(ctx, (size_t)C * sizeof(float));
    float *invstd = must_ctx_alloc(ctx, (size_t)C * sizeof(float));
    if (!y || !s || !mean || !invstd)
        return NULL;
    const float *gm = bn->gamma->data, *bt = bn->beta->data;
    float *rm = bn->mean->data, *rv = bn->var->data;
    double *gsum = NULL; /* synchronised: the whole batch's means, then m2s */
    s->count = 0.0;
    if (training && must_ctx_bn_synced(ctx)) {
        gsum = must_ctx_alloc(ctx, 2 * (size_t)C * sizeof *gsum);
        if (!gsum || bnact_sync_moments(ctx, x, gsum, gsum + C, &s->count))
            return NULL;
    }
    const int chunk = work_chunk(x->numel, C);
#pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(dynamic, chunk) \
    if (x->numel >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (training) {
            double m_all = gsum ? s->count : M;
            if (gsum) {
                mu = gsum[c];
                var = gsum[C + c] / m_all;
            } else {
                /* Shifted sums stay accurate when the mean dwarfs the spread. */
                const float shift = x->data[(size_t)c * HW];
                double s1 = 0.0, s2 = 0.0;
                for (int n = 0; n < N; n++)
                    moments(x->data + ((size_t)n * C + c) * HW, HW, shift, &s1, &s2);
                double d = s1 / M;
                mu = shift + d;
                var = s2 / M - d * d;
                if (var < 0.0)
                    var = 0.0;
            }
            /* PyTorch keeps the unbiased variance as the running one. */
            double unbiased = m_all > 1.0 ? var * m_all / (m_all - 1.0) : var;
            rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * mu);
            rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * unbiased);
        } else {
            mu = rm[c];
            var = rv[c];
        }
        float k, b;
        const float inv = bn_fold(mu, var, gm[c], bt[c], eps, &k, &b);
        mean[c] = (float)mu;
        invstd[c] = inv;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            must_affine_act(x->data + o, res ? res->data + o : NULL, y->data + o, HW, k, b, relu);
        }
    }
    s->mean = mean;
    s->invstd = invstd;
    s->training = training;
    s->relu = relu;
    must_tensor *in[4] = {x, bn->gamma, bn->beta, res};
    must_node *nd = must_tape_record(ctx, "bn_act", gsum ? bnact_bw_sync : bnact_bw, y,
                                     res ? 4 : 3, in);
    if (nd)
        nd->saved = s;
    return y;
}

must_tensor *mconv_bn_act(must_ctx *ctx, const mconv *c, must_tensor *x, const mbn *bn,
                          must_tensor *res, int relu, float momentum, float eps)
{
    const int C = c->w ? c->w->shape[0] : 0;
    if (must_ctx_training(ctx) || must_ctx_grad(ctx) || !bn->gamma ||
        (int)bn->gamma->numel != C)
        return mop_bn_act(ctx, mconv_fwd(ctx, c, x), bn, res, relu, momentum, eps);
    float *k = must_ctx_alloc(ctx, (size_t)C * sizeof(float));
    float *b = must_ctx_alloc(ctx, (size_t)C * sizeof(float));
    if (!k || !b)
        return NULL;
    for (int o = 0; o < C; o++) /* mop_bn_act's evaluation constants */
        bn_fold(bn->mean->data[o], bn->var->data[o], bn->gamma->data[o], bn->beta->data[o], eps,
                &k[o], &b[o]);
    return must_conv2d_bn_act(ctx, x, c->w, c->b, c->stride, c->pad, k, b, res, relu);
}

/* ---- the sum of bilinear resizes (P2 fusion) --------------------------- */

/* For each output index, the two source indices and the weight of the
 * second: PyTorch's align_corners = false rule, src = (dst + 0.5) in/out -
 * 0.5 clamped at 0. */
typedef struct lerp {
    int i0, i1;
    float w1;
} lerp;

static void lerp_table(lerp *t, int in, int out)
{
    const float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int i0 = (int)src;
        if (i0 > in - 1)
            i0 = in - 1;
        t[o].i0 = i0;
        t[o].i1 = i0 < in - 1 ? i0 + 1 : i0;
        t[o].w1 = src - (float)i0;
    }
}

/* The x weights transposed: for input column i, the output columns
 * idx[start[i] .. start[i + 1]) that read it, with their weights, in
 * increasing order.  Backward gathers through it instead of scattering, so
 * no sum waits on the store before it. */
typedef struct lerp_t {
    int *start, *idx;
    float *w;
} lerp_t;

static int lerp_transpose(must_ctx *ctx, lerp_t *t, const lerp *tx, int in, int out)
{
    t->start = must_ctx_alloc(ctx, (size_t)(in + 1) * sizeof(int));
    t->idx = must_ctx_alloc(ctx, (size_t)2 * out * sizeof(int));
    t->w = must_ctx_alloc(ctx, (size_t)2 * out * sizeof(float));
    if (!t->start || !t->idx || !t->w)
        return -1;
    memset(t->start, 0, (size_t)(in + 1) * sizeof(int));
    for (int o = 0; o < out; o++) {
        t->start[tx[o].i0 + 1]++;
        t->start[tx[o].i1 + 1]++;
    }
    for (int i = 0; i < in; i++)
        t->start[i + 1] += t->start[i];
    /* Walking o upwards fills each column's entries in increasing o; both
     * taps of o may be the same column (at the border): two entries. */
    int *cur = must_ctx_alloc(ctx, (size_t)in * sizeof(int));
    if (!cur)
        return -1;
    memcpy(cur, t->start, (size_t)in * sizeof(int));
    for (int o = 0; o < out; o++) {
        int e = cur[tx[o].i0]++;
        t->idx[e] = o;
        t->w[e] = 1.0f - tx[o].w1;
        e = cur[tx[o].i1]++;
        t->idx[e] = o;
        t->w[e] = tx[o].w1;
    }
    return 0;
}

typedef struct rsum_saved {
    lerp *ty[MUST_NODE_MAX_IN], *tx[MUST_NODE_MAX_IN];
    lerp_t xt[MUST_NODE_MAX_IN];
    size_t buf;   /* floats of the per-thread row buffer: max h x ow */
} rsum_saved;

/* Both directions are separable, and the scalar part (the taps along x)
 * runs over the input's rows, not the output's: forward interpolates every
 * input row along x into a buffer of h rows of the output's width (PyTorch
 * also blends along x first), then blends pairs of those rows into each
 * output row (vectorised); backward does the reverse, spreading each output
 * row onto two buffer rows (vectorised), then gathering every buffer row
 * into its input row through the transposed x weights. */

static void rsum_bw(must_ctx *ctx, must_node *nd)
{
    const rsum_saved *s = nd->saved;
    const must_tensor *y = nd->out;
    const int planes = y->shape[0] * y->shape[1], oh = y->shape[2], ow = y->shape[3];
    const int nt = must_ctx_threads(ctx), chunk = work_chunk(y->numel, planes);
    float *bufs = must_ctx_alloc(ctx, (size_t)nt * s->buf * sizeof(float));
    if (!bufs)
        return;
#pragma omp parallel num_threads(nt) if (y->numel >= PAR_MIN)
    {
        float *restrict u = bufs + (size_t)omp_get_thread_num() * s->buf;
#pragma omp for schedule(dynamic, chunk)
        for (int p = 0; p < planes; p++) {
            const float *g = y->grad + (size_t)p * oh * ow;
            for (int k = 0; k < nd->n_in; k++) {
                must_tensor *x = nd->in[k];
                if (!x->grad)
                    continue;
                const int h = x->shape[2], w = x->shape[3];
                const lerp *ty = s->ty[k];
                const lerp_t *xt = &s->xt[k];
                memset(u, 0, (size_t)h * ow * sizeof *u);
                for (int oy = 0; oy < oh; oy++) {
                    const float *restrict gr = g + (size_t)oy * ow;
                    float *restrict u0 = u + (size_t)ty[oy].i0 * ow;
                    const float wy1 = ty[oy].w1, wy0 = 1.0f - wy1;
#pragma omp simd
                    for (int i = 0; i < ow; i++)
                        u0[i] += wy0 * gr[i];
                    float *restrict u1 = u + (size_t)ty[oy].i1 * ow;
#pragma omp simd
                    for (int i = 0; i < ow; i++)
                        u1[i] += wy1 * gr[i];
                }
                for (int iy = 0; iy < h; iy++) {
                    const float *ur = u + (size_t)iy * ow;
                    float *d = x->grad + ((size_t)p * h + iy) * w;
                    for (int i = 0; i < w; i++) {
                        float t = 0.0f;
                        for (int e = xt->start[i]; e < xt->start[i + 1]; e++)
                            t += xt->w[e] * ur[xt->idx[e]];
                        d[i] += t;
                    }
                }
            }
        }
    }
}

must_tensor *mop_resize_sum(must_ctx *ctx, int n, must_tensor *const *xs, int oh, int ow)
{
    if (n < 1 || n > MUST_NODE_MAX_IN) {
        must_ctx_fail(ctx, MUST_EINVAL, "resize_sum: %d inputs (1..%d)", n, MUST_NODE_MAX_IN);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!xs[k])
            return NULL;
    for (int k = 0; k < n; k++)
        if (xs[k]->ndim != 4 || xs[k]->shape[0] != xs[0]->shape[0] ||
            xs[k]->shape[1] != xs[0]->shape[1])
            return must_shape_fail(ctx, "resize_sum", xs[0], xs[k]);
    if (oh < 1 || ow < 1) {
        must_ctx_fail(ctx, MUST_EINVAL, "resize_sum: output size %d x %d", oh, ow);
        return NULL;
    }
    must_tensor *y = must_tensor_new4(ctx, xs[0]->shape[0], xs[0]->shape[1], oh, ow);
    rsum_saved *s = must_ctx_alloc(ctx, sizeof *s);
    if (!y || !s)
        return NULL;
    s->buf = 1;
    for (int k = 0; k < n; k++) {
        s->ty[k] = must_ctx_alloc(ctx, (size_t)oh * sizeof(lerp));
        s->tx[k] = must_ctx_alloc(ctx, (size_t)ow * sizeof(lerp));
        if (!s->ty[k] || !s->tx[k])
            return NULL;
        lerp_table(s->ty[k], xs[k]->shape[2], oh);
        lerp_table(s->tx[k], xs[k]->shape[3], ow);
        if (must_ctx_grad(ctx) && lerp_transpose(ctx, &s->xt[k], s->tx[k], xs[k]->shape[3], ow))
            return NULL;
        if ((size_t)xs[k]->shape[2] * ow > s->buf)
            s->buf = (size_t)xs[k]->shape[2] * ow;
    }
    const int planes = y->shape[0] * y->shape[1], nt = must_ctx_threads(ctx);
    const int chunk = work_chunk(y->numel, planes);
    float *bufs = must_ctx_alloc(ctx, (size_t)nt * s->buf * sizeof(float));
    if (!bufs)
        return NULL;
#pragma omp parallel num_threads(nt) if (y->numel >= PAR_MIN)
    {
        float *restrict u = bufs + (size_t)omp_get_thread_num() * s->buf;
#pragma omp for schedule(dynamic, chunk)
        for (int p = 0; p < planes; p++) {
            float *out = y->data + (size_t)p * oh * ow;
            for (int k = 0; k < n; k++) {
                const int h = xs[k]->shape[2], w = xs[k]->shape[3];
                const float *src = xs[k]->data + (size_t)p * h * w;
                const lerp *ty = s->ty[k], *tx = s->tx[k];
                for (int iy = 0; iy < h; iy++) {
                    const float *r = src + (size_t)iy * w;
                    float *ur = u + (size_t)iy * ow;
                    for (int ox = 0; ox < ow; ox++)
                        ur[ox] = (1.0f - tx[ox].w1) * r[tx[ox].i0] + tx[ox].w1 * r[tx[ox].i1];
                }
                for (int oy = 0; oy < oh; oy++) {
                    const float *restrict u0 = u + (size_t)ty[oy].i0 * ow;
                    const float *restrict u1 = u + (size_t)ty[oy].i1 * ow;
                    const float wy1 = ty[oy].w1, wy0 = 1.0f - wy1;
                    float *restrict o = out + (size_t)oy * ow;
                    if (k) {
#pragma omp simd
                        for (int i = 0; i < ow; i++)
                            o[i] += wy0 * u0[i] + wy1 * u1[i];
                    } else {
#pragma omp simd
                        for (int i = 0; i < ow; i++)
                            o[i] = wy0 * u0[i] + wy1 * u1[i];
                    }
                }
            }
        }
    }
    must_node *nd = must_tape_record(ctx, "resize_sum", rsum_bw, y, n, xs);
    if (nd)
        nd->saved = s;
    return y;
}
