/* ops_linear.c - fully connected layer, weights laid out as torch's (O, F). */
#include "config.h"

#include <string.h>

#include "engine-impl.h"

static void linear_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    const float *dy = nd->out->grad; // (N, O)
    const int N = x->shape[0], F = x->shape[1], O = w->shape[0];
    if (x->grad) /* dx (N, F) += dy (N, O) w (O, F) */
        must_sgemm(ctx, 0, 0, N, F, O, 1.0f, dy, O, w->data, F, 1.0f, x->grad, F);
    if (w->grad) /* dw (O, F) += dy^T (O, N) x (N, F) */
        must_sgemm(ctx, 1, 0, O, F, N, 1.0f, dy, O, x->data, F, 1.0f, w->grad, F);
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
    must_sgemm(ctx, 0, 1, N, O, F, 1.0f, x->data, F, w->data, F, 0.0f, y->data, O);
    if (b)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++)
                y->data[(size_t)n * O + o] += b->data[o];
    must_tensor *in[3] = {x, w, b};
    must_tape_record(ctx, "linear", linear_bw, y, b ? 3 : 2, in);
    return y;
}
