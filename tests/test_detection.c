/* test_detection.c - the detection plugin's pieces: box coder, IoU, NMS,
 * anchors, matching and sampling, VOC and COCO AP on hand-worked sets,
 * drawing. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"
#include "must/gradcheck.h"
#include "must/ops.h"
#include "must/optim.h"
#include "task/plugin-impl.h"
#include "plugutil.h"
#include "dettrain.h"
#include "datautil.h"
#include "testutil.h"

static void setup(void)
{
    must_err e = {0};
    ck_assert_msg(must_task_init(must_host_table(), &e), "%s", e.msg);
}

/* ---- boxes ---------------------------------------------------------------- */

START_TEST(box_coder_hand)
{
    float src[4] = {0, 0, 10, 10}, dst[4] = {5, 5, 25, 15}, w1[4] = {1, 1, 1, 1}, d[4];
    det_box_encode(src, dst, w1, d);
    /* centre (5, 5) -> (15, 10) over a 10-pixel box; width 10 -> 20, height kept */
    ck_assert_float_near(d[0], 1.0, 1e-6);
    ck_assert_float_near(d[1], 0.5, 1e-6);
    ck_assert_float_near(d[2], log(2.0), 1e-6);
    ck_assert_float_near(d[3], 0.0, 1e-6);
    float w2[4] = {10, 10, 5, 5};
    det_box_encode(src, dst, w2, d);
    ck_assert_float_near(d[0], 10.0, 1e-5);
    ck_assert_float_near(d[2], 5 * log(2.0), 1e-5);
    /* A huge dw is clamped at log(1000/16): the width grows 62.5 times. */
    float big[4] = {0, 0, 100, 0}, out[4];
    det_box_decode(src, big, w1, out);
    ck_assert_float_near(out[2] - out[0], 625.0, 0.01);
    ck_assert_float_near(out[3] - out[1], 10.0, 1e-5);
    ck_assert_float_near(0.5 * (out[0] + out[2]), 5.0, 1e-4);
}
END_TEST

START_TEST(box_coder_round_trip)
{
    must_rng r;
    must_rng_seed(&r, 7);
    float wts[2][4] = {{1, 1, 1, 1}, {10, 10, 5, 5}};
    for (int t = 0; t < 1000; t++) {
        float a[4], g[4], d[4], back[4];
        a[0] = 100 * must_rng_uniform(&r), a[1] = 100 * must_rng_uniform(&r);
        a[2] = a[0] + 1 + 60 * must_rng_uniform(&r), a[3] = a[1] + 1 + 60 * must_rng_uniform(&r);
        g[0] = 100 * must_rng_uniform(&r), g[1] = 100 * must_rng_uniform(&r);
        g[2] = g[0] + 1 + 60 * must_rng_uniform(&r), g[3] = g[1] + 1 + 60 * must_rng_uniform(&r);
        const float *w = wts[t & 1];
        det_box_encode(a, g, w, d);
        det_box_decode(a, d, w, back);
        for (int k = 0; k < 4; k++)
            ck_assert_float_near(back[k], g[k], 2e-4 * (1 + fabsf(g[k])));
    }
}
END_TEST

START_TEST(iou_hand)
{
    float a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3}, c[4] = {2, 0, 4, 2}, d[4] = {0, 0, 4, 4},
          e[4] = {1, 1, 3, 3}, f[4] = {5, 5, 5, 9}, g[4] = {0, 0, 4, 1};
    ck_assert_float_near(det_iou(a, a), 1.0, 1e-7);
    ck_assert_float_near(det_iou(a, b), 1.0 / 7.0, 1e-7);  /* 1 / (4 + 4 - 1) */
    ck_assert_float_near(det_iou(b, a), 1.0 / 7.0, 1e-7);
    ck_assert_float_near(det_iou(a, c), 0.0, 0);           /* touching edges */
    ck_assert_float_near(det_iou(d, e), 0.25, 1e-7);       /* contained: 4 / 16 */
    ck_assert_float_near(det_iou(f, f), 0.0, 0);           /* empty box */
    ck_assert_float_near(det_iou(d, g), 0.25, 1e-7);       /* 4 / 16 */
    ck_assert_float_near(det_iou(b, g), 0.0, 0);
    float h[4] = {0, 0, 10, 10};
    det_box_clip(h, 6, 8);
    ck_assert(h[2] == 6 && h[3] == 8 && h[0] == 0);
}
END_TEST

/* ---- NMS ------------------------------------------------------------------ */

START_TEST(nms_hand)
{
    /* A and B overlap 81/119; C is far; D ties A's score and equals A. */
    float box[] = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10};
    float score[] = {0.9f, 0.8f, 0.7f, 0.9f};
    int keep[4];
    int n = det_nms(box, score, 4, 0.5f, 0, keep);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 0); /* the tie goes to the lower index */
    ck_assert_int_eq(keep[1], 2);
    n = det_nms(box, score, 4, 0.7f, 0, keep);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(keep[0], 0);
    ck_assert_int_eq(keep[1], 1);
    ck_assert_int_eq(keep[2], 2);
    n = det_nms(box, score, 4, 0.7f, 2, keep);
    ck_assert_int_eq(n, 2);
    /* IoU exactly at the threshold is kept (suppression needs IoU > thr). */
    n = det_nms(box, score, 4, 1.0f, 0, keep);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(det_nms(box, score, 0, 0.5f, 0, keep), 0);
}
END_TEST

START_TEST(nms_chain)
{
    /* A-B and B-C overlap 70/130 but A-C only 40/160: B falls to A, and C,
     * no longer shadowed by a kept B, survives (greedy, not transitive). */
    float box[] = {0, 0, 10, 10, 3, 0, 13, 10, 6, 0, 16, 10};
    float score[] = {0.9f, 0.8f, 0.7f};
    int keep[3];
    int n = det_nms(box, score, 3, 0.5f, 0, keep);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 0);
    ck_assert_int_eq(keep[1], 2);
    /* Scores reorder the walk: with C best, C removes B, A stays. */
    float s2[] = {0.1f, 0.5f, 0.9f};
    n = det_nms(box, s2, 3, 0.5f, 0, keep);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 2);
    ck_assert_int_eq(keep[1], 0);
}
END_TEST

/* ---- anchors -------------------------------------------------------------- */

START_TEST(anchors_grid)
{
    det_anchor_cfg cfg = {.nratios = 3, .ratio = {0.5f, 1, 2}, .nscales = 1, .scale = {1}};
    cfg.size[0] = 32, cfg.size[1] = 64;
    int fh[2] = {4, 2}, fw[2] = {5, 3};
    float st[2] = {8, 16};
    det_anchors a;
    ck_assert_int_eq(det_anchors_make(&a, &cfg, 2, fh, fw, st, NULL), MUST_OK);
    ck_assert_int_eq(a.A, 3);
    ck_assert_int_eq(a.total, 3 * 20 + 3 * 6);
    ck_assert_int_eq(a.lev[1].offset, 60);
    /* Level 0, kind 1 (ratio 1), row 2, column 3: centre (28, 20), side 32. */
    const float *p = a.box + 4 * (1 * 20 + 2 * 5 + 3);
    ck_assert_float_near(p[0], 12, 1e-5);
    ck_assert_float_near(p[1], 4, 1e-5);
    ck_assert_float_near(p[2], 44, 1e-5);
    ck_assert_float_near(p[3], 36, 1e-5);
    /* Every kind keeps the area; height / width is the ratio. */
    for (int k = 0; k < 3; k++) {
        const float *q = a.box + 4 * (60 + k * 6);
        float w = q[2] - q[0], h = q[3] - q[1];
        ck_assert_float_near(w * h, 64 * 64, 0.05);
        ck_assert_float_near(h / w, cfg.ratio[k], 1e-5);
        ck_assert_float_near(0.5 * (q[0] + q[2]), 8, 1e-5);
    }
    det_anchors_free(&a);
}
END_TEST

