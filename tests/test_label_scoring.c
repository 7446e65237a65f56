/* test_label_scoring.c - the plugins' eval_add_labels, with which the
 * pipeline scores pseudo labels against the world's hidden truth: each
 * built-in plugin on labels small enough to work out by hand, the pixels
 * and examples it must skip, and the labels it must refuse; and each
 * plugin's eval_merge against one state over the same examples. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "must/plugin.h"
#include "plugutil.h"
#include "testutil.h"

static must_task *task(const char *name, int nclasses, const char *const *opts)
{
    must_feature_desc f = pu_features(4, 4);
    return pu_task(name, nclasses, &f, opts);
}

/* Scores guesses g[0..b->n) into a fresh evaluation; values, or the status. */
static int score(must_task *t, const must_labels *g, const must_batch *b, double *values,
                 must_err *e)
{
    must_task_eval *ev = NULL;
    int rc = must_task_eval_begin(t, &ev, e);
    ck_assert_msg(rc == MUST_OK, "%s", e->msg);
    rc = must_task_eval_add_labels(ev, g, b, e);
    if (rc) {
        must_task_eval_end(ev, NULL, NULL);
        return rc;
    }
    return must_task_eval_end(ev, values, e);
}

/* eval_merge: one state per example (the batch's `has` masked to that
 * example alone), merged, scores what one state over the batch scores;
 * merging leaves each `from` as it was (merging them all again into a
 * second state gives the same again). */
static void merged_equals_whole(must_task *t, const must_labels *g, const must_batch *b, int nv)
{
    must_err e = {0};
    double whole[16], merged[16], again[16];
    ck_assert_int_eq(must_task_can_merge(t), 1);
    ck_assert_msg(score(t, g, b, whole, &e) == MUST_OK, "%s", e.msg);
    must_task_eval *one[8], *m1, *m2;
    unsigned has[8];
    ck_assert_int_le(b->n, 8);
    for (int i = 0; i < b->n; i++) {
        must_batch bi = *b;
        memset(has, 0, sizeof has);
        has[i] = b->has[i];
        bi.has = has;
        ck_assert(must_task_eval_begin(t, &one[i], &e) == MUST_OK);
        ck_assert_msg(must_task_eval_add_labels(one[i], g, &bi, &e) == MUST_OK, "%s", e.msg);
    }
    ck_assert(must_task_eval_begin(t, &m1, &e) == MUST_OK);
    ck_assert(must_task_eval_begin(t, &m2, &e) == MUST_OK);
    for (int i = 0; i < b->n; i++)
        ck_assert_msg(must_task_eval_merge(m1, one[i], &e) == MUST_OK, "%s", e.msg);
    for (int i = 0; i < b->n; i++)
        ck_assert_msg(must_task_eval_merge(m2, one[i], &e) == MUST_OK, "%s", e.msg);
    ck_assert(must_task_eval_end(m1, merged, &e) == MUST_OK);
    ck_assert(must_task_eval_end(m2, again, &e) == MUST_OK);
    for (int i = 0; i < b->n; i++)
        must_task_eval_end(one[i], NULL, NULL);
    for (int k = 0; k < nv; k++) {
        ck_assert_msg(fabs(merged[k] - whole[k]) <= 1e-9 * (1 + fabs(whole[k])),
                      "%s metric %d: merged %.12g, whole %.12g", must_task_name(t), k, merged[k],
                      whole[k]);
        ck_assert_msg(again[k] == merged[k], "%s metric %d: a second merge gave %.12g, not %.12g",
                      must_task_name(t), k, again[k], merged[k]);
    }
}

static void map_set(must_labels *l, int kind, int channels, int s, const float *v)
{
    must_err e = {0};
    must_map *m = kind == MUST_LABEL_SEGMENTATION ? &l->seg
                  : kind == MUST_LABEL_DEPTH      ? &l->depth
                                                  : &l->normal;
    ck_assert(must_map_alloc(m, channels, s, s, &e) == MUST_OK);
    memcpy(m->data, v, (size_t)channels * s * s * sizeof(float));
    l->has |= MUST_LABEL_BIT(kind);
}

