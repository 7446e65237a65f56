/* test_limits.c - sizes a stranger's file claims: image headers past the
 * pixel limit, images larger than their set declares, COCO images whose
 * masks would not fit; each refused naming the file before the large
 * allocation (the files here claim gigabytes and hold a few bytes). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "data/png-impl.h"
#include "must/dataset.h"
#include "must/image.h"
#include "must/import.h"
#include "must/io.h"
#include "must/labels.h"
#include "testutil.h"

static char *tmp(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    must_mkdir_p(test_tmpdir(), NULL);
    snprintf(buf[k], sizeof buf[k], "%s/limits_%s", test_tmpdir(), name);
    return buf[k];
}

/* PNG's CRC-32 (ISO 3309), bit by bit: a test needs a few chunks. */
static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static size_t put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    return 4;
}

/* A chunk: length, type, data, CRC over type and data. */
static size_t chunk(unsigned char *o, const char *type, const unsigned char *d, uint32_t n)
{
    size_t k = put_be32(o, n);
    memcpy(o + k, type, 4);
    if (n)
        memcpy(o + k + 4, d, n);
    k += put_be32(o + k + 4 + n, crc32_png(o + 4, 4 + n)) + 4 + n;
    return k;
}

/* A PNG of signature, IHDR (w x h, 8-bit, colour type ct), an empty IDAT
 * and IEND: 57 bytes claiming any size. */
static void png_claiming(const char *path, uint32_t w, uint32_t h, int ct)
{
    unsigned char o[128], ihdr[13] = {0};
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(o, sig, 8);
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8;
    ihdr[9] = (unsigned char)ct;
    size_t n = 8;
    n += chunk(o + n, "IHDR", ihdr, 13);
    n += chunk(o + n, "IDAT", NULL, 0);
    n += chunk(o + n, "IEND", NULL, 0);
    ck_assert_int_eq(must_file_write_atomic(path, o, n, NULL), MUST_OK);
}

START_TEST(png_header_past_the_limit)
{
    const char *p = tmp("bomb.png");
    png_claiming(p, 65048, 45832, 2);
    must_image img;
    must_err e = {0};
    int w = 0, h = 0;
    /* The header alone reads: it is the decode that is refused. */
    ck_assert_int_eq(must_png_info(p, &w, &h, NULL, NULL, &e), MUST_OK);
    ck_assert_int_eq(w, 65048);
    ck_assert_int_eq(must_png_read(p, &img, 3, 8, &e), MUST_ELIMIT);
    ck_assert_msg(strstr(e.msg, p) && strstr(e.msg, "65048x45832"), "%s", e.msg);
    ck_assert_ptr_null(img.pixels);
    ck_assert_int_eq(must_image_read(p, &img, 3, 8, &e), MUST_ELIMIT);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    /* Label maps (palette indices, gray values) go through the same check. */
    const char *g = tmp("bomb-gray.png");
    png_claiming(g, 60000, 60000, 0);
    ck_assert_int_eq(must_png_read_index(g, &img, NULL, &e), MUST_ELIMIT);
    ck_assert_ptr_nonnull(strstr(e.msg, g));
    must_map m = {0};
    ck_assert_int_eq(must_label_read_seg(g, &m, &e), MUST_ELIMIT);
    /* Over 65536 a side, whatever the pixel limit. */
    must_image_set_max_pixels((size_t)1 << 40);
    png_claiming(p, 70000, 1, 2);
    ck_assert_int_eq(must_png_read(p, &img, 3, 8, &e), MUST_ELIMIT);
    must_image_set_max_pixels(0);
}
END_TEST

/* A real 32 x 32 image (1024 pixels) against limits set by the API and
 * by the environment. */
START_TEST(the_limit_is_configurable)
{
    const char *p = tmp("real.png");
    must_image a, b;
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&a, 32, 32, 3, 8, &e), MUST_OK);
    ck_assert_int_eq(must_png_write(p, &a, &e), MUST_OK);
    ck_assert_uint_eq(must_image_max_pixels(), MUST_IMAGE_MAX_PIXELS_DEFAULT);
    must_image_set_max_pixels(1023);
    ck_assert_int_eq(must_png_read(p, &b, 3, 8, &e), MUST_ELIMIT);
    ck_assert_msg(strstr(e.msg, "1023 pixels") && strstr(e.msg, p), "%s", e.msg);
    must_image_set_max_pixels(1024);
    ck_assert_int_eq(must_png_read(p, &b, 3, 8, &e), MUST_OK);
    must_image_free(&b);
    must_image_set_max_pixels(0);
    setenv("MUST_MAX_PIXELS", "1000", 1);
    ck_assert_uint_eq(must_image_max_pixels(), 1000);
    ck_assert_int_eq(must_image_read(p, &b, 3, 8, &e), MUST_ELIMIT);
    /* The API wins over the environment; junk in the environment is the default. */
    must_image_set_max_pixels(5000);
    ck_assert_int_eq(must_image_read(p, &b, 3, 8, &e), MUST_OK);
    must_image_free(&b);
    must_image_set_max_pixels(0);
    setenv("MUST_MAX_PIXELS", "-5", 1);
    ck_assert_uint_eq(must_image_max_pixels(), MUST_IMAGE_MAX_PIXELS_DEFAULT);
    setenv("MUST_MAX_PIXELS", "12abc", 1);
    ck_assert_uint_eq(must_image_max_pixels(), MUST_IMAGE_MAX_PIXELS_DEFAULT);
    unsetenv("MUST_MAX_PIXELS");
    must_image_free(&a);
}
END_TEST

