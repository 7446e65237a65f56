/* ops_elem.c - elementwise ops, reductions to a scalar, reshape. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine-impl.h"

/* Elementwise loops fork across the context's threads once a tensor has
 * this many elements (a fork costs a few microseconds; a 64x64 batch's
 * feature map has hundreds of thousands).  Each element is computed alone,
 * so the result is the same with any thread count.  The OpenMP pragma is
 * spelled once here. */
#define EW_PAR_MIN 32768
#define EW_FOR(n)                                                                              \
    _Pragma("omp parallel for simd schedule(static) num_threads(nt) if (parallel : nt > 1)")  \
    for (size_t i = 0; i < (n); i++)

static inline int ew_threads(must_ctx *ctx, size_t n)
{
    return n >= EW_PAR_MIN ? must_ctx_threads(ctx) : 1;
}

/* ---- relu (N, ...) ---- */
static void relu_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (!x->grad)
        return;
    const int nt = ew_threads(ctx, y->numel);
    EW_FOR(y->numel)
        if (y->data[i] > 0.0f)
            x->grad[i] += y->grad[i];
}

must_tensor *must_op_relu(must_ctx *ctx, must_tensor *x)
{
    if (!x)
        return NULL;
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, x->numel);
    EW_FOR(x->numel)
        y->data[i] = x->data[i] > 0.0f ? x->data[i] : 0.0f;
    must_tape_record(ctx, "relu", relu_bw, y, 1, &x);
    return y;
}

/* ---- add, mul: same shapes ---- */
static void add_bw(must_ctx *ctx, must_node *nd)
{
    const float *g = nd->out->grad;
    for (int k = 0; k < 2; k++) {
        float *gx = nd->in[k]->grad;
        if (gx) {
            const int nt = ew_threads(ctx, nd->out->numel);
            EW_FOR(nd->out->numel)
                gx[i] += g[i];
        }
    }
}

must_tensor *must_op_add(must_ctx *ctx, must_tensor *a, must_tensor *b)
{
    if (!a || !b)
        return NULL;
    if (a->numel != b->numel || !must_shape_eq(a, b))
        return must_shape_fail(ctx, "add", a, b);
    must_tensor *y = must_tensor_new(ctx, a->ndim, a->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, y->numel);
    EW_FOR(y->numel)
        y->data[i] = a->data[i] + b->data[i];
    must_tensor *in[2] = {a, b};
    must_tape_record(ctx, "add", add_bw, y, 2, in);
    return y;
}

static void mul_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *a = nd->in[0], *b = nd->in[1];
    const float *g = nd->out->grad;
    if (a->grad) {
        const int nt = ew_threads(ctx, a->numel);
        EW_FOR(a->numel)
            a->grad[i] += g[i] * b->data[i];
    }
    if (b->grad) {
        const int nt = ew_threads(ctx, b->numel);
        EW_FOR(b->numel)
            b->grad[i] += g[i] * a->data[i];
    }
}

must_tensor *must_op_mul(must_ctx *ctx, must_tensor *a, must_tensor *b)
{
    if (!a || !b)
        return NULL;
    if (!must_shape_eq(a, b))
        return must_shape_fail(ctx, "mul", a, b);
    must_tensor *y = must_tensor_new(ctx, a->ndim, a->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, y->numel);
    EW_FOR(y->numel)
        y->data[i] = a->data[i] * b->data[i];
    must_tensor *in[2] = {a, b};
    must_tape_record(ctx, "mul", mul_bw, y, 2, in);
    return y;
}

/* ---- scale ---- */
static void scale_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0];
    float s = nd->farg[0];
    if (x->grad) {
        const int nt = ew_threads(ctx, x->numel);
        EW_FOR(x->numel)
            x->grad[i] += s * nd->out->grad[i];
    }
}

must_tensor *must_op_scale(must_ctx *ctx, must_tensor *x, float s)
{
    if (!x)
        return NULL;
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, x->numel);
    EW_FOR(x->numel)
        y->data[i] = s * x->data[i];
    must_node *nd = must_tape_record(ctx, "scale", scale_bw, y, 1, &x);
    if (nd)
        nd->farg[0] = s;
    return y;
}

