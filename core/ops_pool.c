/* ops_pool.c - max pooling and global average pooling.
 *
 * Max pooling saves, per output, the plane index of the input it took, so
 * backward is a scatter with no comparisons; on ties the first maximum in
 * row-major window order wins, and gets the whole gradient.  Both ops are
 * parallel over (n, c) planes, each plane written by one thread.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine-impl.h"

#define PAR_MIN 32768

/* ---- max pool (N, C, H, W) -> (N, C, Ho, Wo) ---- */

static void maxpool_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (!x->grad)
        return;
    const int32_t *arg = nd->saved;
    const size_t planes = (size_t)x->shape[0] * x->shape[1];
    const size_t HW = (size_t)x->shape[2] * x->shape[3], P = (size_t)y->shape[2] * y->shape[3];
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = x->grad + pl * HW;
        const float *dy = y->grad + pl * P;
        const int32_t *a = arg + pl * P;
        for (size_t i = 0; i < P; i++)
            dx[a[i]] += dy[i];
    }
}

must_tensor *must_op_maxpool(must_ctx *ctx, must_tensor *x, int k, int stride, int pad)
{
    if (!x)
        return NULL;
    char s[64];
    if (x->ndim != 4) {
        must_ctx_fail(ctx, MUST_ESHAPE, "maxpool: input %s is not (N, C, H, W)",
                      must_shape_str(x, s, sizeof s));
        return NULL;
    }
    /* pad <= k/2 (PyTorch's rule) keeps every window on at least one pixel. */
    if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k) {
        must_ctx_fail(ctx, MUST_EINVAL,
                      "maxpool: kernel %d, stride %d, padding %d (need kernel >= 1, "
                      "stride >= 1, 0 <= padding <= kernel/2)",
                      k, stride, pad);
        return NULL;
    }
    const int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (H + 2 * pad < k || W + 2 * pad < k) {
        must_ctx_fail(ctx, MUST_ESHAPE, "maxpool: input %s is smaller than the %dx%d window",
                      must_shape_str(x, s, sizeof s), k, k);
        return NULL;
    }
    const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    must_tensor *y = must_tensor_new4(ctx, N, C, Ho, Wo); // (N, C, Ho, Wo)
    if (!y)
        return NULL;
    int32_t *arg = NULL;
    if (must_ctx_grad(ctx) && (x->flags & MUST_T_REQ_GRAD)) {
        arg = must_ctx_alloc(ctx, y->numel * sizeof *arg);
        if (!arg)
            return NULL;
    }
    const size_t planes = (size_t)N * C, HW = (size_t)H * W, P = (size_t)Ho * Wo;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * HW;
        float *yp = y->data + pl * P;
        for (int oh = 0; oh < Ho; oh++) {
            const int h0 = oh * stride - pad;
            const int ha = h0 < 0 ? 0 : h0, hb = h0 + k > H ? H : h0 + k;
            for (int ow = 0; ow < Wo; ow++) {
                const int w0 = ow * stride - pad;
                const int wa = w0 < 0 ? 0 : w0, wb = w0 + k > W ? W : w0 + k;
                /* padding is -inf: only real pixels compete; a NaN wins, as in
                 * PyTorch, so that it is not hidden */
                int at = ha * W + wa;
                float best = xp[at];
                for (int ih = ha; ih < hb; ih++)
                    for (int iw = wa; iw < wb; iw++) {
                        float v = xp[(size_t)ih * W + iw];
                        if (v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            at = ih * W + iw;
                        }
                    }
                yp[(size_t)oh * Wo + ow] = best;
                if (arg)
                    arg[pl * P + (size_t)oh * Wo + ow] = at;
            }
        }
    }
    must_node *nd = must_tape_record(ctx, "maxpool", maxpool_bw, y, 1, &x);
    if (nd)
        nd->saved = arg;
    return y;
}

/* ---- global average pool (N, C, H, W) -> (N, C) ---- */

static void gavgpool_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (!x->grad)
        return;
    const size_t planes = y->numel, HW = x->numel / planes;
    const float inv = 1.0f / (float)HW;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t pl = 0; pl < planes; pl++) {
        float g = y->grad[pl] * inv, *dx = x->grad + pl * HW;
        for (size_t i = 0; i < HW; i++)
            dx[i] += g;
    }
}

must_tensor *must_op_global_avgpool(must_ctx *ctx, must_tensor *x)
{
    if (!x)
        return NULL;
    if (x->ndim != 4) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE, "global_avgpool: input %s is not (N, C, H, W)",
                      must_shape_str(x, s, sizeof s));
        return NULL;
    }
    int shape[2] = {x->shape[0], x->shape[1]};
    must_tensor *y = must_tensor_new(ctx, 2, shape); // (N, C)
    if (!y)
        return NULL;
    const size_t planes = y->numel, HW = x->numel / planes;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *p = x->data + pl * HW;
        float a[8] = {0};
        size_t i = 0;
        for (; i + 8 <= HW; i += 8)
            for (int l = 0; l < 8; l++)
                a[l] += p[i + l];
        for (; i < HW; i++)
            a[0] += p[i];
        double s = 0;
        for (int l = 0; l < 8; l++)
            s += a[l];
        y->data[pl] = (float)(s / (double)HW);
    }
    must_tape_record(ctx, "global_avgpool", gavgpool_bw, y, 1, &x);
    return y;
}
