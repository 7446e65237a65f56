/* ops_conv.c - 2-d convolution: im2col + one GEMM over the whole batch.
 *
 * The GEMM's N dimension is every output pixel of the batch, J = B*Ho*Wo, so
 * deep layers with a 4x4 map still hand BLAS a wide matrix (DESIGN §4).  The
 * columns are walked in chunks sized from the shape alone so that one chunk
 * of im2col rows (K x nc floats) stays in the last-level cache between
 * im2col writing it and the GEMM reading it: the whole im2col matrix of a
 * stride-4 head conv at 128^2 is 75 MB, and sending it to DRAM and back costs
 * a quarter of the GEMM's time.  The chunk size never depends on the thread
 * count, so the weight gradient (summed chunk by chunk) is the same bit for
 * bit with any number of threads.
 *
 * Backward recomputes each chunk's im2col from x instead of saving the
 * forward's: saving would write K*J floats to DRAM and read them back, while
 * recomputing reads x (kh*kw times smaller) and writes a cache-resident chunk.
 *
 * The GEMM produces a chunk in (Cout, columns) order: CNHW.  The forward
 * scatters it into the NCHW output with the bias added on the way; backward
 * gathers dy into the same order and sums the bias gradient while it does.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "engine-impl.h"

/* Bytes of scratch one chunk of columns may use (im2col rows + GEMM output).
 * Small enough for the L3 of the project machines even when shared, large
 * enough that the GEMM sees a few hundred columns. */
#ifndef MUST_CONV_CHUNK_BYTES
#define MUST_CONV_CHUNK_BYTES (4u << 20)
#endif
/* Loops that touch fewer floats than this run on one thread: a fork costs
 * more than it saves. */
#define PAR_MIN 32768

typedef struct conv_geom {
    int B, C, H, W;  /* input (B, C, H, W) */
    int O, kh, kw;   /* weights (O, C, kh, kw) */
    int s, pad, d;   /* stride, padding, dilation */
    int Ho, Wo;
    int K;           /* C * kh * kw: the GEMM's reduction length */
    size_t P, J;     /* Ho * Wo; B * P */
    int pointwise;   /* 1x1, stride 1, pad 0: im2col is a plain layout copy */
} conv_geom;

static size_t chunk_cols(const conv_geom *g)
{
    size_t per_col = (size_t)(g->K + g->O) * sizeof(float);
    size_t nc = MUST_CONV_CHUNK_BYTES / per_col;
    nc &= ~(size_t)63;
    if (nc < 256)
        nc = 256;
    if (nc >= g->J)
        return g->J;
    /* Equal chunks, so the last one is not a sliver the GEMM runs slowly. */
    size_t n = (g->J + nc - 1) / nc;
    nc = (g->J + n - 1) / n;
    return (nc + 15) & ~(size_t)15;
}

/* First output column ow whose input column ow*s + off is >= 0, and the first
 * one whose input column is >= W: [lo, hi) reads real pixels. */
