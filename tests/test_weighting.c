/* test_weighting.c - learned uncertainty weighting: the term's value and
 * gradients by hand and against finite differences, the log-variances
 * settling at log L_i for fixed task losses (with weight decay on, which
 * must not reach them), the parameter set, errors, and a checkpoint round
 * trip of the log-variances. */
#include "config.h"

#include <math.h>

#include "must/checkpoint.h"
#include "must/gradcheck.h"
#include "must/io.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/weighting.h"
#include "testutil.h"

#define N 3
static const char *const names[N] = {"seg", "depth", "cls"};

/* The task losses as trainable one-element tensors, so that the check
 * covers d/dL_i too. */
typedef struct fixture {
    must_params *lp, *lv;
    must_tensor *l[N];
} fixture;

static void fx_init(fixture *f, const double *L, const double *s0)
{
    must_err e = {0};
    f->lp = must_params_new("task_loss.");
    int one = 1;
    for (int i = 0; i < N; i++)
        f->l[i] = must_params_add(f->lp, names[i], 1, &one, MUST_T_PARAM);
    ck_assert_int_eq(must_params_alloc(f->lp, NULL), MUST_OK);
    for (int i = 0; i < N; i++)
        f->l[i]->data[0] = (float)L[i];
    f->lv = must_weighting_params(N, names, s0, &e);
    ck_assert_msg(f->lv != NULL, "%s", e.msg);
}

static void fx_free(fixture *f)
{
    must_params_free(f->lp);
    must_params_free(f->lv);
}

static must_tensor *total_fn(must_ctx *ctx, void *user)
{
    fixture *f = user;
    return must_weighting_total(ctx, N, f->l, f->lv);
}

START_TEST(test_value_and_gradients_by_hand)
{
    const double L[N] = {0.5, 2.0, 7.25}, s[N] = {-0.4, 0.3, 1.9};
    fixture f;
    fx_init(&f, L, s);
    ck_assert_int_eq(must_params_count(f.lv), N);
    ck_assert_str_eq(must_params_get(f.lv, 1)->name, "loss.log_var.depth");
    ck_assert(must_params_get(f.lv, 0)->flags & MUST_T_NO_DECAY);
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *t = total_fn(ctx, &f);
    ck_assert_ptr_nonnull(t);
    double want = 0;
    for (int i = 0; i < N; i++)
        want += exp(-s[i]) * L[i] + s[i];
    ck_assert_float_near(t->data[0], want, 1e-5 * fabs(want));
    must_params_zero_grad(f.lp);
    must_params_zero_grad(f.lv);
    ck_assert_int_eq(must_backward(ctx, t), MUST_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_float_near(f.l[i]->grad[0], exp(-s[i]), 1e-6);
        ck_assert_float_near(must_params_get(f.lv, i)->grad[0], 1 - exp(-s[i]) * L[i], 1e-5);
        ck_assert_float_near(must_weighting_weight(f.lv, i), exp(-s[i]), 1e-6);
    }
    must_ctx_free(ctx);
    fx_free(&f);
}
END_TEST

START_TEST(test_gradcheck)
{
    /* Both sides of the optimum (1 - exp(-s) L changes sign) and a loss of
     * zero (a task no example of the batch has). */
    const double L[N] = {0.0, 2.0, 7.25}, s[N] = {-0.4, 1.2, 0.5};
    fixture f;
    fx_init(&f, L, s);
    must_ctx *ctx = must_ctx_new(1);
    must_err e = {0};
    must_gradcheck_opts o = {0};
    o.eps = 1e-2f;
    o.tol = 2e-3f;
    ck_assert_msg(must_gradcheck(ctx, total_fn, &f, f.lv, &o, &e) == MUST_OK, "s: %s", e.msg);
    ck_assert_msg(must_gradcheck(ctx, total_fn, &f, f.lp, &o, &e) == MUST_OK, "L: %s", e.msg);
    must_ctx_free(ctx);
    fx_free(&f);
}
END_TEST

/* Fixed task losses, only the log-variances train: each settles at
 * log L_i, where the weighted loss exp(-s_i) L_i is 1.  Weight decay is on
 * and excluded for the log-variances; were it applied, the fixed point
 * would move to 1 - exp(-s) L + wd s = 0. */
