/* test_ops_nn.c - conv2d, batch norm, pooling, linear: values, gradients,
 * shape errors, and independence from the thread count. */
#include "config.h"

#include <math.h>

#include "must/gradcheck.h"
#include "must/ops.h"
#include "testutil.h"

/* ---- helpers ---- */

static void fill(must_tensor *t, must_rng *r, float lo, float hi)
{
    must_init_uniform(t, r, lo, hi);
}

/* sum(y * r) with r a fixed pseudo-random tensor of y's shape: a loss whose
 * gradient reaches every output with a different weight (sum(y) alone would
 * give batch norm a zero gradient). */
static must_tensor *weighted_sum(must_ctx *ctx, must_tensor *y, uint64_t seed)
{
    if (!y)
        return NULL;
    must_tensor *r = must_tensor_new(ctx, y->ndim, y->shape);
    if (!r)
        return NULL;
    must_rng g;
    must_rng_seed(&g, seed);
    for (size_t i = 0; i < r->numel; i++)
        r->data[i] = must_rng_uniform(&g) * 2.0f - 1.0f;
    return must_op_sum(ctx, must_op_mul(ctx, y, r));
}

/* The reference: seven nested loops straight from the definition. */
static void naive_conv(const float *x, const float *w, const float *b, float *y, int B, int C,
                       int H, int W, int O, int kh, int kw, int s, int p, int d)
{
    int Ho = (H + 2 * p - d * (kh - 1) - 1) / s + 1, Wo = (W + 2 * p - d * (kw - 1) - 1) / s + 1;
    for (int n = 0; n < B; n++)
        for (int o = 0; o < O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int ih = oh * s - p + i * d, iw = ow * s - p + j * d;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                acc += (double)x[((n * C + c) * H + ih) * W + iw] *
                                       w[((o * C + c) * kh + i) * kw + j];
                            }
                    y[((n * O + o) * Ho + oh) * Wo + ow] = (float)acc;
                }
}

/* ---- conv2d ---- */

typedef struct conv_case {
    int B, C, H, W, O, kh, kw, s, p, d, bias;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1},    /* 3x3 same */
    {2, 2, 8, 9, 3, 3, 3, 2, 1, 1, 0},    /* stride 2, odd width */
    {3, 2, 7, 7, 2, 3, 3, 1, 2, 2, 1},    /* dilation 2 */
    {3, 4, 5, 6, 3, 1, 1, 1, 0, 1, 1},    /* 1x1 fast path */
    {2, 3, 6, 6, 2, 1, 1, 2, 0, 1, 0},    /* 1x1 stride 2 (downsample) */
    {2, 3, 10, 10, 2, 7, 7, 2, 3, 1, 0},  /* the stem: 7x7 stride 2 pad 3 */
    {2, 2, 6, 5, 3, 2, 3, 1, 1, 1, 1},    /* non-square kernel */
    {2, 2, 5, 5, 2, 3, 3, 3, 0, 1, 1},    /* stride 3, no padding */
    {2, 64, 13, 13, 3, 3, 3, 1, 1, 1, 1}, /* several column chunks */
    {1, 64, 2, 300, 2, 3, 3, 1, 1, 1, 0}, /* rows longer than a chunk */
    {2, 48, 9, 11, 2, 3, 3, 2, 2, 2, 1},  /* stride and dilation */
    {16, 64, 6, 6, 2, 3, 3, 1, 1, 1, 1},  /* small maps over several chunks */
    /* maps wider than SMALL_ROW take the row-by-row paths */
    {2, 3, 12, 20, 4, 3, 3, 2, 1, 1, 1},  /* stride 2 */
    {2, 4, 10, 21, 3, 3, 3, 1, 2, 2, 0},  /* same size with dilation 2 */
    {2, 3, 11, 22, 2, 3, 3, 1, 0, 1, 1},  /* stride 1, no padding: shrinks */
    {2, 3, 18, 18, 2, 7, 7, 2, 3, 1, 0},  /* the stem at a wider size */
    {2, 2, 9, 12, 2, 2, 3, 1, 1, 1, 1},   /* non-square kernel, wide */
    {2, 1024, 16, 17, 2, 1, 1, 1, 0, 1, 1}, /* 1x1 reading x in place, two bands */
};
#define N_CONV (int)(sizeof conv_cases / sizeof conv_cases[0])

