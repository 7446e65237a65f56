/* test_ops_misc.c - concat, l2normalize, resizes, losses; gradient checks of
 * those and of the elementwise ops in core/engine/ops_elem.c. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "must/gradcheck.h"
#include "must/ops.h"
#include "testutil.h"
#include "engine/vexp.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* A fixed pseudo-random tensor of y's shape, the same on every call, so that
 * sum(y * w) is a loss that sees every element of y with its own weight. */
static must_tensor *wsum(must_ctx *ctx, must_tensor *y)
{
    if (!y)
        return NULL;
    must_tensor *w = must_tensor_new(ctx, y->ndim, y->shape);
    if (!w)
        return NULL;
    must_rng r;
    must_rng_seed(&r, 1234);
    for (size_t i = 0; i < w->numel; i++)
        w->data[i] = must_rng_uniform(&r) * 2.0f - 1.0f;
    return must_op_sum(ctx, must_op_mul(ctx, y, w));
}

static void fill_uniform(must_tensor *t, uint64_t seed, float lo, float hi)
{
    must_rng r;
    must_rng_seed(&r, seed);
    must_init_uniform(t, &r, lo, hi);
}

/* Values in [-hi, -lo] U [lo, hi]: away from kinks at 0. */
static void fill_away_from_zero(float *v, size_t n, uint64_t seed, float lo, float hi)
{
    must_rng r;
    must_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        float m = lo + (hi - lo) * must_rng_uniform(&r);
        v[i] = must_rng_uniform(&r) < 0.5f ? -m : m;
    }
}

static void expect_grad_ok(must_ctx *ctx, must_loss_fn fn, void *u, must_params *p, float eps,
                           float tol, const char *what)
{
    must_gradcheck_opts o = {eps, tol, 0, 7};
    must_err e = {0};
    int rc = must_gradcheck(ctx, fn, u, p, &o, &e);
    ck_assert_msg(rc == MUST_OK, "%s: %s", what, e.msg);
}

static must_tensor *param4(must_params *p, const char *name, int n, int c, int h, int w)
{
    return must_params_add4(p, name, n, c, h, w, MUST_T_PARAM);
}

static void expect_error(must_ctx *ctx, int code, const char *s1, const char *s2,
                         const char *s3)
{
    const must_err *e = must_ctx_error(ctx);
    ck_assert_msg(e->code == code, "code %d, expected %d (%s)", e->code, code, e->msg);
    ck_assert_msg(strstr(e->msg, s1), "'%s' not in '%s'", s1, e->msg);
    if (s2)
        ck_assert_msg(strstr(e->msg, s2), "'%s' not in '%s'", s2, e->msg);
    if (s3)
        ck_assert_msg(strstr(e->msg, s3), "'%s' not in '%s'", s3, e->msg);
    must_ctx_reset(ctx);
}

/* ------------------------------------------------------------------------ */
/* Gradient checks of the elementwise ops                                    */

enum { E_RELU, E_ADD, E_MUL, E_SCALE, E_SIGMOID, E_EXP, E_SUM, E_MEAN, E_RESHAPE, E_FLATTEN,
       E_COUNT };
static const char *const elem_name[] = {"relu", "add", "mul", "scale", "sigmoid",
                                        "exp", "sum", "mean", "reshape", "flatten"};

struct elem_case {
    int op;
    must_tensor *a, *b;
};

static must_tensor *elem_loss(must_ctx *ctx, void *u)
{
    struct elem_case *c = u;
    must_tensor *a = c->a, *b = c->b;
    switch (c->op) {
    case E_RELU:
        return wsum(ctx, must_op_relu(ctx, a));
    case E_ADD:
        return wsum(ctx, must_op_add(ctx, a, b));
    case E_MUL:
        return wsum(ctx, must_op_mul(ctx, a, b));
    case E_SCALE:
        return wsum(ctx, must_op_scale(ctx, a, -2.5f));
    case E_SIGMOID:
        return wsum(ctx, must_op_sigmoid(ctx, a));
    case E_EXP:
        return wsum(ctx, must_op_exp(ctx, a));
    case E_SUM: /* d/da = 2 a b */
        return must_op_sum(ctx, must_op_mul(ctx, must_op_mul(ctx, a, a), b));
    case E_MEAN: { /* scaled so that the gradient is O(1): numel * mean(a a b) */
        must_tensor *m = must_op_mean(ctx, must_op_mul(ctx, must_op_mul(ctx, a, a), b));
        return must_op_scale(ctx, m, (float)a->numel);
    }
    case E_RESHAPE: {
        int s[2] = {1, (int)a->numel};
        return wsum(ctx, must_op_exp(ctx, must_op_reshape(ctx, a, 2, s)));
    }
    default:
        return wsum(ctx, must_op_sigmoid(ctx, must_op_flatten(ctx, a)));
    }
}

START_TEST(grad_elementwise_ops)
{
    static const int shapes[3][4] = {{2, 3, 4, 5}, {7, 0, 0, 0}, {3, 1, 2, 2}};
    must_ctx *ctx = must_ctx_new(1);
    for (int op = 0; op < E_COUNT; op++)
        for (int s = 0; s < 3; s++) {
            const int *sh = shapes[s];
            must_params *p = must_params_new("");
            struct elem_case c = {op, param4(p, "a", sh[0], sh[1], sh[2], sh[3]),
                                  param4(p, "b", sh[0], sh[1], sh[2], sh[3])};
            ck_assert_int_eq(must_params_alloc(p, NULL), MUST_OK);
            fill_away_from_zero(c.a->data, c.a->numel, 11 + s, 0.1f, 1.5f);
            fill_uniform(c.b, 21 + s, -1.0f, 1.0f);
            char what[64];
            snprintf(what, sizeof what, "%s shape %d", elem_name[op], s);
            expect_grad_ok(ctx, elem_loss, &c, p, 1e-3f, 1e-2f, what);
            must_params_free(p);
        }
    must_ctx_free(ctx);
}
END_TEST

/* The gradient of relu is 1 where x > 0 and 0 elsewhere, checked directly
 * too (the kink skipping must not hide a wrong mask). */
START_TEST(relu_gradient_values)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 4, 0, 0, 0);
    must_params_alloc(p, NULL);
    float v[4] = {-1.0f, 2.0f, -0.5f, 0.25f};
    memcpy(x->data, v, sizeof v);
    ck_assert_int_eq(must_backward(ctx, must_op_sum(ctx, must_op_relu(ctx, x))), MUST_OK);
    ck_assert_float_near(x->grad[0], 0.0, 0);
    ck_assert_float_near(x->grad[1], 1.0, 0);
    ck_assert_float_near(x->grad[2], 0.0, 0);
    ck_assert_float_near(x->grad[3], 1.0, 0);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* concat                                                                    */

struct concat_case {
    int n;
    must_tensor *x[9];
};

static must_tensor *concat_loss(must_ctx *ctx, void *u)
{
    struct concat_case *c = u;
    return wsum(ctx, must_op_concat(ctx, c->n, c->x));
}

