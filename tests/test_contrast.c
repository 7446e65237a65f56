/* test_contrast.c - SimCLR's NT-Xent loss (core/engine/ops_contrast.c): cases
 * computed by hand, a double-precision reference on random rows, the
 * gradient against finite differences, and its errors. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "must/gradcheck.h"
#include "must/ops.h"
#include "testutil.h"

/* Straight from the definition, in double: rows normalised, s = <u_i, u_k> /
 * tau, each row's log-sum-exp over k != i minus its positive's similarity. */
static double ntx_ref(const float *z, int m, int d, double tau, double eps)
{
    double u[64][16];
    for (int i = 0; i < m; i++) {
        double ss = 0.0;
        for (int j = 0; j < d; j++)
            ss += (double)z[i * d + j] * z[i * d + j];
        double n = sqrt(ss) > eps ? sqrt(ss) : eps;
        for (int j = 0; j < d; j++)
            u[i][j] = z[i * d + j] / n;
    }
    double total = 0.0;
    for (int i = 0; i < m; i++) {
        double se = 0.0, pos = 0.0;
        for (int k = 0; k < m; k++) {
            double s = 0.0;
            for (int j = 0; j < d; j++)
                s += u[i][j] * u[k][j];
            s /= tau;
            if (k != i)
                se += exp(s);
            if (k == (i + m / 2) % m)
                pos = s;
        }
        total += log(se) - pos;
    }
    return total / m;
}

static void expect_error(must_ctx *ctx, int code, const char *s1, const char *s2,
                         const char *s3)
{
    const must_err *e = must_ctx_error(ctx);
    ck_assert_msg(e->code == code, "code %d, expected %d (%s)", e->code, code, e->msg);
    const char *want[3] = {s1, s2, s3};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!want[i] || strstr(e->msg, want[i]), "'%s' not in '%s'", want[i], e->msg);
}

static must_tensor *rows(must_ctx *ctx, int m, int d, const float *v)
{
    must_tensor *z = must_tensor_new(ctx, 2, (int[]){m, d});
    memcpy(z->data, v, (size_t)m * d * sizeof(float));
    return z;
}