/* ---- matching and sampling ------------------------------------------------ */

static must_box gtbox(float x0, float y0, float x1, float y1, int cls)
{
    return (must_box){x0, y0, x1, y1, cls, 1.0f, 0};
}

START_TEST(match_rules)
{
    /* Anchors against two ground truths G0 = (0,0,10,10), G1 = (50,50,60,70):
     *  a0 = G0 exactly                  IoU 1    -> positive, G0
     *  a1 = (0,0,10,12.5)               IoU 0.8  -> positive, G0
     *  a2 = (0,0,10,20)                 IoU 0.5  -> ignored (between 0.3 and 0.7)
     *  a3 = (100,100,110,110)           IoU 0    -> negative
     *  a4 = (50,50,60,60)               IoU 0.5 with G1, its best -> positive by the best-anchor rule
     *  a5 = (50,60,60,70)               IoU 0.5 with G1 too: a tie, also positive
     *  a6 = (0,0,10,40)                 IoU 0.25 -> negative */
    float box[] = {0, 0, 10, 10, 0, 0, 10, 12.5f, 0, 0, 10, 20, 100, 100, 110, 110,
                   50, 50, 60, 60, 50, 60, 60, 70, 0, 0, 10, 40};
    must_box gt[2] = {gtbox(0, 0, 10, 10, 0), gtbox(50, 50, 60, 70, 1)};
    int8_t lab[7];
    int m[7];
    float iou[7];
    ck_assert_int_eq(det_match(box, 7, gt, 2, 0.7f, 0.3f, 1, lab, m, iou), MUST_OK);
    int8_t want[7] = {DET_POS, DET_POS, DET_IGNORE, DET_NEG, DET_POS, DET_POS, DET_NEG};
    for (int j = 0; j < 7; j++)
        ck_assert_msg(lab[j] == want[j], "anchor %d: label %d, expected %d", j, lab[j], want[j]);
    ck_assert_int_eq(m[0], 0);
    ck_assert_int_eq(m[1], 0);
    ck_assert_int_eq(m[4], 1);
    ck_assert_int_eq(m[5], 1);
    ck_assert_float_near(iou[1], 0.8, 1e-6);
    ck_assert_float_near(iou[6], 0.25, 1e-6);
    /* Without the rule G1 has no positive. */
    det_match(box, 7, gt, 2, 0.7f, 0.3f, 0, lab, m, NULL);
    ck_assert_int_eq(lab[4], DET_IGNORE);
    ck_assert_int_eq(lab[5], DET_IGNORE);
    /* The rule does not reach a ground truth nothing overlaps. */
    must_box far = gtbox(200, 200, 210, 210, 0);
    det_match(box, 7, &far, 1, 0.7f, 0.3f, 1, lab, m, NULL);
    for (int j = 0; j < 7; j++)
        ck_assert_int_eq(lab[j], DET_NEG);
    /* No ground truth: all negative. */
    det_match(box, 7, NULL, 0, 0.7f, 0.3f, 1, lab, m, NULL);
    for (int j = 0; j < 7; j++) {
        ck_assert_int_eq(lab[j], DET_NEG);
        ck_assert_int_eq(m[j], -1);
    }
}
END_TEST

static int count(const int8_t *l, int n, int v)
{
    int c = 0;
    for (int j = 0; j < n; j++)
        c += l[j] == v;
    return c;
}

START_TEST(sample_counts)
{
    enum { N = 1000 };
    static int8_t lab[N], again[N];
    must_rng r;
    struct { int pos, neg, ign, want_pos, want_neg; } cs[] = {
        {20, 960, 20, 20, 236},  /* few positives: negatives fill up */
        {300, 600, 100, 128, 128}, /* many: half each */
        {300, 10, 690, 128, 10},  /* few negatives: fewer than 256 */
        {0, 1000, 0, 0, 256},     /* an empty image: negatives only */
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        for (int j = 0; j < N; j++)
            lab[j] = j < cs[c].pos ? DET_POS : j < cs[c].pos + cs[c].neg ? DET_NEG : DET_IGNORE;
        must_rng_seed(&r, 3);
        int np = -1, n = det_sample(lab, N, 256, 0.5f, &r, must_rng_uniform, &np);
        ck_assert_int_eq(n, cs[c].want_pos + cs[c].want_neg);
        ck_assert_int_eq(np, cs[c].want_pos);
        ck_assert_int_eq(count(lab, N, DET_POS), cs[c].want_pos);
        ck_assert_int_eq(count(lab, N, DET_NEG), cs[c].want_neg);
        /* Only labelled boxes are drawn, positives from positives. */
        for (int j = 0; j < N; j++) {
            if (lab[j] == DET_POS)
                ck_assert_int_lt(j, cs[c].pos);
            if (lab[j] == DET_NEG)
                ck_assert(j >= cs[c].pos && j < cs[c].pos + cs[c].neg);
        }
        /* The same seed draws the same subset. */
        memcpy(again, lab, N);
        for (int j = 0; j < N; j++)
            lab[j] = j < cs[c].pos ? DET_POS : j < cs[c].pos + cs[c].neg ? DET_NEG : DET_IGNORE;
        must_rng_seed(&r, 3);
        det_sample(lab, N, 256, 0.5f, &r, must_rng_uniform, NULL);
        ck_assert_mem_eq(lab, again, N);
    }
}
END_TEST

/* ---- AP ------------------------------------------------------------------- */

static must_box dbox(float x0, float y0, float x1, float y1, int cls, float score)
{
    return (must_box){x0, y0, x1, y1, cls, score, 0};
}

static det_ap eval_one(det_eval *e, int voc11, int max_dets)
{
    det_ap ap;
    must_err err = {0};
    ck_assert_msg(det_eval_compute(e, voc11, max_dets, &ap, &err) == MUST_OK, "%s", err.msg);
    return ap;
}