static void valid_cols(const conv_geom *g, int off, int *lo, int *hi)
{
    *lo = off >= 0 ? 0 : (-off + g->s - 1) / g->s;
    *hi = g->W - off <= 0 ? 0 : (g->W - off + g->s - 1) / g->s;
    if (*hi > g->Wo)
        *hi = g->Wo;
    if (*hi < *lo)
        *hi = *lo;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Rows of the im2col matrix for columns [j0, j0 + nc): row r = (c, i, j) of
 * the kernel, column = (b, oh, ow).  col is (K, nc). */
static void im2col(const conv_geom *g, const float *x, size_t j0, size_t nc, float *col, int nt)
{
    const size_t HW = (size_t)g->H * g->W;
    const int kk = g->kh * g->kw;
    nt = (size_t)g->K * nc < PAR_MIN ? 1 : nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int r = 0; r < g->K; r++) {
        const int c = r / kk, ki = r % kk / g->kw, kj = r % g->kw;
        float *dst = col + (size_t)r * nc;
        size_t j = j0;
        const size_t j1 = j0 + nc;
        if (g->pointwise) {
            while (j < j1) {
                size_t b = j / g->P, p = j % g->P;
                size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                memcpy(dst + (j - j0), x + (b * g->C + c) * HW + p, len * sizeof(float));
                j += len;
            }
            continue;
        }
        const int off = kj * g->d - g->pad;
        int lo, hi;
        valid_cols(g, off, &lo, &hi);
        size_t b = j / g->P, p = j % g->P;
        int oh = (int)(p / g->Wo), ow = (int)(p % g->Wo);
        while (j < j1) {
            int len = g->Wo - ow;
            if ((size_t)len > j1 - j)
                len = (int)(j1 - j);
            float *o = dst + (j - j0);
            const int ih = oh * g->s - g->pad + ki * g->d;
            if (ih < 0 || ih >= g->H) {
                memset(o, 0, (size_t)len * sizeof(float));
            } else {
                /* input column of output ow + i: (ow + i) s + off, >= 0 for i >= a */
                const float *row = x + (b * g->C + c) * HW + (size_t)ih * g->W;
                int a = clampi(lo - ow, 0, len), e = clampi(hi - ow, 0, len);
                memset(o, 0, (size_t)a * sizeof(float));
                if (e <= a) {
                    /* the whole run reads padding */
                } else if (g->s == 1) {
                    memcpy(o + a, row + (ow + a + off), (size_t)(e - a) * sizeof(float));
                } else {
                    const float *sp = row + ((ow + a) * g->s + off);
                    for (int i = 0; i < e - a; i++)
                        o[a + i] = sp[(size_t)i * g->s];
                }
                memset(o + e, 0, (size_t)(len - e) * sizeof(float));
            }
            j += (size_t)len;
            ow = 0;
            if (++oh == g->Ho) {
                oh = 0;
                b++;
            }
        }
    }
}

/* The adjoint of im2col: dx += col2im(dcol).  Parallel over input channels,
 * so every dx element is summed by one thread in a fixed order. */
static void col2im(const conv_geom *g, const float *dcol, size_t j0, size_t nc, float *dx, int nt)
{
    const size_t HW = (size_t)g->H * g->W;
    const int kk = g->kh * g->kw;
    nt = (size_t)g->K * nc < PAR_MIN ? 1 : nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < g->C; c++) {
        for (int q = 0; q < kk; q++) {
            const int ki = q / g->kw, kj = q % g->kw;
            const float *srow = dcol + ((size_t)c * kk + q) * nc;
            size_t j = j0;
            const size_t j1 = j0 + nc;
            if (g->pointwise) {
                while (j < j1) {
                    size_t b = j / g->P, p = j % g->P;
                    size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                    float *o = dx + (b * g->C + c) * HW + p;
                    const float *sp = srow + (j - j0);
                    for (size_t i = 0; i < len; i++)
                        o[i] += sp[i];
                    j += len;
                }
                continue;
            }
            const int off = kj * g->d - g->pad;
            int lo, hi;
            valid_cols(g, off, &lo, &hi);
            size_t b = j / g->P, p = j % g->P;
            int oh = (int)(p / g->Wo), ow = (int)(p % g->Wo);
            while (j < j1) {
                int len = g->Wo - ow;
                if ((size_t)len > j1 - j)
                    len = (int)(j1 - j);
                const int ih = oh * g->s - g->pad + ki * g->d;
                if (ih >= 0 && ih < g->H && clampi(hi - ow, 0, len) > clampi(lo - ow, 0, len)) {
                    const float *sp = srow + (j - j0);
                    float *row = dx + (b * g->C + c) * HW + (size_t)ih * g->W;
                    int a = clampi(lo - ow, 0, len), e = clampi(hi - ow, 0, len);
                    float *op = row + ((ow + a) * g->s + off);
                    sp += a;
                    if (g->s == 1) {
                        for (int i = 0; i < e - a; i++)
                            op[i] += sp[i];
                    } else {
                        for (int i = 0; i < e - a; i++)
                            op[(size_t)i * g->s] += sp[i];
                    }
                }
                j += (size_t)len;
                ow = 0;
                if (++oh == g->Ho) {
                    oh = 0;
                    b++;
                }
            }
        }
    }
}

