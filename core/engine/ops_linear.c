/* ops_linear.c - fully connected layer, weights laid out as torch's (O, F).
 *
 * The GEMMs are cut into blocks of C's columns fixed by the shape, which the
 * threads share.  Splitting per thread (as must_sgemm does) would change how
 * OpenBLAS rounds with the thread count; fixed blocks give the same bits on
 * any number of threads. */
#include "config.h"

#include "engine-impl.h"

#define COL_BLOCK 256

/* C (m, n) = alpha op(A) op(B) + beta C, row-major, in fixed column blocks. */
static void gemm_blocks(must_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc)
{
    const int nb = (n + COL_BLOCK - 1) / COL_BLOCK;
    const int nt = nb < 2 || (double)m * n * k < 1e6 ? 1 : must_ctx_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int q = 0; q < nb; q++) {
        const int lo = q * COL_BLOCK, cnt = n - lo < COL_BLOCK ? n - lo : COL_BLOCK;
        const float *bq = tb ? b + (size_t)lo * ldb : b + lo;
        must_sgemm(NULL, ta, tb, m, cnt, k, alpha, a, lda, bq, ldb, beta, c + lo, ldc);
    }
}

static void linear_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    const float *dy = nd->out->grad; // (N, O)
    const int N = x->shape[0], F = x->shape[1], O = w->shape[0];
    if (x->grad) /* dx (N, F) += dy (N, O) w (O, F) */
        gemm_blocks(ctx, 0, 0, N, F, O, 1.0f, dy, O, w->data, F, 1.0f, x->grad, F);
    if (w->grad) /* dw (O, F) += dy^T (O, N) x (N, F) */
        gemm_blocks(ctx, 1, 0, O, F, N, 1.0f, dy, O, x->data, F, 1.0f, w->grad, F);
    if (b && b->grad)
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int n = 0; n < N; n++)
                s += dy[(size_t)n * O + o];
            b->grad[o] += (float)s;
        }
}

must_tensor *must_op_linear(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b)
{
    if (!x || !w)
        return NULL;
    if (x->ndim != 2 || w->ndim != 2 || w->shape[1] != x->shape[1])
        return must_shape_fail(ctx, "linear", x, w);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return must_shape_fail(ctx, "linear (bias)", w, b);
    const int N = x->shape[0], F = x->shape[1], O = w->shape[0];
    int shape[2] = {N, O};
    must_tensor *y = must_tensor_new(ctx, 2, shape); // (N, O)
    if (!y)
        return NULL;
    /* y (N, O) = x (N, F) w^T (F, O) */
    gemm_blocks(ctx, 0, 1, N, O, F, 1.0f, x->data, F, w->data, F, 0.0f, y->data, O);
    if (b)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++)
                y->data[(size_t)n * O + o] += b->data[o];
    must_tensor *in[3] = {x, w, b};
    must_tape_record(ctx, "linear", linear_bw, y, b ? 3 : 2, in);
    return y;
}