/* ------------------------------------------------------------------------ */

/*  truth    guess      counted where both label (6 pixels)
 *  0 0 1    0 1 1      class 0: I 1, truth 2, guess 1 -> 1/2
 *  1 1 .    1 . 0      class 1: I 2, truth 2, guess 3 -> 2/3
 *  2 2 2    2 2 .      class 2: I 2, truth 2, guess 2 -> 1
 *  mIoU = (1/2 + 2/3 + 1) / 3 = 72.22 %; pixel accuracy 5/6.
 *  Example 1's guess lacks the kind, example 2's truth does: both skipped. */
START_TEST(segmentation_scores_labelled_pixels_only)
{
    static const int truth[9] = {0, 0, 1, 1, 1, 255, 2, 2, 2};
    static const float guess[9] = {0, 1, 1, 1, 255, 0, 2, 2, 255};
    must_task *t = task("segmentation", 3, NULL);
    must_batch *b = pu_batch_new(3, 3, 0);
    for (int i = 0; i < 3; i++)
        for (int q = 0; q < 9; q++)
            b->seg[i * 9 + q] = truth[q];
    b->has[2] &= ~MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    must_labels g[3];
    for (int i = 0; i < 3; i++)
        must_labels_init(&g[i]);
    static const float wrong[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
    map_set(&g[0], MUST_LABEL_SEGMENTATION, 1, 3, guess);
    map_set(&g[2], MUST_LABEL_SEGMENTATION, 1, 3, wrong);
    double v[2];
    must_err e = {0};
    ck_assert_msg(score(t, g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 100.0 * (0.5 + 2.0 / 3.0 + 1.0) / 3.0, 1e-9);
    ck_assert_double_eq_tol(v[1], 100.0 * 5.0 / 6.0, 1e-9);
    merged_equals_whole(t, g, b, 2);

    /* A guess of another size, or a class out of range, is refused. */
    must_labels bad;
    must_labels_init(&bad);
    static const float four[4] = {0, 0, 0, 0};
    map_set(&bad, MUST_LABEL_SEGMENTATION, 1, 2, four);
    must_batch *b1 = pu_batch_new(1, 3, 0);
    memcpy(b1->seg, b->seg, 9 * sizeof *b1->seg);
    ck_assert_int_eq(score(t, &bad, b1, v, &e), MUST_ESHAPE);
    ck_assert_ptr_nonnull(strstr(e.msg, "2x2"));
    must_labels_free(&bad);
    static const float seven[9] = {7, 0, 0, 0, 0, 0, 0, 0, 0};
    map_set(&bad, MUST_LABEL_SEGMENTATION, 1, 3, seven);
    ck_assert_int_eq(score(t, &bad, b1, v, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "out of range"));
    must_labels_free(&bad);
    for (int i = 0; i < 3; i++)
        must_labels_free(&g[i]);
    pu_batch_free(b);
    pu_batch_free(b1);
    must_task_free(t);
}
END_TEST

/* Seven classes, so that top-5 is not every class.  A label ranks classes
 * as logits equal to its distribution (one-hot for a hard class), ties by
 * the lower index:
 *   truth 0, hard 0                       rank 0  top-1, top-5
 *   truth 1, soft (.1 .5 .4 0 0 0 0)      rank 0  top-1, top-5
 *   truth 6, soft (.6 .3 .1 0 0 0 0)      rank 6  neither
 *   truth 1, hard 2                       rank 2  top-5 only
 * top-1 2/4, top-5 3/4. */
START_TEST(classification_ranks_hard_and_soft_labels)
{
    must_task *t = task("classification", 7, NULL);
    must_batch *b = pu_batch_new(4, 4, 7);
    static const int truth[4] = {0, 1, 6, 1};
    for (int i = 0; i < 4; i++)
        pu_batch_cls(b, i, truth[i]);
    must_labels g[4];
    must_err e = {0};
    for (int i = 0; i < 4; i++) {
        must_labels_init(&g[i]);
        g[i].has = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
    }
    g[0].cls = 0;
    ck_assert(must_labels_set_soft(&g[1], 7, (const float[]){.1f, .5f, .4f, 0, 0, 0, 0}, &e) ==
              MUST_OK);
    ck_assert(must_labels_set_soft(&g[2], 7, (const float[]){.6f, .3f, .1f, 0, 0, 0, 0}, &e) ==
              MUST_OK);
    g[3].cls = 2;
    double v[2];
    ck_assert_msg(score(t, g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 50.0, 1e-9);
    ck_assert_double_eq_tol(v[1], 75.0, 1e-9);
    merged_equals_whole(t, g, b, 2);

    /* Without the kind in the guess an example is skipped: top-1 2/3. */
    g[3].has = 0;
    ck_assert_msg(score(t, g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 200.0 / 3.0, 1e-9);
    /* A soft label over other classes is refused. */
    ck_assert(must_labels_set_soft(&g[0], 3, (const float[]){.2f, .3f, .5f}, &e) == MUST_OK);
    ck_assert_int_eq(score(t, g, b, v, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "3 classes"));
    for (int i = 0; i < 4; i++)
        must_labels_free(&g[i]);
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

/* truth (1 2 4 3), guess (1 2.6 2 0): the last pixel has no guess.
 *   ratios 1, 1.3, 2 -> delta1 1/3, delta2 2/3 (1.3 < 1.5625), delta3 2/3
 *   (2 > 1.953); AbsRel (0 + .3 + .5) / 3; RMSE sqrt((0 + .36 + 4) / 3);
 *   log10 (0 + log10 1.3 + log10 2) / 3. */
START_TEST(depth_scores_metres_where_both_have_depth)
{
    must_task *t = task("depth", 0, NULL);
    must_batch *b = pu_batch_new(1, 2, 0);
    static const float truth[4] = {1, 2, 4, 3}, guess[4] = {1, 2.6f, 2, 0};
    memcpy(b->depth, truth, sizeof truth);
    must_labels g;
    must_labels_init(&g);
    map_set(&g, MUST_LABEL_DEPTH, 1, 2, guess);
    double v[6];
    must_err e = {0};
    ck_assert_msg(score(t, &g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 100.0 / 3.0, 1e-6);
    ck_assert_double_eq_tol(v[1], 200.0 / 3.0, 1e-6);
    ck_assert_double_eq_tol(v[2], 200.0 / 3.0, 1e-6);
    ck_assert_double_eq_tol(v[3], 0.8 / 3.0, 1e-5);
    ck_assert_double_eq_tol(v[4], sqrt(4.36 / 3.0), 1e-5);
    ck_assert_double_eq_tol(v[5], (log10(1.3) + log10(2.0)) / 3.0, 1e-5);
    merged_equals_whole(t, &g, b, 6);
    must_labels_free(&g);
    must_task_free(t);

    /* With the ssi loss the label is aligned first, as a prediction is:
     * a guess of twice the truth is then exact. */
    t = task("depth", 0, (const char *const[]){"loss=ssi", NULL});
    static const float twice[4] = {2, 4, 8, 6};
    map_set(&g, MUST_LABEL_DEPTH, 1, 2, twice);
    ck_assert_msg(score(t, &g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 100.0, 1e-9);
    ck_assert_double_eq_tol(v[3], 0.0, 1e-4);
    must_labels_free(&g);
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

/* Three pixels: (1 0 0) against (0 0 1) is 90 degrees, (0 0 1) against
 * itself 0, an all-zero guess is skipped: mean 45, within 11.25 50 %. */
START_TEST(normal_scores_valid_guesses)
{
    must_task *t = task("normal", 0, NULL);
    must_batch *b = pu_batch_new(1, 2, 0);
    for (size_t q = 0; q < 3; q++)
        pu_batch_normal(b, 0, q, 0, 0, 1);
    /* (C, H, W): x of the four pixels, then y, then z. */
    static const float guess[12] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    must_labels g;
    must_labels_init(&g);
    map_set(&g, MUST_LABEL_NORMAL, 3, 2, guess);
    double v[6];
    must_err e = {0};
    ck_assert_msg(score(t, &g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 45.0, 1e-4);
    ck_assert_double_eq_tol(v[3], 50.0, 1e-9);
    merged_equals_whole(t, &g, b, 6);
    must_labels_free(&g);
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

/* Two classes.  Image 0: truth boxes of class 0 and 1; the guess finds the
 * first and puts a class-1 box on it too (a false positive, the class-1
 * object missed): AP50 (1 + 0) / 2 (the plugin reports fractions).  Image 1 has a class-0 object but its
 * guess lacks boxes altogether: skipped, or class 0 would fall to 1/2. */
START_TEST(detection_scores_boxes_as_detections)
{
    must_feature_desc f = pu_features(4, 4);
    must_task *t = pu_task("detection", 2, &f,
                           (const char *const[]){"levels=P2", "anchor_sizes=16", NULL});
    must_batch *b = pu_batch_new(2, 32, 0);
    b->boxes = calloc(2, sizeof *b->boxes);
    must_err e = {0};
    must_box a = {0, 0, 10, 10, 0, 1, 0}, c = {20, 20, 30, 30, 1, 1, 0};
    ck_assert(must_boxes_push(&b->boxes[0], &a, &e) == MUST_OK);
    ck_assert(must_boxes_push(&b->boxes[0], &c, &e) == MUST_OK);
    ck_assert(must_boxes_push(&b->boxes[1], &a, &e) == MUST_OK);
    must_labels g[2];
    must_labels_init(&g[0]);
    must_labels_init(&g[1]);
    g[0].has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    must_box ga = {0, 0, 10, 10, 0, 0.9f, 0}, gc = {0, 0, 10, 10, 1, 0.8f, 0};
    ck_assert(must_boxes_push(&g[0].boxes, &ga, &e) == MUST_OK);
    ck_assert(must_boxes_push(&g[0].boxes, &gc, &e) == MUST_OK);
    double v[3];
    ck_assert_msg(score(t, g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 0.5, 1e-6); /* a fraction, not percent */
    /* Counted, image 1's missed object halves class 0's AP. */
    g[1].has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    ck_assert_msg(score(t, g, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_double_eq_tol(v[0], 0.25, 1e-6);
    merged_equals_whole(t, g, b, 3);
    must_labels_free(&g[0]);
    must_labels_free(&g[1]);
    for (int i = 0; i < 2; i++)
        must_boxes_free(&b->boxes[i]);
    free(b->boxes);
    b->boxes = NULL;
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

/* The host's wrapper: the task's name in front of a plugin's refusal, and
 * no call without labels. */
START_TEST(wrapper_checks_its_arguments)
{
    must_task *t = task("segmentation", 3, NULL);
    must_batch *b = pu_batch_new(1, 3, 0);
    must_task_eval *ev = NULL;
    must_err e = {0};
    ck_assert(must_task_eval_begin(t, &ev, &e) == MUST_OK);
    ck_assert_int_eq(must_task_eval_add_labels(ev, NULL, b, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "segmentation"));
    must_task_eval_end(ev, NULL, NULL);
    pu_batch_free(b);
    must_task_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("label_scoring");
    TCase *tc = tcase_create("plugins");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, segmentation_scores_labelled_pixels_only);
    tcase_add_test(tc, classification_ranks_hard_and_soft_labels);
    tcase_add_test(tc, depth_scores_metres_where_both_have_depth);
    tcase_add_test(tc, normal_scores_valid_guesses);
    tcase_add_test(tc, detection_scores_boxes_as_detections);
    tcase_add_test(tc, wrapper_checks_its_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run(suite());
}