typedef struct conv_fix {
    must_params *p;
    must_tensor *x, *w, *b;
    conv_case cc;
} conv_fix;

static void conv_fix_init(conv_fix *f, const conv_case *cc, unsigned xflags, uint64_t seed)
{
    f->cc = *cc;
    f->p = must_params_new("");
    f->x = must_params_add4(f->p, "x", cc->B, cc->C, cc->H, cc->W, xflags);
    f->w = must_params_add4(f->p, "w", cc->O, cc->C, cc->kh, cc->kw, MUST_T_PARAM);
    f->b = cc->bias ? must_params_add4(f->p, "b", cc->O, 0, 0, 0, MUST_T_PARAM) : NULL;
    ck_assert_int_eq(must_params_alloc(f->p, NULL), MUST_OK);
    must_rng r;
    must_rng_seed(&r, seed);
    fill(f->x, &r, -1, 1);
    float a = 1.0f / sqrtf((float)(cc->C * cc->kh * cc->kw));
    fill(f->w, &r, -a, a);
    if (f->b)
        fill(f->b, &r, -0.5f, 0.5f);
}

static must_tensor *conv_loss(must_ctx *ctx, void *u)
{
    conv_fix *f = u;
    return weighted_sum(ctx,
                        must_op_conv2d(ctx, f->x, f->w, f->b, f->cc.s, f->cc.p, f->cc.d), 11);
}

START_TEST(conv_forward_matches_naive)
{
    for (int threads = 1; threads <= 2; threads++) {
        must_ctx *ctx = must_ctx_new(threads);
        for (int i = 0; i < N_CONV; i++) {
            const conv_case *cc = &conv_cases[i];
            conv_fix f;
            conv_fix_init(&f, cc, MUST_T_PARAM, 100 + i);
            must_ctx_reset(ctx);
            must_tensor *y = must_op_conv2d(ctx, f.x, f.w, f.b, cc->s, cc->p, cc->d);
            ck_assert_msg(y != NULL, "case %d: %s", i, must_ctx_error(ctx)->msg);
            int Ho = (cc->H + 2 * cc->p - cc->d * (cc->kh - 1) - 1) / cc->s + 1;
            int Wo = (cc->W + 2 * cc->p - cc->d * (cc->kw - 1) - 1) / cc->s + 1;
            ck_assert_int_eq(y->ndim, 4);
            ck_assert_int_eq(y->shape[0], cc->B);
            ck_assert_int_eq(y->shape[1], cc->O);
            ck_assert_int_eq(y->shape[2], Ho);
            ck_assert_int_eq(y->shape[3], Wo);
            float *ref = malloc(y->numel * sizeof *ref);
            naive_conv(f.x->data, f.w->data, f.b ? f.b->data : NULL, ref, cc->B, cc->C, cc->H,
                       cc->W, cc->O, cc->kh, cc->kw, cc->s, cc->p, cc->d);
            for (size_t k = 0; k < y->numel; k++)
                ck_assert_msg(fabsf(y->data[k] - ref[k]) <= 1e-5f * (1.0f + fabsf(ref[k])),
                              "case %d, %zu: %g vs naive %g", i, k, y->data[k], ref[k]);
            free(ref);
            must_params_free(f.p);
        }
        must_ctx_free(ctx);
    }
}
END_TEST

START_TEST(conv_gradients)
{
    must_ctx *ctx = must_ctx_new(1);
    for (int i = 0; i < N_CONV; i++) {
        conv_fix f;
        conv_fix_init(&f, &conv_cases[i], MUST_T_PARAM, 200 + i);
        /* The loss is linear in each tensor: a large step is exact and keeps
         * rounding out of the numeric derivative. */
        must_gradcheck_opts o = {.eps = 1e-2f, .tol = 1e-3f, .max_points = 48, .seed = 1 + i};
        must_err e = {0};
        ck_assert_msg(must_gradcheck(ctx, conv_loss, &f, f.p, &o, &e) == MUST_OK, "case %d: %s",
                      i, e.msg);
        must_params_free(f.p);
    }
    must_ctx_free(ctx);
}
END_TEST

