/* test_metrics.c - every built-in plugin's evaluator on cases small enough
 * to work out by hand (the definitions of the paper's tables): mean IoU with ignored
 * pixels and absent classes, pooled over a dataset; pixel accuracy; top-1
 * and top-5 with soft labels and ties; depth's deltas, AbsRel, RMSE and
 * log10 over valid pixels, and the aligned evaluation of the ssi loss;
 * angular errors of known vectors. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "must/ops.h"
#include "must/plugin.h"
#include "plugutil.h"
#include "testutil.h"

#define DEG (M_PI / 180.0)

/* Logits (n, K, S, S) with 5 at the given class of each pixel, 0 elsewhere. */
static must_tensor *onehot_logits(must_ctx *ctx, int n, int k, int s, const int *cls)
{
    must_tensor *t = must_tensor_zeros(ctx, 4, (int[]){n, k, s, s});
    size_t hw = (size_t)s * s;
    for (int i = 0; i < n; i++)
        for (size_t q = 0; q < hw; q++)
            t->data[((size_t)i * k + cls[(size_t)i * hw + q]) * hw + q] = 5.0f;
    return t;
}

static must_task *task(const char *name, int nclasses, const char *opt)
{
    must_feature_desc f = pu_features(4, 4);
    return pu_task(name, nclasses, &f, (const char *const[]){opt, NULL});
}

/* ------------------------------------------------------------------------ */
/* Segmentation                                                              */

/*  GT      pred      over 4 classes; class 3 absent from both
 *  0 0 1   0 1 1     class 0: I 1, GT 2, pred 1 (pixel 4 is ignored) -> 1/2
 *  1 . 1   1 0 1     class 1: I 3, GT 3, pred 5                      -> 3/5
 *  2 2 .   2 1 2     class 2: I 1, GT 2, pred 1                      -> 1/2
 *  mIoU = (0.5 + 0.6 + 0.5) / 3 = 53.33 %; pixel accuracy 5/7. */
static const int gt1[9] = {0, 0, 1, 1, 255, 1, 2, 2, 255};
static const int pr1[9] = {0, 1, 1, 1, 0, 1, 2, 1, 2};

static must_batch *seg_batch(const int *gt, int n)
{
    must_batch *b = pu_batch_new(n, 3, 0);
    for (int q = 0; q < 9 * n; q++)
        b->seg[q] = gt[q];
    return b;
}