START_TEST(ap_perfect_and_wrong)
{
    must_box g0[2] = {gtbox(0, 0, 10, 10, 0), gtbox(20, 20, 40, 30, 1)};
    must_box g1[1] = {gtbox(5, 5, 25, 25, 1)};
    must_box d0[2] = {dbox(0, 0, 10, 10, 0, 0.9f), dbox(20, 20, 40, 30, 1, 0.3f)};
    must_box d1[1] = {dbox(5, 5, 25, 25, 1, 0.8f)};
    det_eval *e = det_eval_new(3, NULL);
    ck_assert_int_eq(det_eval_image(e, g0, 2, d0, 2, NULL), MUST_OK);
    ck_assert_int_eq(det_eval_image(e, g1, 1, d1, 1, NULL), MUST_OK);
    det_ap ap = eval_one(e, 0, 100);
    ck_assert_int_eq(ap.counted, 2); /* class 2 has no ground truth */
    ck_assert(isnan(ap.voc_cls[2]) && isnan(ap.coco_cls[2]));
    ck_assert_float_near(ap.voc, 1.0, 1e-12);
    ck_assert_float_near(ap.coco, 1.0, 1e-12);
    ck_assert_float_near(ap.coco75, 1.0, 1e-12);
    det_ap_free(&ap);
    det_eval_free(e);

    /* All wrong: a wrong class, a box beside its object, a box far off. */
    must_box w0[3] = {dbox(0, 0, 10, 10, 1, 0.9f), dbox(10, 0, 20, 10, 0, 0.8f),
                      dbox(60, 60, 70, 70, 1, 0.7f)};
    e = det_eval_new(3, NULL);
    det_eval_image(e, g0, 2, w0, 3, NULL);
    det_eval_image(e, g1, 1, NULL, 0, NULL);
    ap = eval_one(e, 0, 100);
    ck_assert_float_near(ap.voc, 0.0, 0);
    ck_assert_float_near(ap.coco, 0.0, 0);
    det_ap_free(&ap);
    ap = eval_one(e, 1, 100);
    ck_assert_float_near(ap.voc, 0.0, 0);
    det_ap_free(&ap);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_duplicates)
{
    /* Objects A and B; detections A (0.9), A again (0.8), B (0.7): TP, FP, TP.
     * recall .5 .5 1, precision 1 .5 2/3.
     *   VOC all-point: .5 * 1 + .5 * 2/3 = 5/6
     *   VOC 11-point:  recall >= 0 .. .5 (6 points) -> 1, .6 .. 1 (5) -> 2/3: (6 + 10/3) / 11
     *   COCO:          recall 0 .. .50 (51 points) -> 1, .51 .. 1 (50) -> 2/3: (51 + 100/3) / 101 */
    must_box g[2] = {gtbox(0, 0, 10, 10, 0), gtbox(30, 30, 40, 40, 0)};
    must_box d[3] = {dbox(0, 0, 10, 10, 0, 0.9f), dbox(0, 0, 10, 10, 0, 0.8f),
                     dbox(30, 30, 40, 40, 0, 0.7f)};
    det_eval *e = det_eval_new(1, NULL);
    det_eval_image(e, g, 2, d, 3, NULL);
    det_ap ap = eval_one(e, 0, 100);
    ck_assert_float_near(ap.voc, 5.0 / 6.0, 1e-12);
    ck_assert_float_near(ap.coco, (51.0 + 100.0 / 3.0) / 101.0, 1e-12);
    ck_assert_float_near(ap.coco50, (51.0 + 100.0 / 3.0) / 101.0, 1e-12);
    det_ap_free(&ap);
    ap = eval_one(e, 1, 100);
    ck_assert_float_near(ap.voc, (6.0 + 10.0 / 3.0) / 11.0, 1e-12);
    det_ap_free(&ap);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_mixed_scores)
{
    /* Three objects over two images, one never found.  By score: TP .9,
     * FP .8, TP .6, FP .5 -> recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2.
     *   VOC all-point: 1/3 * 1 + 1/3 * 2/3 = 5/9
     *   VOC 11-point:  t = 0 .. .3 (4) -> 1, .4 .. .6 (3) -> 2/3, .7 .. 1 -> 0: 6/11
     *   COCO:          r = 0 .. .33 (34) -> 1, .34 .. .66 (33) -> 2/3: 56/101 */
    must_box g0[2] = {gtbox(0, 0, 10, 10, 0), gtbox(20, 0, 30, 10, 0)};
    must_box g1[1] = {gtbox(0, 0, 20, 20, 0)};
    must_box d0[2] = {dbox(0, 0, 10, 10, 0, 0.9f), dbox(50, 50, 60, 60, 0, 0.5f)};
    must_box d1[2] = {dbox(40, 40, 50, 50, 0, 0.8f), dbox(1, 1, 20, 20, 0, 0.6f)};
    det_eval *e = det_eval_new(1, NULL);
    det_eval_image(e, g0, 2, d0, 2, NULL);
    det_eval_image(e, g1, 1, d1, 2, NULL);
    det_ap ap = eval_one(e, 0, 100);
    ck_assert_float_near(ap.voc, 5.0 / 9.0, 1e-12);
    /* (1,1,20,20) overlaps (0,0,20,20) by 361/400 = 0.9025: a true positive
     * for every COCO threshold up to 0.90, a false one at 0.95. */
    ck_assert_float_near(ap.coco50, 56.0 / 101.0, 1e-12);
    /* At 0.95: TP .9, FP, FP, FP -> recall 1/3 only: r = 0 .. .33 -> 1: 34/101. */
    ck_assert_float_near(ap.coco, (9 * 56.0 / 101.0 + 34.0 / 101.0) / 10.0, 1e-12);
    det_ap_free(&ap);
    ap = eval_one(e, 1, 100);
    ck_assert_float_near(ap.voc, 6.0 / 11.0, 1e-12);
    det_ap_free(&ap);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_difficult)
{
    /* A difficult object neither counts when missed nor penalises when
     * found: one ordinary object found, a difficult one found or not -> 1.
     * The same object unflagged and missed halves the recall. */
    must_box g[2] = {gtbox(0, 0, 10, 10, 0), gtbox(30, 30, 40, 40, 0)};
    g[1].difficult = 1;
    must_box d[2] = {dbox(30, 30, 40, 40, 0, 0.95f), dbox(0, 0, 10, 10, 0, 0.9f)};
    for (int found = 0; found < 2; found++) {
        det_eval *e = det_eval_new(1, NULL);
        det_eval_image(e, g, 2, found ? d : d + 1, found ? 2 : 1, NULL);
        det_ap ap = eval_one(e, 0, 100);
        ck_assert_int_eq(ap.npos[0], 1);
        ck_assert_float_near(ap.voc, 1.0, 1e-12);
        ck_assert_float_near(ap.coco, 1.0, 1e-12);
        det_ap_free(&ap);
        det_eval_free(e);
    }
    g[1].difficult = 0;
    det_eval *e = det_eval_new(1, NULL);
    det_eval_image(e, g, 2, d + 1, 1, NULL);
    det_ap ap = eval_one(e, 0, 100);
    ck_assert_float_near(ap.voc, 0.5, 1e-12);
    ck_assert_float_near(ap.coco, 51.0 / 101.0, 1e-12);
    det_ap_free(&ap);
    det_eval_free(e);
    /* Only difficult ground truth: the class has no AP. */
    g[0].difficult = g[1].difficult = 1;
    e = det_eval_new(1, NULL);
    det_eval_image(e, g, 2, d, 2, NULL);
    ap = eval_one(e, 0, 100);
    ck_assert_int_eq(ap.counted, 0);
    ck_assert(isnan(ap.voc) && isnan(ap.coco));
    det_ap_free(&ap);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_coco_thresholds_and_max_dets)
{
    /* IoU 0.72: a true positive at 0.50 .. 0.70, a false one at 0.75 .. 0.95. */
    must_box g = gtbox(0, 0, 10, 10, 0), d = dbox(0, 0, 10, 7.2f, 0, 0.9f);
    det_eval *e = det_eval_new(1, NULL);
    det_eval_image(e, &g, 1, &d, 1, NULL);
    det_ap ap = eval_one(e, 0, 100);
    ck_assert_float_near(ap.voc, 1.0, 1e-12);
    ck_assert_float_near(ap.coco50, 1.0, 1e-12);
    ck_assert_float_near(ap.coco75, 0.0, 0);
    ck_assert_float_near(ap.coco, 0.5, 1e-12);
    det_ap_free(&ap);
    det_eval_free(e);
    /* COCO reads only each image's best max_dets: with one, the better-scored
     * miss hides the hit; VOC has no such limit. */
    must_box two[2] = {dbox(50, 50, 60, 60, 0, 0.9f), dbox(0, 0, 10, 10, 0, 0.5f)};
    e = det_eval_new(1, NULL);
    det_eval_image(e, &g, 1, two, 2, NULL);
    ap = eval_one(e, 0, 1);
    ck_assert_float_near(ap.coco, 0.0, 0);
    ck_assert_float_near(ap.voc, 0.5, 1e-12);
    det_ap_free(&ap);
    ap = eval_one(e, 0, 2);
    ck_assert_float_near(ap.coco, 0.5, 1e-12); /* recall 1 at precision 1/2 */
    det_ap_free(&ap);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_bad_class)
{
    must_box g = gtbox(0, 0, 10, 10, 3);
    must_err err = {0};
    det_eval *e = det_eval_new(2, NULL);
    ck_assert_int_eq(det_eval_image(e, &g, 1, NULL, 0, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "class 3"));
    ck_assert_int_eq(det_eval_images(e), 0);
    det_eval_free(e);
}
END_TEST

