/* test_dataset.c - the dataset format: writer/reader round trip, dataset.ini
 * rules, and every kind of bad input named by dataset, file and line. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "must/dataset.h"
#include "testutil.h"
#include "datautil.h"

#define ALL MUST_LABEL_ALL
#define W 24
#define H 20

/* A fresh good set of 12 images with every task. */
static const char *good_set(const char *name)
{
    const char *dir = du_dir(name);
    must_err e = {0};
    int rc = du_make_set(dir, "unit-set", 12, W, H, ALL, &e);
    ck_assert_msg(rc == MUST_OK, "make set: %s", e.msg);
    return dir;
}

/* Opening must fail, and the message must hold every needle. */
static void open_fails(const char *dir, int code, const char *n1, const char *n2, const char *n3)
{
    must_dataset *ds = NULL;
    must_err e = {0};
    int rc = must_dataset_open(dir, &ds, &e);
    ck_assert_msg(rc == code, "open gave %d (want %d): %s", rc, code, e.msg);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(e.msg, "dataset \""), "no dataset named in: %s", e.msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!needles[i] || strstr(e.msg, needles[i]), "'%s' not in: %s", needles[i],
                      e.msg);
}

typedef struct report {
    int problems, lines;
    char text[1 << 16];
} report;

static void collect(void *user, int is_problem, const char *line)
{
    report *r = user;
    size_t n = strlen(r->text);
    snprintf(r->text + n, sizeof r->text - n, "%s%s\n", is_problem ? "P: " : "S: ", line);
    r->problems += is_problem;
    r->lines++;
}

static report *check(const char *dir, int *problems)
{
    static report r;
    memset(&r, 0, sizeof r);
    must_err e = {0};
    ck_assert_int_eq(must_dataset_check(dir, collect, &r, problems, &e), MUST_OK);
    ck_assert_int_eq(*problems, r.problems);
    return &r;
}

static void write_png(const char *dir, const char *rel, int w, int h, int c, int d,
                      uint16_t fill)
{
    must_image img = {0};
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&img, w, h, c, d, &e), MUST_OK);
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; i < n; i++) {
        if (d == 8)
            ((uint8_t *)img.pixels)[i] = (uint8_t)fill;
        else
            ((uint16_t *)img.pixels)[i] = fill;
    }
    char *p = must_path_join(dir, rel);
    ck_assert_int_eq(must_png_write(p, &img, &e), MUST_OK);
    free(p);
    must_image_free(&img);
}

