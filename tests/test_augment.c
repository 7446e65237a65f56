/* test_augment.c - joint transforms checked on hand-made images and labels. */
#include "config.h"

#include <math.h>

#include "must/augment.h"
#include "testutil.h"

static must_map map(int c, int h, int w)
{
    must_map m = {0};
    ck_assert_int_eq(must_map_alloc(&m, c, h, w, NULL), MUST_OK);
    return m;
}

START_TEST(box_under_crop_and_flip)
{
    /* Source 100x50 scaled by 0.5, window 32x32 from source (10, 5). */
    must_aug_tf tf = {.x0 = 10, .y0 = 5, .s = 0.5f, .out_w = 32, .out_h = 32};
    must_boxes b = {0};
    must_box in[4] = {
        {20, 10, 60, 40, 1, 0.9f, 0},  /* inside: (5, 2.5, 25, 17.5) */
        {80, 0, 100, 10, 2, 1, 0},     /* x from 35: wholly outside, vanishes */
        {70, 75, 90, 80, 0, 1, 0},     /* y from 35: vanishes */
        {50, 0, 90, 30, 0, 1, 1},      /* sticks out right and top: (20, 0, 32, 12.5) */
    };
    for (int i = 0; i < 4; i++)
        must_boxes_push(&b, &in[i], NULL);
    must_aug_boxes(&b, &tf);
    ck_assert_int_eq(b.n, 2);
    ck_assert_float_eq(b.v[0].x0, 5.0f);
    ck_assert_float_eq(b.v[0].y0, 2.5f);
    ck_assert_float_eq(b.v[0].x1, 25.0f);
    ck_assert_float_eq(b.v[0].y1, 17.5f);
    ck_assert_int_eq(b.v[0].cls, 1);
    ck_assert_float_eq(b.v[0].score, 0.9f);
    ck_assert_float_eq(b.v[1].x0, 20.0f);
    ck_assert_float_eq(b.v[1].y0, 0.0f);
    ck_assert_float_eq(b.v[1].x1, 32.0f);
    ck_assert_float_eq(b.v[1].y1, 12.5f);
    ck_assert_int_eq(b.v[1].difficult, 1);
    must_aug_flip_boxes(&b, 32);
    ck_assert_float_eq(b.v[0].x0, 7.0f);
    ck_assert_float_eq(b.v[0].x1, 27.0f);
    ck_assert_float_eq(b.v[0].y0, 2.5f);
    ck_assert_float_eq(b.v[1].x0, 0.0f);
    ck_assert_float_eq(b.v[1].x1, 12.0f);
    must_boxes_free(&b);
}
END_TEST

START_TEST(normals_under_flip)
{
    const int w = 3, h = 2, n = w * h;
    must_map m = map(3, h, w);
    float v[6][3] = {{0.6f, 0, -0.8f}, {0, 0, 0},        {0, 0.6f, -0.8f},
                     {-1, 0, 0},       {0.48f, 0.6f, -0.64f}, {0, -1, 0}};
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            m.data[c * n + i] = v[i][c];
    must_aug_flip_normals(&m);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int src = y * w + (w - 1 - x), dst = y * w + x;
            ck_assert_float_eq(m.data[dst], -v[src][0]);
            ck_assert_float_eq(m.data[n + dst], v[src][1]);
            ck_assert_float_eq(m.data[2 * n + dst], v[src][2]);
            double len = 0;
            for (int c = 0; c < 3; c++)
                len += (double)m.data[c * n + dst] * m.data[c * n + dst];
            if (src != 1)
                ck_assert_float_near(sqrt(len), 1.0, 1e-6);
        }
    /* The invalid pixel (source (1, 0)) is still all zero, without a -0. */
    ck_assert(!signbit(m.data[1]));
    ck_assert_float_eq(m.data[1] + m.data[n + 1] + m.data[2 * n + 1], 0.0f);
    must_map_free(&m);
}
END_TEST

