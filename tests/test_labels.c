/* test_labels.c - every label codec round trips; malformed lines and files are refused. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "must/image.h"
#include "must/labels.h"
#include "testutil.h"
#include "datautil.h"

static char *tmp_path(const char *name)
{
    return must_path_join(test_tmpdir(), name);
}

START_TEST(kind_names)
{
    for (int k = 0; k < MUST_LABEL_NKINDS; k++)
        ck_assert_int_eq(must_label_kind_parse(must_label_kind_name(k)), k);
    ck_assert_int_eq(must_label_kind_parse("colour"), -1);
    ck_assert_ptr_null(must_label_kind_name(5));
    ck_assert_uint_eq(MUST_LABEL_ALL, 31);
}
END_TEST

START_TEST(classification_lines_round_trip)
{
    char buf[512];
    FILE *fp = fmemopen(buf, sizeof buf, "w");
    float soft[3] = {0.1f, 0.2f, 0.7f};
    ck_assert_int_eq(must_label_write_cls(fp, "a", 2, 3, NULL), MUST_OK);
    ck_assert_int_eq(must_label_write_cls(fp, "b.png-1", -1, 3, soft), MUST_OK);
    fclose(fp);
    ck_assert_str_eq(buf, "a 2\nb.png-1 soft 0.1 0.2 0.7\n");

    char *line = buf, *nl;
    const char *id;
    int cls;
    float got[3];
    must_err e = {0};
    nl = strchr(line, '\n');
    *nl = '\0';
    ck_assert_int_eq(must_label_parse_cls(line, 3, &id, &cls, got, &e), MUST_OK);
    ck_assert_str_eq(id, "a");
    ck_assert_int_eq(cls, 2);
    line = nl + 1;
    nl = strchr(line, '\n');
    *nl = '\0';
    ck_assert_int_eq(must_label_parse_cls(line, 3, &id, &cls, got, &e), MUST_OK);
    ck_assert_str_eq(id, "b.png-1");
    ck_assert_int_eq(cls, -1);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(got[i], soft[i]); /* bit-exact: shortest round-trip printing */

    static const struct {
        const char *line, *why;
    } bad[] = {
        {"a", "has no class"},
        {"a 3", "out of range 0..2"},
        {"a -1", "out of range"},
        {"a 1x", "not a whole number"},
        {"a 1 2", "extra fields"},
        {"a soft 0.5 0.5", "has 2 values, want 3"},
        {"a soft 0.5 0.5 0 0", "more than 3 values"},
        {"a soft 0.5 0.6 0", "sums to"},
        {"a soft 0.5 nan 0.5", "not a number in [0, 1]"},
        {"a soft 1.5 -0.5 0", "not a number in [0, 1]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char l[64];
        snprintf(l, sizeof l, "%s", bad[i].line);
        ck_assert_int_eq(must_label_parse_cls(l, 3, &id, &cls, got, &e), MUST_EFORMAT);
        ck_assert_msg(strstr(e.msg, bad[i].why), "'%s': %s", bad[i].line, e.msg);
    }
}
END_TEST

