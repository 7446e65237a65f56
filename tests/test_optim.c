/* test_optim.c - update rules, schedules, clipping, state and determinism.
 *
 * The expected weights of the update-rule tests were computed by hand and
 * checked against torch.optim (PyTorch 1.13, float32) with the same inputs:
 * w0 = (1, -2), the gradients listed in each test, three steps. */
#include "config.h"

#include <math.h>

#include "must/optim.h"
#include "testutil.h"

/* A set with one trainable (2) tensor "w", an optional no-decay (2) tensor
 * "b" and a (3) buffer "rm", so that every test also sees the buffer. */
typedef struct fixture {
    must_params *p;
    must_tensor *w, *b, *rm;
} fixture;

static void fx_init(fixture *f, int with_bias)
{
    f->p = must_params_new("m.");
    f->w = must_params_add4(f->p, "w", 2, 0, 0, 0, MUST_T_PARAM);
    f->b = with_bias ? must_params_add4(f->p, "b", 2, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY)
                     : NULL;
    f->rm = must_params_add4(f->p, "rm", 3, 0, 0, 0, MUST_T_BUFFER);
    ck_assert_int_eq(must_params_alloc(f->p, NULL), MUST_OK);
    f->w->data[0] = 1.0f;
    f->w->data[1] = -2.0f;
    if (f->b) {
        f->b->data[0] = 1.0f;
        f->b->data[1] = -2.0f;
    }
    must_init_const(f->rm, 5.0f);
}

static must_optim *mk(const must_optim_config *c, fixture *f)
{
    must_err e = {0};
    must_optim *o = must_optim_new(c, &f->p, 1, &e);
    ck_assert_msg(o != NULL, "%s", e.msg);
    return o;
}

static void set_grad(must_tensor *t, float a, float b)
{
    t->grad[0] = a;
    t->grad[1] = b;
}

static void step_ok(must_optim *o, must_optim_report *r)
{
    must_err e = {0};
    ck_assert_msg(must_optim_step(o, r, &e) == MUST_OK, "%s", e.msg);
}

/* Runs three steps with gradient (0.5, 1) on w (and b) and checks w after
 * each against want[step][0..1]. */
static void three_constant_steps(const must_optim_config *c, const double want[3][2])
{
    fixture f;
    fx_init(&f, 0);
    must_optim *o = mk(c, &f);
    for (int s = 0; s < 3; s++) {
        set_grad(f.w, 0.5f, 1.0f);
        step_ok(o, NULL);
        ck_assert_float_near(f.w->data[0], want[s][0], 2e-7);
        ck_assert_float_near(f.w->data[1], want[s][1], 4e-7);
        for (int i = 0; i < 3; i++)
            ck_assert(f.rm->data[i] == 5.0f); /* buffers never move */
    }
    ck_assert_int_eq(must_optim_get_step(o), 3);
    must_optim_free(o);
    must_params_free(f.p);
}

START_TEST(sgd_plain)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 0.1;
    /* w -= 0.1 * g each step. */
    const double want[3][2] = {{0.95, -2.1}, {0.9, -2.2}, {0.85, -2.3}};
    three_constant_steps(&c, want);
}
END_TEST

START_TEST(sgd_momentum)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    /* buf = g, 1.9 g, 2.71 g. */
    const double want[3][2] = {{0.95, -2.1}, {0.855, -2.29}, {0.7195, -2.561}};
    three_constant_steps(&c, want);
}
END_TEST

START_TEST(sgd_nesterov)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    c.nesterov = 1;
    /* d = g + 0.9 buf = 1.9 g, 2.71 g, 3.439 g. */
    const double want[3][2] = {{0.905, -2.19}, {0.7695, -2.461}, {0.59755, -2.8049}};
    three_constant_steps(&c, want);
}
END_TEST

START_TEST(sgd_dampening)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    c.dampening = 0.5;
    /* First buf = g undamped, then 0.9 buf + 0.5 g: 1.4 g, 1.76 g. */
    const double want[3][2] = {{0.95, -2.1}, {0.88, -2.24}, {0.792, -2.416}};
    three_constant_steps(&c, want);
}
END_TEST