START_TEST(depth_values_unchanged_by_resize)
{
    const int w = 5, h = 4;
    must_map d = map(1, h, w);
    for (int i = 0; i < w * h; i++)
        d.data[i] = i % 7 == 3 ? 0.0f : 1.0f + 0.37f * (float)i;
    /* 2x up: each output is its source pixel exactly. */
    must_aug_tf up = {.s = 2.0f, .out_w = 10, .out_h = 8};
    must_map o = {0};
    ck_assert_int_eq(must_aug_resample_nearest(&d, &up, 0.0f, &o, NULL), MUST_OK);
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 10; u++)
            ck_assert_float_eq(o.data[v * 10 + u], d.data[(v / 2) * w + u / 2]);
    must_map_free(&o);
    /* Odd scales and windows beyond the edge: every value is a source
     * value (none blended) or 0 = no data outside. */
    float scales[3] = {0.5f, 1.37f, 0.71f};
    for (int k = 0; k < 3; k++) {
        must_aug_tf tf = {.x0 = -1.5f, .y0 = 0.75f, .s = scales[k], .out_w = 9, .out_h = 7};
        ck_assert_int_eq(must_aug_resample_nearest(&d, &tf, 0.0f, &o, NULL), MUST_OK);
        for (int i = 0; i < 63; i++) {
            int found = o.data[i] == 0.0f;
            for (int j = 0; j < w * h && !found; j++)
                found = o.data[i] == d.data[j];
            ck_assert_msg(found, "scale %g: output %d = %g is not a source depth", scales[k], i,
                          o.data[i]);
        }
        /* Column 0 samples source x -1.5 + 0.5 / s < 0: outside, no data. */
        ck_assert_float_eq(o.data[0], 0.0f);
        must_map_free(&o);
    }
    must_map_free(&d);
}
END_TEST

START_TEST(segmentation_nearest_with_ignore_outside)
{
    must_map s = map(1, 2, 2);
    s.data[0] = 0;
    s.data[1] = 1;
    s.data[2] = 2;
    s.data[3] = 255;
    must_aug_tf tf = {.s = 1.5f, .out_w = 4, .out_h = 4};
    must_map o = {0};
    ck_assert_int_eq(must_aug_resample_nearest(&s, &tf, 255.0f, &o, NULL), MUST_OK);
    /* Centres at source 0.33, 1, 1.67, 2.33: pixels 0, 1, 1, outside. */
    static const float want[16] = {0, 1, 1, 255, 2, 255, 255, 255, 2, 255, 255, 255,
                                   255, 255, 255, 255};
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(o.data[i], want[i]);
    must_map_free(&o);
    must_map_free(&s);
}
END_TEST

START_TEST(image_bilinear)
{
    /* A horizontal ramp 0, 1, 2, 3 (x 4 rows). */
    must_map im = map(1, 4, 4);
    for (int i = 0; i < 16; i++)
        im.data[i] = (float)(i % 4);
    must_map o = {0};
    const float fill = -7.0f;
    /* Shift by one pixel: exact copy of columns 1..3, then the fill. */
    must_aug_tf shift = {.x0 = 1, .y0 = 0, .s = 1, .out_w = 4, .out_h = 4};
    ck_assert_int_eq(must_aug_resample_bilinear(&im, &shift, &fill, &o, NULL), MUST_OK);
    for (int v = 0; v < 4; v++) {
        ck_assert_float_eq(o.data[v * 4 + 0], 1.0f);
        ck_assert_float_eq(o.data[v * 4 + 2], 3.0f);
        ck_assert_float_eq(o.data[v * 4 + 3], fill);
    }
    must_map_free(&o);
    /* 2x up: centre u maps to source (u + 0.5) / 2 - 0.5 in pixel-centre
     * units: u = 3 -> 1.25 -> value 1.25; edges clamp. */
    must_aug_tf up = {.s = 2, .out_w = 8, .out_h = 8};
    ck_assert_int_eq(must_aug_resample_bilinear(&im, &up, &fill, &o, NULL), MUST_OK);
    ck_assert_float_eq(o.data[3], 1.25f);
    ck_assert_float_eq(o.data[4], 1.75f);
    ck_assert_float_eq(o.data[0], 0.0f);
    ck_assert_float_eq(o.data[7], 3.0f);
    must_map_free(&o);
    must_map_free(&im);
}
END_TEST