START_TEST(detection_lines_round_trip)
{
    must_box in[2] = {{1.5f, 2.0f, 30.25f, 40.0f, 2, 0.875f, 0},
                      {0.0f, 0.0f, 1.0f / 3.0f, 7.0f, 0, 1.0f, 1}};
    char buf[512];
    FILE *fp = fmemopen(buf, sizeof buf, "w");
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(must_label_write_box(fp, i ? "y" : "x", &in[i]), MUST_OK);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "x 1.5 2 30.25 40 2 0.875\n"));
    char *line = buf;
    for (int i = 0; i < 2; i++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        const char *id;
        must_box b;
        must_err e = {0};
        ck_assert_int_eq(must_label_parse_box(line, 3, &id, &b, &e), MUST_OK);
        ck_assert_str_eq(id, i ? "y" : "x");
        ck_assert_mem_eq(&b, &in[i], sizeof b);
        line = nl + 1;
    }
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"x 1 2 3", "has 4 fields"},
        {"x 1 2 3 4 0 1 0 9", "has 9 fields"},
        {"x 1 2 a 4 0 1", "x1 'a' is not a number"},
        {"x 5 2 3 4 0 1", "0 <= x0 < x1"},
        {"x 1 4 3 4 0 1", "0 <= y0 < y1"},
        {"x -1 2 3 4 0 1", "0 <= x0 < x1"},
        {"x 1 2 3 4 3 1", "class 3 out of range"},
        {"x 1 2 3 4 0 1.5", "score 1.5 not in [0, 1]"},
        {"x 1 2 3 4 0 1 yes", "difficult 'yes'"},
        {"x 1 2 inf 4 0 1", "not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char l[64];
        const char *id;
        must_box b;
        must_err e = {0};
        snprintf(l, sizeof l, "%s", bad[i].line);
        ck_assert_int_eq(must_label_parse_box(l, 3, &id, &b, &e), MUST_EFORMAT);
        ck_assert_msg(strstr(e.msg, bad[i].why), "'%s': %s", bad[i].line, e.msg);
    }
}
END_TEST

START_TEST(segmentation_png_round_trip)
{
    char *p = tmp_path("seg_rt.png");
    must_map m = {0}, r = {0};
    must_err e = {0};
    ck_assert_int_eq(must_map_alloc(&m, 1, 5, 7, &e), MUST_OK);
    for (int i = 0; i < 35; i++)
        m.data[i] = i == 3 ? 255.0f : (float)(i % 4);
    ck_assert_int_eq(must_label_write_seg(p, &m, &e), MUST_OK);
    ck_assert_int_eq(must_label_read_seg(p, &r, &e), MUST_OK);
    ck_assert_int_eq(r.width, 7);
    ck_assert_int_eq(r.height, 5);
    ck_assert_mem_eq(r.data, m.data, 35 * sizeof(float));
    must_map_free(&r);
    m.data[4] = 2.5f;
    ck_assert_int_eq(must_label_write_seg(p, &m, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "2.5 at (4, 0)"));
    /* A 16-bit file is not a segmentation map. */
    ck_assert_int_eq(must_label_write_depth(p, &m, 1.0f, &e), MUST_OK);
    ck_assert_int_eq(must_label_read_seg(p, &r, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "8-bit gray"));
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    must_map_free(&m);
    free(p);
}
END_TEST