START_TEST(nt_xent_by_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    /* Two images, views equal: e0, e1, e0, e1.  Each row sees its positive at
     * similarity 1/tau and two rows at 0, so every row's loss is
     * log(2 + e^(1/tau)) - 1/tau: at tau = 1, log(2 + e) - 1 = 0.551444. */
    const float v[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    must_tensor *y = must_op_nt_xent(ctx, rows(ctx, 4, 2, v), 1.0f, 1e-8f);
    ck_assert_ptr_nonnull(y);
    ck_assert_float_near(y->data[0], 0.551444, 1e-5);
    /* Rows of any length are normalised first; tau = 0.5: log(2 + e^2) - 2 =
     * 0.239537. */
    const float w[8] = {3, 0, 0, 0.5f, 7, 0, 0, 2};
    y = must_op_nt_xent(ctx, rows(ctx, 4, 2, w), 0.5f, 1e-8f);
    ck_assert_float_near(y->data[0], 0.239537, 1e-5);
    /* One image: its only other row is its positive, so the loss is 0. */
    const float one[4] = {1, 2, -3, 0.5f};
    y = must_op_nt_xent(ctx, rows(ctx, 2, 2, one), 0.1f, 1e-8f);
    ck_assert_float_near(y->data[0], 0.0, 1e-6);
    /* Views swapped against the images (positives orthogonal, negatives
     * identical): e0, e1, e1, e0 at tau = 1.  Row 0 sees e1 (0), e1 (0, its
     * positive) and e0 (1): log(1 + 1 + e) - 0 = 1.551444. */
    const float bad[8] = {1, 0, 0, 1, 0, 1, 1, 0};
    y = must_op_nt_xent(ctx, rows(ctx, 4, 2, bad), 1.0f, 1e-8f);
    ck_assert_float_near(y->data[0], 1.551444, 1e-5);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(nt_xent_matches_reference)
{
    must_ctx *ctx = must_ctx_new(2);
    must_rng r;
    must_rng_seed(&r, 77);
    static const int cases[][2] = {{2, 3}, {8, 5}, {16, 16}, {64, 16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int m = cases[c][0], d = cases[c][1];
        float v[64 * 16];
        for (int i = 0; i < m * d; i++)
            v[i] = must_rng_uniform(&r) * 4.0f - 2.0f;
        for (int t = 0; t < 3; t++) {
            float tau = (float[]){0.1f, 0.5f, 2.0f}[t];
            must_tensor *y = must_op_nt_xent(ctx, rows(ctx, m, d, v), tau, 1e-8f);
            ck_assert_ptr_nonnull(y);
            double ref = ntx_ref(v, m, d, tau, 1e-8);
            ck_assert_msg(fabs(y->data[0] - ref) <= 1e-5 * (1.0 + fabs(ref)),
                          "m %d d %d tau %g: %.7f, reference %.7f", m, d, (double)tau,
                          (double)y->data[0], ref);
        }
        must_ctx_reset(ctx);
    }
    must_ctx_free(ctx);
}
END_TEST

struct ntx_case {
    must_tensor *z;
    float tau, eps;
};

static must_tensor *ntx_loss(must_ctx *ctx, void *u)
{
    struct ntx_case *c = u;
    return must_op_nt_xent(ctx, c->z, c->tau, c->eps);
}

START_TEST(nt_xent_gradient)
{
    must_ctx *ctx = must_ctx_new(1);
    static const int shapes[][2] = {{2, 4}, {6, 3}, {8, 8}};
    for (int s = 0; s < 3; s++) {
        for (int t = 0; t < 2; t++) {
            must_params *p = must_params_new("");
            struct ntx_case c = {must_params_add(p, "z", 2, (int[]){shapes[s][0], shapes[s][1]},
                                                 MUST_T_PARAM),
                                 t ? 0.2f : 1.0f, 1e-6f};
            must_params_alloc(p, NULL);
            must_rng r;
            must_rng_seed(&r, 100 + s * 2 + t);
            must_init_uniform(c.z, &r, -1.5f, 1.5f);
            /* A row shorter than eps is scaled by 1/eps, not normalised. */
            if (s == 2 && t == 0) {
                c.eps = 0.3f;
                for (int j = 0; j < shapes[s][1]; j++)
                    c.z->data[j] *= 0.02f;
            }
            must_gradcheck_opts o = {1e-3f, 2e-2f, 0, 11};
            must_err e = {0};
            int rc = must_gradcheck(ctx, ntx_loss, &c, p, &o, &e);
            ck_assert_msg(rc == MUST_OK, "shape %d tau %g: %s", s, (double)c.tau, e.msg);
            must_params_free(p);
        }
    }
    must_ctx_free(ctx);
}
END_TEST

START_TEST(nt_xent_errors)
{
    must_ctx *ctx = must_ctx_new(1);
    const float v[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_ptr_null(must_op_nt_xent(ctx, rows(ctx, 3, 2, v), 1.0f, 1e-6f));
    expect_error(ctx, MUST_ESHAPE, "nt_xent", "(3, 2)", "two views");
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_op_nt_xent(ctx, rows(ctx, 2, 2, v), 0.0f, 1e-6f));
    expect_error(ctx, MUST_EINVAL, "nt_xent", "temperature", NULL);
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_op_nt_xent(ctx, must_tensor_new(ctx, 1, (int[]){4}), 1.0f, 1e-6f));
    expect_error(ctx, MUST_ESHAPE, "nt_xent", "(4)", NULL);
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_op_nt_xent(ctx, NULL, 1.0f, 1e-6f));
    must_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("contrast");
    TCase *tc = tcase_create("nt_xent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nt_xent_by_hand);
    tcase_add_test(tc, nt_xent_matches_reference);
    tcase_add_test(tc, nt_xent_gradient);
    tcase_add_test(tc, nt_xent_errors);
    suite_add_tcase(s, tc);
    return test_run(s);
}
