/* test_train.c - the engine as a whole: a small conv net overfits one batch,
 * and training is bit-identical for the same seed, across runs and thread
 * counts. */
#include "config.h"

#include <math.h>

#include "must/ops.h"
#include "must/optim.h"
#include "testutil.h"

typedef struct net {
    must_params *p;
    must_tensor *w1, *g1, *b1, *m1, *v1, *w2, *g2, *b2, *m2, *v2, *fc, *fcb;
} net;

static void net_init(net *n, uint64_t seed)
{
    n->p = must_params_new("");
    n->w1 = must_params_add4(n->p, "conv1.weight", 8, 3, 3, 3, MUST_T_PARAM);
    n->g1 = must_params_add4(n->p, "bn1.weight", 8, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    n->b1 = must_params_add4(n->p, "bn1.bias", 8, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    n->m1 = must_params_add4(n->p, "bn1.running_mean", 8, 0, 0, 0, MUST_T_BUFFER);
    n->v1 = must_params_add4(n->p, "bn1.running_var", 8, 0, 0, 0, MUST_T_BUFFER);
    n->w2 = must_params_add4(n->p, "conv2.weight", 16, 8, 3, 3, MUST_T_PARAM);
    n->g2 = must_params_add4(n->p, "bn2.weight", 16, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    n->b2 = must_params_add4(n->p, "bn2.bias", 16, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    n->m2 = must_params_add4(n->p, "bn2.running_mean", 16, 0, 0, 0, MUST_T_BUFFER);
    n->v2 = must_params_add4(n->p, "bn2.running_var", 16, 0, 0, 0, MUST_T_BUFFER);
    n->fc = must_params_add4(n->p, "fc.weight", 4, 16, 0, 0, MUST_T_PARAM);
    n->fcb = must_params_add4(n->p, "fc.bias", 4, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    ck_assert_int_eq(must_params_alloc(n->p, NULL), MUST_OK);
    must_rng r;
    must_rng_seed(&r, seed);
    must_init_kaiming(n->w1, &r);
    must_init_kaiming(n->w2, &r);
    must_init_kaiming(n->fc, &r);
    must_init_const(n->g1, 1);
    must_init_const(n->g2, 1);
    must_init_const(n->v1, 1);
    must_init_const(n->v2, 1);
}

/* (8, 3, 16, 16) -> conv-bn-relu -> maxpool -> conv(s2)-bn-relu -> gap -> fc -> CE */
static must_tensor *net_loss(must_ctx *ctx, net *n, must_tensor *x, const int32_t *y)
{
    must_tensor *h = must_op_conv2d(ctx, x, n->w1, NULL, 1, 1, 1);
    h = must_op_relu(ctx, must_op_batchnorm(ctx, h, n->g1, n->b1, n->m1, n->v1, 0.1f, 1e-5f));
    h = must_op_maxpool(ctx, h, 3, 2, 1);
    h = must_op_conv2d(ctx, h, n->w2, NULL, 2, 1, 1);
    h = must_op_relu(ctx, must_op_batchnorm(ctx, h, n->g2, n->b2, n->m2, n->v2, 0.1f, 1e-5f));
    h = must_op_linear(ctx, must_op_global_avgpool(ctx, h), n->fc, n->fcb);
    return must_op_cross_entropy(ctx, h, y, -1);
}

/* Trains `steps` SGD steps on one fixed batch; returns first and last loss. */
static void train(int threads, int steps, net *n, float *first, float *last)
{
    must_ctx *ctx = must_ctx_new(threads);
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = 0.05;
    oc.momentum = 0.9;
    oc.weight_decay = 1e-4;
    oc.threads = threads;
    must_err e = {0};
    must_optim *opt = must_optim_new(&oc, &n->p, 1, &e);
    ck_assert_msg(opt != NULL, "%s", e.msg);
    must_rng r;
    must_rng_seed(&r, 99);
    float xs[8 * 3 * 16 * 16];
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        xs[i] = must_rng_normal(&r);
    int32_t y[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    for (int s = 0; s < steps; s++) {
        must_ctx_reset(ctx);
        must_tensor *x = must_tensor_new4(ctx, 8, 3, 16, 16);
        memcpy(x->data, xs, sizeof xs);
        must_params_zero_grad(n->p);
        must_tensor *l = net_loss(ctx, n, x, y);
        ck_assert_msg(l != NULL, "%s", must_ctx_error(ctx)->msg);
        ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
        if (s == 0)
            *first = l->data[0];
        *last = l->data[0];
        ck_assert_msg(must_optim_step(opt, NULL, &e) == MUST_OK, "%s", e.msg);
    }
    must_optim_free(opt);
    must_ctx_free(ctx);
}

START_TEST(small_net_overfits_one_batch)
{
    net n;
    net_init(&n, 5);
    float first, last;
    train(1, 80, &n, &first, &last);
    ck_assert_msg(isfinite(last) && last <= 0.1f * first, "loss %g -> %g (needs a 90%% drop)",
                  first, last);
    must_params_free(n.p);
}
END_TEST

START_TEST(training_is_bit_identical_across_runs_and_threads)
{
    net a, b, c;
    float f, l1, l2, l3;
    net_init(&a, 7);
    net_init(&b, 7);
    net_init(&c, 7);
    train(1, 5, &a, &f, &l1);
    train(1, 5, &b, &f, &l2);
    train(2, 5, &c, &f, &l3);
    size_t n = must_params_numel(a.p, 0);
    ck_assert_int_eq(memcmp(must_params_data(a.p), must_params_data(b.p), n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(must_params_data(a.p), must_params_data(c.p), n * sizeof(float)), 0);
    ck_assert(l1 == l2 && l1 == l3);
    must_params_free(a.p);
    must_params_free(b.p);
    must_params_free(c.p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_net_overfits_one_batch);
    tcase_add_test(tc, training_is_bit_identical_across_runs_and_threads);
    suite_add_tcase(s, tc);
    return test_run(s);
}