/* Weight decay with momentum on w; b is flagged MUST_T_NO_DECAY. */
static void decay_case(int exclude)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    c.weight_decay = 0.1;
    c.no_decay_exclude = exclude;
    /* d = g + 0.1 w: (0.6, 0.8) -> w = (0.94, -2.08); then d = 0.5 + 0.094,
     * buf = 0.54 + 0.594 = 1.134 -> 0.8266; ... */
    const double decayed[3][2] = {{0.94, -2.08}, {0.8266, -2.2312}, {0.666274, -2.444968}};
    const double plain[3][2] = {{0.95, -2.1}, {0.855, -2.29}, {0.7195, -2.561}};
    fixture f;
    fx_init(&f, 1);
    must_optim *o = mk(&c, &f);
    for (int s = 0; s < 3; s++) {
        set_grad(f.w, 0.5f, 1.0f);
        set_grad(f.b, 0.5f, 1.0f);
        step_ok(o, NULL);
        const double(*wb)[2] = exclude ? plain : decayed;
        ck_assert_float_near(f.w->data[0], decayed[s][0], 2e-7);
        ck_assert_float_near(f.w->data[1], decayed[s][1], 4e-7);
        ck_assert_float_near(f.b->data[0], wb[s][0], 2e-7);
        ck_assert_float_near(f.b->data[1], wb[s][1], 4e-7);
        ck_assert(f.rm->data[0] == 5.0f);
    }
    must_optim_free(o);
    must_params_free(f.p);
}

START_TEST(sgd_weight_decay_excludes_flagged)
{
    decay_case(1);
}
END_TEST

START_TEST(sgd_weight_decay_all)
{
    decay_case(0);
}
END_TEST

START_TEST(adamw_three_steps)
{
    /* Gradients (0.5, 1), (-0.25, 2), (0.125, -3). Step 1 by hand: w = 0.99,
     * m = 0.05, v = 2.5e-4, step size 0.1 / 0.1 = 1, denom = 0.5 + 1e-8, so
     * w = 0.99 - 0.1 = 0.89. */
    const float g[3][2] = {{0.5f, 1.0f}, {-0.25f, 2.0f}, {0.125f, -3.0f}};
    const double want_wd[3][2] = {
        {0.890000045, -2.07999992}, {0.854466379, -2.15571833}, {0.8118788, -2.12750125}};
    const double want_0[3][2] = {
        {0.900000036, -2.0999999}, {0.873366356, -2.19651818}, {0.839323461, -2.1898582}};
    for (int k = 0; k < 2; k++) {
        must_optim_config c;
        must_optim_config_default(&c, MUST_OPTIM_ADAMW);
        ck_assert_float_near(c.lr, 1e-3, 0);
        ck_assert_float_near(c.weight_decay, 1e-2, 0);
        c.lr = 0.1;
        c.weight_decay = k == 0 ? 0.1 : 0.0;
        const double(*want)[2] = k == 0 ? want_wd : want_0;
        fixture f;
        fx_init(&f, 1);
        must_optim *o = mk(&c, &f);
        for (int s = 0; s < 3; s++) {
            set_grad(f.w, g[s][0], g[s][1]);
            set_grad(f.b, g[s][0], g[s][1]);
            step_ok(o, NULL);
            ck_assert_float_near(f.w->data[0], want[s][0], 3e-7);
            ck_assert_float_near(f.w->data[1], want[s][1], 5e-7);
            /* b is no-decay: it follows the decay-free run. */
            ck_assert_float_near(f.b->data[0], want_0[s][0], 3e-7);
            ck_assert_float_near(f.b->data[1], want_0[s][1], 5e-7);
            ck_assert(f.rm->data[2] == 5.0f);
        }
        ck_assert_ptr_nonnull(must_optim_state_find(o, "exp_avg.m.w"));
        ck_assert_ptr_nonnull(must_optim_state_find(o, "exp_avg_sq.m.b"));
        ck_assert_ptr_null(must_optim_state_find(o, "exp_avg.m.rm"));
        /* m after three steps: 0.9 (0.9 * 0.05 - 0.025) + 0.0125 = 0.0305. */
        ck_assert_float_near(must_optim_state_find(o, "exp_avg.m.w")->data[0], 0.0305, 1e-8);
        must_optim_free(o);
        must_params_free(f.p);
    }
}
END_TEST