START_TEST(round_trip_every_task)
{
    const char *dir = good_set("ds_round");
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_str_eq(must_dataset_name(ds), "unit-set");
    ck_assert_uint_eq(must_dataset_tasks(ds), ALL);
    ck_assert_int_eq(must_dataset_count(ds), 12);
    int w, h;
    must_dataset_size(ds, &w, &h);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    ck_assert_int_eq(must_dataset_nclasses(ds, MUST_LABEL_DETECTION), 3);
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, 2), "cylinder");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_SEGMENTATION, 0), "background");
    ck_assert_int_eq(must_dataset_source(ds, MUST_LABEL_DETECTION), MUST_SOURCE_PSEUDO);
    ck_assert_str_eq(must_dataset_teacher(ds, MUST_LABEL_DETECTION),
                     "teachers/detection.safetensors");
    ck_assert_int_eq(must_dataset_source(ds, MUST_LABEL_DEPTH), MUST_SOURCE_SUPERVISED);
    ck_assert_ptr_null(must_dataset_teacher(ds, MUST_LABEL_DEPTH));
    ck_assert_float_near(must_dataset_depth_scale(ds), 0.001, 1e-9);
    const int *idx;
    ck_assert_int_eq(must_dataset_split(ds, MUST_SPLIT_VAL, &idx), 2);
    ck_assert_str_eq(must_dataset_id(ds, idx[0]), "img000");
    ck_assert_str_eq(must_dataset_id(ds, idx[1]), "img010");
    ck_assert_int_eq(must_dataset_split(ds, MUST_SPLIT_TEST, &idx), 2);
    ck_assert_int_eq(must_dataset_split(ds, MUST_SPLIT_TRAIN, &idx), 8);
    ck_assert_int_eq(must_dataset_find(ds, "img007"), 7);
    ck_assert_int_eq(must_dataset_find(ds, "img012"), -1);

    for (int i = 3; i <= 4; i++) {
        must_image want = {0};
        must_labels wl, got;
        ck_assert_int_eq(du_example(i, W, H, ALL, &want, &wl, &e), MUST_OK);
        must_map im = {0};
        must_labels_init(&got);
        ck_assert_msg(must_dataset_load(ds, i, ALL, &im, &got, &e) == MUST_OK, "%s", e.msg);
        ck_assert_uint_eq(got.has, ALL);
        ck_assert_int_eq(im.channels, 3);
        ck_assert_int_eq(im.width, W);
        const uint8_t *p = want.pixels;
        for (int q = 0; q < W * H; q++)
            for (int c = 0; c < 3; c++)
                ck_assert_float_near(im.data[c * W * H + q], p[3 * q + c] / 255.0, 1e-6);
        ck_assert_int_eq(got.cls, wl.cls);
        ck_assert_int_eq(got.nsoft, wl.nsoft);
        for (int k = 0; k < wl.nsoft; k++)
            ck_assert_float_eq(got.soft[k], wl.soft[k]);
        ck_assert_int_eq(got.boxes.n, 1);
        ck_assert_mem_eq(&got.boxes.v[0], &wl.boxes.v[0], sizeof(must_box));
        for (int q = 0; q < W * H; q++) {
            ck_assert_float_eq(got.seg.data[q], wl.seg.data[q]);
            ck_assert_float_near(got.depth.data[q], wl.depth.data[q], 0.0005);
            for (int c = 0; c < 3; c++)
                ck_assert_float_near(got.normal.data[c * W * H + q],
                                     wl.normal.data[c * W * H + q], 1e-4);
        }
        must_map_free(&im);
        must_labels_free(&got);
        must_labels_free(&wl);
        must_image_free(&want);
    }
    must_dataset_close(ds);
}
END_TEST

START_TEST(good_set_checks_clean_with_summary)
{
    const char *dir = good_set("ds_check_good");
    int problems;
    report *r = check(dir, &problems);
    ck_assert_msg(problems == 0, "%s", r->text);
    ck_assert_ptr_nonnull(strstr(r->text, "12 images (24x20)"));
    ck_assert_ptr_nonnull(strstr(r->text, "classification (supervised): 3 classes; 10 hard, 2 soft"));
    ck_assert_ptr_nonnull(strstr(r->text, "detection (pseudo from teachers/detection.safetensors)"));
    ck_assert_ptr_nonnull(strstr(r->text, "12 boxes on 12 images"));
    ck_assert_ptr_nonnull(strstr(r->text, "segmentation"));
    ck_assert_ptr_nonnull(strstr(r->text, "depth"));
    ck_assert_ptr_nonnull(strstr(r->text, "normal"));
}
END_TEST

START_TEST(ini_unknown_key_names_file_line_section_key)
{
    const char *dir = good_set("ds_ini_key");
    du_append(dir, "dataset.ini", "colour = red\n");
    char *ini = du_read(dir, "dataset.ini");
    int line = 0;
    for (char *p = ini; *p; p++)
        line += *p == '\n';
    free(ini);
    char want[64];
    snprintf(want, sizeof want, "dataset.ini:%d: [normal] colour: unknown key", line);
    open_fails(dir, MUST_EFORMAT, want, NULL, NULL);
}
END_TEST

