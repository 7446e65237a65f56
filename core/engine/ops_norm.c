/* ops_norm.c - batch normalisation over (N, H, W) per channel.
 *
 * Training mode normalises with the batch's statistics and moves the running
 * ones towards them (unbiased variance, as PyTorch); evaluation mode uses the
 * running statistics, so the op is then an affine map per channel.  Both
 * directions are parallel over channels, each channel summed by one thread in
 * a fixed order: the result does not depend on the thread count.
 *
 * With sync_bn (a data-parallel trainer, engine-impl.h) training mode sums
 * the statistics over the ranks, forward and backward: N ranks normalise
 * as one process does with their N slices of its batch.
 *
 * Backward recomputes x_hat = (x - mean) * invstd from x instead of saving
 * it: saving would cost a write of the whole activation in forward for a read
 * of the same size in backward, which is what reading x costs anyway.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine-impl.h"

#define PAR_MIN 32768

/* What backward needs, per channel: the mean and 1/std that normalised x. */
typedef struct bn_saved {
    float *mean, *invstd;
    int training;
    double count;   /* > 0: synchronised over the ranks, the global count */
} bn_saved;

/* Sums of (x - shift) and (x - shift)^2 over one plane; eight fixed float
 * lanes vectorise, and the plane's total goes to double. */
static void plane_moments(const float *p, size_t n, float shift, double *s1, double *s2)
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
    double sa = 0, sq = 0;
    for (int l = 0; l < 8; l++) {
        sa += a[l];
        sq += q[l];
    }
    *s1 += sa;
    *s2 += sq;
}

/* Sums of dy and dy * (x - mean) over one plane. */
static void plane_grad_moments(const float *dy, const float *x, size_t n, float mean, double *s1,
                               double *s2)
{
    float a[8] = {0}, q[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            a[l] += dy[i + l];
            q[l] += dy[i + l] * (x[i + l] - mean);
        }
    for (; i < n; i++) {
        a[0] += dy[i];
        q[0] += dy[i] * (x[i] - mean);
    }
    double sa = 0, sq = 0;
    for (int l = 0; l < 8; l++) {
        sa += a[l];
        sq += q[l];
    }
    *s1 += sa;
    *s2 += sq;
}

/* Backward of a batch norm synchronised over the ranks (sync_bn): the sums
 * of dy and dy (x - mean) over the whole global batch set dx; gamma's and
 * beta's gradients take this rank's sums, as every parameter gradient is
 * summed over the ranks afterwards. */
static void batchnorm_bw_sync(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *y = nd->out;
    const bn_saved *sv = nd->saved;
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    float *dx = x->grad, *dg = gamma->grad, *dbeta = beta->grad;
    double *sum = must_ctx_alloc(ctx, 2 * (size_t)C * sizeof *sum);
    if (!sum)
        return;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            plane_grad_moments(y->grad + o, x->data + o, HW, sv->mean[c], &sdy, &sdyx);
        }
        if (dg)
            dg[c] += (float)(sdyx * sv->invstd[c]);
        if (dbeta)
            dbeta[c] += (float)sdy;
        sum[c] = sdy;
        sum[C + c] = sdyx;
    }
    /* Whether dx is wanted is the same on every rank (the graph is). */
    if (!dx || must_ctx_bn_sum(ctx, sum, 2 * (size_t)C))
        return;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < C; c++) {
        const float mean = sv->mean[c], is = sv->invstd[c], k = gamma->data[c] * is;
        const float k1 = (float)(-(double)k * is * is * sum[C + c] / sv->count);
        const float k0 = (float)(-(double)k * sum[c] / sv->count - (double)k1 * mean);
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            const float *restrict g = y->grad + o, *restrict xp = x->data + o;
            float *restrict d = dx + o;
#pragma omp simd
            for (size_t i = 0; i < HW; i++)
                d[i] += k * g[i] + k1 * xp[i] + k0;
        }
    }
}

static void batchnorm_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *y = nd->out;
    const bn_saved *sv = nd->saved;
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C), cnt = (size_t)N * HW;
    float *dx = x->grad, *dg = gamma->grad, *dbeta = beta->grad;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < C; c++) {
        const float mean = sv->mean[c], is = sv->invstd[c];
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            plane_grad_moments(y->grad + o, x->data + o, HW, mean, &sdy, &sdyx);
        }
        if (dg)
            dg[c] += (float)(sdyx * is);
        if (dbeta)
            dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        /* dx = gamma*is * (dy - mean(dy) - x_hat * mean(dy * x_hat)) in training
         * mode, gamma*is * dy in evaluation mode; as k*dy + k1*x + k0. */
        const float k = gamma->data[c] * is;
        float k1 = 0.0f, k0 = 0.0f;
        if (sv->training) {
            k1 = (float)(-(double)k * is * is * sdyx / (double)cnt);
            k0 = (float)(-(double)k * sdy / (double)cnt - (double)k1 * mean);
        }
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            const float *restrict g = y->grad + o, *restrict xp = x->data + o;
            float *restrict d = dx + o;
#pragma omp simd
            for (size_t i = 0; i < HW; i++)
                d[i] += k * g[i] + k1 * xp[i] + k0;
        }
    }
}