/* An input that needs no gradient (an image) still gives the weights theirs. */
START_TEST(conv_gradients_without_input_grad)
{
    must_ctx *ctx = must_ctx_new(2);
    conv_fix f;
    conv_fix_init(&f, &conv_cases[5], MUST_T_BUFFER, 7);
    ck_assert_ptr_null(f.x->grad);
    must_gradcheck_opts o = {.eps = 1e-2f, .tol = 1e-3f, .max_points = 64, .seed = 3};
    must_err e = {0};
    ck_assert_msg(must_gradcheck(ctx, conv_loss, &f, f.p, &o, &e) == MUST_OK, "%s", e.msg);
    must_params_free(f.p);
    must_ctx_free(ctx);
}
END_TEST

/* Two convs read the same input: their input gradients must add up. */
typedef struct fan {
    must_params *p;
    must_tensor *x, *w1, *w2;
} fan;
static must_tensor *fan_loss(must_ctx *ctx, void *u)
{
    fan *f = u;
    must_tensor *a = must_op_conv2d(ctx, f->x, f->w1, NULL, 1, 1, 1);
    must_tensor *b = must_op_conv2d(ctx, f->x, f->w2, NULL, 1, 0, 1);
    return weighted_sum(ctx, must_op_add(ctx, a, b), 5);
}

START_TEST(conv_input_gradient_accumulates)
{
    must_ctx *ctx = must_ctx_new(1);
    fan f;
    f.p = must_params_new("");
    f.x = must_params_add4(f.p, "x", 2, 3, 6, 6, MUST_T_PARAM);
    f.w1 = must_params_add4(f.p, "w1", 4, 3, 3, 3, MUST_T_PARAM);
    f.w2 = must_params_add4(f.p, "w2", 4, 3, 1, 1, MUST_T_PARAM);
    must_params_alloc(f.p, NULL);
    must_rng r;
    must_rng_seed(&r, 9);
    fill(f.x, &r, -1, 1);
    fill(f.w1, &r, -0.3f, 0.3f);
    fill(f.w2, &r, -0.3f, 0.3f);
    must_gradcheck_opts o = {.eps = 1e-2f, .tol = 1e-3f, .max_points = 0, .seed = 1};
    must_err e = {0};
    ck_assert_msg(must_gradcheck(ctx, fan_loss, &f, f.p, &o, &e) == MUST_OK, "%s", e.msg);
    must_params_free(f.p);
    must_ctx_free(ctx);
}
END_TEST

/* A copy of n floats (NULL stays NULL). */
static float *copy(const float *v, size_t n)
{
    if (!v)
        return NULL;
    float *c = malloc(n * sizeof *c);
    memcpy(c, v, n * sizeof *c);
    return c;
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what, int i)
{
    ck_assert_msg((a == NULL) == (b == NULL), "case %d: %s present once", i, what);
    if (a)
        ck_assert_msg(memcmp(a, b, n * sizeof *a) == 0, "case %d: %s differs", i, what);
}

START_TEST(conv_same_bits_with_1_and_2_threads)
{
    /* Several chunks (each thread its own), one chunk cut into blocks of
     * output channels, and a small one that runs on one thread. */
    static const conv_case cases[] = {
        {4, 64, 24, 24, 32, 3, 3, 1, 1, 1, 1}, {8, 32, 20, 20, 64, 3, 3, 2, 1, 1, 0},
        {8, 32, 16, 16, 16, 1, 1, 1, 0, 1, 1}, {4, 3, 40, 40, 8, 7, 7, 2, 3, 1, 0},
        {2, 128, 4, 4, 256, 3, 3, 1, 1, 1, 1}, {32, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1},
        {4, 512, 16, 16, 32, 1, 1, 1, 0, 1, 1}, {2, 5, 6, 6, 3, 3, 3, 1, 1, 1, 1},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const conv_case *cc = &cases[i];
        float *y[2], *dx[2], *dw[2], *db[2];
        size_t ny = 0;
        conv_fix f;
        for (int t = 0; t < 2; t++) {
            must_ctx *ctx = must_ctx_new(t + 1);
            conv_fix_init(&f, cc, MUST_T_PARAM, 300 + i);
            must_tensor *out = must_op_conv2d(ctx, f.x, f.w, f.b, cc->s, cc->p, cc->d);
            ck_assert_ptr_nonnull(out);
            ck_assert_int_eq(must_backward(ctx, weighted_sum(ctx, out, 11)), MUST_OK);
            ny = out->numel;
            y[t] = copy(out->data, ny);
            dx[t] = copy(f.x->grad, f.x->numel);
            dw[t] = copy(f.w->grad, f.w->numel);
            db[t] = copy(f.b ? f.b->grad : NULL, f.w->shape[0]);
            must_ctx_free(ctx);
            if (t == 0)
                must_params_free(f.p);
        }
        assert_same_bits(y[0], y[1], ny, "y", i);
        assert_same_bits(dx[0], dx[1], f.x->numel, "dx", i);
        assert_same_bits(dw[0], dw[1], f.w->numel, "dw", i);
        assert_same_bits(db[0], db[1], (size_t)cc->O, "db", i);
        must_params_free(f.p);
        for (int t = 0; t < 2; t++) {
            free(y[t]);
            free(dx[t]);
            free(dw[t]);
            free(db[t]);
        }
    }
}
END_TEST