START_TEST(schedules_at_chosen_steps)
{
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 1.0;
    /* Constant with warm-up from zero over 10 steps. */
    c.warmup_steps = 10;
    ck_assert_float_near(must_optim_sched_lr(&c, 0), 0.0, 0);
    ck_assert_float_near(must_optim_sched_lr(&c, 5), 0.5, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 10), 1.0, 0);
    ck_assert_float_near(must_optim_sched_lr(&c, 1000), 1.0, 0);
    /* From a start factor. */
    c.warmup_start = 0.1;
    ck_assert_float_near(must_optim_sched_lr(&c, 0), 0.1, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 5), 0.55, 1e-15);
    /* Cosine after the warm-up, over 100 steps. */
    c.warmup_start = 0;
    c.sched = MUST_SCHED_COSINE;
    c.total_steps = 110;
    ck_assert_float_near(must_optim_sched_lr(&c, 5), 0.5, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 10), 1.0, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 35), (1 + cos(M_PI / 4)) / 2, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 60), 0.5, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 110), 0.0, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 500), 0.0, 1e-15);
    c.final_lr = 0.1;
    ck_assert_float_near(must_optim_sched_lr(&c, 60), 0.55, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 110), 0.1, 1e-15);
    /* Step decay at milestones. */
    c.sched = MUST_SCHED_STEP;
    c.warmup_steps = 0;
    c.gamma = 0.1;
    c.milestones[0] = 30;
    c.milestones[1] = 80;
    c.n_milestones = 2;
    ck_assert_float_near(must_optim_sched_lr(&c, 0), 1.0, 0);
    ck_assert_float_near(must_optim_sched_lr(&c, 29), 1.0, 0);
    ck_assert_float_near(must_optim_sched_lr(&c, 30), 0.1, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 79), 0.1, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 80), 0.01, 1e-15);
    ck_assert_float_near(must_optim_sched_lr(&c, 10000), 0.01, 1e-15);
    /* Every k steps. */
    c.step_every = 10;
    c.gamma = 0.5;
    ck_assert_float_near(must_optim_sched_lr(&c, 9), 1.0, 0);
    ck_assert_float_near(must_optim_sched_lr(&c, 25), 0.25, 0);

    /* The optimizer uses lr(step) for the update made at step. */
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 1.0;
    c.warmup_steps = 4;
    fixture f;
    fx_init(&f, 0);
    must_optim *o = mk(&c, &f);
    ck_assert_float_near(must_optim_lr(o, 2), 0.5, 0);
    must_optim_report r;
    const double w_after[3] = {1.0, 1.0 - 0.25 * 0.5, 1.0 - 0.25 * 0.5 - 0.5 * 0.5};
    for (int s = 0; s < 3; s++) {
        set_grad(f.w, 0.5f, 0.0f);
        step_ok(o, &r);
        ck_assert_int_eq(r.step, s);
        ck_assert_float_near(r.lr, 0.25 * s, 0);
        ck_assert_float_near(f.w->data[0], w_after[s], 1e-7);
    }
    must_optim_free(o);
    must_params_free(f.p);
}
END_TEST

