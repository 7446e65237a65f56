/* ops_pool.c - max pooling and global average pooling.
 *
 * On ties in max pooling the first maximum in row-major window order gets
 * the whole gradient.  Both ops are parallel over (n, c) planes, each plane
 * written by one thread.
 */
#include "config.h"

#include <omp.h>
#include <string.h>

#include "engine-impl.h"

#define PAR_MIN 32768

/* ---- max pool (N, C, H, W) -> (N, C, Ho, Wo) ---- */

/* max that keeps a NaN, as PyTorch does, so that it is not hidden; written
 * as a select so that the loops below vectorise. */
static inline float nanmax(float m, float v) { return (m >= v || m != m) ? m : v; }

/* Window of output index o along a side of n: [lo, hi) inside the input. */
static inline void window(int o, int k, int s, int pad, int n, int *lo, int *hi)
{
    int a = o * s - pad;
    *lo = a < 0 ? 0 : a;
    *hi = a + k > n ? n : a + k;
}

/* One plane, separably: the max over each row's windows into hb (H, Wo),
 * then over windows of those rows.  Padding is -inf: only real pixels take
 * part (pad <= k/2 leaves every window at least one). */
static void maxpool_plane(const float *x, int H, int W, int k, int s, int pad, int Ho, int Wo,
                          float *hb, float *y)
{
    /* outputs whose window lies inside the row: [in0, in1) */
    int in0 = (pad + s - 1) / s, in1 = W - k + pad < 0 ? 0 : (W - k + pad) / s + 1;
    if (in1 > Wo)
        in1 = Wo;
    if (in0 > in1)
        in0 = in1;
    for (int ih = 0; ih < H; ih++) {
        const float *xr = x + (size_t)ih * W;
        float *hr = hb + (size_t)ih * Wo;
        for (int ow = 0; ow < Wo; ow++) {
            if (ow == in0 && in1 > in0) {
                const float *base = xr + (in0 * s - pad);
                const int n = in1 - in0;
                float *restrict h = hr + in0;
#pragma omp simd
                for (int i = 0; i < n; i++)
                    h[i] = base[(size_t)i * s];
                for (int j = 1; j < k; j++) {
                    const float *restrict xj = base + j;
#pragma omp simd
                    for (int i = 0; i < n; i++)
                        h[i] = nanmax(h[i], xj[(size_t)i * s]);
                }
                ow = in1 - 1;
                continue;
            }
            int lo, hi;
            window(ow, k, s, pad, W, &lo, &hi);
            float m = xr[lo];
            for (int iw = lo + 1; iw < hi; iw++)
                m = nanmax(m, xr[iw]);
            hr[ow] = m;
        }
    }
    for (int oh = 0; oh < Ho; oh++) {
        int lo, hi;
        window(oh, k, s, pad, H, &lo, &hi);
        float *restrict yr = y + (size_t)oh * Wo;
        memcpy(yr, hb + (size_t)lo * Wo, (size_t)Wo * sizeof(float));
        for (int ih = lo + 1; ih < hi; ih++) {
            const float *restrict hr = hb + (size_t)ih * Wo;
#pragma omp simd
            for (int i = 0; i < Wo; i++)
                yr[i] = nanmax(yr[i], hr[i]);
        }
    }
}

/* Backward finds each window's first maximum again (row-major order, the
 * forward's tie rule) instead of the forward saving it: inference then pays
 * nothing for it, and the forward's max stays branch-free. */
static void maxpool_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (!x->grad)
        return;
    const int k = nd->iarg[0], s = nd->iarg[1], pad = nd->iarg[2];
    const int H = x->shape[2], W = x->shape[3], Ho = y->shape[2], Wo = y->shape[3];
    const size_t planes = (size_t)x->shape[0] * x->shape[1];
    const size_t HW = (size_t)H * W, P = (size_t)Ho * Wo;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * HW, *yp = y->data + pl * P, *dy = y->grad + pl * P;
        float *dx = x->grad + pl * HW;
        for (int oh = 0; oh < Ho; oh++) {
            int ha, hb;
            window(oh, k, s, pad, H, &ha, &hb);
            for (int ow = 0; ow < Wo; ow++) {
                int wa, wb;
                window(ow, k, s, pad, W, &wa, &wb);
                const float m = yp[(size_t)oh * Wo + ow];
                int at = -1;
                for (int ih = ha; ih < hb && at < 0; ih++)
                    for (int iw = wa; iw < wb; iw++) {
                        const float v = xp[(size_t)ih * W + iw];
                        if (v == m || (v != v && m != m)) {
                            at = ih * W + iw;
                            break;
                        }
                    }
                dx[at] += dy[(size_t)oh * Wo + ow];
            }
        }
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
    const size_t planes = (size_t)N * C, HW = (size_t)H * W, P = (size_t)Ho * Wo;
    const int nt = x->numel < PAR_MIN ? 1 : must_ctx_threads(ctx);
    const size_t per = ((size_t)H * Wo + 15) & ~(size_t)15;
    float *hbuf = must_ctx_scratch(ctx, per * (size_t)nt);
    if (!hbuf)
        return NULL;
#pragma omp parallel num_threads(nt)
    {
        float *hb = hbuf + per * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
        for (size_t pl = 0; pl < planes; pl++)
            maxpool_plane(x->data + pl * HW, H, W, k, stride, pad, Ho, Wo, hb, y->data + pl * P);
    }
    must_node *nd = must_tape_record(ctx, "maxpool", maxpool_bw, y, 1, &x);
    if (nd) {
        nd->iarg[0] = k;
        nd->iarg[1] = stride;
        nd->iarg[2] = pad;
    }
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
