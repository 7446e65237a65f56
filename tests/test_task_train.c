/* test_task_train.c - each built-in plugin's head, on a tiny backbone
 * (ResNet-18 at width 0.25 with an FPN, 32x32 images), trains on a small
 * world dataset (must/world.h: rendered scenes with exact labels, written
 * in the dataset format) read back through the loader, and its metrics on
 * held-out images end well above where they started, above chance and
 * above the best constant prediction.  One thread; a few seconds each.
 *
 * The world: one dominant sphere, cube or cone on a floor in front of a
 * backdrop wall under the sky, plain colours, one light; every image
 * labelled for classification (3 shapes), segmentation (sky, floor, wall
 * and the shapes), depth and normals. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/dataset.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/optim.h"
#include "must/plugin.h"
#include "must/world.h"
#include "testutil.h"
#include "datautil.h"
#include "plugutil.h"

#define S 32
#define COUNT 160

static const char domain_ini[] =
    "[domain]\n"
    "role = teacher\n"
    "tasks = classification, segmentation, depth, normal\n"
    "splits = 80, 20, 0\n"
    "[objects]\n"
    "classes = sphere, cube, cone\n"
    "stuff = sky, floor, wall\n"
    "count = 1\n"
    "dominant = 1\n"
    "fill = 0.4, 0.6\n"
    "lying = 0\n"
    "[look]\n"
    "saturation = 0.6, 0.9\n"
    "value = 0.6, 0.95\n"
    "[background]\n"
    "kinds = backdrop\n"
    "[camera]\n"
    "height = 0.8, 1.5\n"
    "fov = 50, 60\n"
    "[lights]\n"
    "count = 1\n";

/* Rendered once per process, before the tests fork. */
static char set_dir[4096];

static void make_set(void)
{
    snprintf(set_dir, sizeof set_dir, "%s/task-train-world", test_tmpdir());
    du_rmrf(set_dir);
    must_world_domain *d;
    must_err e = {0};
    ck_assert_msg(must_world_domain_parse(domain_ini, "test_task_train.c", &d, &e) == MUST_OK,
                  "%s", e.msg);
    must_world_gen_opts o = {.count = COUNT, .size = S, .seed = 7, .threads = 1, .quiet = 1};
    ck_assert_msg(must_world_generate(d, set_dir, &o, NULL, &e) == MUST_OK, "%s", e.msg);
    must_world_domain_free(d);
}

typedef struct rig {
    must_dataset *ds;
    must_backbone *bb;
    must_task *t;
    must_ctx *ctx;
    unsigned want;
} rig;

static void rig_new(rig *g, const char *plugin, const char *const *opts)
{
    must_err e = {0};
    if (!set_dir[0])
        make_set();
    ck_assert_msg(must_dataset_open(set_dir, &g->ds, &e) == MUST_OK, "%s", e.msg);
    must_backbone_config c;
    must_backbone_config_default(&c);
    c.depth = 18;
    c.width = 0.25f;
    c.fpn_channels = 32;
    c.fpn_max_level = 5;
    c.seed = 3;
    g->bb = must_backbone_new(&c, &e);
    ck_assert_msg(g->bb != NULL, "%s", e.msg);
    must_feature_desc f;
    must_backbone_features(g->bb, &f);
    ck_assert_msg(must_task_new(plugin, NULL, &g->t, &e) == MUST_OK, "%s", e.msg);
    for (int i = 0; opts && opts[i]; i++) {
        char key[64];
        const char *eq = strchr(opts[i], '=');
        memcpy(key, opts[i], (size_t)(eq - opts[i]));
        key[eq - opts[i]] = '\0';
        ck_assert_msg(must_task_set(g->t, key, eq + 1, "test", &e) == MUST_OK, "%s", e.msg);
    }
    int kind = must_task_get_ops(g->t)->label_kind;
    must_task_env env = {.features = &f,
                         .nclasses = must_dataset_nclasses(g->ds, kind),
                         .image_size = S,
                         .seed = 11};
    ck_assert_msg(must_task_build(g->t, &env, &e) == MUST_OK, "%s", e.msg);
    g->want = must_task_levels(g->t);
    g->ctx = must_ctx_new(1);
}

static void rig_free(rig *g)
{
    must_ctx_free(g->ctx);
    must_task_free(g->t);
    must_backbone_free(g->bb);
    must_dataset_close(g->ds);
}

static must_loader *loader(rig *g, int split, int epochs, must_err *e)
{
    must_loader_opts o;
    must_loader_defaults(&o);
    o.size = S;
    o.batch = 16;
    o.workers = 0;
    o.split = split;
    o.augment = 0;
    o.epochs = (uint64_t)epochs;
    o.drop_last = split == MUST_SPLIT_TRAIN;
    o.sampler.seed = 5;
    o.tasks = MUST_LABEL_BIT(must_task_get_ops(g->t)->label_kind);
    must_loader *L = NULL;
    ck_assert_msg(must_loader_new(&g->ds, 1, &o, &L, e) == MUST_OK, "%s", e->msg);
    return L;
}