START_TEST(ini_rules)
{
    const char *dir = good_set("ds_ini_rules");
    char *orig = du_read(dir, "dataset.ini");

    /* CRLF line ends, comments and a byte order mark are fine. */
    size_t n = strlen(orig);
    char *crlf = malloc(2 * n + 64), *q = crlf;
    q += sprintf(q, "# a comment\r\n; another\r\n");
    for (char *p = orig; *p; p++) {
        if (*p == '\n')
            *q++ = '\r';
        *q++ = *p;
    }
    *q = '\0';
    memmove(crlf + 3, crlf, strlen(crlf) + 1);
    memcpy(crlf, "\xEF\xBB\xBF", 3); /* and a byte order mark */
    du_write(dir, "dataset.ini", crlf);
    free(crlf);
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "CRLF: %s", e.msg);
    must_dataset_close(ds);

    /* A value may go on in indented continuation lines. */
    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "classes = sphere, cube, cylinder",
                                "classes = sphere,\n    cube, ; a comment\n\tcylinder"), 0);
    du_append(dir, "dataset.ini", "bad key\n");
    open_fails(dir, MUST_EFORMAT, "dataset.ini:32: [normal]: syntax error", NULL,
               NULL); /* lines still counted */
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "bad key\n", ""), 0);
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "continuation: %s", e.msg);
    ck_assert_int_eq(must_dataset_nclasses(ds, MUST_LABEL_CLASSIFICATION), 3);
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, 1), "cube");
    ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, 2), "cylinder");
    must_dataset_close(ds);

    /* x_ keys in a task section are kept, not checked. */
    du_write(dir, "dataset.ini", orig);
    du_append(dir, "dataset.ini", "x_renderer = v2\n");
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "x_ key: %s", e.msg);
    must_dataset_close(ds);

    du_write(dir, "dataset.ini", orig);
    du_append(dir, "dataset.ini", "source = pseudo\n");
    open_fails(dir, MUST_EFORMAT, "[normal] source: key given twice (first on line", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    du_append(dir, "dataset.ini", "[colours]\nred = 1\n");
    open_fails(dir, MUST_EFORMAT, "[colours]: unknown section", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    du_append(dir, "dataset.ini", "this line has no equals sign\n");
    open_fails(dir, MUST_EFORMAT, "expected 'key = value'", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "scale = 0.001", "scale = -3"), 0);
    open_fails(dir, MUST_EFORMAT, "[depth] scale: '-3' is not a positive number", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "normal\n", "normal, colour\n"), 0);
    open_fails(dir, MUST_EFORMAT, "unknown task 'colour'", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "\n[depth]\nscale = 0.001\nsource = supervised\n",
                                "\n"), 0);
    open_fails(dir, MUST_EFORMAT, "[depth]: missing section", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "teacher = teachers/detection.safetensors\n",
                                ""), 0);
    open_fails(dir, MUST_EFORMAT, "[detection] teacher: source = pseudo needs", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "encoding = unit16", "encoding = rgb8"), 0);
    open_fails(dir, MUST_EFORMAT, "[normal] encoding: 'rgb8' unknown", NULL, NULL);

    du_write(dir, "dataset.ini", orig);
    ck_assert_int_eq(du_replace(dir, "dataset.ini", "count = 12", "count = 13"), 0);
    open_fails(dir, MUST_EFORMAT, "dataset.ini:5: [dataset] count: 13, but", "holds 12", NULL);

    du_rmrf(dir);
    open_fails(dir, MUST_ENOTFOUND, "dataset.ini: cannot read", NULL, NULL);
    free(orig);
}
END_TEST