START_TEST(ap_rules_direct)
{
    /* The envelope, not the raw curve: a precision dip is filled from the right. */
    double rec[4] = {0.25, 0.25, 0.5, 0.75}, prec[4] = {1.0, 0.5, 0.6, 0.75};
    /* all-point: .25 * 1 + .25 * .75 + .25 * .75 */
    ck_assert_float_near(det_ap_voc(rec, prec, 4, 0), 0.25 + 0.375, 1e-12);
    /* 101-point: r = 0 .. .25 (26) -> 1, .26 .. .75 (50) -> .75, the rest 0 */
    ck_assert_float_near(det_ap_coco101(rec, prec, 4), (26 + 50 * 0.75) / 101.0, 1e-12);
    ck_assert_float_near(det_ap_voc(rec, prec, 0, 0), 0.0, 0);
    ck_assert_float_near(det_ap_coco101(rec, prec, 0), 0.0, 0);
}
END_TEST

/* ---- drawing ------------------------------------------------------------- */

START_TEST(draw_box)
{
    must_image img;
    ck_assert_int_eq(must_image_alloc(&img, 40, 40, 3, 8, NULL), MUST_OK);
    must_box b = dbox(10, 20, 30, 35, 0, 0.5f);
    static const char *const names[] = {"cube"};
    ck_assert_int_eq(det_draw_boxes(&img, &b, 1, names, 1, 1, NULL), MUST_OK);
    const uint8_t *p = img.pixels;
#define PX(x, y) (p + 3 * ((y) * 40 + (x)))
    /* The frame on the outermost pixels inside the half-open box. */
    ck_assert(PX(10, 25)[0] | PX(10, 25)[1] | PX(10, 25)[2]);
    ck_assert(PX(29, 25)[0] | PX(29, 25)[1] | PX(29, 25)[2]);
    ck_assert(PX(20, 34)[0] | PX(20, 34)[1] | PX(20, 34)[2]);
    ck_assert(!(PX(30, 25)[0] | PX(30, 25)[1] | PX(30, 25)[2]));
    ck_assert(!(PX(20, 27)[0] | PX(20, 27)[1] | PX(20, 27)[2])); /* inside */
    /* Text above the box: some lit pixel in rows 13..19. */
    int lit = 0;
    for (int y = 13; y < 20; y++)
        for (int x = 10; x < 40; x++)
            lit += PX(x, y)[0] | PX(x, y)[1] | PX(x, y)[2] ? 1 : 0;
    ck_assert_int_gt(lit, 10);
#undef PX
    must_image_free(&img);
    ck_assert_int_eq(must_image_alloc(&img, 8, 8, 1, 8, NULL), MUST_OK);
    must_err err = {0};
    ck_assert_int_eq(det_draw_boxes(&img, &b, 1, NULL, 0, 0, &err), MUST_EINVAL);
    must_image_free(&img);
}
END_TEST

/* ---- RoIAlign ------------------------------------------------------------- */

static must_tensor *feat_new(must_ctx *ctx, int n, int c, int h, int w, const float *v)
{
    must_tensor *t = must_tensor_new4(ctx, n, c, h, w);
    ck_assert_ptr_nonnull(t);
    if (v)
        memcpy(t->data, v, t->numel * sizeof(float));
    return t;
}

static const float V34[12] = {1, 2, 4, 8, 3, 5, 7, 9, 0, 6, 2, 1};

