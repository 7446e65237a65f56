/* test_engine.c - arena, tape, parameters, rng, gradcheck machinery. */
#include "config.h"

#include <math.h>

#include "must/gradcheck.h"
#include "must/ops.h"
#include "testutil.h"

START_TEST(arena_reuses_memory)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *a = must_tensor_new4(ctx, 2, 3, 4, 5);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->numel, 120);
    size_t bytes = must_ctx_arena_bytes(ctx);
    must_ctx_reset(ctx);
    must_tensor *b = must_tensor_new4(ctx, 2, 3, 4, 5);
    ck_assert_ptr_eq(a->data, b->data);
    ck_assert_uint_eq(must_ctx_arena_bytes(ctx), bytes);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(sticky_error_names_op_and_shapes)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *a = must_tensor_new4(ctx, 1, 2, 3, 3);
    must_tensor *b = must_tensor_new4(ctx, 1, 2, 3, 4);
    ck_assert_ptr_null(must_op_add(ctx, a, b));
    ck_assert_int_eq(must_ctx_error(ctx)->code, MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "add"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(1, 2, 3, 3)"));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "(1, 2, 3, 4)"));
    /* A NULL input propagates without overwriting the first message. */
    ck_assert_ptr_null(must_op_relu(ctx, NULL));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "add"));
    must_ctx_free(ctx);
}
END_TEST

START_TEST(params_are_flat_blocks)
{
    must_params *p = must_params_new("m.");
    must_tensor *w = must_params_add4(p, "w", 2, 3, 0, 0, MUST_T_PARAM);
    must_tensor *rm = must_params_add4(p, "rm", 3, 0, 0, 0, MUST_T_BUFFER);
    must_tensor *b = must_params_add4(p, "b", 2, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    ck_assert_int_eq(must_params_alloc(p, NULL), MUST_OK);
    ck_assert_str_eq(w->name, "m.w");
    ck_assert_int_eq(rm->ndim, 1);
    ck_assert_ptr_eq(w->data, must_params_data(p));
    ck_assert_ptr_eq(b->data, must_params_data(p) + 6);  /* trainables first */
    ck_assert_ptr_eq(rm->data, must_params_data(p) + 8); /* then buffers */
    ck_assert_ptr_null(rm->grad);
    ck_assert_uint_eq(must_params_numel(p, 1), 8);
    ck_assert_uint_eq(must_params_numel(p, 0), 11);
    ck_assert_ptr_eq(must_params_find(p, "m.b"), b);
    must_params_free(p);
}
END_TEST

START_TEST(rng_is_deterministic_and_uniform)
{
    must_rng a, b;
    must_rng_seed(&a, 42);
    must_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(must_rng_u64(&a), must_rng_u64(&b));
    int hist[10] = {0};
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        hist[must_rng_below(&a, 10)]++;
        float z = must_rng_normal(&a);
        s += z;
        s2 += z * z;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_int_lt(abs(hist[k] - 10000), 500); /* ~5 sigma */
    ck_assert_float_near(s / 100000, 0.0, 0.02);
    ck_assert_float_near(s2 / 100000, 1.0, 0.03);
}
END_TEST

/* (x * y + exp(x)) summed, a smooth function of two parameter tensors. */
struct two {
    must_tensor *x, *y;
};
static must_tensor *smooth_loss(must_ctx *ctx, void *u)
{
    struct two *t = u;
    return must_op_sum(ctx, must_op_add(ctx, must_op_mul(ctx, t->x, t->y),
                                        must_op_scale(ctx, must_op_exp(ctx, t->x), 0.5f)));
}

START_TEST(gradcheck_accepts_right_and_rejects_wrong)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    struct two t;
    t.x = must_params_add4(p, "x", 2, 3, 0, 0, MUST_T_PARAM);
    t.y = must_params_add4(p, "y", 2, 3, 0, 0, MUST_T_PARAM);
    must_params_alloc(p, NULL);
    must_rng r;
    must_rng_seed(&r, 3);
    must_init_uniform(t.x, &r, -1, 1);
    must_init_uniform(t.y, &r, -1, 1);
    must_err e = {0};
    ck_assert_msg(must_gradcheck(ctx, smooth_loss, &t, p, NULL, &e) == MUST_OK, "%s", e.msg);
    must_params *sets[1] = {p};
    ck_assert_msg(must_gradcheck_dir(ctx, smooth_loss, &t, sets, 1, NULL, &e) == MUST_OK, "%s",
                  e.msg);
    /* d/dx must be y + exp(x)/2; check the analytic values directly too. */
    for (size_t i = 0; i < 6; i++)
        ck_assert_float_near(t.x->grad[i], t.y->data[i] + 0.5 * exp(t.x->data[i]), 1e-5);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

/* An op with a deliberately wrong backward must be caught. */
static void bad_bw(must_ctx *ctx, must_node *nd)
{
    (void)ctx;
    for (size_t i = 0; i < nd->in[0]->numel; i++)
        nd->in[0]->grad[i] += 2.0f * nd->out->grad[i] * nd->in[0]->data[i] * 1.1f;
}
static must_tensor *bad_square_sum(must_ctx *ctx, void *u)
{
    must_tensor *x = u;
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    for (size_t i = 0; i < x->numel; i++)
        y->data[i] = x->data[i] * x->data[i];
    must_tape_record(ctx, "bad", bad_bw, y, 1, &x);
    return must_op_sum(ctx, y);
}

START_TEST(gradcheck_catches_a_wrong_backward)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = must_params_add4(p, "x", 8, 0, 0, 0, MUST_T_PARAM);
    must_params_alloc(p, NULL);
    for (int i = 0; i < 8; i++)
        x->data[i] = 1.0f + i;
    must_err e = {0};
    ck_assert_int_eq(must_gradcheck(ctx, bad_square_sum, x, p, NULL, &e), MUST_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(e.msg, "x["));
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

START_TEST(no_grad_records_nothing)
{
    must_ctx *ctx = must_ctx_new(1);
    must_params *p = must_params_new("");
    must_tensor *x = must_params_add4(p, "x", 4, 0, 0, 0, MUST_T_PARAM);
    must_params_alloc(p, NULL);
    must_ctx_set_grad(ctx, 0);
    must_tensor *y = must_op_sum(ctx, must_op_relu(ctx, x));
    ck_assert_ptr_nonnull(y);
    ck_assert(!(y->flags & MUST_T_REQ_GRAD));
    ck_assert_int_eq(must_backward(ctx, y), MUST_EINVAL);
    must_params_free(p);
    must_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, arena_reuses_memory);
    tcase_add_test(tc, sticky_error_names_op_and_shapes);
    tcase_add_test(tc, params_are_flat_blocks);
    tcase_add_test(tc, rng_is_deterministic_and_uniform);
    tcase_add_test(tc, gradcheck_accepts_right_and_rejects_wrong);
    tcase_add_test(tc, gradcheck_catches_a_wrong_backward);
    tcase_add_test(tc, no_grad_records_nothing);
    suite_add_tcase(s, tc);
    return test_run(s);
}