START_TEST(ini_long_class_list)
{
    /* 60 class names make a 700-byte line: more than inih's 200-byte buffer. */
    const char *dir = du_dir("ds_long_classes");
    char names[60][16];
    const char *cls[60];
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof names[i], "class_%02d", i);
        cls[i] = names[i];
    }
    must_dataset_spec spec = {.name = "long", .tasks = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)};
    spec.task[0].nclasses = 60;
    spec.task[0].classes = cls;
    must_dataset_writer *w;
    must_err e = {0};
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    must_image img = {0};
    must_labels l;
    must_labels_init(&l);
    l.has = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION);
    l.cls = 59;
    ck_assert_int_eq(must_image_alloc(&img, 4, 4, 3, 8, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, "a", MUST_SPLIT_TRAIN, &img, &l, &e), MUST_OK);
    ck_assert_msg(must_dataset_writer_commit(w, &e) == MUST_OK, "%s", e.msg);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_dataset_nclasses(ds, MUST_LABEL_CLASSIFICATION), 60);
    for (int i = 0; i < 60; i++)
        ck_assert_str_eq(must_dataset_class_name(ds, MUST_LABEL_CLASSIFICATION, i), names[i]);
    const float *soft;
    ck_assert_int_eq(must_dataset_cls(ds, 0, &soft), 59);
    must_dataset_close(ds);
    must_image_free(&img);
}
END_TEST

START_TEST(bad_text_labels_name_file_and_line)
{
    const char *dir = good_set("ds_bad_text");
    char *cls = du_read(dir, "labels/classification.txt");
    char *det = du_read(dir, "labels/detection.txt");
    char *train = du_read(dir, "splits/train.txt");

    ck_assert_int_eq(du_replace(dir, "labels/classification.txt", "img002 2", "img002 7"), 0);
    open_fails(dir, MUST_EFORMAT, "classification.txt:3: class 7 of 'img002' out of range 0..2",
               NULL, NULL);
    du_write(dir, "labels/classification.txt", cls);
    ck_assert_int_eq(du_replace(dir, "labels/classification.txt", "img002 2", "img002 two"), 0);
    open_fails(dir, MUST_EFORMAT, "classification.txt:3: class 'two'", NULL, NULL);
    du_write(dir, "labels/classification.txt", cls);
    ck_assert_int_eq(du_replace(dir, "labels/classification.txt", "soft 0.25 0.5 0.25",
                                "soft 0.25 0.5 0.5"), 0);
    open_fails(dir, MUST_EFORMAT, "classification.txt:5: soft label of 'img004' sums to 1.25",
               NULL, NULL);
    du_write(dir, "labels/classification.txt", cls);
    du_append(dir, "labels/classification.txt", "img001 1\n");
    open_fails(dir, MUST_EFORMAT, "classification.txt:13: duplicate image 'img001'",
               "line 2", NULL);
    du_write(dir, "labels/classification.txt", cls);
    ck_assert_int_eq(du_replace(dir, "labels/classification.txt", "img011 2\n", ""), 0);
    open_fails(dir, MUST_EFORMAT, "1 image without a classification label", "img011", NULL);
    du_write(dir, "labels/classification.txt", cls);
    du_append(dir, "labels/classification.txt", "ghost 1\n");
    open_fails(dir, MUST_ENOTFOUND, "classification.txt:13: labels 'ghost'", NULL, NULL);
    du_write(dir, "labels/classification.txt", cls);

    du_append(dir, "labels/detection.txt", "img001 1 2 3\n");
    open_fails(dir, MUST_EFORMAT, "detection.txt:13: box of 'img001' has 4 fields", NULL, NULL);
    du_write(dir, "labels/detection.txt", det);
    du_append(dir, "labels/detection.txt", "img001 0 0 100 5 0 1\n");
    open_fails(dir, MUST_EFORMAT, "detection.txt:13: box of 'img001' (0 0 100 5) leaves the 24x20",
               NULL, NULL);
    du_write(dir, "labels/detection.txt", det);
    du_append(dir, "labels/detection.txt", "img001 5 0 4 5 0 1\n");
    open_fails(dir, MUST_EFORMAT, "detection.txt:13:", "0 <= x0 < x1", NULL);
    du_write(dir, "labels/detection.txt", det);
    du_append(dir, "labels/detection.txt", "img001 0 0 4 5 3 1\n");
    open_fails(dir, MUST_EFORMAT, "detection.txt:13: box of 'img001': class 3 out of range", NULL,
               NULL);
    du_write(dir, "labels/detection.txt", det);
    du_append(dir, "labels/detection.txt", "img001 0 0 4 5 0 1 2\n");
    open_fails(dir, MUST_EFORMAT, "detection.txt:13:", "difficult '2'", NULL);
    du_write(dir, "labels/detection.txt", det);

    du_append(dir, "splits/train.txt", "img003\n");
    open_fails(dir, MUST_EFORMAT, "train.txt:9: duplicate image 'img003'", "train.txt at line 2",
               NULL);
    du_write(dir, "splits/train.txt", train);
    du_append(dir, "splits/test.txt", "img002\n");
    open_fails(dir, MUST_EFORMAT, "test.txt:3: duplicate image 'img002'", NULL, NULL);
    du_write(dir, "splits/test.txt", "img001\nimg011\n");
    du_append(dir, "splits/val.txt", "nosuch\n");
    open_fails(dir, MUST_ENOTFOUND, "val.txt:3: names 'nosuch', but images/nosuch.png does not exist",
               NULL, NULL);
    du_write(dir, "splits/val.txt", "img000\r\n# comment\r\n\r\nimg010\r\n");
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    must_dataset_close(ds);

    free(cls);
    free(det);
    free(train);
}
END_TEST