START_TEST(roialign_hand)
{
    must_ctx *ctx = must_ctx_new(1);
    must_tensor *f = feat_new(ctx, 1, 1, 3, 4, V34);
    float stride = 2.0f;
    /* Box (3, 1)-(7, 3) at stride 2 is cells x 1..3, y 0..1; 2 x 2 bins of
     * one sample each at (y, x) = (.25, 1.5), (.25, 2.5), (.75, 1.5), (.75, 2.5):
     *   (.25, 1.5) = .375 (2 + 4) + .125 (5 + 7) = 3.75
     *   (.25, 2.5) = .375 (4 + 8) + .125 (7 + 9) = 6.5
     *   (.75, 1.5) = .125 (2 + 4) + .375 (5 + 7) = 5.25
     *   (.75, 2.5) = .125 (4 + 8) + .375 (7 + 9) = 7.5 */
    det_roi roi = {{3, 1, 7, 3}, 0, 0};
    must_tensor *y = det_roialign(ctx, 1, &f, &stride, &roi, 1, 2, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[0], 1);
    ck_assert_int_eq(y->shape[2], 2);
    float want[4] = {3.75f, 6.5f, 5.25f, 7.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_near(y->data[i], want[i], 1e-5);
    /* Past the bottom-right corner: one bin of 2 x 2 samples at x 2.5, 3.5
     * and y 1.5, 2.5; samples beyond the last cell centre read the edge:
     *   (1.5, 2.5) = .25 (7 + 9 + 2 + 1) = 4.75   (1.5, 3.5) = .5 (9 + 1) = 5
     *   (2.5, 2.5) = .5 (2 + 1) = 1.5             (2.5, 3.5) = 1
     * mean 3.0625. */
    det_roi edge = {{5, 3, 9, 7}, 0, 0};
    y = det_roialign(ctx, 1, &f, &stride, &edge, 1, 1, 2);
    ck_assert_float_near(y->data[0], 3.0625, 1e-5);
    /* Adaptive sampling: a bin 2 cells wide and high takes 2 x 2 samples. */
    y = det_roialign(ctx, 1, &f, &stride, &edge, 1, 1, 0);
    ck_assert_float_near(y->data[0], 3.0625, 1e-5);
    /* More than a cell outside the map reads 0. */
    det_roi far = {{20, 20, 24, 24}, 0, 0};
    y = det_roialign(ctx, 1, &f, &stride, &far, 1, 2, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_near(y->data[i], 0.0, 0);
    /* A bad RoI is the context's error, naming the op. */
    det_roi bad = {{0, 0, 4, 4}, 1, 0};
    ck_assert_ptr_null(det_roialign(ctx, 1, &f, &stride, &bad, 1, 2, 2));
    ck_assert_ptr_nonnull(strstr(must_ctx_error(ctx)->msg, "roialign"));
    must_ctx_free(ctx);
}
END_TEST

START_TEST(roialign_levels)
{
    /* Two images, two levels: the RoIs read their own image and level. */
    must_ctx *ctx = must_ctx_new(1);
    float v0[24], v1[8];
    for (int i = 0; i < 24; i++)
        v0[i] = i < 12 ? V34[i] : 100.0f;
    for (int i = 0; i < 8; i++)
        v1[i] = i < 4 ? 5.0f : -2.0f;
    must_tensor *f[2] = {feat_new(ctx, 2, 1, 3, 4, v0), feat_new(ctx, 2, 1, 2, 2, v1)};
    float st[2] = {2, 4};
    det_roi roi[3] = {{{3, 1, 7, 3}, 0, 0}, {{0, 0, 8, 8}, 0, 1}, {{0, 0, 8, 8}, 1, 1}};
    must_tensor *y = det_roialign(ctx, 2, f, st, roi, 3, 2, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_float_near(y->data[0], 3.75, 1e-5);
    for (int i = 0; i < 4; i++) {
        ck_assert_float_near(y->data[4 + i], 5.0, 1e-5);
        ck_assert_float_near(y->data[8 + i], -2.0, 1e-5);
    }
    /* FPN's rule with canonical 112 at level 4, clamped to P3..P7. */
    float b112[4] = {0, 0, 112, 112}, b111[4] = {0, 0, 111.9f, 111.9f}, b224[4] = {0, 0, 224, 224},
          b448[4] = {0, 0, 448, 448}, b10[4] = {0, 0, 10, 10}, big[4] = {0, 0, 5000, 5000};
    ck_assert_int_eq(det_roi_level(b112, 4, 112, 3, 7), 4);
    ck_assert_int_eq(det_roi_level(b111, 4, 112, 3, 7), 3);
    ck_assert_int_eq(det_roi_level(b224, 4, 112, 3, 7), 5);
    ck_assert_int_eq(det_roi_level(b448, 4, 112, 3, 7), 6);
    ck_assert_int_eq(det_roi_level(b10, 4, 112, 3, 7), 3);
    ck_assert_int_eq(det_roi_level(big, 4, 112, 3, 7), 7);
    must_ctx_free(ctx);
}
END_TEST

typedef struct ra_case {
    must_params *p;
    must_tensor *f0, *f1;
    int sampling;
} ra_case;

static const det_roi ra_rois[5] = {
    {{1.5f, 2.0f, 9.0f, 7.5f}, 0, 0},    /* inside */
    {{-3.0f, 4.0f, 6.0f, 13.0f}, 1, 0},  /* over the left and bottom edges */
    {{2.0f, 1.0f, 11.0f, 11.5f}, 1, 1},  /* the coarse level */
    {{7.0f, 0.0f, 12.0f, 3.0f}, 0, 1},   /* small, at the top */
    {{0.0f, 0.0f, 3.0f, 2.0f}, 0, 0},    /* a corner */
};

static must_tensor *ra_loss(must_ctx *ctx, void *u)
{
    ra_case *c = u;
    must_tensor *f[2] = {c->f0, c->f1};
    float st[2] = {2, 4};
    must_tensor *y = det_roialign(ctx, 2, f, st, ra_rois, 5, 3, c->sampling);
    if (!y)
        return NULL;
    must_tensor *w = must_tensor_new(ctx, y->ndim, y->shape);
    must_rng r;
    must_rng_seed(&r, 99);
    for (size_t i = 0; i < w->numel; i++)
        w->data[i] = 2.0f * must_rng_uniform(&r) - 1.0f;
    return must_op_sum(ctx, must_op_mul(ctx, y, w));
}

START_TEST(roialign_gradcheck)
{
    for (int sampling = 0; sampling <= 2; sampling += 2) {
        ra_case c = {.p = must_params_new("ra.")};
        c.f0 = must_params_add4(c.p, "f0", 2, 3, 6, 7, MUST_T_PARAM);
        c.f1 = must_params_add4(c.p, "f1", 2, 3, 3, 4, MUST_T_PARAM);
        c.sampling = sampling;
        ck_assert_int_eq(must_params_alloc(c.p, NULL), MUST_OK);
        must_rng r;
        must_rng_seed(&r, 5);
        must_init_uniform(c.f0, &r, -1, 1);
        must_init_uniform(c.f1, &r, -1, 1);
        must_ctx *ctx = must_ctx_new(2);
        must_gradcheck_opts o = {1e-2f, 1e-3f, 96, 3};
        must_err e = {0};
        ck_assert_msg(must_gradcheck(ctx, ra_loss, &c, c.p, &o, &e) == MUST_OK, "%s", e.msg);
        /* Some gradient reached each level (the check is not vacuous). */
        double g0 = 0, g1 = 0;
        for (size_t i = 0; i < c.f0->numel; i++)
            g0 += fabsf(c.f0->grad[i]);
        for (size_t i = 0; i < c.f1->numel; i++)
            g1 += fabsf(c.f1->grad[i]);
        ck_assert(g0 > 0.1 && g1 > 0.1);
        must_ctx_free(ctx);
        must_params_free(c.p);
    }
}
END_TEST

START_TEST(roialign_threads)
{
    /* The same bits forward and backward on 1 and 3 threads. */
    float *out[2], *grad[2];
    for (int k = 0; k < 2; k++) {
        ra_case c = {.p = must_params_new("ra.")};
        c.f0 = must_params_add4(c.p, "f0", 2, 5, 6, 7, MUST_T_PARAM);
        c.f1 = must_params_add4(c.p, "f1", 2, 5, 3, 4, MUST_T_PARAM);
        c.sampling = 2;
        ck_assert_int_eq(must_params_alloc(c.p, NULL), MUST_OK);
        must_rng r;
        must_rng_seed(&r, 5);
        must_init_uniform(c.f0, &r, -1, 1);
        must_init_uniform(c.f1, &r, -1, 1);
        must_ctx *ctx = must_ctx_new(k ? 3 : 1);
        must_tensor *f[2] = {c.f0, c.f1};
        float st[2] = {2, 4};
        must_tensor *y = det_roialign(ctx, 2, f, st, ra_rois, 5, 3, 2);
        out[k] = malloc(y->numel * sizeof(float));
        memcpy(out[k], y->data, y->numel * sizeof(float));
        must_params_zero_grad(c.p);
        ck_assert_int_eq(must_backward(ctx, ra_loss(ctx, &c)), MUST_OK);
        size_t n = must_params_numel(c.p, 1);
        grad[k] = malloc(n * sizeof(float));
        memcpy(grad[k], must_params_grad(c.p), n * sizeof(float));
        if (k) {
            ck_assert_mem_eq(out[0], out[1], y->numel * sizeof(float));
            ck_assert_mem_eq(grad[0], grad[1], n * sizeof(float));
        }
        must_ctx_free(ctx);
        must_params_free(c.p);
    }
    for (int k = 0; k < 2; k++) {
        free(out[k]);
        free(grad[k]);
    }
}
END_TEST

/* ---- the plugin through the loader --------------------------------------- */

/* A backbone offering P3..P5 with 8 channels at strides 4, 8, 16. */
static must_feature_desc fpn_features(void)
{
    must_feature_desc f;
    memset(&f, 0, sizeof f);
    for (int l = MUST_P3; l <= MUST_P5; l++) {
        f.present |= MUST_LEVEL_BIT(l);
        f.channels[l] = 8;
        f.stride[l] = 4 << (l - MUST_P3);
    }
    return f;
}

static const char *const small_opts[] = {
    "levels=P3,P4,P5", "head_channels=8", "head_fc=16", "roi_batch=16", "rpn_batch=32",
    "roi_size=3", NULL};

/* Fixed random features for 32 x 32 inputs (P3 8x8, P4 4x4, P5 2x2). */
static void make_levels(must_ctx *ctx, int n, must_tensor *lv[MUST_NLEVELS])
{
    must_rng r;
    must_rng_seed(&r, 21);
    for (int l = 0; l < MUST_NLEVELS; l++)
        lv[l] = NULL;
    for (int l = MUST_P3; l <= MUST_P5; l++) {
        int s = 8 >> (l - MUST_P3);
        lv[l] = must_tensor_new4(ctx, n, 8, s, s);
        for (size_t i = 0; i < lv[l]->numel; i++)
            lv[l]->data[i] = must_rng_normal(&r);
    }
}

/* A batch of n 32 x 32 examples; example 0 holds two objects, the others none. */
static must_batch *det_batch(int n)
{
    must_batch *b = pu_batch_new(n, 32, 0);
    b->boxes = calloc((size_t)n, sizeof *b->boxes);
    must_box g[2] = {gtbox(2, 3, 14, 12, 0), gtbox(16, 14, 30, 31, 1)};
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(must_boxes_push(&b->boxes[0], &g[k], NULL), MUST_OK);
    return b;
}

static void det_batch_free(must_batch *b)
{
    for (int i = 0; i < b->n; i++)
        must_boxes_free(&b->boxes[i]);
    free(b->boxes);
    pu_batch_free(b);
}

static int all_finite(const must_params *p)
{
    const float *g = must_params_grad(p), *v = must_params_data(p);
    for (size_t i = 0; i < must_params_numel(p, 1); i++)
        if (!isfinite(g[i]) || !isfinite(v[i]))
            return 0;
    return 1;
}

START_TEST(plugin_loads)
{
    must_feature_desc f = fpn_features();
    must_task *t = pu_task("detection", 2, &f, small_opts);
    const must_task_ops *ops = must_task_get_ops(t);
    ck_assert_str_eq(ops->name, "detection");
    ck_assert_int_eq(ops->label_kind, MUST_LABEL_DETECTION);
    ck_assert_int_eq(must_task_nmetrics(t), 3);
    ck_assert_str_eq(must_task_metric_name(t, 0), "AP50");
    ck_assert_uint_eq(must_task_levels(t), MUST_LEVEL_BIT(MUST_P3) | MUST_LEVEL_BIT(MUST_P4) |
                                               MUST_LEVEL_BIT(MUST_P5));
    const must_params *p = must_task_params(t);
    /* 3 anchors a location: objectness (3, 8, 1, 1), deltas (12, 8, 1, 1);
     * the box head's fc reads 8 x 3 x 3, predicts 3 logits and 8 deltas. */
    must_tensor *w = must_params_find(p, "detection.rpn.objectness.weight");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->shape[0], 3);
    ck_assert_int_eq(must_params_find(p, "detection.rpn.deltas.weight")->shape[0], 12);
    ck_assert_int_eq(must_params_find(p, "detection.roi.fc.weight")->shape[1], 72);
    ck_assert_int_eq(must_params_find(p, "detection.roi.cls.weight")->shape[0], 3);
    ck_assert_int_eq(must_params_find(p, "detection.roi.box.weight")->shape[0], 8);
    ck_assert_ptr_nonnull(must_params_find(p, "detection.roi.conv3.bias"));
    char v[64];
    must_err e = {0};
    ck_assert_int_eq(must_task_get(t, "pseudo_threshold", v, sizeof v, &e), MUST_OK);
    ck_assert_str_eq(v, "0.5");
    must_task_free(t);
}
END_TEST

START_TEST(plugin_refuses)
{
    struct { const char *key, *value, *msg; } bad[] = {
        {"levels", "P3,P5", "consecutive"},
        {"levels", "P2,P3", "no P2"},
        {"levels", "C5", "FPN levels"},
        {"anchor_ratios", "1,-2", "positive numbers"},
        {"anchor_sizes", "16,32", "2 sizes for 3 levels"},
        {"rpn_neg_iou", "0.8", "rpn_neg_iou"},
    };
    must_feature_desc f = fpn_features();
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        must_err e = {0};
        must_task *t = NULL;
        ck_assert_int_eq(must_task_new("detection", NULL, &t, &e), MUST_OK);
        if (strcmp(bad[k].key, "levels"))
            ck_assert_int_eq(must_task_set(t, "levels", "P3,P4,P5", NULL, &e), MUST_OK);
        ck_assert_msg(must_task_set(t, bad[k].key, bad[k].value, NULL, &e) == MUST_OK, "%s",
                      e.msg);
        must_task_env env = {.features = &f, .nclasses = 2, .image_size = 32, .seed = 1};
        ck_assert_int_ne(must_task_build(t, &env, &e), MUST_OK);
        ck_assert_msg_has(e.msg, bad[k].msg);
        must_task_free(t);
    }
}
END_TEST

START_TEST(plugin_loss_backward)
{
    must_feature_desc f = fpn_features();
    must_task *t = pu_task("detection", 2, &f, small_opts);
    must_params *p = must_task_params(t);
    must_batch *b = det_batch(2);
    must_ctx *ctx = must_ctx_new(2);
    must_tensor *lv[MUST_NLEVELS];
    make_levels(ctx, 2, lv);
    must_params_zero_grad(p);
    void *pred = must_task_forward(t, ctx, lv, 32, 32);
    ck_assert_msg(pred != NULL, "%s", must_ctx_error(ctx)->msg);
    /* Training mode keeps the proposals for the loss: 1 to 1000 per image. */
    det_pred *dp = pred;
    ck_assert_int_gt(dp->nprop[0], 0);
    ck_assert_int_le(dp->nprop[0], 1000);
    ck_assert_int_eq(dp->anchors.total, 3 * (64 + 16 + 4));
    must_tensor *l = must_task_loss(t, ctx, pred, b, NULL);
    ck_assert_msg(l != NULL, "%s", must_ctx_error(ctx)->msg);
    ck_assert(isfinite(l->data[0]) && l->data[0] > 0.0f);
    ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
    ck_assert(all_finite(p));
    /* Both stages learn: the RPN's and the box head's predictors have gradients. */
    const char *names[] = {"detection.rpn.objectness.weight", "detection.rpn.deltas.weight",
                           "detection.roi.cls.weight", "detection.roi.box.weight",
                           "detection.roi.conv0.weight"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        must_tensor *w = must_params_find(p, names[k]);
        double g = 0;
        for (size_t i = 0; i < w->numel; i++)
            g += fabsf(w->grad[i]);
        ck_assert_msg(g > 0, "%s has no gradient", names[k]);
    }
    /* A masked example, or one whose labels lack the kind, does not count:
     * with example 0 out, only the empty image is left. */
    float m[2] = {0, 1};
    must_ctx_reset(ctx);
    make_levels(ctx, 2, lv);
    float lm = must_task_loss(t, ctx, must_task_forward(t, ctx, lv, 32, 32), b, m)->data[0];
    b->has[0] = 0;
    must_ctx_reset(ctx);
    make_levels(ctx, 2, lv);
    float lh = must_task_loss(t, ctx, must_task_forward(t, ctx, lv, 32, 32), b, NULL)->data[0];
    ck_assert_float_near(lm, lh, 1e-6);
    ck_assert(lm != l->data[0]);
    /* Nothing counted: the loss is 0. */
    float none[2] = {0, 0};
    b->has[0] = MUST_LABEL_ALL;
    must_ctx_reset(ctx);
    make_levels(ctx, 2, lv);
    l = must_task_loss(t, ctx, must_task_forward(t, ctx, lv, 32, 32), b, none);
    ck_assert_ptr_nonnull(l);
    ck_assert_float_near(l->data[0], 0.0, 0);
    must_ctx_free(ctx);
    det_batch_free(b);
    must_task_free(t);
}
END_TEST

START_TEST(plugin_empty_images_train)
{
    /* A batch without a single box: RPN negatives only, no RoI foreground.
     * Training on it stays finite and drives the objectness down. */
    must_feature_desc f = fpn_features();
    must_task *t = pu_task("detection", 2, &f, small_opts);
    must_params *p = must_task_params(t);
    must_batch *b = det_batch(3);
    must_boxes_free(&b->boxes[0]);
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = 0.05;
    oc.momentum = 0.9;
    must_err e = {0};
    must_optim *opt = must_optim_new(&oc, &p, 1, &e);
    ck_assert_msg(opt != NULL, "%s", e.msg);
    must_ctx *ctx = must_ctx_new(2);
    float first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        must_ctx_reset(ctx);
        must_params_zero_grad(p);
        must_tensor *lv[MUST_NLEVELS];
        make_levels(ctx, 3, lv);
        b->index = (uint64_t)step;
        must_tensor *l = must_task_loss(t, ctx, must_task_forward(t, ctx, lv, 32, 32), b, NULL);
        ck_assert_msg(l != NULL, "%s", must_ctx_error(ctx)->msg);
        ck_assert_msg(isfinite(l->data[0]), "step %d: loss %g", step, (double)l->data[0]);
        ck_assert_int_eq(must_backward(ctx, l), MUST_OK);
        ck_assert(all_finite(p));
        ck_assert_int_eq(must_optim_step(opt, NULL, &e), MUST_OK);
        if (!step)
            first = l->data[0];
        last = l->data[0];
    }
    ck_assert_msg(last < 0.5f * first, "loss %g -> %g", (double)first, (double)last);
    must_ctx_free(ctx);
    must_optim_free(opt);
    det_batch_free(b);
    must_task_free(t);
}
END_TEST