static void *run(rig *g, const must_batch *b)
{
    must_tensor *x = must_tensor_new4(g->ctx, b->n, 3, b->size, b->size);
    memcpy(x->data, b->images, x->numel * sizeof(float));
    must_tensor *levels[MUST_NLEVELS];
    int rc = must_backbone_forward(g->bb, g->ctx, x, g->want, levels);
    ck_assert_msg(rc == MUST_OK, "%s", must_ctx_error(g->ctx)->msg);
    void *pred = must_task_forward(g->t, g->ctx, levels, b->size, b->size);
    ck_assert_msg(pred != NULL, "%s", must_ctx_error(g->ctx)->msg);
    return pred;
}

/* Every metric on the validation images. */
static void evaluate(rig *g, double *values)
{
    must_err e = {0};
    must_loader *L = loader(g, MUST_SPLIT_VAL, 1, &e);
    must_task_eval *ev;
    ck_assert_msg(must_task_eval_begin(g->t, &ev, &e) == MUST_OK, "%s", e.msg);
    must_ctx_set_training(g->ctx, 0);
    must_ctx_set_grad(g->ctx, 0);
    const must_batch *b;
    int rc;
    while ((rc = must_loader_next(L, &b, &e)) == 1) {
        must_ctx_reset(g->ctx);
        void *pred = run(g, b);
        ck_assert_msg(must_task_eval_add(ev, pred, b, &e) == MUST_OK, "%s", e.msg);
    }
    ck_assert_msg(rc == 0, "%s", e.msg);
    ck_assert_msg(must_task_eval_end(ev, values, &e) == MUST_OK, "%s", e.msg);
    must_ctx_set_training(g->ctx, 1);
    must_ctx_set_grad(g->ctx, 1);
    must_ctx_reset(g->ctx);
    must_loader_free(L);
}

/* The metrics of the best constant prediction on the validation images,
 * "chance" for a dense regression task: for depth the mean log depth of
 * their valid pixels, for normals the direction of their mean normal (both
 * known only from the answers, so no trained head has it easier). */
static void constant_baseline(rig *g, double *values)
{
    must_err e = {0};
    int kind = must_task_get_ops(g->t)->label_kind;
    double sum[3] = {0, 0, 0}, n = 0;
    const must_batch *b;
    for (int pass = 0; pass < 2; pass++) {
        must_loader *L = loader(g, MUST_SPLIT_VAL, 1, &e);
        must_task_eval *ev = NULL;
        if (pass)
            ck_assert_msg(must_task_eval_begin(g->t, &ev, &e) == MUST_OK, "%s", e.msg);
        while (must_loader_next(L, &b, &e) == 1) {
            size_t hw = (size_t)b->size * b->size;
            for (int i = 0; i < b->n; i++)
                for (size_t q = 0; q < hw && !pass; q++) {
                    size_t k = (size_t)i * hw + q;
                    if (kind == MUST_LABEL_DEPTH && b->depth[k] > 0) {
                        sum[0] += log(b->depth[k]);
                        n++;
                    } else if (kind == MUST_LABEL_NORMAL && b->normal_valid[k]) {
                        for (int c = 0; c < 3; c++)
                            sum[c] += b->normal[((size_t)i * 3 + c) * hw + q];
                        n++;
                    }
                }
            if (!pass)
                continue;
            int c = kind == MUST_LABEL_DEPTH ? 1 : 3;
            must_ctx_reset(g->ctx);
            must_tensor *p = must_tensor_new4(g->ctx, b->n, c, b->size, b->size);
            double len = sqrt(sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]);
            for (int i = 0; i < b->n; i++)
                for (int k = 0; k < c; k++)
                    for (size_t q = 0; q < hw; q++)
                        p->data[((size_t)i * c + k) * hw + q] =
                            (float)(c == 1 ? sum[0] / n : sum[k] / len);
            ck_assert_msg(must_task_eval_add(ev, p, b, &e) == MUST_OK, "%s", e.msg);
        }
        if (pass)
            ck_assert_msg(must_task_eval_end(ev, values, &e) == MUST_OK, "%s", e.msg);
        must_loader_free(L);
    }
    must_ctx_reset(g->ctx);
}

static void train(rig *g, int steps, double lr)
{
    must_err e = {0};
    must_params *sets[2] = {must_backbone_params(g->bb), must_task_params(g->t)};
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_ADAMW);
    oc.lr = lr;
    oc.weight_decay = 1e-4;
    oc.threads = 1;
    must_optim *opt = must_optim_new(&oc, sets, 2, &e);
    ck_assert_msg(opt != NULL, "%s", e.msg);
    must_loader *L = loader(g, MUST_SPLIT_TRAIN, 0, &e);
    const must_batch *b;
    for (int s = 0; s < steps; s++) {
        ck_assert_msg(must_loader_next(L, &b, &e) == 1, "%s", e.msg);
        must_ctx_reset(g->ctx);
        must_params_zero_grad(sets[0]);
        must_params_zero_grad(sets[1]);
        void *pred = run(g, b);
        must_tensor *loss = must_task_loss(g->t, g->ctx, pred, b, NULL);
        ck_assert_msg(loss != NULL, "%s", must_ctx_error(g->ctx)->msg);
        ck_assert_msg(isfinite(loss->data[0]), "step %d: loss %g", s, loss->data[0]);
        ck_assert_int_eq(must_backward(g->ctx, loss), MUST_OK);
        ck_assert_msg(must_optim_step(opt, NULL, &e) == MUST_OK, "%s", e.msg);
    }
    must_ctx_reset(g->ctx);
    must_loader_free(L);
    must_optim_free(opt);
}