START_TEST(missing_and_corrupt_files)
{
    const char *dir = good_set("ds_bad_files");
    char *p = must_path_join(dir, "images/img003.png");
    ck_assert_int_eq(remove(p), 0);
    free(p);
    open_fails(dir, MUST_EFORMAT, "[dataset] count: 12, but", "holds 11", NULL);

    dir = good_set("ds_bad_files");
    p = must_path_join(dir, "labels/classification.txt");
    ck_assert_int_eq(remove(p), 0);
    free(p);
    open_fails(dir, MUST_ENOTFOUND, "classification.txt: cannot read", NULL, NULL);

    /* Label maps are read per example: load names the file. */
    dir = good_set("ds_bad_files");
    p = must_path_join(dir, "labels/depth/img003.png");
    ck_assert_int_eq(remove(p), 0);
    free(p);
    write_png(dir, "labels/segmentation/img004.png", 10, 10, 1, 8, 0);
    du_truncate(dir, "images/img005.png", 60);
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    must_map im = {0};
    must_labels l;
    must_labels_init(&l);
    ck_assert_int_ne(must_dataset_load(ds, 3, ALL, &im, &l, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "labels/depth/img003.png"), "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "dataset \"unit-set\""), "%s", e.msg);
    must_labels_free(&l);
    ck_assert_int_eq(must_dataset_load(ds, 4, ALL, &im, &l, &e), MUST_ESHAPE);
    ck_assert_msg(strstr(e.msg, "segmentation/img004.png: label is 10x10 but its image is 24x20"),
                  "%s", e.msg);
    must_labels_free(&l);
    ck_assert_int_ne(must_dataset_load(ds, 5, ALL, &im, &l, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "images/img005.png"), "%s", e.msg);
    must_labels_free(&l);
    /* Only what was asked for is read. */
    ck_assert_msg(must_dataset_load(ds, 3, MUST_LABEL_BIT(MUST_LABEL_DETECTION), &im, &l, &e) ==
                  MUST_OK, "%s", e.msg);
    ck_assert_uint_eq(l.has, MUST_LABEL_BIT(MUST_LABEL_DETECTION));
    must_labels_free(&l);
    must_map_free(&im);
    must_dataset_close(ds);
}
END_TEST