/* The whole loss with the proposals held fixed (the gradient does not flow
 * through the proposal boxes, as in Detectron2, so moving them would not be
 * part of the analytic gradient). */
typedef struct whole {
    must_task *t;
    must_batch *b;
} whole;

static const float fixed_prop[] = {2, 3, 14, 12, 0, 0, 16, 16, 4, 2, 13, 15, 15, 13, 31, 30,
                                   10, 10, 20, 20, 1, 1, 31, 31};

static must_tensor *whole_loss(must_ctx *ctx, void *u)
{
    whole *w = u;
    must_tensor *lv[MUST_NLEVELS];
    make_levels(ctx, 2, lv);
    det_pred *p = must_task_forward(w->t, ctx, lv, 32, 32);
    if (!p)
        return NULL;
    for (int i = 0; i < 2; i++) {
        p->nprop[i] = 6;
        p->prop[i] = (float *)fixed_prop;
    }
    return must_task_loss(w->t, ctx, p, w->b, NULL);
}

START_TEST(plugin_gradcheck)
{
    must_feature_desc f = fpn_features();
    static const char *const opts[] = {"levels=P3,P4,P5", "head_channels=4", "head_fc=8",
                                       "roi_size=2", "rpn_batch=32", NULL};
    whole w = {pu_task("detection", 2, &f, opts), det_batch(2)};
    must_ctx *ctx = must_ctx_new(1);
    must_gradcheck_opts o = {1e-2f, 2e-2f, 6, 11};
    must_err e = {0};
    ck_assert_msg(must_gradcheck(ctx, whole_loss, &w, must_task_params(w.t), &o, &e) == MUST_OK,
                  "%s", e.msg);
    ck_assert_msg(must_gradcheck_dir(ctx, whole_loss, &w, (must_params *[]){must_task_params(w.t)},
                                     1, &o, &e) == MUST_OK,
                  "%s", e.msg);
    must_ctx_free(ctx);
    det_batch_free(w.b);
    must_task_free(w.t);
}
END_TEST