static void settle(int kind)
{
    const double L[N] = {0.25, 1.0, 9.0};
    fixture f;
    fx_init(&f, L, NULL);
    for (int i = 0; i < N; i++)
        f.l[i]->flags &= ~MUST_T_REQ_GRAD; /* constants here */
    must_optim_config c;
    must_optim_config_default(&c, kind);
    c.lr = kind == MUST_OPTIM_SGD ? 0.2 : 0.05;
    c.momentum = kind == MUST_OPTIM_SGD ? 0.5 : 0;
    c.weight_decay = 0.5;
    c.no_decay_exclude = 1;
    c.threads = 1; /* three numbers: no thread team to wake 600 times on a busy machine */
    must_err e = {0};
    must_optim *opt = must_optim_new(&c, &f.lv, 1, &e);
    ck_assert_msg(opt != NULL, "%s", e.msg);
    must_ctx *ctx = must_ctx_new(1);
    for (int step = 0; step < 600; step++) {
        must_ctx_reset(ctx);
        must_params_zero_grad(f.lv);
        must_tensor *t = total_fn(ctx, &f);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(must_backward(ctx, t), MUST_OK);
        ck_assert_msg(must_optim_step(opt, NULL, &e) == MUST_OK, "%s", e.msg);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_float_near(must_params_get(f.lv, i)->data[0], log(L[i]), 2e-3);
        ck_assert_float_near(must_weighting_weight(f.lv, i) * L[i], 1.0, 2e-3);
    }
    must_ctx_free(ctx);
    must_optim_free(opt);
    fx_free(&f);
}

START_TEST(test_settles_at_log_loss_sgd)
{
    settle(MUST_OPTIM_SGD);
}
END_TEST

START_TEST(test_settles_at_log_loss_adamw)
{
    settle(MUST_OPTIM_ADAMW);
}
END_TEST

START_TEST(test_params_and_errors)
{
    must_err e = {0};
    const double s0[2] = {0.7, -1.5};
    must_params *p = must_weighting_params(2, names, s0, &e);
    ck_assert_ptr_nonnull(p);
    ck_assert(must_params_get(p, 0)->data[0] == 0.7f);
    ck_assert(must_params_get(p, 1)->data[0] == -1.5f);
    ck_assert(must_params_get(p, 0)->flags & MUST_T_PARAM);
    must_params *z = must_weighting_params(1, names, NULL, &e);
    ck_assert(must_params_get(z, 0)->data[0] == 0.0f);
    ck_assert_float_near(must_weighting_weight(z, 0), 1.0, 0);

    /* Non-finite start, no tasks: refused with a reason. */
    const double bad[2] = {0, INFINITY};
    ck_assert_ptr_null(must_weighting_params(2, names, bad, &e));
    ck_assert_msg(strstr(e.msg, "depth") != NULL, "%s", e.msg);
    ck_assert_ptr_null(must_weighting_params(0, names, NULL, &e));

    /* Ops: a loss of more than one element, a count that does not match
     * the set: the sticky error, no crash. */
    must_ctx *ctx = must_ctx_new(1);
    int two = 2;
    must_tensor *v = must_tensor_zeros(ctx, 1, &two);
    ck_assert_ptr_null(must_weighting_term(ctx, v, must_params_get(p, 0)));
    ck_assert_msg(strstr(must_ctx_error(ctx)->msg, "weighting") != NULL, "%s",
                  must_ctx_error(ctx)->msg);
    must_ctx_reset(ctx);
    must_tensor *one = must_tensor_zeros(ctx, 1, &two);
    ck_assert_ptr_null(must_weighting_total(ctx, 1, &one, p));
    ck_assert_msg(strstr(must_ctx_error(ctx)->msg, "1 losses for 2") != NULL, "%s",
                  must_ctx_error(ctx)->msg);
    must_ctx_reset(ctx);
    ck_assert_ptr_null(must_weighting_term(ctx, NULL, must_params_get(p, 0)));
    must_ctx_free(ctx);
    must_params_free(z);
    must_params_free(p);
}
END_TEST

START_TEST(test_checkpoint_round_trip)
{
    /* The log-variances are plain parameters: saved and restored bit for
     * bit, under their own names. */
    must_err e = {0};
    const double s0[N] = {0.123456789, -2.5, 3.75};
    must_params *p = must_weighting_params(N, names, s0, &e);
    char path[512];
    snprintf(path, sizeof path, "%s/weighting", test_tmpdir());
    ck_assert_int_eq(must_mkdir_p(path, &e), MUST_OK);
    snprintf(path, sizeof path, "%s/weighting/lv.safetensors", test_tmpdir());
    ck_assert_msg(must_ckpt_save(path, &p, 1, NULL, &e) == MUST_OK, "%s", e.msg);
    must_params *q = must_weighting_params(N, names, NULL, &e);
    ck_assert_msg(must_ckpt_load(path, &q, 1, NULL, NULL, &e) == MUST_OK, "%s", e.msg);
    for (int i = 0; i < N; i++)
        ck_assert(must_params_get(q, i)->data[0] == must_params_get(p, i)->data[0]);
    must_params_free(q);
    must_params_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("weighting");
    TCase *tc = tcase_create("uncertainty");
    tcase_add_test(tc, test_value_and_gradients_by_hand);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_settles_at_log_loss_sgd);
    tcase_add_test(tc, test_settles_at_log_loss_adamw);
    tcase_add_test(tc, test_params_and_errors);
    tcase_add_test(tc, test_checkpoint_round_trip);
    suite_add_tcase(s, tc);
    return test_run(s);
}