START_TEST(depth_png_round_trip)
{
    char *p = tmp_path("depth_rt.png");
    must_map m = {0}, r = {0};
    must_err e = {0};
    const float scale = 0.001f;
    ck_assert_int_eq(must_map_alloc(&m, 1, 3, 4, &e), MUST_OK);
    float v[12] = {0.0f, 0.001f, 1.2346f, 65.535f, 0.0001f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f};
    memcpy(m.data, v, sizeof v);
    ck_assert_int_eq(must_label_write_depth(p, &m, scale, &e), MUST_OK);
    ck_assert_int_eq(must_label_read_depth(p, scale, &r, &e), MUST_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_float_near(r.data[i], v[i] < scale / 2 && v[i] > 0 ? scale : v[i], scale / 2);
    ck_assert_float_eq(r.data[0], 0.0f); /* no data stays no data */
    ck_assert_float_gt(r.data[4], 0.0f); /* a tiny depth is not "no data" */
    must_map_free(&r);
    /* Raw units survive exactly. */
    must_image img = {0};
    ck_assert_int_eq(must_png_read(p, &img, 1, 16, &e), MUST_OK);
    ck_assert_uint_eq(((uint16_t *)img.pixels)[2], 1235);
    ck_assert_uint_eq(((uint16_t *)img.pixels)[3], 65535);
    must_image_free(&img);
    m.data[5] = 70.0f;
    ck_assert_int_eq(must_label_write_depth(p, &m, scale, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "depth 70 m at (1, 1)"));
    m.data[5] = -1.0f;
    ck_assert_int_eq(must_label_write_depth(p, &m, scale, &e), MUST_EINVAL);
    m.data[5] = NAN;
    ck_assert_int_eq(must_label_write_depth(p, &m, scale, &e), MUST_EINVAL);
    must_map_free(&m);
    free(p);
}
END_TEST

START_TEST(normal_png_round_trip)
{
    char *p = tmp_path("normal_rt.png");
    must_map m = {0}, r = {0};
    must_err e = {0};
    const int w = 4, h = 2, n = w * h;
    ck_assert_int_eq(must_map_alloc(&m, 3, h, w, &e), MUST_OK);
    float v[8][3] = {{0, 0, -1}, {1, 0, 0}, {-1, 0, 0}, {0.6f, 0, -0.8f},
                     {0, 0, 0},  {0, 2, 0}, {0.48f, -0.6f, -0.64f}, {-0.36f, 0.48f, -0.8f}};
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            m.data[c * n + i] = v[i][c];
    ck_assert_int_eq(must_label_write_normal(p, &m, &e), MUST_OK);
    ck_assert_int_eq(must_label_read_normal(p, &r, &e), MUST_OK);
    for (int i = 0; i < n; i++) {
        double len = 0;
        for (int c = 0; c < 3; c++) {
            double want = v[i][c] / (i == 5 ? 2.0 : 1.0); /* (0, 2, 0) is normalised */
            ck_assert_float_near(r.data[c * n + i], want, 2.0 / 65534);
            len += (double)r.data[c * n + i] * r.data[c * n + i];
        }
        if (i != 4)
            ck_assert_float_near(sqrt(len), 1.0, 1e-4);
    }
    /* The encoding: -1 -> 1, 0 -> 32768, 1 -> 65535; invalid -> 0 0 0. */
    ck_assert_uint_eq(must_normal_encode(-1.0f), 1);
    ck_assert_uint_eq(must_normal_encode(0.0f), 32768);
    ck_assert_uint_eq(must_normal_encode(1.0f), 65535);
    ck_assert_float_eq(must_normal_decode(32768), 0.0f);
    must_image img = {0};
    ck_assert_int_eq(must_png_read(p, &img, 3, 16, &e), MUST_OK);
    const uint16_t *q = img.pixels;
    ck_assert_uint_eq(q[0], 32768);
    ck_assert_uint_eq(q[2], 1);
    ck_assert_uint_eq(q[3 * 4] | q[3 * 4 + 1] | q[3 * 4 + 2], 0);
    must_image_free(&img);
    must_map_free(&r);
    m.data[0] = INFINITY;
    ck_assert_int_eq(must_label_write_normal(p, &m, &e), MUST_EINVAL);
    must_map_free(&m);
    free(p);
}
END_TEST

START_TEST(corrupt_label_pngs_are_named)
{
    char *p = tmp_path("seg_trunc.png");
    must_map m = {0};
    must_err e = {0};
    ck_assert_int_eq(must_map_alloc(&m, 1, 16, 16, &e), MUST_OK);
    ck_assert_int_eq(must_label_write_seg(p, &m, &e), MUST_OK);
    must_map_free(&m);
    du_truncate(test_tmpdir(), "seg_trunc.png", 40);
    ck_assert_int_ne(must_label_read_seg(p, &m, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "seg_trunc.png"), "%s", e.msg);
    free(p);
    p = tmp_path("no_such_label.png");
    ck_assert_int_ne(must_label_read_depth(p, 0.001f, &m, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "no_such_label.png"), "%s", e.msg);
    ck_assert_int_ne(must_label_read_normal(p, &m, &e), MUST_OK);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("labels");
    TCase *tc = tcase_create("labels");
    tcase_add_test(tc, kind_names);
    tcase_add_test(tc, classification_lines_round_trip);
    tcase_add_test(tc, detection_lines_round_trip);
    tcase_add_test(tc, segmentation_png_round_trip);
    tcase_add_test(tc, depth_png_round_trip);
    tcase_add_test(tc, normal_png_round_trip);
    tcase_add_test(tc, corrupt_label_pngs_are_named);
    suite_add_tcase(s, tc);
    return test_run(s);
}