START_TEST(conv_shape_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *x = must_tensor_new4(ctx, 2, 3, 5, 5);
    must_tensor *w = must_tensor_new4(ctx, 4, 2, 3, 3);
    ck_assert_ptr_null(must_op_conv2d(ctx, x, w, NULL, 1, 1, 1));
    const must_err *e = must_ctx_error(ctx);
    ck_assert_int_eq(e->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(e->msg, "conv2d"));
    ck_assert_ptr_nonnull(strstr(e->msg, "(2, 3, 5, 5)"));
    ck_assert_ptr_nonnull(strstr(e->msg, "(4, 2, 3, 3)"));

    must_ctx_reset(ctx);
    x = must_tensor_new4(ctx, 2, 3, 5, 5);
    w = must_tensor_new4(ctx, 4, 3, 3, 3);
    int five = 5;
    must_tensor *b = must_tensor_new(ctx, 1, &five);
    ck_assert_ptr_null(must_op_conv2d(ctx, x, w, b, 1, 1, 1));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(5)"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4, 3, 3, 3)"));

    /* a kernel larger than the padded input */
    must_ctx_reset(ctx);
    x = must_tensor_new4(ctx, 1, 3, 2, 2);
    w = must_tensor_new4(ctx, 4, 3, 5, 5);
    ck_assert_ptr_null(must_op_conv2d(ctx, x, w, NULL, 1, 1, 1));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(1, 3, 2, 2)"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4, 3, 5, 5)"));

    /* bad arguments, and a NULL input keeps the first message */
    must_ctx_reset(ctx);
    x = must_tensor_new4(ctx, 1, 3, 8, 8);
    w = must_tensor_new4(ctx, 4, 3, 3, 3);
    ck_assert_ptr_null(must_op_conv2d(ctx, x, w, NULL, 0, 1, 1));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "stride 0"));
    ck_assert_ptr_null(must_op_conv2d(ctx, NULL, w, NULL, 1, 1, 1));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "stride 0"));
    must_ctx_free(ctx);
}
END_TEST

/* ---- batch norm ---- */

typedef struct bn_fix {
    must_params *p, *buf;
    must_tensor *x, *g, *b, *rm, *rv;
} bn_fix;

static void bn_fix_init(bn_fix *f, int ndim, const int *shape, uint64_t seed)
{
    f->p = must_params_new("");
    f->buf = must_params_new("");
    f->x = must_params_add(f->p, "x", ndim, shape, MUST_T_PARAM);
    f->g = must_params_add4(f->p, "gamma", shape[1], 0, 0, 0, MUST_T_PARAM);
    f->b = must_params_add4(f->p, "beta", shape[1], 0, 0, 0, MUST_T_PARAM);
    f->rm = must_params_add4(f->buf, "rm", shape[1], 0, 0, 0, MUST_T_BUFFER);
    f->rv = must_params_add4(f->buf, "rv", shape[1], 0, 0, 0, MUST_T_BUFFER);
    ck_assert_int_eq(must_params_alloc(f->p, NULL), MUST_OK);
    ck_assert_int_eq(must_params_alloc(f->buf, NULL), MUST_OK);
    must_rng r;
    must_rng_seed(&r, seed);
    fill(f->x, &r, -2, 3);
    fill(f->g, &r, 0.5f, 1.5f);
    fill(f->b, &r, -0.5f, 0.5f);
    fill(f->rm, &r, -0.5f, 0.5f);
    fill(f->rv, &r, 0.5f, 2.0f);
}

static void bn_fix_free(bn_fix *f)
{
    must_params_free(f->p);
    must_params_free(f->buf);
}

