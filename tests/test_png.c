/* test_png.c - PNG round trips of every kind, other stored formats, and bad files. */
#include "config.h"

#include <math.h>
#include <png.h>
#include <stdint.h>

#include "data/png-impl.h"
#include "must/image.h"
#include "must/io.h"
#include "testutil.h"

static char *tmp(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    must_mkdir_p(test_tmpdir(), NULL);
    snprintf(buf[k], sizeof buf[k], "%s/png_%s", test_tmpdir(), name);
    return buf[k];
}

static void fill(must_image *im, unsigned seed)
{
    size_t n = (size_t)im->width * im->height * im->channels;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        if (im->depth == 8)
            ((uint8_t *)im->pixels)[i] = (uint8_t)(seed >> 16);
        else
            ((uint16_t *)im->pixels)[i] = (uint16_t)(seed >> 8);
    }
}

static void roundtrip(int channels, int depth)
{
    must_image a, b;
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&a, 13, 7, channels, depth, &e), MUST_OK);
    fill(&a, (unsigned)(channels * 100 + depth));
    char name[64];
    snprintf(name, sizeof name, "rt_%d_%d.png", channels, depth);
    const char *p = tmp(name);
    ck_assert_msg(must_png_write(p, &a, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_png_read(p, &b, channels, depth, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(b.width, 13);
    ck_assert_int_eq(b.height, 7);
    ck_assert_int_eq(memcmp(a.pixels, b.pixels, must_image_bytes(&a)), 0);
    int w, h, c, d;
    ck_assert_int_eq(must_png_info(p, &w, &h, &c, &d, &e), MUST_OK);
    ck_assert_int_eq(c, channels);
    ck_assert_int_eq(d, depth);
    must_image_free(&a);
    must_image_free(&b);
}

START_TEST(roundtrip_gray8) { roundtrip(1, 8); }
END_TEST
START_TEST(roundtrip_rgb8) { roundtrip(3, 8); }
END_TEST
START_TEST(roundtrip_gray16) { roundtrip(1, 16); }
END_TEST
START_TEST(roundtrip_rgb16) { roundtrip(3, 16); }
END_TEST

/* Files in formats we never write: RGBA and palette, made with libpng here. */
START_TEST(reads_rgba_and_palette_as_rgb)
{
    const char *p = tmp("rgba.png");
    uint8_t px[2 * 4] = {10, 20, 30, 255, 200, 0, 0, 0};
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 2;
    pi.height = 1;
    pi.format = PNG_FORMAT_RGBA;
    ck_assert(png_image_write_to_file(&pi, p, 0, px, 0, NULL));
    must_image im;
    must_err e = {0};
    ck_assert_msg(must_png_read(p, &im, 3, 8, &e) == MUST_OK, "%s", e.msg);
    uint8_t *q = im.pixels;
    ck_assert_int_eq(q[0], 10); /* opaque: unchanged */
    ck_assert_int_eq(q[1], 20);
    ck_assert_int_eq(q[2], 30);
    ck_assert_int_eq(q[3], 0); /* transparent: over black */
    must_image_free(&im);

    const char *pp = tmp("palette.png");
    uint8_t cmap[2 * 3] = {255, 0, 0, 0, 0, 255};
    uint8_t idx[3] = {1, 0, 1};
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 3;
    pi.height = 1;
    pi.format = PNG_FORMAT_RGB_COLORMAP;
    pi.colormap_entries = 2;
    ck_assert(png_image_write_to_file(&pi, pp, 0, idx, 0, cmap));
    int c, d;
    ck_assert_int_eq(must_png_info(pp, NULL, NULL, &c, &d, &e), MUST_OK);
    ck_assert_int_eq(d, 8);
    ck_assert_msg(must_png_read(pp, &im, 3, 8, &e) == MUST_OK, "%s", e.msg);
    q = im.pixels;
    ck_assert_int_eq(q[0], 0);
    ck_assert_int_eq(q[2], 255);
    ck_assert_int_eq(q[3], 255);
    ck_assert_int_eq(q[5], 0);
    must_image_free(&im);
}
END_TEST

START_TEST(truncated_and_corrupt_files_are_refused)
{
    must_image a, b;
    must_err e = {0};
    must_image_alloc(&a, 32, 32, 3, 8, NULL);
    fill(&a, 7);
    const char *p = tmp("good.png");
    ck_assert_int_eq(must_png_write(p, &a, NULL), MUST_OK);
    char *buf;
    size_t len;
    ck_assert_int_eq(must_file_read(p, &buf, &len, NULL), MUST_OK);
    const char *bad = tmp("bad.png");
    /* Cut inside the signature, the header, and the image data. */
    size_t cuts[] = {0, 4, 12, 30, len / 2, len - 13};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ck_assert_int_eq(must_file_write_atomic(bad, buf, cuts[i], NULL), MUST_OK);
        int rc = must_png_read(bad, &b, 3, 8, &e);
        ck_assert_msg(rc == MUST_EFORMAT, "cut at %zu: rc %d", cuts[i], rc);
        ck_assert_ptr_nonnull(strstr(e.msg, bad));
        ck_assert_ptr_null(b.pixels);
    }
    /* A flipped byte in the compressed data breaks its CRC. */
    buf[len / 2] ^= 0x55;
    must_file_write_atomic(bad, buf, len, NULL);
    ck_assert_int_eq(must_png_read(bad, &b, 3, 8, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, bad));
    /* Not a PNG at all. */
    must_file_write_atomic(bad, "GIF89a not a png at all", 23, NULL);
    ck_assert_int_eq(must_png_read(bad, &b, 3, 8, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a PNG"));
    free(buf);
    must_image_free(&a);
}
END_TEST

/* A chunk claiming more bytes than the file holds is refused by every
 * reader, naming the file and the chunk, before libpng allocates the claim
 * (fuzz/regress/png/text-chunk-claims-1.7GB.png, png_chunks.c). */
START_TEST(chunk_longer_than_file_is_refused)
{
    must_image a, b;
    must_err e = {0};
    must_image_alloc(&a, 4, 4, 1, 8, NULL);
    const char *p = tmp("claim.png");
    ck_assert_int_eq(must_png_write(p, &a, NULL), MUST_OK);
    must_image_free(&a);
    char *buf;
    size_t len;
    ck_assert_int_eq(must_file_read(p, &buf, &len, NULL), MUST_OK);
    /* After the signature (8) and IHDR (25): a tEXt claiming 1.7 GB. */
    char *out = malloc(len + 16);
    memcpy(out, buf, 33);
    memcpy(out + 33, "\x6b\x00\x00\x16tEXtComment", 15);
    memcpy(out + 48, buf + 33, len - 33);
    ck_assert_int_eq(must_file_write_atomic(p, out, len + 15, NULL), MUST_OK);
    ck_assert_int_eq(must_png_read(p, &b, 1, 8, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, p));
    ck_assert_ptr_nonnull(strstr(e.msg, "chunk 'tEXt' at byte 33 claims 1795162134 bytes"));
    ck_assert_ptr_null(b.pixels);
    ck_assert_int_eq(must_png_info(p, NULL, NULL, NULL, NULL, &e), MUST_EFORMAT);
    ck_assert_int_eq(must_png_read_index(p, &b, NULL, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "claims"));
    free(out);
    free(buf);
}
END_TEST

START_TEST(missing_file_and_wrong_depth)
{
    must_image b;
    must_err e = {0};
    ck_assert_int_eq(must_png_read(tmp("nope.png"), &b, 3, 8, &e), MUST_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope.png"));
    must_image a;
    must_image_alloc(&a, 4, 4, 1, 16, NULL);
    const char *p = tmp("depth16.png");
    must_png_write(p, &a, NULL);
    ck_assert_int_eq(must_png_read(p, &b, 1, 8, &e), MUST_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "16-bit"));
    must_image_free(&a);
}
END_TEST

START_TEST(write_is_atomic_on_bad_path)
{
    must_image a;
    must_image_alloc(&a, 2, 2, 3, 8, NULL);
    must_err e = {0};
    char p[1100];
    snprintf(p, sizeof p, "%s/no/such/dir/x.png", test_tmpdir());
    ck_assert_int_eq(must_png_write(p, &a, &e), MUST_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "x.png"));
    must_image_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("png");
    TCase *tc = tcase_create("png");
    tcase_add_test(tc, roundtrip_gray8);
    tcase_add_test(tc, roundtrip_rgb8);
    tcase_add_test(tc, roundtrip_gray16);
    tcase_add_test(tc, roundtrip_rgb16);
    tcase_add_test(tc, reads_rgba_and_palette_as_rgb);
    tcase_add_test(tc, truncated_and_corrupt_files_are_refused);
    tcase_add_test(tc, chunk_longer_than_file_is_refused);
    tcase_add_test(tc, missing_file_and_wrong_depth);
    tcase_add_test(tc, write_is_atomic_on_bad_path);
    suite_add_tcase(s, tc);
    return test_run(s);
}