static void report(const rig *g, const char *when, const double *v)
{
    printf("%s %s:", must_task_name(g->t), when);
    for (int k = 0; k < must_task_nmetrics(g->t); k++)
        printf(" %s %.2f", must_task_metric_name(g->t, k), v[k]);
    printf("\n");
    fflush(stdout);
}

START_TEST(classification_learns_the_shapes)
{
    rig g;
    rig_new(&g, "classification", NULL);
    double before[2], after[2];
    evaluate(&g, before);
    train(&g, 60, 3e-3);
    evaluate(&g, after);
    report(&g, "before", before);
    report(&g, "after", after);
    ck_assert_msg(after[0] >= 60.0, "top-1 %.1f%% (chance 33%%)", after[0]);
    ck_assert_msg(after[0] >= before[0] + 25.0, "top-1 %.1f -> %.1f", before[0], after[0]);
    rig_free(&g);
}
END_TEST

START_TEST(segmentation_learns_the_scene)
{
    rig g;
    rig_new(&g, "segmentation", (const char *const[]){"channels=16", NULL});
    double before[2], after[2];
    evaluate(&g, before);
    train(&g, 120, 3e-3);
    evaluate(&g, after);
    report(&g, "before", before);
    report(&g, "after", after);
    ck_assert_msg(after[0] >= 40.0, "mIoU %.1f%%", after[0]);
    ck_assert_msg(after[0] >= before[0] + 30.0, "mIoU %.1f -> %.1f", before[0], after[0]);
    ck_assert_msg(after[1] >= 65.0, "pixel accuracy %.1f%%", after[1]);
    rig_free(&g);
}
END_TEST

static void depth_case(const char *loss, int steps)
{
    rig g;
    rig_new(&g, "depth", (const char *const[]){"channels=16", loss, NULL});
    double before[6], after[6];
    double chance[6];
    constant_baseline(&g, chance);
    evaluate(&g, before);
    train(&g, steps, 5e-3);
    evaluate(&g, after);
    report(&g, "constant", chance);
    report(&g, "before", before);
    report(&g, "after", after);
    /* Edges blur at P2's stride of 4 on 32x32 images: a short run gets
     * delta1 to about 55 % (l1log) and 80 % (ssi, judged after alignment). */
    ck_assert_msg(after[0] >= 45.0, "%s: delta1 %.1f%%", loss, after[0]);
    ck_assert_msg(after[0] >= chance[0] + 25.0 && after[0] >= before[0] + 25.0,
                  "%s: delta1 %.1f%% (before %.1f, best constant %.1f)", loss, after[0],
                  before[0], chance[0]);
    ck_assert_msg(after[3] <= 0.6 * chance[3] && after[3] <= 0.6 * before[3],
                  "%s: AbsRel %.3f (before %.3f, best constant %.3f)", loss, after[3], before[3],
                  chance[3]);
    rig_free(&g);
}

START_TEST(depth_learns_the_scene_l1log)
{
    depth_case("loss=l1log", 200);
}
END_TEST

START_TEST(depth_learns_the_scene_ssi)
{
    depth_case("loss=ssi", 200);
}
END_TEST

START_TEST(normal_learns_the_surfaces)
{
    rig g;
    rig_new(&g, "normal", (const char *const[]){"channels=16", NULL});
    double before[6], after[6], chance[6];
    constant_baseline(&g, chance);
    report(&g, "constant", chance);
    evaluate(&g, before);
    train(&g, 120, 3e-3);
    evaluate(&g, after);
    report(&g, "before", before);
    report(&g, "after", after);
    ck_assert_msg(after[0] <= 30.0, "mean angle %.1f degrees", after[0]);
    ck_assert_msg(after[0] <= chance[0] - 15.0 && after[0] <= before[0] - 30.0,
                  "mean angle %.1f (before %.1f, best constant %.1f)", after[0], before[0],
                  chance[0]);
    ck_assert_msg(after[5] >= 60.0, "within 30 degrees %.1f%%", after[5]);
    rig_free(&g);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("task_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, make_set, NULL);
    tcase_add_test(tc, classification_learns_the_shapes);
    tcase_add_test(tc, segmentation_learns_the_scene);
    tcase_add_test(tc, depth_learns_the_scene_l1log);
    tcase_add_test(tc, depth_learns_the_scene_ssi);
    tcase_add_test(tc, normal_learns_the_surfaces);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run(suite());
}