/* A JPEG whose frame header (SOF) claims 60000 x 60000. */
START_TEST(jpeg_header_past_the_limit)
{
    const char *p = tmp("bomb.jpg");
    must_image a, b;
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&a, 16, 16, 3, 8, &e), MUST_OK);
    ck_assert_int_eq(must_jpeg_write(p, &a, 90, &e), MUST_OK);
    must_image_free(&a);
    char *buf;
    size_t len, k;
    ck_assert_int_eq(must_file_read(p, &buf, &len, &e), MUST_OK);
    for (k = 2; k + 9 < len; k++)
        if ((unsigned char)buf[k] == 0xFF && ((unsigned char)buf[k + 1] & 0xFE) == 0xC0)
            break;
    ck_assert_uint_lt(k + 9, len);
    /* FF C0, length (2), precision (1), height (2), width (2) */
    buf[k + 5] = (char)(60000 >> 8), buf[k + 6] = (char)(60000 & 255);
    buf[k + 7] = (char)(60000 >> 8), buf[k + 8] = (char)(60000 & 255);
    ck_assert_int_eq(must_file_write_atomic(p, buf, len, &e), MUST_OK);
    free(buf);
    ck_assert_int_eq(must_jpeg_read(p, &b, 3, 8, &e), MUST_ELIMIT);
    ck_assert_msg(strstr(e.msg, p) && strstr(e.msg, "60000x60000"), "%s", e.msg);
    ck_assert_ptr_null(b.pixels);
    ck_assert_int_eq(must_image_read(p, &b, 3, 8, &e), MUST_ELIMIT);
}
END_TEST

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = must_path_join(dir, name);
    ck_assert_int_eq(must_file_write_atomic(p, text, strlen(text), NULL), MUST_OK);
    free(p);
}

/* A set declared 24 x 20 whose image claims 20000 x 20000 (and holds no
 * pixels): the size is refused from the header.  Had it been decoded
 * first, the error would be libpng's about the missing data. */
START_TEST(an_image_is_held_to_its_sets_size_before_decoding)
{
    char *dir = tmp("declared");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    char *images = must_path_join(dir, "images");
    ck_assert_int_eq(must_mkdir_p(images, NULL), MUST_OK);
    write_text(dir, "dataset.ini",
               "[dataset]\nname = declared\ntasks =\ncount = 1\nwidth = 24\nheight = 20\n");
    char *img = must_path_join(images, "a.png");
    png_claiming(img, 20000, 20000, 2);
    must_dataset *ds;
    must_err e = {0};
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    must_map m = {0};
    ck_assert_int_eq(must_dataset_load(ds, 0, 0, &m, NULL, &e), MUST_ESHAPE);
    ck_assert_msg(strstr(e.msg, "a.png") && strstr(e.msg, "20000x20000") &&
                      strstr(e.msg, "declares 24x20"),
                  "%s", e.msg);
    ck_assert_ptr_null(m.data);
    must_dataset_close(ds);
    free(img);
    free(images);
}
END_TEST

/* A COCO file claiming a 65536 x 65536 image (a 4 GiB mask): refused
 * while the file is read, naming it and the JSON path. */
START_TEST(coco_image_past_the_limit)
{
    char *dir = tmp("coco");
    char *images = must_path_join(dir, "images");
    ck_assert_int_eq(must_mkdir_p(images, NULL), MUST_OK);
    write_text(dir, "ann.json",
               "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 65536, "
               "\"height\": 65536}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}], "
               "\"annotations\": []}");
    char *ann = must_path_join(dir, "ann.json"), *out = must_path_join(dir, "out");
    must_coco_source src = {.annotations = ann, .images = images, .split = MUST_SPLIT_TRAIN};
    must_coco_opts o;
    must_import_coco_defaults(&o);
    o.skip_missing = 1;
    must_err e = {0};
    ck_assert_int_eq(must_import_coco(&src, 1, out, &o, NULL, &e), MUST_ELIMIT);
    ck_assert_msg(strstr(e.msg, "ann.json") && strstr(e.msg, "images[0]"), "%s", e.msg);
    ck_assert_int_eq(must_file_exists(out), 0);
    free(ann);
    free(out);
    free(images);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, png_header_past_the_limit);
    tcase_add_test(tc, the_limit_is_configurable);
    tcase_add_test(tc, jpeg_header_past_the_limit);
    tcase_add_test(tc, an_image_is_held_to_its_sets_size_before_decoding);
    tcase_add_test(tc, coco_image_past_the_limit);
    suite_add_tcase(s, tc);
    return test_run(s);
}