START_TEST(concat_values_and_grad)
{
    must_ctx *ctx = must_ctx_new(1);
    /* 4-d with channel counts 1, 2, 3. */
    must_params *p = must_params_new("");
    struct concat_case c = {3, {param4(p, "a", 2, 1, 3, 4), param4(p, "b", 2, 2, 3, 4),
                                param4(p, "c", 2, 3, 3, 4)}};
    must_params_alloc(p, NULL);
    for (int i = 0; i < 3; i++)
        fill_uniform(c.x[i], 30 + i, -1, 1);
    must_tensor *y = must_op_concat(ctx, 3, c.x);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 4);
    ck_assert_int_eq(y->shape[1], 6);
    /* y[n, 3, h, w] is c[n, 0, h, w]; y[1, 1, ...] is b[1, 0, ...]. */
    ck_assert_float_near(y->data[(1 * 6 + 3) * 12 + 5], c.x[2]->data[(1 * 3 + 0) * 12 + 5], 0);
    ck_assert_float_near(y->data[(1 * 6 + 1) * 12 + 7], c.x[1]->data[(1 * 2 + 0) * 12 + 7], 0);
    ck_assert_float_near(y->data[(0 * 6 + 0) * 12 + 11], c.x[0]->data[11], 0);
    expect_grad_ok(ctx, concat_loss, &c, p, 1e-3f, 1e-2f, "concat 4-d");
    must_params_free(p);

    /* 2-d, a single input, and more inputs than one tape node holds. */
    p = must_params_new("");
    struct concat_case d = {9, {0}};
    char name[8];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "x%d", i);
        d.x[i] = param4(p, name, 3, 1 + i % 3, 0, 0);
    }
    must_params_alloc(p, NULL);
    for (int i = 0; i < 9; i++)
        fill_uniform(d.x[i], 40 + i, -1, 1);
    expect_grad_ok(ctx, concat_loss, &d, p, 1e-3f, 1e-2f, "concat 9 inputs");
    must_ctx_reset(ctx);
    y = must_op_concat(ctx, 9, d.x);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[1], 18);
    /* Row 2 of the result is x0[2], x1[2], ..., x8[2] laid end to end. */
    int col = 0;
    for (int i = 0; i < 9; i++)
        for (int k = 0; k < d.x[i]->shape[1]; k++, col++)
            ck_assert_float_near(y->data[2 * 18 + col], d.x[i]->data[2 * d.x[i]->shape[1] + k], 0);
    d.n = 1;
    expect_grad_ok(ctx, concat_loss, &d, p, 1e-3f, 1e-2f, "concat 1 input");
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(concat_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *a = must_tensor_new4(ctx, 2, 3, 4, 4);
    must_tensor *b = must_tensor_new4(ctx, 2, 1, 4, 5);
    must_tensor *xs[2] = {a, b};
    ck_assert_ptr_null(must_op_concat(ctx, 2, xs));
    expect_error(ctx, MUST_ESHAPE, "concat", "(2, 3, 4, 4)", "(2, 1, 4, 5)");
    a = must_tensor_new4(ctx, 2, 3, 4, 4);
    b = must_tensor_new4(ctx, 3, 3, 4, 4);
    xs[0] = a;
    xs[1] = b;
    ck_assert_ptr_null(must_op_concat(ctx, 2, xs));
    expect_error(ctx, MUST_ESHAPE, "concat", "(3, 3, 4, 4)", NULL);
    ck_assert_ptr_null(must_op_concat(ctx, 0, xs));
    expect_error(ctx, MUST_EINVAL, "concat", NULL, NULL);
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* l2normalize                                                               */

struct l2n_case {
    must_tensor *x;
    float eps;
};

static must_tensor *l2n_loss(must_ctx *ctx, void *u)
{
    struct l2n_case *c = u;
    return wsum(ctx, must_op_l2normalize(ctx, c->x, c->eps));
}

START_TEST(l2normalize_values_and_grad)
{
    must_ctx *ctx = must_ctx_new(1);
    /* (3, 4) -> (0.6, 0.8); the zero vector stays 0; a short one is x / eps. */
    must_tensor *x = must_tensor_new4(ctx, 1, 2, 1, 3);
    float v[6] = {3, 0, 0.01f, 4, 0, 0.02f}; // (1, 2, 1, 3): pixel p holds (v[p], v[3 + p])
    memcpy(x->data, v, sizeof v);
    must_tensor *y = must_op_l2normalize(ctx, x, 0.1f);
    ck_assert_ptr_nonnull(y);
    ck_assert_float_near(y->data[0], 0.6, 1e-6);
    ck_assert_float_near(y->data[3], 0.8, 1e-6);
    ck_assert_float_near(y->data[1], 0.0, 0);
    ck_assert_float_near(y->data[4], 0.0, 0);
    ck_assert_float_near(y->data[2], 0.1, 1e-6);
    ck_assert_float_near(y->data[5], 0.2, 1e-6);

    static const int shapes[4][4] = {{2, 3, 4, 5}, {3, 4, 0, 0}, {1, 5, 17, 16}, {2, 3, 2, 2}};
    for (int s = 0; s < 4; s++) {
        must_params *p = must_params_new("");
        const int *sh = shapes[s];
        struct l2n_case c = {param4(p, "x", sh[0], sh[1], sh[2], sh[3]), 1e-6f};
        must_params_alloc(p, NULL);
        fill_uniform(c.x, 50 + s, -1, 1);
        if (s == 3) {
            /* Pixels 0 and 1 of image 0 well under eps, the rest well over it. */
            c.eps = 0.5f;
            for (int k = 0; k < 3; k++) {
                c.x->data[k * 4 + 0] *= 0.1f;
                c.x->data[k * 4 + 1] *= 0.1f;
                c.x->data[k * 4 + 2] = 1.0f + 0.2f * k;
                c.x->data[k * 4 + 3] = -1.0f + 0.3f * k;
            }
        }
        char what[32];
        snprintf(what, sizeof what, "l2normalize shape %d", s);
        expect_grad_ok(ctx, l2n_loss, &c, p, 1e-3f, 1e-2f, what);
        must_params_free(p);
    }
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_op_l2normalize(ctx, must_tensor_new(ctx, 1, (int[]){4}), 1e-6f));
    expect_error(ctx, MUST_ESHAPE, "l2normalize", "(4)", NULL);
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Resizes                                                                   */

/* The align_corners = false formula written out per output pixel, in
 * double, independent of the op's tables and row caching. */
static double naive_bilinear(const float *plane, int h, int w, int oh, int ow, int oy, int ox)
{
    double sy = ((double)oy + 0.5) * h / oh - 0.5, sx = ((double)ox + 0.5) * w / ow - 0.5;
    if (sy < 0)
        sy = 0;
    if (sx < 0)
        sx = 0;
    int y0 = (int)floor(sy), x0 = (int)floor(sx);
    int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    double ly = sy - y0, lx = sx - x0;
    return (1 - ly) * ((1 - lx) * plane[y0 * w + x0] + lx * plane[y0 * w + x1]) +
           ly * ((1 - lx) * plane[y1 * w + x0] + lx * plane[y1 * w + x1]);
}

static float naive_nearest(const float *plane, int h, int w, int oh, int ow, int oy, int ox)
{
    int sy = (int)floor((double)oy * h / oh), sx = (int)floor((double)ox * w / ow);
    return plane[(sy < h ? sy : h - 1) * w + (sx < w ? sx : w - 1)];
}

static must_tensor *tensor_from(must_ctx *ctx, int n, int c, int h, int w, const float *v)
{
    must_tensor *t = must_tensor_new4(ctx, n, c, h, w);
    memcpy(t->data, v, t->numel * sizeof(float));
    return t;
}

static void expect_plane(const must_tensor *y, const float *want, double tol, const char *what)
{
    for (size_t i = 0; i < y->numel; i++)
        ck_assert_msg(fabs(y->data[i] - want[i]) <= tol, "%s[%zu] = %.9g, expected %.9g", what,
                      i, y->data[i], want[i]);
}

START_TEST(bilinear_by_hand_and_torch)
{
    must_ctx *ctx = must_ctx_new(1);
    /* 2x2 -> 4x4: scale 1/2, src = (d + 0.5) / 2 - 0.5 = -0.25 (clamped to
     * 0), 0.25, 0.75, 1.25 (upper index clamped to 1, so row 1 itself).
     * Row 0 of [[1, 2], [3, 4]]: 1, 1 + 0.25, 1 + 0.75, 2; row 1 (src 0.25)
     * adds 0.25 * 2 to row 0; row 2 (0.75) adds 1.5; row 3 is row 1 + 2. */
    static const float in22[4] = {1, 2, 3, 4};
    static const float hand44[16] = {1,   1.25, 1.75, 2,   1.5, 1.75, 2.25, 2.5,
                                     2.5, 2.75, 3.25, 3.5, 3,   3.25, 3.75, 4};
    /* 3x3 -> 2x2: scale 3/2, src = 0.25 and 1.75 on both axes.  At
     * (0.25, 0.25): 1 + 0.25 * 1 + 0.25 * 3 = 2; (0.25, 1.75): 1 + 1.75 +
     * 0.75 = 3.5; (1.75, 0.25): 1 + 0.25 + 5.25 = 6.5; (1.75, 1.75): 8. */
    static const float in33[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const float hand22[4] = {2, 3.5, 6.5, 8};
    /* From torch 1.13 F.interpolate(x, size=..., mode='bilinear',
     * align_corners=False) on the same inputs, printed with %.9g. */
    static const float torch44[16] = {1,   1.25f, 1.75f, 2,   1.5f, 1.75f, 2.25f, 2.5f,
                                      2.5f, 2.75f, 3.25f, 3.5f, 3,    3.25f, 3.75f, 4};
    static const float torch22[4] = {2, 3.5f, 6.5f, 8};
    static const float in35[15] = {0, 1, 4, 9, 16, 2, 3, 5, 7, 11, 1, -1, 2, -2, 3};
    static const float torch47[28] = {
        0.0f,  0.571428597f,  1.85714293f,  4.00000048f, 7.57142878f,  12.000001f,   16.0f,
        1.25f, 1.82142854f,   2.92857146f,  4.625f,      6.85714293f,  9.94642925f,  12.875f,
        1.625f, 1.55357146f,  2.17857146f,  3.87499976f, 3.69642854f,  5.50000048f,  8.0f,
        1.0f,  -0.142857179f, -0.142857015f, 1.99999976f, -0.857143164f, 0.142857641f, 3.0f};
    static const float torch23[6] = {0.833333313f, 4.25f,       12.666666f,
                                     0.833333373f, 2.74999976f, 3.41666627f};
    must_tensor *y = must_op_resize_bilinear(ctx, tensor_from(ctx, 1, 1, 2, 2, in22), 4, 4);
    expect_plane(y, hand44, 1e-6, "2x2->4x4 hand");
    expect_plane(y, torch44, 1e-6, "2x2->4x4 torch");
    y = must_op_resize_bilinear(ctx, tensor_from(ctx, 1, 1, 3, 3, in33), 2, 2);
    expect_plane(y, hand22, 1e-6, "3x3->2x2 hand");
    expect_plane(y, torch22, 1e-6, "3x3->2x2 torch");
    y = must_op_resize_bilinear(ctx, tensor_from(ctx, 1, 1, 3, 5, in35), 4, 7);
    expect_plane(y, torch47, 2e-6, "3x5->4x7 torch");
    y = must_op_resize_bilinear(ctx, tensor_from(ctx, 1, 1, 3, 5, in35), 2, 3);
    expect_plane(y, torch23, 2e-6, "3x5->2x3 torch");
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_OK);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(nearest_against_torch)
{
    must_ctx *ctx = must_ctx_new(1);
    static const float in35[15] = {0, 1, 4, 9, 16, 2, 3, 5, 7, 11, 1, -1, 2, -2, 3};
    /* From torch 1.13 F.interpolate(x, size=..., mode='nearest'). */
    static const float torch47[28] = {0, 0, 1,  4, 4, 9,  16, 0, 0, 1,  4, 4, 9,  16,
                                      2, 2, 3,  5, 5, 7,  11, 1, 1, -1, 2, 2, -2, 3};
    static const float torch23[6] = {0, 1, 9, 2, 3, 7};
    must_tensor *y = must_op_resize_nearest(ctx, tensor_from(ctx, 1, 1, 3, 5, in35), 4, 7);
    expect_plane(y, torch47, 0, "nearest 3x5->4x7");
    y = must_op_resize_nearest(ctx, tensor_from(ctx, 1, 1, 3, 5, in35), 2, 3);
    expect_plane(y, torch23, 0, "nearest 3x5->2x3");
    must_ctx_free(ctx);
}
END_TEST

static const int resize_cases[][4] = {
    /* h, w, oh, ow */
    {2, 2, 4, 4},   {3, 4, 6, 8},   {6, 8, 3, 4},  {3, 5, 4, 7}, {5, 7, 3, 4},
    {4, 4, 4, 4},   {1, 1, 3, 3},   {4, 4, 1, 1},  {7, 3, 2, 9}, {8, 8, 32, 32},
    {17, 13, 5, 6}, {5, 6, 17, 13}, {2, 9, 9, 2}};
#define N_RESIZE_CASES (int)(sizeof resize_cases / sizeof resize_cases[0])

START_TEST(resize_against_naive)
{
    for (int threads = 1; threads <= 2; threads++) {
        must_ctx *ctx = must_ctx_new(threads);
        for (int k = 0; k < N_RESIZE_CASES; k++) {
            const int *rc = resize_cases[k];
            /* Enough planes that the big cases take the parallel path. */
            int n = 2, c = rc[2] * rc[3] >= 1024 ? 9 : 3;
            must_tensor *x = must_tensor_new4(ctx, n, c, rc[0], rc[1]);
            fill_uniform(x, 60 + k, -2, 2);
            must_tensor *yb = must_op_resize_bilinear(ctx, x, rc[2], rc[3]);
            must_tensor *yn = must_op_resize_nearest(ctx, x, rc[2], rc[3]);
            ck_assert_ptr_nonnull(yb);
            ck_assert_ptr_nonnull(yn);
            for (int pl = 0; pl < n * c; pl++) {
                const float *src = x->data + (size_t)pl * rc[0] * rc[1];
                for (int oy = 0; oy < rc[2]; oy++)
                    for (int ox = 0; ox < rc[3]; ox++) {
                        size_t i = ((size_t)pl * rc[2] + oy) * rc[3] + ox;
                        double want = naive_bilinear(src, rc[0], rc[1], rc[2], rc[3], oy, ox);
                        ck_assert_msg(fabs(yb->data[i] - want) <= 1e-5,
                                      "bilinear %dx%d->%dx%d plane %d (%d, %d): %.9g vs %.9g",
                                      rc[0], rc[1], rc[2], rc[3], pl, oy, ox, yb->data[i], want);
                        float wn = naive_nearest(src, rc[0], rc[1], rc[2], rc[3], oy, ox);
                        ck_assert_msg(yn->data[i] == wn, "nearest %dx%d->%dx%d (%d, %d)", rc[0],
                                      rc[1], rc[2], rc[3], oy, ox);
                    }
            }
            must_ctx_reset(ctx);
        }
        must_ctx_free(ctx);
    }
}
END_TEST

struct resize_case {
    must_tensor *x;
    int oh, ow, bilinear;
};

static must_tensor *resize_loss(must_ctx *ctx, void *u)
{
    struct resize_case *c = u;
    return wsum(ctx, c->bilinear ? must_op_resize_bilinear(ctx, c->x, c->oh, c->ow)
                                 : must_op_resize_nearest(ctx, c->x, c->oh, c->ow));
}

START_TEST(grad_resize)
{
    must_ctx *ctx = must_ctx_new(1);
    for (int k = 0; k < N_RESIZE_CASES; k++) {
        const int *rc = resize_cases[k];
        for (int bil = 0; bil < 2; bil++) {
            must_params *p = must_params_new("");
            struct resize_case c = {param4(p, "x", 2, 2, rc[0], rc[1]), rc[2], rc[3], bil};
            must_params_alloc(p, NULL);
            fill_uniform(c.x, 70 + k, -1, 1);
            char what[64];
            snprintf(what, sizeof what, "%s %dx%d->%dx%d", bil ? "bilinear" : "nearest", rc[0],
                     rc[1], rc[2], rc[3]);
            expect_grad_ok(ctx, resize_loss, &c, p, 1e-3f, 1e-2f, what);
            must_params_free(p);
        }
    }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(resize_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *x3 = must_tensor_new(ctx, 3, (int[]){2, 3, 4});
    ck_assert_ptr_null(must_op_resize_bilinear(ctx, x3, 4, 4));
    expect_error(ctx, MUST_ESHAPE, "resize_bilinear", "(2, 3, 4)", NULL);
    must_tensor *x = must_tensor_new4(ctx, 1, 2, 3, 3);
    ck_assert_ptr_null(must_op_resize_nearest(ctx, x, 0, 4));
    expect_error(ctx, MUST_EINVAL, "resize_nearest", "0x4", "(1, 2, 3, 3)");
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Results do not depend on the thread count                                 */

static void run_big(int threads, float *out, size_t *nout)
{
    must_ctx *ctx = must_ctx_new(threads);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 2, 8, 40, 40);   // (N, C, H, W)
    must_tensor *lg = param4(p, "lg", 2, 5, 80, 80); // (N, K, 2H, 2W)
    must_tensor *nm = param4(p, "nm", 2, 3, 80, 80);
    must_tensor *cls = param4(p, "cls", 1000, 20, 0, 0); // (N, K)
    must_params_alloc(p, NULL);
    fill_uniform(cls, 84, -3, 3);
    fill_uniform(x, 80, -1, 1);
    fill_uniform(lg, 81, -3, 3);
    fill_uniform(nm, 82, -1, 1);
    size_t npix = 2 * 80 * 80;
    int32_t *lab = malloc(npix * sizeof *lab);
    /* Targets for the logits too (5 per pixel); a mask per element of nm. */
    float *tgt = malloc(5 * npix * sizeof *tgt), *msk = malloc(3 * npix * sizeof *msk);
    must_rng r;
    must_rng_seed(&r, 83);
    for (size_t i = 0; i < npix; i++) {
        lab[i] = (int32_t)must_rng_below(&r, 6);
        if (lab[i] == 5)
            lab[i] = 255;
    }
    for (size_t i = 0; i < 3 * npix; i++)
        msk[i] = (float)must_rng_below(&r, 2);
    for (size_t i = 0; i < 5 * npix; i++)
        tgt[i] = must_rng_uniform(&r);
    must_tensor *up = must_op_resize_bilinear(ctx, x, 80, 80);
    must_tensor *upn = must_op_resize_nearest(ctx, x, 80, 80);
    must_tensor *dn = must_op_resize_bilinear(ctx, x, 17, 23);
    must_tensor *cat = must_op_concat(ctx, 2, (must_tensor *[]){up, upn});
    must_tensor *l1 = wsum(ctx, must_op_add(ctx, cat, cat));
    must_tensor *l2 = wsum(ctx, dn);
    must_tensor *ce = must_op_cross_entropy(ctx, lg, lab, 255);
    must_tensor *nn = must_op_l2normalize(ctx, nm, 1e-6f);
    must_tensor *cl = must_op_cosine_loss(ctx, nn, tgt, msk);
    must_tensor *hl = must_op_huber(ctx, nm, tgt, msk, 0.3f);
    must_tensor *bl = must_op_bce_logits(ctx, lg, tgt, NULL);
    /* Soft targets: 20 of the uniform values per row (not normalised, which
     * the formula allows); every third example masked out. */
    float cm[1000];
    for (int i = 0; i < 1000; i++)
        cm[i] = i % 3 ? 1.0f : 0.0f;
    must_tensor *sc = must_op_soft_cross_entropy(ctx, cls, tgt, cm);
    must_tensor *l1l = must_op_l1(ctx, nm, tgt, NULL);
    must_tensor *tot = must_op_add(ctx, must_op_add(ctx, must_op_add(ctx, l1, l2), ce),
                                   must_op_add(ctx, must_op_add(ctx, cl, hl), bl));
    tot = must_op_add(ctx, tot, must_op_add(ctx, sc, l1l));
    /* The elementwise ops fork on maps this large (ops_elem.c). */
    must_tensor *ew = must_op_mul(ctx, must_op_relu(ctx, up),
                                  must_op_sigmoid(ctx, must_op_scale(ctx, upn, 0.5f)));
    must_tensor *ex = must_op_exp(ctx, must_op_scale(ctx, up, 0.25f));
    tot = must_op_add(ctx, tot, wsum(ctx, must_op_add(ctx, ew, ex)));
    ck_assert_int_eq(must_backward(ctx, tot), MUST_OK);
    size_t k = 0;
    const must_tensor *outs[] = {up, upn, dn, ce, nn, cl, hl, bl, sc, l1l, ew, ex};
    for (int i = 0; i < 12; i++) {
        memcpy(out + k, outs[i]->data, outs[i]->numel * sizeof(float));
        k += outs[i]->numel;
    }
    memcpy(out + k, must_params_grad(p), must_params_numel(p, 1) * sizeof(float));
    k += must_params_numel(p, 1);
    *nout = k;
    free(lab);
    free(tgt);
    free(msk);
    must_params_free(p);
    must_ctx_free(ctx);
}

START_TEST(same_bits_for_any_thread_count)
{
    size_t cap = 1u << 20, n1, nk;
    float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
    run_big(1, a, &n1);
    ck_assert_uint_lt(n1, cap);
    for (size_t i = 0; i < n1; i++) /* memcmp would call two NaNs equal */
        ck_assert_msg(isfinite(a[i]), "value %zu is %g", i, a[i]);
    for (int t = 2; t <= 3; t++) {
        run_big(t, b, &nk);
        ck_assert_uint_eq(n1, nk);
        ck_assert_msg(memcmp(a, b, n1 * sizeof(float)) == 0, "%d threads differ from 1", t);
    }
    free(a);
    free(b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The vectorisable exp behind the softmax                                   */

START_TEST(vexp_is_accurate)
{
    /* Every 1009th float in [-87, 0) and [0, 88] (about 2 million points,
     * every binade), against double-precision exp.  Stepping through the bit
     * patterns visits floats in order of magnitude. */
    double worst = 0;
    float at = 0;
    for (int sign = 0; sign < 2; sign++) {
        union {
            float f;
            uint32_t u;
        } v;
        uint32_t end = sign ? 0xC2AE0000u : 0x42B00000u; /* -87, 88 */
        for (uint32_t b = sign ? 0x80000000u : 0u; b <= end; b += 1009) {
            v.u = b;
            double want = exp((double)v.f);
            float wf = (float)want;
            double ulp = (double)nextafterf(wf, INFINITY) - wf;
            double err = fabs((double)must_vexpf(v.f) - want) / ulp;
            if (err > worst) {
                worst = err;
                at = v.f;
            }
        }
    }
    ck_assert_msg(worst <= 2.0, "vexpf is %.3f ulp off at %.9g", worst, at);
    ck_assert_float_near(must_vexpf(0.0f), 1.0, 0);
    ck_assert_float_near(must_vexpf(1.0f), 2.718281828459045, 3e-7);
    /* Clamped ends, not Inf or 0; NaN passes through. */
    ck_assert(must_vexpf(-1e30f) > 0 && must_vexpf(-INFINITY) < 1e-37f);
    ck_assert(isfinite(must_vexpf(1e30f)) && must_vexpf(INFINITY) > 1e38f);
    ck_assert(isnan(must_vexpf(NAN)));
}
END_TEST

/* A NaN logit makes the loss NaN rather than vanishing in the max. */
START_TEST(cross_entropy_propagates_nan)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *x = tensor_from(ctx, 1, 3, 1, 2, (float[]){0, 1, NAN, 2, 3, 4});
    int32_t lab[2] = {0, 1};
    must_tensor *l = must_op_cross_entropy(ctx, x, lab, 255);
    ck_assert(isnan(l->data[0]));
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Losses: hand-computed values                                              */

START_TEST(cross_entropy_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 2, 2, 0, 0); // (N, K)
    must_params_alloc(p, NULL);
    /* softmax([0, ln 3]) = (1/4, 3/4): label 1 costs ln(4/3), label 0 ln 4. */
    float v[4] = {0, logf(3), 0, logf(3)};
    memcpy(x->data, v, sizeof v);
    int32_t lab[2] = {1, 0};
    must_tensor *l = must_op_cross_entropy(ctx, x, lab, -100);
    ck_assert_float_near(l->data[0], (log(4.0 / 3.0) + log(4.0)) / 2, 1e-6);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    /* d/dx = (softmax - onehot) / 2 */
    ck_assert_float_near(x->grad[0], 0.25 / 2, 1e-6);
    ck_assert_float_near(x->grad[1], -0.25 / 2, 1e-6);
    ck_assert_float_near(x->grad[2], -0.75 / 2, 1e-6);
    ck_assert_float_near(x->grad[3], 0.75 / 2, 1e-6);

    /* An ignored example is not counted: the mean is over one. */
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    int32_t lab2[2] = {1, 7};
    l = must_op_cross_entropy(ctx, x, lab2, 7);
    ck_assert_float_near(l->data[0], log(4.0 / 3.0), 1e-6);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    ck_assert_float_near(x->grad[0], 0.25, 1e-6);
    ck_assert_float_near(x->grad[2], 0.0, 0);
    ck_assert_float_near(x->grad[3], 0.0, 0);

    /* Everything ignored: 0, no NaN, a zero gradient. */
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    int32_t lab3[2] = {255, 255};
    l = must_op_cross_entropy(ctx, x, lab3, 255);
    ck_assert_float_near(l->data[0], 0.0, 0);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_float_near(x->grad[i], 0.0, 0);

    /* Huge logits stay finite: the log-softmax is shifted by the max. */
    must_ctx_reset(ctx);
    float big[4] = {1000, 0, -1000, 1000};
    memcpy(x->data, big, sizeof big);
    l = must_op_cross_entropy(ctx, x, lab, -100);
    ck_assert_float_near(l->data[0], (1000.0 + 2000.0) / 2, 1e-3);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(cross_entropy_per_pixel_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    /* (1, 2, 1, 3): pixel p has logits (v[p], v[3 + p]). */
    float v[6] = {0, 0, 5, logf(3), 0, 5};
    must_tensor *x = tensor_from(ctx, 1, 2, 1, 3, v);
    /* Pixel 0: label 1 -> ln(4/3); pixel 1: equal logits, label 0 -> ln 2;
     * pixel 2 ignored. */
    int32_t lab[3] = {1, 0, 255};
    must_tensor *l = must_op_cross_entropy(ctx, x, lab, 255);
    ck_assert_float_near(l->data[0], (log(4.0 / 3.0) + log(2.0)) / 2, 1e-6);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(cross_entropy_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *x = must_tensor_new4(ctx, 2, 4, 3, 5);
    must_init_const(x, 0.0f);
    int32_t lab[30];
    for (int i = 0; i < 30; i++)
        lab[i] = i % 4;
    lab[23] = 4; /* image 1, pixel 8: y 1, x 3 */
    ck_assert_ptr_null(must_op_cross_entropy(ctx, x, lab, 255));
    expect_error(ctx, MUST_EINVAL, "cross_entropy", "label 4 at (n 1, y 1, x 3)", "(2, 4, 3, 5)");
    x = must_tensor_new4(ctx, 2, 4, 3, 5);
    must_init_const(x, 0.0f);
    lab[23] = -1;
    ck_assert_ptr_null(must_op_cross_entropy(ctx, x, lab, 255));
    expect_error(ctx, MUST_EINVAL, "cross_entropy", "label -1", NULL);
    /* (N, K) logits: the example is named. */
    x = must_tensor_new(ctx, 2, (int[]){3, 4});
    int32_t lab2[3] = {0, 9, 1};
    ck_assert_ptr_null(must_op_cross_entropy(ctx, x, lab2, -100));
    expect_error(ctx, MUST_EINVAL, "cross_entropy", "label 9 of example 1", "(3, 4)");
    x = must_tensor_new(ctx, 3, (int[]){3, 4, 5});
    ck_assert_ptr_null(must_op_cross_entropy(ctx, x, lab2, -100));
    expect_error(ctx, MUST_ESHAPE, "cross_entropy", "(3, 4, 5)", NULL);
    x = must_tensor_new(ctx, 2, (int[]){3, 4});
    ck_assert_ptr_null(must_op_cross_entropy(ctx, x, NULL, -100));
    expect_error(ctx, MUST_EINVAL, "cross_entropy", "labels", NULL);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(soft_cross_entropy_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 3, 4, 0, 0); // (N, K)
    must_params_alloc(p, NULL);
    fill_uniform(x, 90, -2, 2);
    /* A one-hot target gives the hard cross-entropy and its gradient. */
    int32_t lab[3] = {2, 0, 3};
    float onehot[12] = {0};
    for (int i = 0; i < 3; i++)
        onehot[i * 4 + lab[i]] = 1.0f;
    must_tensor *lh = must_op_cross_entropy(ctx, x, lab, -100);
    ck_assert_int_eq(must_backward(ctx, lh), MUST_OK);
    float gh[12];
    memcpy(gh, x->grad, sizeof gh);
    double hard = lh->data[0];
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    must_tensor *ls = must_op_soft_cross_entropy(ctx, x, onehot, NULL);
    ck_assert_float_near(ls->data[0], hard, 1e-6);
    ck_assert_int_eq(must_backward(ctx, ls), MUST_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_float_near(x->grad[i], gh[i], 1e-6);

    /* logits [0, ln 3], target (1/2, 1/2): lse = ln 4, loss = ln 4 - ln 3 / 2;
     * a second example masked out does not count. */
    must_ctx_reset(ctx);
    must_tensor *x2 = tensor_from(ctx, 2, 2, 1, 1, (float[]){0, logf(3), 9, -9});
    must_tensor *x2d = must_op_reshape(ctx, x2, 2, (int[]){2, 2});
    float t2[4] = {0.5f, 0.5f, 0.0f, 1.0f}, m2[2] = {1, 0};
    ls = must_op_soft_cross_entropy(ctx, x2d, t2, m2);
    ck_assert_float_near(ls->data[0], log(4.0) - 0.5 * log(3.0), 1e-6);
    /* Both masked: 0, not NaN. */
    float m0[2] = {0, 0};
    ls = must_op_soft_cross_entropy(ctx, x2d, t2, m0);
    ck_assert_float_near(ls->data[0], 0.0, 0);
    /* Only (N, K) logits. */
    ck_assert_ptr_null(must_op_soft_cross_entropy(ctx, x2, t2, NULL));
    expect_error(ctx, MUST_ESHAPE, "soft_cross_entropy", "(2, 2, 1, 1)", NULL);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(elementwise_losses_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 3, 0, 0, 0);
    must_params_alloc(p, NULL);

    /* huber, delta 1: d = 0.5 -> 0.125, d = 2 -> 1.5, d = -3 -> 2.5;
     * gradients 0.5, 1, -1, each over 3. */
    float xv[3] = {1.5f, 3.0f, -2.0f}, t[3] = {1.0f, 1.0f, 1.0f};
    memcpy(x->data, xv, sizeof xv);
    must_tensor *l = must_op_huber(ctx, x, t, NULL, 1.0f);
    ck_assert_float_near(l->data[0], (0.125 + 1.5 + 2.5) / 3, 1e-6);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    ck_assert_float_near(x->grad[0], 0.5 / 3, 1e-6);
    ck_assert_float_near(x->grad[1], 1.0 / 3, 1e-6);
    ck_assert_float_near(x->grad[2], -1.0 / 3, 1e-6);
    /* delta 4: all three inside, 0.5 d^2. */
    l = must_op_huber(ctx, x, t, NULL, 4.0f);
    ck_assert_float_near(l->data[0], (0.125 + 2.0 + 4.5) / 3, 1e-6);

    /* l1 and l2 with d = (0.5, 2, -3). */
    l = must_op_l1(ctx, x, t, NULL);
    ck_assert_float_near(l->data[0], 5.5 / 3, 1e-6);
    l = must_op_l2(ctx, x, t, NULL);
    ck_assert_float_near(l->data[0], (0.25 + 4 + 9) / 3, 1e-6);
    /* Weights (1, 3, 0): (0.25 + 12) / 4; the third target is NaN and masked. */
    float tn[3] = {1.0f, 1.0f, NAN}, m[3] = {1, 3, 0};
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    l = must_op_l2(ctx, x, tn, m);
    ck_assert_float_near(l->data[0], (0.25 + 12) / 4, 1e-6);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    ck_assert_float_near(x->grad[0], 2 * 0.5 / 4, 1e-6);
    ck_assert_float_near(x->grad[1], 3 * 2 * 2.0 / 4, 1e-6);
    ck_assert_float_near(x->grad[2], 0.0, 0);
    l = must_op_l1(ctx, x, tn, m);
    ck_assert_float_near(l->data[0], (0.5 + 6) / 4, 1e-6);
    /* l1's gradient where x equals the target is 0, as torch's sign(0). */
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    l = must_op_l1(ctx, x, xv, NULL);
    ck_assert_float_near(l->data[0], 0.0, 0);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_near(x->grad[i], 0.0, 0);

    /* Nothing counted: 0 and a zero gradient for every loss. */
    float z[3] = {0, 0, 0};
    for (int k = 0; k < 4; k++) {
        must_ctx_reset(ctx);
        must_params_zero_grad(p);
        l = k == 0 ? must_op_l1(ctx, x, tn, z)
            : k == 1 ? must_op_l2(ctx, x, tn, z)
            : k == 2 ? must_op_huber(ctx, x, tn, z, 1.0f)
                     : must_op_bce_logits(ctx, x, tn, z);
        ck_assert_float_near(l->data[0], 0.0, 0);
        ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
        for (int i = 0; i < 3; i++)
            ck_assert_float_near(x->grad[i], 0.0, 0);
    }

    /* bce: x = 0, t = 1 -> ln 2; x = ln 3 (p = 3/4), t = 0 -> ln 4;
     * x = -100, t = 1 -> 100 without overflow.  Gradients p - t. */
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    float xb[3] = {0.0f, logf(3), -100.0f}, tb[3] = {1, 0, 1};
    memcpy(x->data, xb, sizeof xb);
    l = must_op_bce_logits(ctx, x, tb, NULL);
    ck_assert_float_near(l->data[0], (log(2.0) + log(4.0) + 100.0) / 3, 1e-5);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    ck_assert_float_near(x->grad[0], -0.5 / 3, 1e-6);
    ck_assert_float_near(x->grad[1], 0.75 / 3, 1e-6);
    ck_assert_float_near(x->grad[2], -1.0 / 3, 1e-6);
    float xb2[3] = {100.0f, -100.0f, 0.0f}, tb2[3] = {0.0f, 0.0f, 0.25f};
    memcpy(x->data, xb2, sizeof xb2);
    l = must_op_bce_logits(ctx, x, tb2, NULL);
    ck_assert_float_near(l->data[0], (100.0 + 0.0 + log(2.0)) / 3, 1e-5);

    /* Far on the right side log(1 + e^-x) must not round to 0. */
    must_tensor *x1 = tensor_from(ctx, 1, 1, 1, 1, (float[]){20.0f});
    l = must_op_bce_logits(ctx, x1, (float[]){1.0f}, NULL);
    ck_assert_float_near(l->data[0], log1p(exp(-20.0)), 1e-14);
    ck_assert_msg(l->data[0] > 0, "bce rounds to %g", l->data[0]);

    /* Errors. */
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_op_huber(ctx, x, t, NULL, 0.0f));
    expect_error(ctx, MUST_EINVAL, "huber", "delta", NULL);
    ck_assert_ptr_null(must_op_l1(ctx, x, NULL, NULL));
    expect_error(ctx, MUST_EINVAL, "l1", "target", NULL);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(cosine_loss_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    /* (1, 3, 1, 4): pixel p holds (v[p], v[4 + p], v[8 + p]). */
    const float s = 1.0f / sqrtf(2.0f);
    float pred[12] = {1, 0, 0, s, /* x */ 0, 1, 1, s, /* y */ 0, 0, 0, 0 /* z */};
    float tgt[12] = {1, 0, 0, -s, /* x */ 0, -1, 0, -s, /* y */ 0, 0, 1, 0 /* z */};
    /* identical: 0; opposite: 2; orthogonal: 1; opposite: 2. */
    must_tensor *x = tensor_from(ctx, 1, 3, 1, 4, pred);
    must_tensor *l = must_op_cosine_loss(ctx, x, tgt, NULL);
    ck_assert_float_near(l->data[0], (0 + 2 + 1 + 2) / 4.0, 1e-6);
    float m1[4] = {1, 0, 0, 0}, m2[4] = {0, 1, 0, 0}, m3[4] = {0, 0, 1, 0}, m0[4] = {0};
    ck_assert_float_near(must_op_cosine_loss(ctx, x, tgt, m1)->data[0], 0.0, 1e-6);
    ck_assert_float_near(must_op_cosine_loss(ctx, x, tgt, m2)->data[0], 2.0, 1e-6);
    ck_assert_float_near(must_op_cosine_loss(ctx, x, tgt, m3)->data[0], 1.0, 1e-6);
    ck_assert_float_near(must_op_cosine_loss(ctx, x, tgt, m0)->data[0], 0.0, 0);
    ck_assert_ptr_null(must_op_cosine_loss(ctx, must_tensor_new4(ctx, 1, 2, 2, 2), tgt, NULL));
    expect_error(ctx, MUST_ESHAPE, "cosine_loss", "(1, 2, 2, 2)", NULL);
    must_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Losses: gradient checks                                                   */

enum { L_CE, L_SCE, L_BCE, L_HUBER, L_L1, L_L2, L_COS, L_COS_NORM };

struct loss_case {
    int kind;
    must_tensor *x;
    const int32_t *labels;
    int ignore;
    const float *target, *mask;
    float scale; /* the loss times this keeps gradients O(1) */
};

static must_tensor *loss_fn(must_ctx *ctx, void *u)
{
    struct loss_case *c = u;
    must_tensor *l;
    switch (c->kind) {
    case L_CE:
        l = must_op_cross_entropy(ctx, c->x, c->labels, c->ignore);
        break;
    case L_SCE:
        l = must_op_soft_cross_entropy(ctx, c->x, c->target, c->mask);
        break;
    case L_BCE:
        l = must_op_bce_logits(ctx, c->x, c->target, c->mask);
        break;
    case L_HUBER:
        l = must_op_huber(ctx, c->x, c->target, c->mask, 0.7f);
        break;
    case L_L1:
        l = must_op_l1(ctx, c->x, c->target, c->mask);
        break;
    case L_L2:
        l = must_op_l2(ctx, c->x, c->target, c->mask);
        break;
    case L_COS:
        l = must_op_cosine_loss(ctx, c->x, c->target, c->mask);
        break;
    default:
        l = must_op_cosine_loss(ctx, must_op_l2normalize(ctx, c->x, 1e-6f), c->target, c->mask);
        break;
    }
    return must_op_scale(ctx, l, c->scale);
}

/* The loss is a float mean scaled back up by the count, so its rounding
 * grows with the count; a step of a few 1e-2 keeps that rounding well under
 * the tolerance on O(1) gradients for the few hundred elements used here. */
static void check_loss(must_ctx *ctx, struct loss_case *c, must_params *p, float eps,
                       const char *what)
{
    expect_grad_ok(ctx, loss_fn, c, p, eps, 3e-3f, what);
}

START_TEST(grad_cross_entropy)
{
    must_ctx *ctx = must_ctx_new(1);
    must_rng r;
    must_rng_seed(&r, 100);
    static const int shapes[3][4] = {{5, 4, 0, 0}, {2, 4, 3, 5}, {1, 3, 17, 17}};
    for (int s = 0; s < 3; s++)
        for (int ign = 0; ign < 2; ign++) {
            const int *sh = shapes[s];
            must_params *p = must_params_new("");
            must_tensor *x = param4(p, "x", sh[0], sh[1], sh[2], sh[3]);
            must_params_alloc(p, NULL);
            fill_uniform(x, 101 + s, -2, 2);
            size_t npos = x->numel / (size_t)sh[1];
            int32_t *lab = malloc(npos * sizeof *lab);
            int counted = 0;
            for (size_t i = 0; i < npos; i++) {
                lab[i] = (int32_t)must_rng_below(&r, (uint32_t)sh[1] + ign);
                if (lab[i] == sh[1])
                    lab[i] = 255;
                else
                    counted++;
            }
            struct loss_case c = {L_CE, x, lab, 255, NULL, NULL, (float)counted};
            char what[64];
            snprintf(what, sizeof what, "cross_entropy shape %d ignore %d", s, ign);
            check_loss(ctx, &c, p, 3e-2f, what);
            free(lab);
            must_params_free(p);
        }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(grad_soft_cross_entropy)
{
    must_ctx *ctx = must_ctx_new(1);
    for (int masked = 0; masked < 2; masked++) {
        must_params *p = must_params_new("");
        must_tensor *x = param4(p, "x", 6, 5, 0, 0);
        must_params_alloc(p, NULL);
        fill_uniform(x, 110, -2, 2);
        float t[30], m[6] = {1, 0, 0.5f, 2, 0, 1}; /* weights, not only 0/1 */
        must_rng r;
        must_rng_seed(&r, 111);
        for (int i = 0; i < 6; i++) {
            float s = 0;
            for (int k = 0; k < 5; k++)
                s += t[i * 5 + k] = must_rng_uniform(&r) + 0.05f;
            for (int k = 0; k < 5; k++)
                t[i * 5 + k] /= s;
        }
        struct loss_case c = {L_SCE, x, NULL, 0, t, masked ? m : NULL, masked ? 4.5f : 6.0f};
        check_loss(ctx, &c, p, 1e-2f, masked ? "soft_cross_entropy masked" : "soft_cross_entropy");
        must_params_free(p);
    }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(grad_elementwise_losses)
{
    must_ctx *ctx = must_ctx_new(1);
    static const int kinds[4] = {L_BCE, L_HUBER, L_L1, L_L2};
    static const char *const names[4] = {"bce_logits", "huber", "l1", "l2"};
    for (int k = 0; k < 4; k++)
        for (int masked = 0; masked < 2; masked++) {
            must_params *p = must_params_new("");
            must_tensor *x = param4(p, "x", 2, 3, 4, 5);
            must_params_alloc(p, NULL);
            fill_uniform(x, 120 + k, -2, 2);
            size_t n = x->numel;
            float *t = malloc(n * sizeof *t), *m = malloc(n * sizeof *m);
            must_rng r;
            must_rng_seed(&r, 130 + k);
            double wsum = 0;
            for (size_t i = 0; i < n; i++) {
                if (kinds[k] == L_BCE) {
                    t[i] = must_rng_uniform(&r);
                } else {
                    /* |x - t| in [0.1, 0.55] U [0.85, 2]: away from l1's
                     * kink at 0 and huber's change of branch at 0.7. */
                    float d;
                    fill_away_from_zero(&d, 1, 1000 + i, 0.1f, 2.0f);
                    if (fabsf(d) > 0.55f && fabsf(d) < 0.85f)
                        d = d > 0 ? 1.2f : -1.2f;
                    t[i] = x->data[i] - d;
                }
                m[i] = (float)must_rng_below(&r, 3) * 0.5f; /* 0, 0.5 or 1 */
                wsum += m[i];
            }
            struct loss_case c = {kinds[k], x, NULL, 0, t, masked ? m : NULL,
                                  masked ? (float)wsum : (float)n};
            char what[64];
            snprintf(what, sizeof what, "%s%s", names[k], masked ? " masked" : "");
            check_loss(ctx, &c, p, 3e-2f, what);
            free(t);
            free(m);
            must_params_free(p);
        }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(grad_cosine_loss)
{
    must_ctx *ctx = must_ctx_new(1);
    for (int norm = 0; norm < 2; norm++)
        for (int masked = 0; masked < 2; masked++) {
            must_params *p = must_params_new("");
            must_tensor *x = param4(p, "x", 2, 3, 3, 4);
            must_params_alloc(p, NULL);
            fill_uniform(x, 140, -1, 1);
            float t[72], m[24];
            must_rng r;
            must_rng_seed(&r, 141);
            float wsum = 0;
            for (int i = 0; i < 72; i++)
                t[i] = must_rng_uniform(&r) * 2 - 1;
            for (int i = 0; i < 24; i++) /* weights 0, 0.5, 1, 1.5 */
                wsum += m[i] = (float)must_rng_below(&r, 4) * 0.5f;
            struct loss_case c = {norm ? L_COS_NORM : L_COS, x, NULL, 0, t, masked ? m : NULL,
                                  masked ? wsum : 24.0f};
            char what[64];
            snprintf(what, sizeof what, "cosine_loss%s%s", norm ? " after l2normalize" : "",
                     masked ? " masked" : "");
            check_loss(ctx, &c, p, 1e-2f, what);
            must_params_free(p);
        }
    must_ctx_free(ctx);
}
END_TEST

/* A loss's labels, targets and masks are copied: the caller may overwrite
 * them between forward and backward. */
START_TEST(losses_copy_their_arrays)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = param4(p, "x", 2, 3, 0, 0);
    must_params_alloc(p, NULL);
    fill_uniform(x, 150, -1, 1);
    int32_t lab[2] = {0, 2};
    float t[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, m[6] = {1, 1, 1, 1, 1, 1};
    must_tensor *l = must_op_add(ctx, must_op_cross_entropy(ctx, x, lab, -1),
                                 must_op_l2(ctx, x, t, m));
    float g1[6];
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    memcpy(g1, x->grad, sizeof g1);
    must_ctx_reset(ctx);
    must_params_zero_grad(p);
    l = must_op_add(ctx, must_op_cross_entropy(ctx, x, lab, -1), must_op_l2(ctx, x, t, m));
    lab[0] = 99;
    memset(t, 0, sizeof t);
    memset(m, 0, sizeof m);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_float_near(x->grad[i], g1[i], 0);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ops-misc");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grad_elementwise_ops);
    tcase_add_test(tc, relu_gradient_values);
    tcase_add_test(tc, concat_values_and_grad);
    tcase_add_test(tc, concat_errors);
    tcase_add_test(tc, l2normalize_values_and_grad);
    tcase_add_test(tc, bilinear_by_hand_and_torch);
    tcase_add_test(tc, nearest_against_torch);
    tcase_add_test(tc, resize_against_naive);
    tcase_add_test(tc, grad_resize);
    tcase_add_test(tc, resize_errors);
    tcase_add_test(tc, same_bits_for_any_thread_count);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("losses");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, vexp_is_accurate);
    tcase_add_test(tl, cross_entropy_propagates_nan);
    tcase_add_test(tl, cross_entropy_by_hand);
    tcase_add_test(tl, cross_entropy_per_pixel_by_hand);
    tcase_add_test(tl, cross_entropy_errors);
    tcase_add_test(tl, soft_cross_entropy_by_hand);
    tcase_add_test(tl, elementwise_losses_by_hand);
    tcase_add_test(tl, cosine_loss_by_hand);
    tcase_add_test(tl, grad_cross_entropy);
    tcase_add_test(tl, grad_soft_cross_entropy);
    tcase_add_test(tl, grad_elementwise_losses);
    tcase_add_test(tl, grad_cosine_loss);
    tcase_add_test(tl, losses_copy_their_arrays);
    suite_add_tcase(s, tl);
    return test_run(s);
}