START_TEST(normalize_known_values)
{
    must_map im = map(3, 1, 1);
    im.data[0] = MUST_IMAGE_MEAN_R;
    im.data[1] = MUST_IMAGE_MEAN_G + MUST_IMAGE_STD_G;
    im.data[2] = 0.0f;
    must_aug_normalize(&im);
    ck_assert_float_near(im.data[0], 0.0, 1e-6);
    ck_assert_float_near(im.data[1], 1.0, 1e-6);
    ck_assert_float_near(im.data[2], -MUST_IMAGE_MEAN_B / MUST_IMAGE_STD_B, 1e-6);
    must_map_free(&im);
}
END_TEST

START_TEST(sample_stays_in_range)
{
    must_aug_opts o;
    must_aug_defaults(&o);
    must_rng r, r2;
    must_rng_seed(&r, 7);
    must_rng_seed(&r2, 7);
    int flips = 0;
    for (int i = 0; i < 2000; i++) {
        must_aug_tf tf, tf2;
        must_aug_sample(&r, 80, 60, 64, &o, &tf);
        must_aug_sample(&r2, 80, 60, 64, &o, &tf2);
        ck_assert_mem_eq(&tf, &tf2, sizeof tf); /* same seed, same draws */
        float s = tf.s / (64.0f / 80.0f);
        ck_assert_float_ge(s, o.scale_min - 1e-5f);
        ck_assert_float_le(s, o.scale_max + 1e-5f);
        ck_assert_int_eq(tf.out_w, 64);
        /* The window starts inside the scaled image, and a larger image
         * covers the window completely. */
        ck_assert_float_ge(tf.x0, 0.0f);
        ck_assert_float_ge(tf.y0, 0.0f);
        if (80 * tf.s >= 64)
            ck_assert_float_le(tf.x0 + 64 / tf.s, 80 + 1e-3f);
        if (60 * tf.s >= 64)
            ck_assert_float_le(tf.y0 + 64 / tf.s, 60 + 1e-3f);
        flips += tf.flip;
    }
    ck_assert_int_gt(flips, 850);
    ck_assert_int_lt(flips, 1150);
}
END_TEST

/* An image with a bright rectangle and labels that say where it is: after
 * any transform the image, mask, box, depth and normals still agree. */