/* y[b, o, p] = yc[o, j - j0] + bias[o] for the chunk's columns j = b*P + p. */
static void scatter_out(const conv_geom *g, const float *yc, size_t j0, size_t nc,
                        const float *bias, float *y, int nt)
{
    nt = (size_t)g->O * nc < PAR_MIN ? 1 : nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int o = 0; o < g->O; o++) {
        const float bo = bias ? bias[o] : 0.0f;
        const float *src = yc + (size_t)o * nc;
        size_t j = j0;
        const size_t j1 = j0 + nc;
        while (j < j1) {
            size_t b = j / g->P, p = j % g->P;
            size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
            float *dst = y + (b * g->O + o) * g->P + p;
            const float *sp = src + (j - j0);
            for (size_t i = 0; i < len; i++)
                dst[i] = sp[i] + bo;
            j += len;
        }
    }
}

/* dyc[o, j - j0] = dy[b, o, p]; dbias[o] += the chunk's sum when wanted. */
static void gather_grad(const conv_geom *g, const float *dy, size_t j0, size_t nc, float *dyc,
                        double *dbias, int nt)
{
    nt = (size_t)g->O * nc < PAR_MIN ? 1 : nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int o = 0; o < g->O; o++) {
        float *dst = dyc + (size_t)o * nc;
        size_t j = j0;
        const size_t j1 = j0 + nc;
        double acc = 0.0;
        while (j < j1) {
            size_t b = j / g->P, p = j % g->P;
            size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
            const float *src = dy + (b * g->O + o) * g->P + p;
            float *dp = dst + (j - j0);
            memcpy(dp, src, len * sizeof(float));
            if (dbias) {
                float s[8] = {0};
                size_t i = 0;
                for (; i + 8 <= len; i += 8)
                    for (int l = 0; l < 8; l++)
                        s[l] += src[i + l];
                for (; i < len; i++)
                    s[0] += src[i];
                acc += (double)((s[0] + s[4]) + (s[1] + s[5])) +
                       (double)((s[2] + s[6]) + (s[3] + s[7]));
            }
            j += len;
        }
        if (dbias)
            dbias[o] += acc;
    }
}

static void geom_from(conv_geom *g, const must_tensor *x, const must_tensor *w, int s, int pad,
                      int d)
{
    g->B = x->shape[0];
    g->C = x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->O = w->shape[0];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->s = s;
    g->pad = pad;
    g->d = d;
    g->Ho = (g->H + 2 * pad - d * (g->kh - 1) - 1) / s + 1;
    g->Wo = (g->W + 2 * pad - d * (g->kw - 1) - 1) / s + 1;
    g->K = g->C * g->kh * g->kw;
    g->P = (size_t)g->Ho * g->Wo;
    g->J = (size_t)g->B * g->P;
    g->pointwise = g->kh == 1 && g->kw == 1 && s == 1 && pad == 0;
}

/* Scratch: one chunk of im2col rows, then one chunk of GEMM output. */
static float *chunk_buffers(must_ctx *ctx, const conv_geom *g, size_t nc, float **yc)
{
    size_t ncol = ((size_t)g->K * nc + 15) & ~(size_t)15;
    float *buf = must_ctx_scratch(ctx, ncol + (size_t)g->O * nc);
    if (buf)
        *yc = buf + ncol;
    return buf;
}