static must_tensor *bn_loss(must_ctx *ctx, void *u)
{
    bn_fix *f = u;
    return weighted_sum(ctx, must_op_batchnorm(ctx, f->x, f->g, f->b, f->rm, f->rv, 0.1f, 1e-5f),
                        13);
}

START_TEST(batchnorm_training_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    int shape[4] = {2, 2, 1, 2};
    bn_fix f;
    bn_fix_init(&f, 4, shape, 1);
    /* channel 0 holds 1, 2 (n = 0) and 3, 4 (n = 1): mean 2.5, biased var
     * 1.25, unbiased 5/3; channel 1 holds -1, 1, 1, 3: mean 1, var 2, 8/3 */
    const float xs[8] = {1, 2, -1, 1, 3, 4, 1, 3};
    memcpy(f.x->data, xs, sizeof xs);
    f.g->data[0] = 2.0f, f.g->data[1] = 0.5f;
    f.b->data[0] = 0.1f, f.b->data[1] = -1.0f;
    f.rm->data[0] = 0.0f, f.rm->data[1] = 1.0f;
    f.rv->data[0] = 1.0f, f.rv->data[1] = 2.0f;
    const float eps = 1e-3f;
    must_tensor *y = must_op_batchnorm(ctx, f.x, f.g, f.b, f.rm, f.rv, 0.1f, eps);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < 8; i++) {
        int c = i / 2 % 2;
        double mean = c ? 1.0 : 2.5, var = c ? 2.0 : 1.25;
        double want = (xs[i] - mean) / sqrt(var + eps) * f.g->data[c] + f.b->data[c];
        ck_assert_float_near(y->data[i], want, 1e-5);
    }
    ck_assert_float_near(f.rm->data[0], 0.9 * 0.0 + 0.1 * 2.5, 1e-6);
    ck_assert_float_near(f.rm->data[1], 0.9 * 1.0 + 0.1 * 1.0, 1e-6);
    ck_assert_float_near(f.rv->data[0], 0.9 * 1.0 + 0.1 * (5.0 / 3.0), 1e-6);
    ck_assert_float_near(f.rv->data[1], 0.9 * 2.0 + 0.1 * (8.0 / 3.0), 1e-6);

    /* evaluation mode: the running statistics, left unchanged */
    must_ctx_reset(ctx);
    must_ctx_set_training(ctx, 0);
    float rm0 = f.rm->data[0], rv1 = f.rv->data[1];
    y = must_op_batchnorm(ctx, f.x, f.g, f.b, f.rm, f.rv, 0.1f, eps);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < 8; i++) {
        int c = i / 2 % 2;
        double want = (xs[i] - f.rm->data[c]) / sqrt(f.rv->data[c] + eps) * f.g->data[c] +
                      f.b->data[c];
        ck_assert_float_near(y->data[i], want, 1e-5);
    }
    ck_assert(f.rm->data[0] == rm0 && f.rv->data[1] == rv1);
    bn_fix_free(&f);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(batchnorm_gradients)
{
    static const int shapes[][4] = {{4, 3, 3, 5}, {2, 2, 4, 4}, {6, 4, 1, 1}, {3, 5, 0, 0}};
    for (int training = 1; training >= 0; training--)
        for (int i = 0; i < 4; i++) {
            must_ctx *ctx = must_ctx_new(2);
            must_ctx_set_training(ctx, training);
            bn_fix f;
            bn_fix_init(&f, shapes[i][2] ? 4 : 2, shapes[i], 40 + i);
            must_gradcheck_opts o = {.eps = 1e-3f, .tol = 1e-2f, .max_points = 40, .seed = 2};
            must_err e = {0};
            ck_assert_msg(must_gradcheck(ctx, bn_loss, &f, f.p, &o, &e) == MUST_OK,
                          "training %d, shape %d: %s", training, i, e.msg);
            bn_fix_free(&f);
            must_ctx_free(ctx);
        }
}
END_TEST