START_TEST(example_keeps_image_and_labels_aligned)
{
    const int w = 40, h = 30, n = w * h, rx0 = 8, ry0 = 6, rx1 = 20, ry1 = 18;
    must_aug_opts o;
    must_aug_defaults(&o);
    o.brightness = o.contrast = o.saturation = 0.0f;
    int flipped = 0, plain = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        must_map im = map(3, h, w);
        must_labels l;
        must_labels_init(&l);
        l.has = MUST_LABEL_ALL & ~MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
        l.seg = map(1, h, w);
        l.depth = map(1, h, w);
        l.normal = map(3, h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int in = x >= rx0 && x < rx1 && y >= ry0 && y < ry1, i = y * w + x;
                for (int c = 0; c < 3; c++)
                    im.data[c * n + i] = in ? 1.0f : 0.0f;
                l.seg.data[i] = in ? 1.0f : 0.0f;
                l.depth.data[i] = in ? 2.0f : 5.0f;
                l.normal.data[i] = in ? 0.6f : 0.0f;
                l.normal.data[2 * n + i] = in ? -0.8f : -1.0f;
            }
        must_box b = {rx0, ry0, rx1, ry1, 0, 1, 0};
        must_boxes_push(&l.boxes, &b, NULL);
        must_rng r;
        must_rng_seed(&r, seed);
        must_aug_tf tf;
        ck_assert_int_eq(must_aug_example(&im, &l, 32, &r, &o, &tf, NULL), MUST_OK);
        flipped += tf.flip;
        plain += !tf.flip;
        const int S = 32, P = S * S;
        ck_assert_int_eq(im.width, S);
        ck_assert_int_eq(l.seg.width, S);
        ck_assert_int_eq(l.boxes.n, 1);
        const must_box *ob = &l.boxes.v[0];
        float hi = (1.0f - MUST_IMAGE_MEAN_R) / MUST_IMAGE_STD_R;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int i = y * S + x;
                float sg = l.seg.data[i];
                if (sg == 255.0f) { /* padding: everything says "nothing here" */
                    ck_assert_float_eq(l.depth.data[i], 0.0f);
                    ck_assert_float_eq(l.normal.data[2 * P + i], 0.0f);
                    ck_assert_float_near(im.data[i], 0.0, 1e-5);
                    continue;
                }
                if (sg == 1.0f) {
                    ck_assert_float_eq(l.depth.data[i], 2.0f);
                    /* x negated exactly when flipped */
                    ck_assert_float_eq(l.normal.data[i], tf.flip ? -0.6f : 0.6f);
                    /* inside the box (pixel centre) */
                    ck_assert_float_ge(x + 0.5f, ob->x0 - 1.0f);
                    ck_assert_float_le(x + 0.5f, ob->x1 + 1.0f);
                    ck_assert_float_ge(y + 0.5f, ob->y0 - 1.0f);
                    ck_assert_float_le(y + 0.5f, ob->y1 + 1.0f);
                    /* the image is bright there (bilinear may soften the rim,
                     * but at least a quarter of the sample is the rectangle) */
                    ck_assert_float_gt(im.data[i], (0.2f - MUST_IMAGE_MEAN_R) / MUST_IMAGE_STD_R);
                } else {
                    ck_assert_float_eq(sg, 0.0f);
                    ck_assert_float_eq(l.depth.data[i], 5.0f);
                    ck_assert_float_eq(l.normal.data[i], 0.0f);
                    ck_assert_float_lt(im.data[i], hi);
                }
            }
        must_map_free(&im);
        must_labels_free(&l);
    }
    ck_assert_int_gt(flipped, 0);
    ck_assert_int_gt(plain, 0);
}
END_TEST

START_TEST(photometric_touches_the_image_only)
{
    must_aug_opts o;
    must_aug_defaults(&o);
    o.scale_min = o.scale_max = 1.0f;
    o.hflip = 0;
    o.brightness = 0.5f;
    const int w = 16, h = 16;
    must_map a = map(3, h, w), b = map(3, h, w);
    must_labels la, lb;
    must_labels_init(&la);
    must_labels_init(&lb);
    la.has = lb.has = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    la.depth = map(1, h, w);
    lb.depth = map(1, h, w);
    for (int i = 0; i < w * h; i++) {
        for (int c = 0; c < 3; c++)
            a.data[c * w * h + i] = b.data[c * w * h + i] = 0.25f + 0.5f * (float)(i % 3) / 3;
        la.depth.data[i] = lb.depth.data[i] = (float)i;
    }
    must_rng r;
    must_rng_seed(&r, 3);
    ck_assert_int_eq(must_aug_example(&a, &la, 16, &r, &o, NULL, NULL), MUST_OK);
    ck_assert_int_eq(must_aug_example(&b, &lb, 16, NULL, NULL, NULL, NULL), MUST_OK);
    ck_assert_mem_eq(la.depth.data, lb.depth.data, (size_t)w * h * sizeof(float));
    int differ = 0;
    for (int i = 0; i < 3 * w * h; i++)
        differ += a.data[i] != b.data[i];
    ck_assert_int_gt(differ, 0);
    must_map_free(&a);
    must_map_free(&b);
    must_labels_free(&la);
    must_labels_free(&lb);
}
END_TEST

/* Labels made on an evaluation window go back to a 20x10 source: fit to
 * 8 gives s = 0.4, the image fills the window's top 8x4.  Source pixel x
 * samples window pixel floor((x + 0.5) * 0.4), worked out per pixel. */
/* SimCLR's two extra augmentations: a grey view is its luma in every
 * channel; a blur keeps a flat image flat, keeps an impulse's mass and
 * spreads it evenly to both sides. */