START_TEST(check_reports_every_problem)
{
    const char *dir = good_set("ds_check_all");
    ck_assert_int_eq(du_replace(dir, "labels/classification.txt", "img002 2", "img002 9"), 0);
    du_append(dir, "labels/detection.txt", "img001 0 0 4\n");
    du_append(dir, "splits/train.txt", "img003\nghost\n");
    du_append(dir, "dataset.ini", "colour = red\n");
    du_truncate(dir, "images/img005.png", 60);
    write_png(dir, "labels/segmentation/img006.png", W, H, 1, 8, 7);
    write_png(dir, "labels/depth/img007.png", 10, 10, 1, 16, 7);
    write_png(dir, "labels/normal/img008.png", W, H, 3, 16, 40000);
    char *p = must_path_join(dir, "labels/normal/img009.png");
    ck_assert_int_eq(remove(p), 0);
    free(p);
    /* A partly-zero normal pixel. */
    {
        must_image img = {0};
        must_err e = {0};
        ck_assert_int_eq(must_image_alloc(&img, W, H, 3, 16, &e), MUST_OK);
        uint16_t *q = img.pixels;
        for (int i = 0; i < W * H; i++) {
            q[3 * i] = must_normal_encode(0.0f);
            q[3 * i + 1] = must_normal_encode(0.0f);
            q[3 * i + 2] = must_normal_encode(-1.0f);
        }
        q[3 * 5 + 1] = 0;
        p = must_path_join(dir, "labels/normal/img010.png");
        ck_assert_int_eq(must_png_write(p, &img, &e), MUST_OK);
        free(p);
        must_image_free(&img);
    }
    int problems;
    report *r = check(dir, &problems);
    static const char *const want[] = {
        "dataset.ini:30: [normal] colour: unknown key",
        "classification.txt:3: class 9 of 'img002' out of range",
        "classification.txt: 1 image without a classification label (first: 'img002')",
        "detection.txt:13: box of 'img001' has 4 fields",
        "train.txt:9: duplicate image 'img003'",
        "train.txt:10: names 'ghost'",
        "images/img005.png",
        "segmentation/img006.png: 480 pixels with a class out of 0..2 and not 255",
        "depth/img007.png: label is 10x10 but its image is 24x20",
        "normal/img008.png: 480 normals not of unit length",
        "normal/img009.png",
        "normal/img010.png: 1 pixel with some but not all channels 0 (first at x 5, y 0)",
    };
    int nwant = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < nwant; i++)
        ck_assert_msg(strstr(r->text, want[i]), "missing '%s' in:\n%s", want[i], r->text);
    ck_assert_msg(problems == nwant, "%d problems:\n%s", problems, r->text);
    ck_assert_msg(strstr(r->text, "S: dataset \"unit-set\""), "no summary:\n%s", r->text);
}
END_TEST