START_TEST(batchnorm_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    int shape[4] = {2, 3, 2, 2};
    bn_fix f;
    bn_fix_init(&f, 4, shape, 1);
    must_params *q = must_params_new("");
    must_tensor *g4 = must_params_add4(q, "g4", 4, 0, 0, 0, MUST_T_PARAM);
    must_params_alloc(q, NULL);
    ck_assert_ptr_null(must_op_batchnorm(ctx, f.x, g4, f.b, f.rm, f.rv, 0.1f, 1e-5f));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "batchnorm"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(2, 3, 2, 2)"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4)"));
    /* one value per channel cannot give a batch variance */
    must_ctx_reset(ctx);
    must_tensor *x1 = must_tensor_new4(ctx, 1, 3, 1, 1);
    ck_assert_ptr_null(must_op_batchnorm(ctx, x1, f.g, f.b, f.rm, f.rv, 0.1f, 1e-5f));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(1, 3, 1, 1)"));
    ck_assert_ptr_null(must_op_batchnorm(ctx, NULL, f.g, f.b, f.rm, f.rv, 0.1f, 1e-5f));
    must_params_free(q);
    bn_fix_free(&f);
    must_ctx_free(ctx);
}
END_TEST

/* ---- pooling ---- */

START_TEST(maxpool_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = must_params_add4(p, "x", 1, 1, 4, 4, MUST_T_PARAM);
    must_params_alloc(p, NULL);
    const float xs[16] = {1, 5, 2, 0,  //
                          3, 4, 7, 7,  //
                          -1, -2, 0, 6, //
                          -3, -4, 6, 1};
    memcpy(x->data, xs, sizeof xs);
    /* 2x2 stride 2: the maximum of each quarter; ties (the 7s) pick the first */
    must_tensor *y = must_op_maxpool(ctx, x, 2, 2, 0);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[2], 2);
    ck_assert_int_eq(y->shape[3], 2);
    const float want[4] = {5, 7, -1, 6};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], want[i]);
    must_params_zero_grad(p);
    ck_assert_int_eq(must_backward(ctx, must_op_sum(ctx, y)), MUST_OK);
    const float gwant[16] = {0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++)
        ck_assert_msg(x->grad[i] == gwant[i], "dx[%d] = %g", i, x->grad[i]);

    /* 3x3 stride 2 pad 1 (the stem's): padding is -inf, so a window over
     * negative values and padding still returns a real value */
    must_ctx_reset(ctx);
    for (int i = 0; i < 16; i++)
        x->data[i] = -1.0f - (float)i;
    y = must_op_maxpool(ctx, x, 3, 2, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[2], 2);
    ck_assert_int_eq(y->shape[3], 2);
    const float want2[4] = {-1, -2, -5, -6};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], want2[i]);

    /* a NaN is not hidden: its windows give NaN, the others are untouched */
    must_ctx_reset(ctx);
    memcpy(x->data, xs, sizeof xs);
    x->data[5] = NAN;
    y = must_op_maxpool(ctx, x, 2, 2, 0);
    ck_assert_ptr_nonnull(y);
    ck_assert(isnan(y->data[0]));
    for (int i = 1; i < 4; i++)
        ck_assert_float_eq(y->data[i], want[i]);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

typedef struct pool_fix {
    must_params *p;
    must_tensor *x;
    int k, s, pad, global;
} pool_fix;

static must_tensor *pool_loss(must_ctx *ctx, void *u)
{
    pool_fix *f = u;
    must_tensor *y = f->global ? must_op_global_avgpool(ctx, f->x)
                               : must_op_maxpool(ctx, f->x, f->k, f->s, f->pad);
    return weighted_sum(ctx, y, 17);
}