static const float mean3[3] = {MUST_IMAGE_MEAN_R, MUST_IMAGE_MEAN_G, MUST_IMAGE_MEAN_B};
static const float std3[3] = {MUST_IMAGE_STD_R, MUST_IMAGE_STD_G, MUST_IMAGE_STD_B};

static float raw(const must_map *m, int c, int i)
{
    return m->data[(size_t)c * m->width * m->height + i] * std3[c] + mean3[c];
}

START_TEST(grey_and_blur)
{
    must_aug_opts o;
    must_aug_defaults(&o);
    o.scale_min = o.scale_max = 1.0f;
    o.hflip = 0;
    o.brightness = o.contrast = o.saturation = 0.0f;
    o.grey = 1.0f;
    const int w = 16, h = 16, n = w * h;
    must_map a = map(3, h, w);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            a.data[c * n + i] = 0.1f + 0.25f * (float)((i + c * 5) % 4);
    float luma[256];
    for (int i = 0; i < n; i++)
        luma[i] = 0.299f * a.data[i] + 0.587f * a.data[n + i] + 0.114f * a.data[2 * n + i];
    must_rng r;
    must_rng_seed(&r, 5);
    ck_assert_int_eq(must_aug_example(&a, NULL, w, &r, &o, NULL, NULL), MUST_OK);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq_tol(raw(&a, c, i), luma[i], 1e-5f);
    must_map_free(&a);

    /* Blur: 112 pixels wide, so that sigma is 0.05..1 pixels. */
    o.grey = 0.0f;
    o.blur = 1.0f;
    const int W = 112, N = W * W, mid = 56 * W + 56;
    must_map flat = map(3, W, W), imp = map(3, W, W);
    for (int i = 0; i < 3 * N; i++)
        flat.data[i] = imp.data[i] = 0.5f;
    for (int c = 0; c < 3; c++)
        imp.data[c * N + mid] = 1.0f;
    int spread = 0;
    for (unsigned seed = 1; seed <= 8; seed++) {
        must_map f = map(3, W, W), g = map(3, W, W);
        memcpy(f.data, flat.data, 3 * (size_t)N * sizeof(float));
        memcpy(g.data, imp.data, 3 * (size_t)N * sizeof(float));
        must_rng_seed(&r, seed);
        ck_assert_int_eq(must_aug_example(&f, NULL, W, &r, &o, NULL, NULL), MUST_OK);
        must_rng_seed(&r, seed);
        ck_assert_int_eq(must_aug_example(&g, NULL, W, &r, &o, NULL, NULL), MUST_OK);
        for (int c = 0; c < 3; c++) {
            double mass = 0.0; /* within 7 pixels: sigma <= 1, radius <= 3 */
            for (int i = 0; i < N; i++) {
                ck_assert_float_eq_tol(raw(&f, c, i), 0.5f, 1e-5f);
                int dx = i % W - 56, dy = i / W - 56;
                if (dx * dx <= 49 && dy * dy <= 49)
                    mass += raw(&g, c, i) - 0.5f;
                else
                    ck_assert_float_eq_tol(raw(&g, c, i), 0.5f, 1e-5f);
            }
            ck_assert_double_eq_tol(mass, 0.5, 1e-4);
            float l = raw(&g, c, mid - 1), rt = raw(&g, c, mid + 1);
            float up = raw(&g, c, mid - W), dn = raw(&g, c, mid + W);
            ck_assert_float_eq_tol(l, rt, 1e-6f);
            ck_assert_float_eq_tol(up, dn, 1e-6f);
            ck_assert_float_eq_tol(l, up, 1e-6f);
            spread += raw(&g, c, mid) < 0.999f && l > 0.5001f;
        }
        must_map_free(&f);
        must_map_free(&g);
    }
    ck_assert_int_gt(spread, 0); /* some seeds draw a sigma wide enough to see */
    must_map_free(&flat);
    must_map_free(&imp);
}
END_TEST