/* ---- sigmoid, exp: the backward reads the output ---- */
static void sigmoid_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (x->grad) {
        const int nt = ew_threads(ctx, x->numel);
        EW_FOR(x->numel)
            x->grad[i] += y->grad[i] * y->data[i] * (1.0f - y->data[i]);
    }
}

must_tensor *must_op_sigmoid(must_ctx *ctx, must_tensor *x)
{
    if (!x)
        return NULL;
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, x->numel);
    EW_FOR(x->numel)
        y->data[i] = 1.0f / (1.0f + expf(-x->data[i]));
    must_tape_record(ctx, "sigmoid", sigmoid_bw, y, 1, &x);
    return y;
}

static void exp_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (x->grad) {
        const int nt = ew_threads(ctx, x->numel);
        EW_FOR(x->numel)
            x->grad[i] += y->grad[i] * y->data[i];
    }
}

must_tensor *must_op_exp(must_ctx *ctx, must_tensor *x)
{
    if (!x)
        return NULL;
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    if (!y)
        return NULL;
    const int nt = ew_threads(ctx, x->numel);
    EW_FOR(x->numel)
        y->data[i] = expf(x->data[i]);
    must_tape_record(ctx, "exp", exp_bw, y, 1, &x);
    return y;
}

/* ---- sum, mean ---- */
static void sum_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0];
    float g = nd->out->grad[0] * nd->farg[0];
    if (x->grad) {
        const int nt = ew_threads(ctx, x->numel);
        EW_FOR(x->numel)
            x->grad[i] += g;
    }
}

static must_tensor *reduce(must_ctx *ctx, must_tensor *x, int mean)
{
    if (!x)
        return NULL;
    must_tensor *y = must_scalar_new(ctx);
    if (!y)
        return NULL;
    double s = 0.0;
    for (size_t i = 0; i < x->numel; i++)
        s += x->data[i];
    float f = mean ? 1.0f / (float)x->numel : 1.0f;
    y->data[0] = (float)(s * f);
    must_node *nd = must_tape_record(ctx, mean ? "mean" : "sum", sum_bw, y, 1, &x);
    if (nd)
        nd->farg[0] = f;
    return y;
}

must_tensor *must_op_sum(must_ctx *ctx, must_tensor *x) { return reduce(ctx, x, 0); }
must_tensor *must_op_mean(must_ctx *ctx, must_tensor *x) { return reduce(ctx, x, 1); }

/* ---- reshape, flatten: the output shares the input's values ---- */
static void reshape_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0];
    if (x->grad) {
        const int nt = ew_threads(ctx, x->numel);
        EW_FOR(x->numel)
            x->grad[i] += nd->out->grad[i];
    }
}

must_tensor *must_op_reshape(must_ctx *ctx, must_tensor *x, int ndim, const int *shape)
{
    if (!x)
        return NULL;
    size_t n = 1;
    for (int i = 0; i < ndim && i < MUST_MAX_DIMS; i++)
        n *= shape[i] > 0 ? (size_t)shape[i] : 0;
    if (ndim < 1 || ndim > MUST_MAX_DIMS || n != x->numel) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE, "reshape: %s has %zu elements, the new shape %zu",
                      must_shape_str(x, s, sizeof s), x->numel, n);
        return NULL;
    }
    must_tensor *y = must_ctx_alloc(ctx, sizeof *y);
    if (!y)
        return NULL;
    memset(y, 0, sizeof *y);
    y->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        y->shape[i] = shape[i];
    y->numel = n;
    y->data = x->data;
    must_tape_record(ctx, "reshape", reshape_bw, y, 1, &x);
    return y;
}

must_tensor *must_op_flatten(must_ctx *ctx, must_tensor *x)
{
    if (!x)
        return NULL;
    int s[2] = {x->shape[0], (int)(x->numel / (size_t)x->shape[0])};
    return must_op_reshape(ctx, x, 2, s);
}