START_TEST(pool_gradients)
{
    static const int cases[][5] = {
        /* k, stride, pad, H, global */
        {2, 2, 0, 6, 0}, {3, 2, 1, 7, 0}, {3, 1, 1, 5, 0}, {1, 1, 0, 4, 0}, {0, 0, 0, 5, 1},
    };
    must_ctx *ctx = must_ctx_new(2);
    for (int i = 0; i < 5; i++) {
        pool_fix f = {.k = cases[i][0], .s = cases[i][1], .pad = cases[i][2],
                      .global = cases[i][4]};
        f.p = must_params_new("");
        f.x = must_params_add4(f.p, "x", 2, 3, cases[i][3], cases[i][3] + 1, MUST_T_PARAM);
        must_params_alloc(f.p, NULL);
        must_rng r;
        must_rng_seed(&r, 60 + i);
        fill(f.x, &r, -1, 1); /* distinct values: no ties within eps */
        must_gradcheck_opts o = {.eps = 1e-4f, .tol = 1e-2f, .max_points = 0, .seed = 1};
        must_err e = {0};
        ck_assert_msg(must_gradcheck(ctx, pool_loss, &f, f.p, &o, &e) == MUST_OK, "case %d: %s",
                      i, e.msg);
        must_params_free(f.p);
    }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(global_avgpool_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *x = must_tensor_new4(ctx, 2, 2, 1, 3);
    const float xs[12] = {1, 2, 3, 0, 0, 6, -3, 3, 9, 1, 1, 1};
    memcpy(x->data, xs, sizeof xs);
    must_tensor *y = must_op_global_avgpool(ctx, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 2);
    const float want[4] = {2, 2, 3, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_float_near(y->data[i], want[i], 1e-6);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(pool_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    int s2[2] = {4, 5};
    must_tensor *x2 = must_tensor_new(ctx, 2, s2);
    ck_assert_ptr_null(must_op_maxpool(ctx, x2, 2, 2, 0));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "maxpool"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4, 5)"));
    must_ctx_reset(ctx);
    x2 = must_tensor_new(ctx, 2, s2);
    ck_assert_ptr_null(must_op_global_avgpool(ctx, x2));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "global_avgpool"));
    must_ctx_reset(ctx);
    must_tensor *x = must_tensor_new4(ctx, 1, 1, 4, 4);
    ck_assert_ptr_null(must_op_maxpool(ctx, x, 2, 2, 2)); /* pad > k/2 */
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_EINVAL);
    must_ctx_reset(ctx);
    x = must_tensor_new4(ctx, 1, 1, 2, 2);
    ck_assert_ptr_null(must_op_maxpool(ctx, x, 5, 1, 1)); /* window larger than input */
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_null(must_op_maxpool(ctx, NULL, 2, 2, 0));
    ck_assert_ptr_null(must_op_global_avgpool(ctx, NULL));
    must_ctx_free(ctx);
}
END_TEST

/* ---- linear ---- */

typedef struct lin_fix {
    must_params *p;
    must_tensor *x, *w, *b;
} lin_fix;

static void lin_fix_init(lin_fix *f, int N, int F, int O, int bias, uint64_t seed)
{
    f->p = must_params_new("");
    f->x = must_params_add4(f->p, "x", N, F, 0, 0, MUST_T_PARAM);
    f->w = must_params_add4(f->p, "w", O, F, 0, 0, MUST_T_PARAM);
    f->b = bias ? must_params_add4(f->p, "b", O, 0, 0, 0, MUST_T_PARAM) : NULL;
    ck_assert_int_eq(must_params_alloc(f->p, NULL), MUST_OK);
    must_rng r;
    must_rng_seed(&r, seed);
    fill(f->x, &r, -1, 1);
    fill(f->w, &r, -0.5f, 0.5f);
    if (f->b)
        fill(f->b, &r, -0.5f, 0.5f);
}

static must_tensor *lin_loss(must_ctx *ctx, void *u)
{
    lin_fix *f = u;
    return weighted_sum(ctx, must_op_linear(ctx, f->x, f->w, f->b), 19);
}