START_TEST(plugin_inference_eval_pseudo_draw)
{
    must_feature_desc f = fpn_features();
    static const char *const opts[] = {"levels=P3,P4,P5", "head_channels=8", "head_fc=16",
                                       "roi_size=3", "score_threshold=0", "max_detections=7",
                                       NULL};
    must_task *t = pu_task("detection", 2, &f, opts);
    must_batch *b = det_batch(2);
    must_ctx *ctx = must_ctx_new(2);
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    must_tensor *lv[MUST_NLEVELS];
    make_levels(ctx, 2, lv);
    det_pred *p = must_task_forward(t, ctx, lv, 32, 32);
    ck_assert_msg(p != NULL, "%s", must_ctx_error(ctx)->msg);
    /* Inference made detections: at most 7, best first, inside the image. */
    ck_assert(p->have_dets);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_le(p->ndet[i], 7);
        ck_assert_int_gt(p->ndet[i], 0);
        for (int q = 0; q < p->ndet[i]; q++) {
            const must_box *d = &p->det[i][q];
            ck_assert(d->x0 >= 0 && d->x1 <= 32 && d->x0 < d->x1 && d->y0 < d->y1);
            ck_assert(d->cls >= 0 && d->cls < 2);
            if (q)
                ck_assert(d->score <= p->det[i][q - 1].score);
        }
    }
    /* Pseudo labels: the detections scoring >= the threshold, with their scores. */
    must_err e = {0};
    must_labels pl;
    ck_assert_msg(must_task_pseudo_label(t, p, b, 0, &pl, &e) == MUST_OK, "%s", e.msg);
    ck_assert(pl.has & MUST_LABEL_BIT(MUST_LABEL_DETECTION));
    int want = 0;
    for (int q = 0; q < p->ndet[0]; q++)
        want += p->det[0][q].score >= 0.5f;
    ck_assert_int_eq(pl.boxes.n, want);
    must_labels_free(&pl);
    /* Evaluation reads the detections: replaced by the ground truth itself
     * they score 1; an example without the kind is skipped. */
    must_box hit[2] = {b->boxes[0].v[0], b->boxes[0].v[1]};
    p->ndet[0] = 2;
    p->det[0] = hit;
    p->ndet[1] = 0;
    double v[3];
    ck_assert_msg(pu_eval1(t, p, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 1.0, 1e-12);
    ck_assert_float_near(v[1], 1.0, 1e-12);
    ck_assert_float_near(v[2], 1.0, 1e-12);
    must_box miss = gtbox(0, 0, 5, 5, 0);
    ck_assert_int_eq(must_boxes_push(&b->boxes[1], &miss, NULL), MUST_OK);
    b->has[1] = 0;
    ck_assert_msg(pu_eval1(t, p, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], 1.0, 1e-12);
    b->has[1] = MUST_LABEL_ALL;
    ck_assert_msg(pu_eval1(t, p, b, v, &e) == MUST_OK, "%s", e.msg);
    ck_assert_float_near(v[0], (0.5 + 1.0) / 2.0, 1e-12); /* class 0: 1 of 2 found */
    /* Pseudo labels of those detections keep class and score. */
    hit[1].score = 0.4f;
    ck_assert_int_eq(must_task_pseudo_label(t, p, b, 0, &pl, &e), MUST_OK);
    ck_assert_int_eq(pl.boxes.n, 1);
    ck_assert_int_eq(pl.boxes.v[0].cls, 0);
    ck_assert_float_near(pl.boxes.v[0].score, 1.0, 0);
    must_labels_free(&pl);
    /* Drawing the prediction and a label. */
    must_image img;
    ck_assert_int_eq(must_image_alloc(&img, 32, 32, 3, 8, NULL), MUST_OK);
    ck_assert_int_eq(must_task_draw(t, &img, NULL, p, b, 0, &e), MUST_OK);
    size_t lit = 0;
    for (size_t q = 0; q < 32 * 32 * 3; q++)
        lit += ((uint8_t *)img.pixels)[q] != 0;
    ck_assert_uint_gt(lit, 20);
    must_labels lab;
    must_labels_init(&lab);
    must_boxes_copy(&lab.boxes, &b->boxes[0], NULL);
    lab.has = MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    ck_assert_int_eq(must_task_draw(t, &img, &lab, NULL, NULL, 0, &e), MUST_OK);
    must_labels_free(&lab);
    must_image_free(&img);
    must_ctx_free(ctx);
    det_batch_free(b);
    must_task_free(t);
}
END_TEST