static void conv2d_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *w = nd->in[1], *bt = nd->n_in > 2 ? nd->in[2] : NULL;
    float *db = bt ? bt->grad : NULL;
    if (!x->grad && !w->grad && !db)
        return;
    conv_geom g;
    geom_from(&g, x, w, nd->iarg[0], nd->iarg[1], nd->iarg[2]);
    const int nt = must_ctx_threads(ctx);
    const size_t nc = chunk_cols(&g);
    float *dyc;
    float *col = chunk_buffers(ctx, &g, nc, &dyc);
    double *dsum = db ? must_ctx_alloc(ctx, (size_t)g.O * sizeof(double)) : NULL;
    if (!col || (db && !dsum))
        return;
    if (dsum)
        memset(dsum, 0, (size_t)g.O * sizeof(double));
    for (size_t j0 = 0; j0 < g.J; j0 += nc) {
        size_t n = g.J - j0 < nc ? g.J - j0 : nc;
        gather_grad(&g, nd->out->grad, j0, n, dyc, dsum, nt);
        if (w->grad) {
            /* dW (O, K) += dY (O, n) col^T (n, K) */
            im2col(&g, x->data, j0, n, col, nt);
            must_sgemm(ctx, 0, 1, g.O, g.K, (int)n, 1.0f, dyc, (int)n, col, (int)n, 1.0f,
                       w->grad, g.K);
        }
        if (x->grad) {
            /* dcol (K, n) = W^T (K, O) dY (O, n), then scattered back onto dx */
            must_sgemm(ctx, 1, 0, g.K, (int)n, g.O, 1.0f, w->data, g.K, dyc, (int)n, 0.0f, col,
                       (int)n);
            col2im(&g, col, j0, n, x->grad, nt);
        }
    }
    for (int o = 0; dsum && o < g.O; o++)
        db[o] += (float)dsum[o];
}

must_tensor *must_op_conv2d(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b,
                            int stride, int pad, int dil)
{
    if (!x || !w)
        return NULL;
    if (x->ndim != 4 || w->ndim != 4 || w->shape[1] != x->shape[1])
        return must_shape_fail(ctx, "conv2d", x, w);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return must_shape_fail(ctx, "conv2d (bias)", w, b);
    if (stride < 1 || pad < 0 || dil < 1) {
        must_ctx_fail(ctx, MUST_EINVAL, "conv2d: stride %d, padding %d, dilation %d "
                      "(need stride >= 1, padding >= 0, dilation >= 1)", stride, pad, dil);
        return NULL;
    }
    conv_geom g;
    geom_from(&g, x, w, stride, pad, dil);
    if (g.H + 2 * pad < dil * (g.kh - 1) + 1 || g.W + 2 * pad < dil * (g.kw - 1) + 1) {
        char sx[64], sw[64];
        must_ctx_fail(ctx, MUST_ESHAPE,
                      "conv2d: input %s is smaller than the dilated kernel of %s "
                      "(padding %d, dilation %d)",
                      must_shape_str(x, sx, sizeof sx), must_shape_str(w, sw, sizeof sw), pad, dil);
        return NULL;
    }
    must_tensor *y = must_tensor_new4(ctx, g.B, g.O, g.Ho, g.Wo); // (B, O, Ho, Wo)
    if (!y)
        return NULL;
    const int nt = must_ctx_threads(ctx);
    const size_t nc = chunk_cols(&g);
    float *yc;
    float *col = chunk_buffers(ctx, &g, nc, &yc);
    if (!col)
        return NULL;
    for (size_t j0 = 0; j0 < g.J; j0 += nc) {
        size_t n = g.J - j0 < nc ? g.J - j0 : nc;
        im2col(&g, x->data, j0, n, col, nt);
        /* Y (O, n) = W (O, K) col (K, n) */
        must_sgemm(ctx, 0, 0, g.O, (int)n, g.K, 1.0f, w->data, g.K, col, (int)n, 0.0f, yc,
                   (int)n);
        scatter_out(&g, yc, j0, n, b ? b->data : NULL, y->data, nt);
    }
    must_tensor *in[3] = {x, w, b};
    must_node *nd = must_tape_record(ctx, "conv2d", conv2d_bw, y, b ? 3 : 2, in);
    if (nd) {
        nd->iarg[0] = stride;
        nd->iarg[1] = pad;
        nd->iarg[2] = dil;
    }
    return y;
}
