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
    {2, 48, 9, 11, 2, 3, 3, 2, 2, 2, 1},  /* chunks, stride and dilation */
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
        {2, 128, 4, 4, 256, 3, 3, 1, 1, 1, 1}, {2, 5, 6, 6, 3, 3, 3, 1, 1, 1, 1},
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
    return test_run(s);
}