START_TEST(clipping_over_all_sets)
{
    must_params *a = must_params_new("a."), *b = must_params_new("b.");
    must_tensor *x = must_params_add4(a, "x", 2, 0, 0, 0, MUST_T_PARAM);
    must_tensor *y = must_params_add4(b, "y", 1, 0, 0, 0, MUST_T_PARAM);
    must_params_alloc(a, NULL);
    must_params_alloc(b, NULL);
    must_params *sets[2] = {a, b};
    must_optim_config c;
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = 1.0;
    c.clip_norm = 6.5;
    must_err e = {0};
    must_optim *o = must_optim_new(&c, sets, 2, &e);
    ck_assert_msg(o != NULL, "%s", e.msg);
    /* (3, 4) and (12): norm 13, clipped by 6.5 / (13 + 1e-6) ~ 0.5. */
    set_grad(x, 3.0f, 4.0f);
    y->grad[0] = 12.0f;
    ck_assert_float_near(must_optim_grad_norm(o), 13.0, 1e-12);
    must_optim_report r;
    step_ok(o, &r);
    ck_assert_float_near(r.grad_norm, 13.0, 1e-12);
    ck_assert_int_eq(r.clipped, 1);
    double k = 6.5 / (13.0 + 1e-6);
    ck_assert_float_near(x->grad[0], 3 * k, 1e-6);
    ck_assert_float_near(x->grad[1], 4 * k, 1e-6);
    ck_assert_float_near(y->grad[0], 12 * k, 1e-6);
    ck_assert_float_near(x->data[0], -3 * k, 1e-6);
    ck_assert_float_near(y->data[0], -12 * k, 1e-6);
    ck_assert_float_near(must_optim_grad_norm(o), 6.5, 1e-5);
    /* Under the limit: untouched. */
    set_grad(x, 0.3f, 0.4f);
    y->grad[0] = 1.2f;
    step_ok(o, &r);
    ck_assert_int_eq(r.clipped, 0);
    ck_assert_float_near(r.grad_norm, 1.3, 1e-6);
    ck_assert(x->grad[0] == 0.3f && y->grad[0] == 1.2f);
    /* A non-finite norm: refused, nothing changed. */
    float before = y->data[0];
    x->grad[1] = NAN;
    ck_assert_int_eq(must_optim_step(o, &r, &e), MUST_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(e.msg, "norm"));
    ck_assert(y->data[0] == before);
    ck_assert_int_eq(must_optim_get_step(o), 2);
    x->grad[1] = INFINITY;
    ck_assert_int_eq(must_optim_step(o, &r, &e), MUST_ENUMERIC);
    ck_assert(y->data[0] == before);
    must_optim_free(o);
    must_params_free(a);
    must_params_free(b);
}
END_TEST

/* A deterministic gradient that depends on the weights and the step, so
 * that a wrong restore shows in the continuation. */
static void fake_grad(must_params *p, long step)
{
    float *w = must_params_data(p), *g = must_params_grad(p);
    size_t n = must_params_numel(p, 1);
    for (size_t i = 0; i < n; i++)
        g[i] = 0.3f * w[i] - 0.01f * (float)(i % 7) + 0.02f * (float)step;
}

static must_params *big_set(size_t n, uint64_t seed)
{
    must_params *p = must_params_new("net.");
    must_tensor *w = must_params_add4(p, "w", (int)n, 0, 0, 0, MUST_T_PARAM);
    must_tensor *bias = must_params_add4(p, "bias", 37, 0, 0, 0, MUST_T_PARAM | MUST_T_NO_DECAY);
    must_tensor *w2 = must_params_add4(p, "w2", 3, 5, 0, 0, MUST_T_PARAM);
    must_params_add4(p, "rv", 37, 0, 0, 0, MUST_T_BUFFER);
    must_params_alloc(p, NULL);
    must_rng r;
    must_rng_seed(&r, seed);
    must_init_uniform(w, &r, -1, 1);
    must_init_uniform(bias, &r, -1, 1);
    must_init_uniform(w2, &r, -1, 1);
    return p;
}

static void configs(must_optim_config c[3])
{
    must_optim_config_default(&c[0], MUST_OPTIM_SGD);
    c[0].momentum = 0.9;
    c[0].nesterov = 1;
    c[0].weight_decay = 1e-4;
    c[0].clip_norm = 5.0;
    c[0].sched = MUST_SCHED_COSINE;
    c[0].warmup_steps = 2;
    c[0].total_steps = 10;
    must_optim_config_default(&c[1], MUST_OPTIM_ADAMW);
    c[1].clip_norm = 1.0;
    must_optim_config_default(&c[2], MUST_OPTIM_SGD);
    c[2].weight_decay = 1e-3;
}