START_TEST(unfit_maps_and_boxes_back)
{
    must_aug_tf tf;
    must_aug_fit(20, 10, 8, &tf);
    must_labels l;
    must_labels_init(&l);
    l.has = MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION) | MUST_LABEL_BIT(MUST_LABEL_DETECTION) |
            MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    l.seg = map(1, 8, 8);
    l.depth = map(1, 8, 8);
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 8; u++) {
            l.seg.data[v * 8 + u] = v < 4 ? (float)(u + 8 * v) : 255.0f;
            l.depth.data[v * 8 + u] = v < 4 ? 1.0f + 0.5f * (float)u : 0.0f;
        }
    must_box b = {0.4f, 0.4f, 4.0f, 2.0f, 3, 0.9f, 0};
    ck_assert_int_eq(must_boxes_push(&l.boxes, &b, NULL), MUST_OK);
    ck_assert_int_eq(must_aug_unfit_labels(&l, &tf, 20, 10, NULL), MUST_OK);
    ck_assert_int_eq(l.seg.width, 20);
    ck_assert_int_eq(l.seg.height, 10);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++) {
            int u = (int)floorf(((float)x + 0.5f) * 0.4f);
            int v = (int)floorf(((float)y + 0.5f) * 0.4f);
            ck_assert_float_eq(l.seg.data[y * 20 + x], (float)(u + 8 * v));
            ck_assert_float_eq(l.depth.data[y * 20 + x], 1.0f + 0.5f * (float)u);
        }
    /* The box scales by 1 / 0.4: (1, 1)-(10, 5), class and score kept. */
    ck_assert_int_eq(l.boxes.n, 1);
    ck_assert_float_near(l.boxes.v[0].x0, 1.0, 1e-5);
    ck_assert_float_near(l.boxes.v[0].y0, 1.0, 1e-5);
    ck_assert_float_near(l.boxes.v[0].x1, 10.0, 1e-5);
    ck_assert_float_near(l.boxes.v[0].y1, 5.0, 1e-5);
    ck_assert_int_eq(l.boxes.v[0].cls, 3);
    ck_assert_float_near(l.boxes.v[0].score, 0.9, 1e-6);
    must_labels_free(&l);
}
END_TEST

/* Forward by the evaluation transform and back gives the labels again
 * where the window is at least as fine as the source (s = 2 and s = 1). */
START_TEST(fit_then_unfit_is_identity)
{
    for (int side = 4; side <= 8; side += 4) {
        must_map img = map(3, side, side);
        must_labels l;
        must_labels_init(&l);
        l.has = MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
        l.seg = map(1, side, side);
        for (int i = 0; i < side * side; i++)
            l.seg.data[i] = (float)(i % 7);
        must_map keep = map(1, side, side);
        memcpy(keep.data, l.seg.data, sizeof(float) * (size_t)(side * side));
        must_aug_tf tf;
        ck_assert_int_eq(must_aug_example(&img, &l, 8, NULL, NULL, &tf, NULL), MUST_OK);
        ck_assert_int_eq(must_aug_unfit_labels(&l, &tf, side, side, NULL), MUST_OK);
        for (int i = 0; i < side * side; i++)
            ck_assert_float_eq(l.seg.data[i], keep.data[i]);
        must_map_free(&keep);
        must_map_free(&img);
        must_labels_free(&l);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_add_test(tc, box_under_crop_and_flip);
    tcase_add_test(tc, normals_under_flip);
    tcase_add_test(tc, depth_values_unchanged_by_resize);
    tcase_add_test(tc, segmentation_nearest_with_ignore_outside);
    tcase_add_test(tc, image_bilinear);
    tcase_add_test(tc, normalize_known_values);
    tcase_add_test(tc, sample_stays_in_range);
    tcase_add_test(tc, example_keeps_image_and_labels_aligned);
    tcase_add_test(tc, photometric_touches_the_image_only);
    tcase_add_test(tc, grey_and_blur);
    tcase_add_test(tc, unfit_maps_and_boxes_back);
    tcase_add_test(tc, fit_then_unfit_is_identity);
    suite_add_tcase(s, tc);
    return test_run(s);
}