/* Synchronised statistics (sync_bn): each rank's per-channel mean and sum
 * of squared deviations, from sums shifted by one sample as in one process,
 * combined over the ranks (must_ctx_bn_combine): mean[C], m2[C], *count. */
static int bn_sync_moments(must_ctx *ctx, const must_tensor *x, double *mean, double *m2,
                           double *count)
{
    const int N = x->shape[0], C = x->shape[1];
    const size_t HW = x->numel / ((size_t)N * C);
    const double M = (double)N * (double)HW;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < C; c++) {
        const float shift = x->data[(size_t)c * HW];
        double s1 = 0, s2 = 0;
        for (int n = 0; n < N; n++)
            plane_moments(x->data + ((size_t)n * C + c) * HW, HW, shift, &s1, &s2);
        double d = s1 / M, q = s2 - s1 * d;
        mean[c] = shift + d;
        m2[c] = q > 0 ? q : 0;
    }
    *count = M;
    return must_ctx_bn_combine(ctx, C, mean, m2, count);
}

static int bn_param_ok(const must_tensor *t, int C)
{
    return t->ndim == 1 && t->shape[0] == C;
}

must_tensor *must_op_batchnorm(must_ctx *ctx, must_tensor *x, must_tensor *gamma,
                               must_tensor *beta, must_tensor *running_mean,
                               must_tensor *running_var, float momentum, float eps)
{
    if (!x || !gamma || !beta || !running_mean || !running_var)
        return NULL;
    if (x->ndim < 2)
        return must_shape_fail(ctx, "batchnorm", x, gamma);
    const int N = x->shape[0], C = x->shape[1];
    const must_tensor *ps[4] = {gamma, beta, running_mean, running_var};
    for (int i = 0; i < 4; i++)
        if (!bn_param_ok(ps[i], C))
            return must_shape_fail(ctx, "batchnorm", x, ps[i]);
    const size_t HW = x->numel / ((size_t)N * C), cnt = (size_t)N * HW;
    const int training = must_ctx_training(ctx);
    if (training && cnt < 2) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE,
                      "batchnorm: input %s has one value per channel; training needs more",
                      must_shape_str(x, s, sizeof s));
        return NULL;
    }
    if (!(eps >= 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) {
        must_ctx_fail(ctx, MUST_EINVAL, "batchnorm: eps %g, momentum %g (need eps >= 0, "
                      "momentum in [0, 1])", (double)eps, (double)momentum);
        return NULL;
    }
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    bn_saved *sv = must_ctx_alloc(ctx, sizeof *sv);
    float *stats = must_ctx_alloc(ctx, 2 * (size_t)C * sizeof(float));
    if (!y || !sv || !stats)
        return NULL;
    sv->mean = stats;
    sv->invstd = stats + C;
    sv->training = training;
    sv->count = 0;
    double *gsum = NULL; /* synchronised: the whole batch's means, then m2s */
    if (training && must_ctx_bn_synced(ctx)) {
        gsum = must_ctx_alloc(ctx, 2 * (size_t)C * sizeof *gsum);
        if (!gsum || bn_sync_moments(ctx, x, gsum, gsum + C, &sv->count))
            return NULL;
    }
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, var, n_all = gsum ? sv->count : (double)cnt;
        if (gsum) {
            mean = gsum[c];
            var = gsum[C + c] / n_all;
            running_mean->data[c] = (1.0f - momentum) * running_mean->data[c] +
                                    momentum * (float)mean;
            running_var->data[c] = (1.0f - momentum) * running_var->data[c] +
                                   momentum * (float)(var * n_all / (n_all - 1));
        } else if (training) {
            /* Shifted by one sample: the sums stay small, var does not cancel. */
            const float shift = x->data[(size_t)c * HW];
            double s1 = 0, s2 = 0;
            for (int n = 0; n < N; n++)
                plane_moments(x->data + ((size_t)n * C + c) * HW, HW, shift, &s1, &s2);
            double m = s1 / (double)cnt;
            mean = shift + m;
            var = s2 / (double)cnt - m * m;
            if (var < 0)
                var = 0;
            running_mean->data[c] = (1.0f - momentum) * running_mean->data[c] +
                                    momentum * (float)mean;
            running_var->data[c] = (1.0f - momentum) * running_var->data[c] +
                                   momentum * (float)(var * (double)cnt / (double)(cnt - 1));
        } else {
            mean = running_mean->data[c];
            var = running_var->data[c];
        }
        const float is = (float)(1.0 / sqrt(var + (double)eps));
        sv->mean[c] = (float)mean;
        sv->invstd[c] = is;
        const float a = gamma->data[c] * is, b = beta->data[c] - (float)mean * a;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            const float *restrict xp = x->data + o;
            float *restrict yp = y->data + o;
#pragma omp simd
            for (size_t i = 0; i < HW; i++)
                yp[i] = a * xp[i] + b;
        }
    }
    must_tensor *in[3] = {x, gamma, beta};
    must_node *nd = must_tape_record(ctx, "batchnorm", gsum ? batchnorm_bw_sync : batchnorm_bw,
                                     y, 3, in);
    if (nd)
        nd->saved = sv;
    return y;
}