START_TEST(state_restore_continues_identically)
{
    must_optim_config c[3];
    configs(c);
    for (int k = 0; k < 3; k++) {
        must_params *a = big_set(1000, 7), *b = big_set(1000, 99);
        must_err e = {0};
        must_optim *oa = must_optim_new(&c[k], &a, 1, &e);
        ck_assert_msg(oa != NULL, "%s", e.msg);
        for (long s = 0; s < 3; s++) {
            fake_grad(a, s);
            step_ok(oa, NULL);
        }
        /* Restore into a fresh optimizer over other weights. */
        must_optim *ob = must_optim_new(&c[k], &b, 1, &e);
        ck_assert_int_eq(must_optim_state_count(ob), must_optim_state_count(oa));
        ck_assert_int_eq(must_optim_state_count(oa), k == 0 ? 3 : k == 1 ? 6 : 0);
        memcpy(must_params_data(b), must_params_data(a),
               must_params_numel(a, 0) * sizeof(float));
        for (int i = 0; i < must_optim_state_count(oa); i++) {
            const must_optim_state *sa = must_optim_state_get(oa, i);
            const must_optim_state *sb = must_optim_state_find(ob, sa->name);
            ck_assert_ptr_nonnull(sb);
            ck_assert_uint_eq(sa->param->numel, sb->param->numel);
            memcpy(sb->data, sa->data, sa->param->numel * sizeof(float));
        }
        must_optim_set_step(ob, must_optim_get_step(oa));
        for (long s = 3; s < 8; s++) {
            fake_grad(a, s);
            fake_grad(b, s);
            step_ok(oa, NULL);
            step_ok(ob, NULL);
        }
        ck_assert(memcmp(must_params_data(a), must_params_data(b),
                         must_params_numel(a, 0) * sizeof(float)) == 0);
        must_optim_free(oa);
        must_optim_free(ob);
        must_params_free(a);
        must_params_free(b);
    }
}
END_TEST

START_TEST(threads_do_not_change_results)
{
    must_optim_config c[3];
    configs(c);
    for (int k = 0; k < 3; k++) {
        /* Several chunks, so that two threads really split the work. */
        must_params *a = big_set(70001, 5), *b = big_set(70001, 5);
        c[k].threads = 1;
        must_optim *oa = must_optim_new(&c[k], &a, 1, NULL);
        c[k].threads = 2;
        must_optim *ob = must_optim_new(&c[k], &b, 1, NULL);
        for (long s = 0; s < 4; s++) {
            must_optim_report ra, rb;
            fake_grad(a, s);
            fake_grad(b, s);
            step_ok(oa, &ra);
            step_ok(ob, &rb);
            ck_assert(ra.grad_norm == rb.grad_norm);
        }
        ck_assert(memcmp(must_params_data(a), must_params_data(b),
                         must_params_numel(a, 0) * sizeof(float)) == 0);
        must_optim_free(oa);
        must_optim_free(ob);
        must_params_free(a);
        must_params_free(b);
    }
}
END_TEST

START_TEST(bad_configs_refused)
{
    must_params *p = big_set(10, 1);
    must_optim_config c;
    must_err e = {0};
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.nesterov = 1;
    ck_assert_ptr_null(must_optim_new(&c, &p, 1, &e));
    ck_assert_int_eq(e.code, MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "nesterov"));
    must_optim_config_default(&c, MUST_OPTIM_ADAMW);
    c.beta2 = 1.0;
    ck_assert_ptr_null(must_optim_new(&c, &p, 1, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "betas"));
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.sched = MUST_SCHED_COSINE;
    c.warmup_steps = 5;
    c.total_steps = 5;
    ck_assert_ptr_null(must_optim_new(&c, &p, 1, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "total_steps"));
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.sched = MUST_SCHED_STEP;
    c.milestones[0] = 10;
    c.milestones[1] = 10;
    c.n_milestones = 2;
    ck_assert_ptr_null(must_optim_new(&c, &p, 1, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "ascending"));
    must_optim_config_default(&c, MUST_OPTIM_SGD);
    c.lr = -1;
    ck_assert_ptr_null(must_optim_new(&c, &p, 1, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "lr"));
    /* The same tensor name in two sets. */
    must_params *q = big_set(10, 2);
    must_params *two[2] = {p, q};
    must_optim_config_default(&c, MUST_OPTIM_ADAMW);
    ck_assert_ptr_null(must_optim_new(&c, two, 2, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "net.w"));
    must_params_free(p);
    must_params_free(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sgd_plain);
    tcase_add_test(tc, sgd_momentum);
    tcase_add_test(tc, sgd_nesterov);
    tcase_add_test(tc, sgd_dampening);
    tcase_add_test(tc, sgd_weight_decay_excludes_flagged);
    tcase_add_test(tc, sgd_weight_decay_all);
    tcase_add_test(tc, adamw_three_steps);
    tcase_add_test(tc, schedules_at_chosen_steps);
    tcase_add_test(tc, clipping_over_all_sets);
    tcase_add_test(tc, state_restore_continues_identically);
    tcase_add_test(tc, threads_do_not_change_results);
    tcase_add_test(tc, bad_configs_refused);
    suite_add_tcase(s, tc);
    return test_run(s);
}