START_TEST(writer_refuses_bad_input)
{
    const char *dir = du_dir("ds_writer_bad");
    must_dataset_spec spec = {.name = "w", .tasks = MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION) |
                                                    MUST_LABEL_BIT(MUST_LABEL_DETECTION)};
    spec.task[MUST_LABEL_SEGMENTATION].nclasses = 3;
    spec.task[MUST_LABEL_SEGMENTATION].classes = du_classes;
    spec.task[MUST_LABEL_DETECTION].nclasses = 3;
    spec.task[MUST_LABEL_DETECTION].classes = du_classes;
    must_dataset_writer *w;
    must_err e = {0};
    must_image img = {0};
    must_labels l;
    ck_assert_int_eq(du_example(1, 16, 12, spec.tasks, &img, &l, &e), MUST_OK);

    spec.task[MUST_LABEL_DETECTION].source = MUST_SOURCE_PSEUDO;
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "teacher"));
    spec.task[MUST_LABEL_DETECTION].source = MUST_SOURCE_SUPERVISED;
    static const char *const bad[] = {"a", "b,c", "d"};
    spec.task[MUST_LABEL_DETECTION].classes = bad;
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_EINVAL);
    spec.task[MUST_LABEL_DETECTION].classes = du_classes;

    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, ".hidden", 0, &img, &l, &e), MUST_EINVAL);
    ck_assert_int_eq(must_dataset_writer_add(w, "a b", 0, &img, &l, &e), MUST_EINVAL);
    ck_assert_int_eq(must_dataset_writer_add(w, "a", 0, &img, &l, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, "a", 0, &img, &l, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "duplicate image id 'a'"));
    l.has &= ~MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    ck_assert_int_eq(must_dataset_writer_add(w, "b", 0, &img, &l, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "lacks a segmentation label"));
    l.has |= MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION);
    l.seg.data[3] = 3.0f;
    ck_assert_int_eq(must_dataset_writer_add(w, "b", 0, &img, &l, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "segmentation value 3 at (3, 0)"));
    l.seg.data[3] = 255.0f;
    l.seg.width = 8; /* a map of the wrong size */
    ck_assert_int_eq(must_dataset_writer_add(w, "b", 0, &img, &l, &e), MUST_ESHAPE);
    l.seg.width = 16;
    /* A box that sticks out is clipped; one wholly outside is dropped. */
    must_box out = {20, 0, 30, 5, 0, 0.5f, 0}, half = {-4, 2, 8, 20, 1, 1, 0};
    l.boxes.n = 0;
    must_boxes_push(&l.boxes, &out, &e);
    must_boxes_push(&l.boxes, &half, &e);
    ck_assert_int_eq(must_dataset_writer_add(w, "b", 1, &img, &l, &e), MUST_OK);
    ck_assert_msg(must_dataset_writer_commit(w, &e) == MUST_OK, "%s", e.msg);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    const must_boxes *b = must_dataset_boxes(ds, must_dataset_find(ds, "b"));
    ck_assert_int_eq(b->n, 1);
    ck_assert_float_eq(b->v[0].x0, 0.0f);
    ck_assert_float_eq(b->v[0].y1, 12.0f);
    ck_assert_float_eq(b->v[0].x1, 8.0f);
    must_dataset_close(ds);
    /* A finished set is never overwritten. */
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "refusing to overwrite"));
    must_labels_free(&l);
    must_image_free(&img);
}
END_TEST

START_TEST(writer_removes_leftovers_of_a_cut_off_run)
{
    const char *dir = good_set("ds_leftovers");
    char *p = must_path_join(dir, "dataset.ini");
    ck_assert_int_eq(remove(p), 0); /* as if the run had been cut off */
    free(p);
    must_err e = {0};
    ck_assert_msg(du_make_set(dir, "again", 5, W, H, ALL, &e) == MUST_OK, "%s", e.msg);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_dataset_count(ds), 5);
    must_dataset_close(ds);
    int problems;
    report *r = check(dir, &problems);
    ck_assert_msg(problems == 0, "%s", r->text);
}
END_TEST

START_TEST(unlabelled_set)
{
    const char *dir = du_dir("ds_unlabelled");
    must_err e = {0};
    ck_assert_msg(du_make_set(dir, "raw", 4, 8, 8, 0, &e) == MUST_OK, "%s", e.msg);
    char *ini = du_read(dir, "dataset.ini");
    ck_assert_ptr_nonnull(strstr(ini, "tasks =\n"));
    free(ini);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_uint_eq(must_dataset_tasks(ds), 0);
    must_labels l;
    must_labels_init(&l);
    must_map im = {0};
    ck_assert_int_eq(must_dataset_load(ds, 2, ALL, &im, &l, &e), MUST_OK);
    ck_assert_uint_eq(l.has, 0);
    must_map_free(&im);
    must_dataset_close(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_every_task);
    tcase_add_test(tc, good_set_checks_clean_with_summary);
    tcase_add_test(tc, ini_unknown_key_names_file_line_section_key);
    tcase_add_test(tc, ini_rules);
    tcase_add_test(tc, ini_long_class_list);
    tcase_add_test(tc, bad_text_labels_name_file_and_line);
    tcase_add_test(tc, missing_and_corrupt_files);
    tcase_add_test(tc, check_reports_every_problem);
    tcase_add_test(tc, writer_refuses_bad_input);
    tcase_add_test(tc, writer_removes_leftovers_of_a_cut_off_run);
    tcase_add_test(tc, unlabelled_set);
    suite_add_tcase(s, tc);
    return test_run(s);
}
