/* test_init.c - `init = file:...` (core/pipeline/model.c, pl_model_load_init):
 * a backbone starts from a file in torchvision's naming, checked tensor by
 * tensor: every ResNet tensor takes the file's values, the FPN the file
 * lacks keeps its own, the classifier the file adds is ignored; a file that
 * lacks a ResNet tensor or has one of another shape is refused, naming it. */
#include "config.h"

#include <math.h>

#include "must/checkpoint.h"
#include "must/experiment.h"
#include "pipeline/pipeline-impl.h"
#include "testutil.h"

static const char *exp_text(unsigned seed)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "[backbone]\ndepth = 18\nwidth = 0.125\nfpn_channels = 16\nseed = %u\n", seed);
    return buf;
}

static void model_for(unsigned seed, must_experiment **e, pl_model *m)
{
    must_err err = {0};
    ck_assert_msg(must_exp_parse(exp_text(seed), "init.ini", e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_msg(pl_model_new(*e, NULL, 0, m, &err) == MUST_OK, "%s", err.msg);
}

static int is_fpn(const must_tensor *t) { return strncmp(t->name, "fpn.", 4) == 0; }

/* The backbone's ResNet tensors of m (not its FPN) into a new set, plus a
 * classifier "fc.weight" as torchvision's files have; `skip` (a name, or
 * NULL) is left out and `reshape` (a name, or NULL) gets one row more. */
static must_params *torchvision_like(const pl_model *m, const char *skip, const char *reshape)
{
    must_params *p = must_params_new("");
    const must_params *bb = m->sets[0];
    for (int i = 0; i < must_params_count(bb); i++) {
        const must_tensor *t = must_params_get(bb, i);
        if (is_fpn(t) || (skip && strcmp(t->name, skip) == 0))
            continue;
        int shape[4] = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
        if (reshape && strcmp(t->name, reshape) == 0)
            shape[0]++;
        ck_assert_ptr_nonnull(must_params_add(p, t->name, t->ndim, shape, t->flags));
    }
    int fc[2] = {10, 64};
    ck_assert_ptr_nonnull(must_params_add(p, "fc.weight", 2, fc, MUST_T_PARAM));
    must_err err = {0};
    ck_assert_msg(must_params_alloc(p, &err) == MUST_OK, "%s", err.msg);
    for (int i = 0; i < must_params_count(p); i++) {
        must_tensor *t = must_params_get(p, i);
        const must_tensor *s = must_params_find(bb, t->name);
        if (s && t->numel == s->numel)
            memcpy(t->data, s->data, t->numel * sizeof(float));
        else
            for (size_t j = 0; j < t->numel; j++)
                t->data[j] = 0.5f;
    }
    return p;
}

static char *save(must_params *p, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    must_err err = {0};
    ck_assert_msg(must_ckpt_save(path, &p, 1, NULL, &err) == MUST_OK, "%s", err.msg);
    must_params_free(p);
    return path;
}

START_TEST(init_takes_every_resnet_tensor)
{
    must_experiment *ea, *eb;
    pl_model a, b;
    model_for(5, &ea, &a);
    model_for(9, &eb, &b);
    const char *path = save(torchvision_like(&a, NULL, NULL), "init_tv.safetensors");
    /* b's own FPN, to see that it is kept. */
    const must_params *bb = b.sets[0];
    int n = must_params_count(bb), nfpn = 0;
    float **before = calloc((size_t)n, sizeof *before);
    for (int i = 0; i < n; i++) {
        const must_tensor *t = must_params_get(bb, i);
        before[i] = malloc(t->numel * sizeof(float));
        memcpy(before[i], t->data, t->numel * sizeof(float));
        nfpn += is_fpn(t);
    }
    ck_assert_int_gt(nfpn, 0);
    int loaded = -1, kept = -1;
    must_err err = {0};
    ck_assert_msg(pl_model_load_init(&b, path, &loaded, &kept, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(loaded, n - nfpn);
    ck_assert_int_eq(kept, nfpn);
    int differed = 0;
    for (int i = 0; i < n; i++) {
        const must_tensor *t = must_params_get(bb, i);
        const must_tensor *s = must_params_find(a.sets[0], t->name);
        ck_assert_ptr_nonnull(s);
        const float *want = is_fpn(t) ? before[i] : s->data;
        ck_assert_msg(memcmp(t->data, want, t->numel * sizeof(float)) == 0,
                      "%s does not hold the %s values", t->name, is_fpn(t) ? "own" : "file's");
        /* The two seeds drew different weights: the load did something. */
        differed += !is_fpn(t) && memcmp(before[i], s->data, t->numel * sizeof(float)) != 0;
        free(before[i]);
    }
    free(before);
    ck_assert_int_gt(differed, 0);
    pl_model_free(&a);
    pl_model_free(&b);
    must_exp_free(ea);
    must_exp_free(eb);
}
END_TEST

START_TEST(init_refuses_a_file_that_is_not_this_backbone)
{
    must_experiment *e;
    pl_model m;
    model_for(5, &e, &m);
    int loaded, kept;
    must_err err = {0};
    const char *path = save(torchvision_like(&m, "layer2.0.conv1.weight", NULL),
                            "init_lacks.safetensors");
    ck_assert_int_eq(pl_model_load_init(&m, path, &loaded, &kept, &err), MUST_EINVAL);
    ck_assert_msg(strstr(err.msg, "lacks 1 of the backbone's tensors: layer2.0.conv1.weight"),
                  "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "init_lacks.safetensors"), "%s", err.msg);
    path = save(torchvision_like(&m, NULL, "layer3.1.bn2.weight"), "init_shape.safetensors");
    memset(&err, 0, sizeof err);
    ck_assert_int_ne(pl_model_load_init(&m, path, &loaded, &kept, &err), MUST_OK);
    ck_assert_msg(strstr(err.msg, "layer3.1.bn2.weight"), "%s", err.msg);
    pl_model_free(&m);
    must_exp_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("init");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, init_takes_every_resnet_tensor);
    tcase_add_test(tc, init_refuses_a_file_that_is_not_this_backbone);
    suite_add_tcase(s, tc);
    return test_run(s);
}