/* ---- training on a synthetic set ----------------------------------------- */

/* Pseudo-labels the validation split with the trained model, writes the
 * labels into a pseudo-labelled set with the dataset writer, reads it back
 * and scores the pseudo boxes against the ground truth. */
typedef struct pseudo_check {
    const char *dir;
    int boxes;
    double ap50;
} pseudo_check;

static int pseudo_after(void *user, const must_task_ops *ops, void *head, must_backbone *bb,
                        must_dataset *ds, must_err *err)
{
    pseudo_check *pc = user;
    must_dataset_spec spec = {.name = "rects-pseudo", .tasks = MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_DETECTION] = (must_task_spec){
        .nclasses = 3, .classes = dt_classes, .source = MUST_SOURCE_PSEUDO,
        .teacher = "teacher.safetensors", .threshold = "score >= 0.5"};
    must_dataset_writer *w;
    int rc = must_dataset_writer_new(pc->dir, &spec, &w, err);
    if (rc)
        return rc;
    must_loader *L;
    if ((rc = dt_val_loader(ds, 64, 8, &L, err))) {
        must_dataset_writer_abort(w);
        return rc;
    }
    must_ctx *ctx = must_ctx_new(0);
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    det_eval *ev = det_eval_new(3, err);
    const must_batch *b;
    while (ev && (rc = must_loader_next(L, &b, err)) == 1) {
        rc = MUST_OK;
        must_ctx_reset(ctx);
        must_tensor *lv[MUST_NLEVELS];
        if (must_backbone_forward(bb, ctx, dt_images(ctx, b), ops->head_levels(head), lv))
            break;
        void *pred = ops->forward(head, ctx, lv, 64, 64);
        for (int i = 0; pred && i < b->n && !rc; i++) {
            must_labels l;
            must_labels_init(&l);
            rc = ops->pseudo_label(head, pred, b, i, &l, err);
            /* The set's images are 64 x 64, so the batch's pixels are the image's. */
            char *png = rc ? NULL : must_dataset_image_path(ds, b->example[i]);
            if (png)
                rc = must_dataset_writer_add_file(w, must_dataset_id(ds, b->example[i]),
                                                  MUST_SPLIT_VAL, png, &l, err);
            if (!rc)
                rc = det_eval_image(ev, b->boxes[i].v, b->boxes[i].n, l.boxes.v, l.boxes.n, err);
            free(png);
            must_labels_free(&l);
        }
        if (!pred || rc)
            break;
    }
    must_loader_free(L);
    must_ctx_free(ctx);
    if (rc || !ev) {
        det_eval_free(ev);
        must_dataset_writer_abort(w);
        return rc ? rc : err->code;
    }
    det_ap ap;
    if (!(rc = det_eval_compute(ev, 0, 100, &ap, err))) {
        pc->ap50 = ap.voc;
        det_ap_free(&ap);
    }
    det_eval_free(ev);
    if (rc) {
        must_dataset_writer_abort(w);
        return rc;
    }
    return must_dataset_writer_commit(w, err);
}

START_TEST(train_rects)
{
    /* A short run on coloured rectangles: AP50 far above zero and still
     * climbing.  tests/det_train runs the longer versions docs/detection.md
     * reports. */
    char dir[4096], pdir[4096];
    snprintf(dir, sizeof dir, "%s/det_rects", test_tmpdir());
    snprintf(pdir, sizeof pdir, "%s/det_rects_pseudo", test_tmpdir());
    du_rmrf(dir);
    du_rmrf(pdir);
    must_err e = {0};
    ck_assert_msg(dt_make_rects(dir, 400, 64, 64, 1, &e) == MUST_OK, "%s", e.msg);
    dt_opts o;
    dt_opts_default(&o);
    o.batch = 4;
    o.steps = 200;
    o.eval_at[0] = 40;
    /* One thread: no OpenMP barriers to spin at when CI's cores are shared. */
    o.threads = 1;
    const char *set[] = {"levels=P3,P4,P5", "roi_batch=64", "head_channels=16", "head_fc=64",
                         "roi_size=5", "rpn_post_nms_topk_test=100",
                         "rpn_pre_nms_topk_test=300"};
    memcpy(o.set, set, sizeof set);
    pseudo_check pc = {pdir, 0, 0};
    o.after = pseudo_after;
    o.after_user = &pc;
    dt_result r;
    ck_assert_msg(dt_train(dir, &o, &r, &e) == MUST_OK, "%s", e.msg);
    ck_assert(!r.nonfinite);
    ck_assert_msg(r.loss_last < 0.5 * r.loss_first, "loss %g -> %g", r.loss_first, r.loss_last);
    ck_assert_msg(r.ap50 > 0.15 && r.ap50 > r.ap50_at[0] + 0.1,
                  "AP50 %.4f after %d steps, %.4f after %d", r.ap50_at[0], o.eval_at[0], r.ap50,
                  o.steps);
    /* The pseudo-labelled set reads back with its scores, all >= 0.5, and its
     * boxes find objects. */
    must_dataset *ps;
    ck_assert_msg(must_dataset_open(pdir, &ps, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_dataset_source(ps, MUST_LABEL_DETECTION), MUST_SOURCE_PSEUDO);
    ck_assert_int_eq(must_dataset_count(ps), 64);
    int n = 0;
    for (int i = 0; i < must_dataset_count(ps); i++) {
        const must_boxes *bx = must_dataset_boxes(ps, i);
        for (int q = 0; q < bx->n; q++, n++)
            ck_assert(bx->v[q].score >= 0.5f && bx->v[q].score <= 1.0f);
    }
    ck_assert_int_gt(n, 32);
    ck_assert_msg(pc.ap50 > 0.1, "pseudo labels' AP50 %.4f", pc.ap50);
    must_dataset_close(ps);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("detection");
    TCase *t = tcase_create("pure");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, box_coder_hand);
    tcase_add_test(t, box_coder_round_trip);
    tcase_add_test(t, iou_hand);
    tcase_add_test(t, nms_hand);
    tcase_add_test(t, nms_chain);
    tcase_add_test(t, anchors_grid);
    tcase_add_test(t, match_rules);
    tcase_add_test(t, sample_counts);
    tcase_add_test(t, ap_perfect_and_wrong);
    tcase_add_test(t, ap_duplicates);
    tcase_add_test(t, ap_mixed_scores);
    tcase_add_test(t, ap_difficult);
    tcase_add_test(t, ap_coco_thresholds_and_max_dets);
    tcase_add_test(t, ap_bad_class);
    tcase_add_test(t, ap_rules_direct);
    tcase_add_test(t, draw_box);
    suite_add_tcase(s, t);
    t = tcase_create("roialign");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, roialign_hand);
    tcase_add_test(t, roialign_levels);
    tcase_add_test(t, roialign_gradcheck);
    tcase_add_test(t, roialign_threads);
    suite_add_tcase(s, t);
    t = tcase_create("plugin");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, plugin_loads);
    tcase_add_test(t, plugin_refuses);
    tcase_add_test(t, plugin_loss_backward);
    tcase_add_test(t, plugin_empty_images_train);
    tcase_add_test(t, plugin_gradcheck);
    tcase_add_test(t, plugin_inference_eval_pseudo_draw);
    suite_add_tcase(s, t);
    t = tcase_create("train");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, train_rects);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run(suite()); }