START_TEST(miou_skips_ignored_pixels_and_absent_classes)
{
    must_task *t = task("segmentation", 4, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    must_batch *b = seg_batch(gt1, 1);
    double v[2];
    must_err e = {0};
    ck_assert_msg(pu_eval1(t, onehot_logits(ctx, 1, 4, 3, pr1), b, v, &e) == MUST_OK, "%s",
                  e.msg);
    ck_assert_float_near(v[0], 100.0 * 1.6 / 3.0, 1e-9);
    ck_assert_float_near(v[1], 100.0 * 5.0 / 7.0, 1e-9);
    ck_assert_int_eq(must_task_nmetrics(t), 2);
    ck_assert_str_eq(must_task_metric_name(t, 0), "miou");
    ck_assert_str_eq(must_task_metric_name(t, 1), "pixel_acc");
    ck_assert(!must_task_metric_lower_better(t, 0));
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* A second batch where class 3 fills a whole image and is predicted right:
 * over the dataset mIoU = (0.5 + 0.6 + 0.5 + 1) / 4 = 65 % (the mean of the
 * two batches' mIoUs would be 76.7 %).  An example without a segmentation
 * label, predicted all wrong, changes nothing. */
START_TEST(miou_pools_intersections_and_unions_over_the_dataset)
{
    must_task *t = task("segmentation", 4, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    must_task_eval *ev;
    must_err e = {0};
    ck_assert_int_eq(must_task_eval_begin(t, &ev, &e), MUST_OK);
    must_batch *b1 = seg_batch(gt1, 1);
    ck_assert_int_eq(must_task_eval_add(ev, onehot_logits(ctx, 1, 4, 3, pr1), b1, &e), MUST_OK);
    int gt2[18], pr2[18];
    for (int q = 0; q < 9; q++) {
        gt2[q] = pr2[q] = 3;
        gt2[9 + q] = 0;
        pr2[9 + q] = 2;
    }
    must_batch *b2 = seg_batch(gt2, 2);
    b2->has[1] = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    ck_assert_int_eq(must_task_eval_add(ev, onehot_logits(ctx, 2, 4, 3, pr2), b2, &e), MUST_OK);
    double v[2];
    ck_assert_msg(must_task_eval_end(ev, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 65.0, 1e-9);
    ck_assert_float_near(v[1], 100.0 * 14.0 / 16.0, 1e-9);
    pu_batch_free(b1);
    pu_batch_free(b2);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

START_TEST(segmentation_eval_refuses_bad_input)
{
    must_task *t = task("segmentation", 4, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    double v[2];
    must_err e = {0};
    /* Only ignored pixels: nothing to evaluate. */
    int all255[9];
    for (int q = 0; q < 9; q++)
        all255[q] = 255;
    must_batch *b = seg_batch(all255, 1);
    ck_assert_int_eq(pu_eval1(t, onehot_logits(ctx, 1, 4, 3, pr1), b, v, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "no labelled pixel");
    pu_batch_free(b);
    /* A class beyond the head's. */
    int bad[9] = {0, 0, 0, 0, 7, 0, 0, 0, 0};
    b = seg_batch(bad, 1);
    ck_assert_int_eq(pu_eval1(t, onehot_logits(ctx, 1, 4, 3, pr1), b, v, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "label 7 out of range 0..3");
    /* A prediction of another size. */
    ck_assert_int_eq(pu_eval1(t, must_tensor_zeros(ctx, 4, (int[]){1, 4, 4, 4}), b, v, &e),
                     MUST_ESHAPE);
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Classification                                                            */

/* Seven classes, six examples:
 *  0: the target has the largest logit                    top-1, top-5
 *  1: three logits above the target                       top-5
 *  2: five logits above the target                        neither
 *  3: a soft label whose most probable class is predicted top-1, top-5
 *  4: all logits equal, target 3: argmax takes class 0,
 *     so three classes rank before it                      top-5
 *  5: no classification label                             skipped
 *  top-1 = 2/5, top-5 = 4/5. */
START_TEST(top1_and_top5_by_hand)
{
    must_task *t = task("classification", 7, "hard=false");
    must_ctx *ctx = must_ctx_new(1);
    float z[42] = {
        9, 1, 2, 3, 4, 5, 6, /* target 0 */
        1, 7, 6, 5, 4, 3, 2, /* target 4: 7, 6, 5 above */
        7, 6, 5, 4, 3, 2, 1, /* target 5: five above */
        0, 0, 0, 0, 0, 0, 8, /* soft, argmax 6 */
        2, 2, 2, 2, 2, 2, 2, /* target 3, tie */
        0, 9, 0, 0, 0, 0, 0, /* skipped */
    };
    must_tensor *logits = must_op_reshape(ctx, pu_tensor(ctx, 6, 7, 1, 1, z), 2, (int[]){6, 7});
    must_batch *b = pu_batch_new(6, 4, 7);
    pu_batch_cls(b, 0, 0);
    pu_batch_cls(b, 1, 4);
    pu_batch_cls(b, 2, 5);
    b->cls[3] = -1;
    for (int k = 0; k < 7; k++)
        b->cls_soft[3 * 7 + k] = k == 6 ? 0.4f : 0.1f;
    pu_batch_cls(b, 4, 3);
    pu_batch_cls(b, 5, 0);
    b->has[5] = 0;
    double v[2];
    must_err e = {0};
    ck_assert_msg(pu_eval1(t, logits, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 40.0, 1e-9);
    ck_assert_float_near(v[1], 80.0, 1e-9);
    ck_assert_str_eq(must_task_metric_name(t, 0), "top1");
    ck_assert_str_eq(must_task_metric_name(t, 1), "top5");
    /* Nothing labelled: an error, not a made-up number. */
    for (int i = 0; i < 6; i++)
        b->has[i] = 0;
    ck_assert_int_eq(pu_eval1(t, logits, b, v, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "no example");
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

START_TEST(top5_with_fewer_than_five_classes_is_every_class)
{
    must_task *t = task("classification", 3, "hard=false");
    must_ctx *ctx = must_ctx_new(1);
    float z[3] = {3, 2, 1};
    must_tensor *logits = must_op_reshape(ctx, pu_tensor(ctx, 1, 3, 1, 1, z), 2, (int[]){1, 3});
    must_batch *b = pu_batch_new(1, 4, 3);
    pu_batch_cls(b, 0, 2);
    double v[2];
    must_err e = {0};
    ck_assert_int_eq(pu_eval1(t, logits, b, v, &e), MUST_OK);
    ck_assert_float_near(v[0], 0.0, 1e-9);
    ck_assert_float_near(v[1], 100.0, 1e-9);
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Depth                                                                     */

/* Ground truth (1, 2, 4, none), prediction (1.1, 3, 2, 7) metres:
 *  ratios 1.1, 1.5, 2 -> delta1 1/3, delta2 (1.5625) 2/3, delta3 (1.953) 2/3
 *  AbsRel (0.1 + 0.5 + 0.5) / 3
 *  RMSE sqrt((0.01 + 1 + 4) / 3)
 *  log10 (log10 1.1 + log10 1.5 + log10 2) / 3
 * The fourth pixel has no ground truth and does not count. */
START_TEST(depth_metrics_by_hand)
{
    must_task *t = task("depth", 0, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    must_batch *b = pu_batch_new(1, 2, 0);
    float gt[4] = {1, 2, 4, 0};
    memcpy(b->depth, gt, sizeof gt);
    float z[4] = {logf(1.1f), logf(3.0f), logf(2.0f), logf(7.0f)};
    double v[6];
    must_err e = {0};
    ck_assert_msg(pu_eval1(t, pu_tensor(ctx, 1, 1, 2, 2, z), b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 100.0 / 3.0, 1e-9);
    ck_assert_float_near(v[1], 200.0 / 3.0, 1e-9);
    ck_assert_float_near(v[2], 200.0 / 3.0, 1e-9);
    ck_assert_float_near(v[3], 1.1 / 3.0, 1e-6);
    ck_assert_float_near(v[4], sqrt(5.01 / 3.0), 1e-6);
    ck_assert_float_near(v[5], (log10(1.1) + log10(1.5) + log10(2.0)) / 3.0, 1e-6);
    static const char *const names[] = {"delta1", "delta2", "delta3", "absrel", "rmse", "log10"};
    for (int k = 0; k < 6; k++) {
        ck_assert_str_eq(must_task_metric_name(t, k), names[k]);
        ck_assert_int_eq(must_task_metric_lower_better(t, k), k >= 3);
    }
    /* No valid pixel at all. */
    memset(b->depth, 0, 4 * sizeof(float));
    ck_assert_int_eq(pu_eval1(t, pu_tensor(ctx, 1, 1, 2, 2, z), b, v, &e), MUST_EINVAL);
    ck_assert_msg_has(e.msg, "no valid pixel");
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* With the ssi loss the head predicts log depth up to scale and shift, and
 * evaluation aligns each image first: z = 2 log g + 3 is a perfect
 * prediction there, while l1log judges it as is. */
START_TEST(depth_eval_aligns_per_image_for_ssi)
{
    must_task *ssi = task("depth", 0, "loss=ssi"), *l1 = task("depth", 0, "loss=l1log");
    must_ctx *ctx = must_ctx_new(1);
    must_batch *b = pu_batch_new(2, 2, 0);
    float gt[8] = {1, 2, 4, 0, 0.5f, 3, 8, 2};
    memcpy(b->depth, gt, sizeof gt);
    float z[8];
    for (int q = 0; q < 8; q++)
        z[q] = gt[q] > 0 ? 2.0f * logf(gt[q]) + (q < 4 ? 3.0f : -1.0f) : 42.0f;
    double v[6];
    must_err e = {0};
    ck_assert_msg(pu_eval1(ssi, pu_tensor(ctx, 2, 1, 2, 2, z), b, v, &e) == MUST_OK, "%s",
                  e.msg);
    ck_assert_float_near(v[0], 100.0, 1e-9);
    ck_assert_float_near(v[3], 0.0, 1e-4);
    ck_assert_float_near(v[4], 0.0, 1e-3);
    ck_assert_msg(pu_eval1(l1, pu_tensor(ctx, 2, 1, 2, 2, z), b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_lt(v[0], 50.0);
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(ssi);
    must_task_free(l1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Surface normals                                                           */

/* Target (0, 0, -1) (facing the camera); predictions at 0, 10, 25 and 90
 * degrees from it; five more pixels invalid (one with a wild prediction).
 * mean 31.25, median (10 + 25) / 2, RMSE sqrt((100 + 625 + 8100) / 4),
 * within 11.25: 2/4, 22.5: 2/4, 30: 3/4. */
START_TEST(angular_errors_of_known_vectors)
{
    must_task *t = task("normal", 0, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    must_batch *b = pu_batch_new(1, 3, 0);
    static const double ang[4] = {0, 10, 25, 90};
    float n[27] = {0};
    for (int q = 0; q < 9; q++)
        n[18 + q] = -1.0f; /* every prediction (0, 0, -1) unless set below */
    for (int q = 0; q < 4; q++) {
        pu_batch_normal(b, 0, (size_t)q, 0.0f, 0.0f, -1.0f);
        /* rotated about y by ang[q]: (sin a, 0, -cos a) */
        n[q] = (float)sin(ang[q] * DEG);
        n[18 + q] = (float)-cos(ang[q] * DEG);
    }
    n[5] = 1.0f; /* an invalid pixel's prediction, far off */
    n[18 + 5] = 0.0f;
    double v[6];
    must_err e = {0};
    ck_assert_msg(pu_eval1(t, pu_tensor(ctx, 1, 3, 3, 3, n), b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 31.25, 1e-4);
    ck_assert_float_near(v[1], 17.5, 0.011); /* histogram bins of 0.01 degrees */
    ck_assert_float_near(v[2], sqrt((100.0 + 625.0 + 8100.0) / 4.0), 1e-4);
    ck_assert_float_near(v[3], 50.0, 1e-9);
    ck_assert_float_near(v[4], 50.0, 1e-9);
    ck_assert_float_near(v[5], 75.0, 1e-9);
    static const char *const names[] = {"mean_deg",     "median_deg",  "rmse_deg",
                                        "within_11.25", "within_22.5", "within_30"};
    for (int k = 0; k < 6; k++) {
        ck_assert_str_eq(must_task_metric_name(t, k), names[k]);
        ck_assert_int_eq(must_task_metric_lower_better(t, k), k < 3);
    }
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

/* An odd count pooled over two batches: errors 0, 10, 25, 90 and 40 give
 * the median 25; opposite vectors give 180. */
START_TEST(angular_median_pools_over_batches)
{
    must_task *t = task("normal", 0, "channels=2");
    must_ctx *ctx = must_ctx_new(1);
    must_task_eval *ev;
    must_err e = {0};
    ck_assert_int_eq(must_task_eval_begin(t, &ev, &e), MUST_OK);
    static const double ang[5] = {0, 10, 25, 90, 40};
    for (int k = 0; k < 2; k++) {
        must_batch *b = pu_batch_new(1, 2, 0);
        float n[12] = {0};
        for (int q = 0; q < 4; q++) {
            int a = k * 4 + q;
            if (a >= 5)
                continue;
            pu_batch_normal(b, 0, (size_t)q, 1.0f, 0.0f, 0.0f);
            /* rotated about z: (cos a, sin a, 0) */
            n[q] = (float)cos(ang[a] * DEG);
            n[4 + q] = (float)sin(ang[a] * DEG);
        }
        ck_assert_int_eq(must_task_eval_add(ev, pu_tensor(ctx, 1, 3, 2, 2, n), b, &e), MUST_OK);
        pu_batch_free(b);
    }
    double v[6];
    ck_assert_int_eq(must_task_eval_end(ev, v, &e), MUST_OK);
    ck_assert_float_near(v[0], 33.0, 1e-4);
    ck_assert_float_near(v[1], 25.0, 0.006);
    ck_assert_float_near(v[5], 60.0, 1e-9);
    /* Opposite vectors: 180 degrees. */
    must_batch *b = pu_batch_new(1, 1, 0);
    pu_batch_normal(b, 0, 0, 0.0f, 1.0f, 0.0f);
    ck_assert_int_eq(pu_eval1(t, pu_tensor(ctx, 1, 3, 1, 1, (float[]){0, -1, 0}), b, v, &e),
                     MUST_OK);
    ck_assert_float_near(v[0], 180.0, 1e-4);
    ck_assert_float_near(v[1], 180.0, 0.006);
    pu_batch_free(b);
    must_ctx_free(ctx);
    must_task_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("segmentation");
    tcase_add_test(tc, miou_skips_ignored_pixels_and_absent_classes);
    tcase_add_test(tc, miou_pools_intersections_and_unions_over_the_dataset);
    tcase_add_test(tc, segmentation_eval_refuses_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("classification");
    tcase_add_test(tc, top1_and_top5_by_hand);
    tcase_add_test(tc, top5_with_fewer_than_five_classes_is_every_class);
    suite_add_tcase(s, tc);
    tc = tcase_create("depth");
    tcase_add_test(tc, depth_metrics_by_hand);
    tcase_add_test(tc, depth_eval_aligns_per_image_for_ssi);
    suite_add_tcase(s, tc);
    tc = tcase_create("normal");
    tcase_add_test(tc, angular_errors_of_known_vectors);
    tcase_add_test(tc, angular_median_pools_over_batches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run(suite());
}