START_TEST(linear_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    lin_fix f;
    lin_fix_init(&f, 2, 3, 2, 1, 1);
    const float xs[6] = {1, 2, 3, -1, 0, 2}, ws[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f},
                bs[2] = {10, -10};
    memcpy(f.x->data, xs, sizeof xs);
    memcpy(f.w->data, ws, sizeof ws);
    memcpy(f.b->data, bs, sizeof bs);
    must_tensor *y = must_op_linear(ctx, f.x, f.w, f.b);
    ck_assert_ptr_nonnull(y);
    /* row 0: 1 - 3 + 10, 3 - 10; row 1: -1 - 2 + 10, 0.5 - 10 */
    const float want[4] = {8, -7, 7, -9.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_near(y->data[i], want[i], 1e-6);
    must_params_free(f.p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(linear_gradients)
{
    static const int cases[][4] = {{3, 5, 4, 1}, {2, 7, 3, 0}, {5, 1, 6, 1}};
    must_ctx *ctx = must_ctx_new(2);
    for (int i = 0; i < 3; i++) {
        lin_fix f;
        lin_fix_init(&f, cases[i][0], cases[i][1], cases[i][2], cases[i][3], 70 + i);
        must_gradcheck_opts o = {.eps = 1e-2f, .tol = 1e-3f, .max_points = 0, .seed = 1};
        must_err e = {0};
        ck_assert_msg(must_gradcheck(ctx, lin_loss, &f, f.p, &o, &e) == MUST_OK, "case %d: %s", i,
                      e.msg);
        must_params_free(f.p);
    }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(linear_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    int sx[2] = {4, 5}, sw[2] = {3, 6}, sb[1] = {4};
    must_tensor *x = must_tensor_new(ctx, 2, sx), *w = must_tensor_new(ctx, 2, sw);
    ck_assert_ptr_null(must_op_linear(ctx, x, w, NULL));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "linear"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4, 5)"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(3, 6)"));
    must_ctx_reset(ctx);
    sw[1] = 5;
    x = must_tensor_new(ctx, 2, sx);
    w = must_tensor_new(ctx, 2, sw);
    must_tensor *b = must_tensor_new(ctx, 1, sb);
    ck_assert_ptr_null(must_op_linear(ctx, x, w, b));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(4)"));
    ck_assert_ptr_null(must_op_linear(ctx, NULL, w, b));
    must_ctx_free(ctx);
}
END_TEST

/* ---- every op: the same bits on one thread and two ---- */

typedef struct all_out {
    float *y[5], *g[5];
    size_t ny[5], ng[5];
} all_out;

static void run_all(int threads, int training, all_out *o)
{
    must_ctx *ctx = must_ctx_new(threads);
    must_ctx_set_training(ctx, training);
    int shape[4] = {16, 24, 20, 20};
    bn_fix f;
    bn_fix_init(&f, 4, shape, 5);
    must_tensor *bn = must_op_batchnorm(ctx, f.x, f.g, f.b, f.rm, f.rv, 0.1f, 1e-5f);
    must_tensor *mp = must_op_maxpool(ctx, bn, 3, 2, 1);
    must_tensor *ap = must_op_global_avgpool(ctx, mp);
    lin_fix l;
    lin_fix_init(&l, 300, 600, 500, 1, 6);
    must_tensor *li = must_op_linear(ctx, l.x, l.w, l.b);
    must_tensor *loss = must_op_add(ctx, weighted_sum(ctx, ap, 1), weighted_sum(ctx, li, 2));
    ck_assert_int_eq(must_backward(ctx, loss), MUST_OK);
    must_tensor *ys[5] = {bn, mp, ap, li, f.rv};
    must_tensor *gs[5] = {f.x, f.g, l.x, l.w, l.b};
    for (int i = 0; i < 5; i++) {
        o->ny[i] = ys[i]->numel;
        o->y[i] = copy(ys[i]->data, ys[i]->numel);
        o->ng[i] = gs[i]->numel;
        o->g[i] = copy(gs[i]->grad, gs[i]->numel);
    }
    bn_fix_free(&f);
    must_params_free(l.p);
    must_ctx_free(ctx);
}

START_TEST(other_ops_same_bits_with_1_and_2_threads)
{
    for (int training = 0; training < 2; training++) {
        all_out a, b;
        run_all(1, training, &a);
        run_all(2, training, &b);
        for (int i = 0; i < 5; i++) {
            assert_same_bits(a.y[i], b.y[i], a.ny[i], "output", i);
            assert_same_bits(a.g[i], b.g[i], a.ng[i], "gradient", i);
            free(a.y[i]);
            free(b.y[i]);
            free(a.g[i]);
            free(b.g[i]);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ops-nn");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, conv_forward_matches_naive);
    tcase_add_test(tc, conv_gradients);
    tcase_add_test(tc, conv_gradients_without_input_grad);
    tcase_add_test(tc, conv_input_gradient_accumulates);
    tcase_add_test(tc, conv_same_bits_with_1_and_2_threads);
    tcase_add_test(tc, conv_shape_errors);
    suite_add_tcase(s, tc);
    TCase *tn = tcase_create("norm-pool-linear");
    tcase_set_timeout(tn, 60);
    tcase_add_test(tn, batchnorm_training_by_hand);
    tcase_add_test(tn, batchnorm_gradients);
    tcase_add_test(tn, batchnorm_errors);
    tcase_add_test(tn, maxpool_by_hand);
    tcase_add_test(tn, pool_gradients);
    tcase_add_test(tn, global_avgpool_by_hand);
    tcase_add_test(tn, pool_errors);
    tcase_add_test(tn, linear_by_hand);
    tcase_add_test(tn, linear_gradients);
    tcase_add_test(tn, linear_errors);
    tcase_add_test(tn, other_ops_same_bits_with_1_and_2_threads);
    suite_add_tcase(s, tn);
    return test_run(s);
}
