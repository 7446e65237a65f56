/* test_jpeg.c - JPEG decoding checked pixel by pixel against values worked
 * out by hand, broken files, the real photo tests/data/grace_hopper.jpg, the
 * reduced-scale decode of the loader, and JPEGs through the dataset format
 * and the importers.
 *
 * The fixtures are JPEGs this file writes with libjpeg's own compressor, of
 * flat colour blocks 16x16 pixels on the 16-pixel grid, at quality 100.  Why
 * the codec is then exact within 1 (each tolerance below says which case):
 *   - every 8x8 DCT block (and, with 4:2:0, every 8x8 block of subsampled
 *     chroma, since a 16x16 block averages to a flat 8x8) is constant, so
 *     only its DC coefficient is non-zero; at quality 100 every quantiser
 *     is 1, and the DC of a constant integer block is an integer, so the
 *     quantised DCT loses nothing: gray and CMYK samples come back exact;
 *   - RGB goes through 8-bit YCbCr: Y, Cb and Cr are each rounded (error
 *     <= 1/2), and back, R = Y + 1.402 Cr is off by at most 0.5 + 0.701 =
 *     1.2, G = Y - 0.344 Cb - 0.714 Cr by 1.03, B = Y + 1.772 Cb by 1.39,
 *     all under 1.5, so the rounded result is within 1 of the original;
 *     YCCK does the same to (255 - C, 255 - M, 255 - Y), and the CMYK to RGB
 *     product then scales that error by K / 255 <= 1, plus its own rounding;
 *   - chroma subsampled 4:2:0 is upsampled by libjpeg's "fancy" triangle
 *     filter, which blends the neighbouring chroma sample into the first and
 *     last pixel row and column of a block: those are skipped (interior()).
 *
 * grace_hopper.jpg: from Debian's python-matplotlib-data 3.6.3-1,
 * /usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg (61306 bytes,
 * md5 314296a0a5dd3c394e57f4efac733c20), matplotlib's sample data; its JPEG
 * comment gives the source, https://commons.wikimedia.org/wiki/File:Grace_Hopper.jpg,
 * an official U.S. Navy photograph of Grace Hopper, in the public domain as
 * a work of the U.S. federal government (see tests/data/README). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>

#include "data/augment-impl.h"
#include "data/dataset-impl.h"
#include "data/image-impl.h"
#include "must/import.h"
#include "must/loader.h"
#include "testutil.h"
#include "datautil.h"

#define W 64 /* 4 x 3 blocks of 16 x 16 */
#define H 48

static char *tmp_path(const char *name)
{
    static char buf[16][4096];
    static int k;
    k = (k + 1) % 16;
    must_mkdir_p(test_tmpdir(), NULL);
    snprintf(buf[k], sizeof buf[k], "%s/jpeg_%s", test_tmpdir(), name);
    return buf[k];
}

/* ------------------------------------------------------------------------ */
/* Writing fixtures with libjpeg's compressor. */

typedef struct jspec {
    int comps;             /* 1, 3 or 4 samples per input pixel */
    J_COLOR_SPACE in, out; /* input colour space, the file's */
    int adobe;             /* 4 components: write Adobe's APP14 marker */
    int progressive;
    int sub444;            /* 3 components: no chroma subsampling */
    int quality;
} jspec;

static void write_jpeg(const char *path, const uint8_t *px, int w, int h, const jspec *s)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = s->comps;
    c.in_color_space = s->in;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, s->out);
    if (s->comps == 4)
        c.write_Adobe_marker = s->adobe ? TRUE : FALSE;
    if (s->sub444)
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
    jpeg_set_quality(&c, s->quality ? s->quality : 100, TRUE);
    if (s->progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * s->comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(fp);
}

/* Sample k of block (bx, by): distinct, well spread values per block. */
static uint8_t block_value(int bx, int by, int k)
{
    static const uint8_t v[12][4] = {
        {0, 0, 0, 0},       {255, 255, 255, 255}, {200, 30, 40, 10},  {20, 180, 60, 90},
        {30, 60, 220, 160}, {128, 128, 128, 128}, {250, 200, 10, 40}, {5, 250, 240, 200},
        {90, 10, 120, 250}, {70, 140, 210, 30},   {17, 99, 181, 77},  {240, 110, 160, 120}};
    return v[(by * (W / 16) + bx) % 12][k];
}

/* A W x H image of flat 16 x 16 blocks, comps samples per pixel. */
static uint8_t *blocks(int comps)
{
    uint8_t *p = malloc((size_t)W * H * comps);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < comps; k++)
                p[((size_t)y * W + x) * comps + k] = block_value(x / 16, y / 16, k);
    return p;
}

/* 1 when (x, y) is not on the first or last row or column of its block. */
static int interior(int x, int y)
{
    return x % 16 != 0 && x % 16 != 15 && y % 16 != 0 && y % 16 != 15;
}

/* Reads path as `channels` and compares every pixel (only interior ones
 * when `inner`) with want(block x, block y, channel), within tol. */
static void expect_blocks(const char *path, int channels, int inner, int tol,
                          int (*want)(int bx, int by, int ch))
{
    must_image img;
    must_err e = {0};
    ck_assert_msg(must_image_read(path, &img, channels, 8, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(img.width, W);
    ck_assert_int_eq(img.height, H);
    ck_assert_int_eq(img.channels, channels);
    const uint8_t *p = img.pixels;
    int worst = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            if (inner && !interior(x, y))
                continue;
            for (int c = 0; c < channels; c++) {
                int got = p[((size_t)y * W + x) * channels + c], exp = want(x / 16, y / 16, c);
                int d = abs(got - exp);
                worst = d > worst ? d : worst;
                ck_assert_msg(d <= tol, "%s: pixel (%d, %d) channel %d is %d, expected %d (tol %d)",
                              path, x, y, c, got, exp, tol);
            }
        }
    must_image_free(&img);
}

/* ------------------------------------------------------------------------ */
/* The expected values, by hand. */

static int want_rgb(int bx, int by, int c) { return block_value(bx, by, c); }
static int want_gray_of_gray(int bx, int by, int c)
{
    (void)c;
    return block_value(bx, by, 0);
}
/* JPEG's luma (JFIF): Y = 0.299 R + 0.587 G + 0.114 B, rounded. */
static int want_luma(int bx, int by, int c)
{
    (void)c;
    return (int)lround(0.299 * block_value(bx, by, 0) + 0.587 * block_value(bx, by, 1) +
                       0.114 * block_value(bx, by, 2));
}
/* Adobe's inverted CMYK: a stored value is what is left of the light, so
 * R = C * K / 255 (stored values), rounded. */
static int want_cmyk_inverted(int bx, int by, int c)
{
    return (int)lround(block_value(bx, by, c) * block_value(bx, by, 3) / 255.0);
}
/* Plain CMYK (no Adobe marker): stored values are ink, R = (255 - C)(255 - K) / 255. */
static int want_cmyk_plain(int bx, int by, int c)
{
    return (int)lround((255 - block_value(bx, by, c)) * (255 - block_value(bx, by, 3)) / 255.0);
}
static int want_cmyk_inverted_gray(int bx, int by, int c)
{
    (void)c;
    double r = want_cmyk_inverted(bx, by, 0), g = want_cmyk_inverted(bx, by, 1),
           b = want_cmyk_inverted(bx, by, 2);
    return (int)lround(0.299 * r + 0.587 * g + 0.114 * b);
}

/* ------------------------------------------------------------------------ */
/* Kinds of JPEG. */

START_TEST(gray)
{
    uint8_t *px = blocks(1);
    const char *p = tmp_path("gray.jpg");
    write_jpeg(p, px, W, H, &(jspec){1, JCS_GRAYSCALE, JCS_GRAYSCALE, 0, 0, 0, 0});
    /* Exact (only DC, quantiser 1); asked as RGB, R = G = B. */
    expect_blocks(p, 1, 0, 0, want_gray_of_gray);
    expect_blocks(p, 3, 0, 0, want_gray_of_gray);
    int f, w, h, c, d;
    must_err e = {0};
    ck_assert_int_eq(must_image_info(p, &f, &w, &h, &c, &d, &e), MUST_OK);
    ck_assert_int_eq(f, MUST_IMAGE_JPEG);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    ck_assert_int_eq(c, 1);
    ck_assert_int_eq(d, 8);
    free(px);
}
END_TEST

START_TEST(baseline_420)
{
    uint8_t *px = blocks(3);
    const char *p = tmp_path("rgb420.jpg");
    write_jpeg(p, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 0, 0});
    /* Within 1 through YCbCr; block edges skipped (fancy upsampling). */
    expect_blocks(p, 3, 1, 1, want_rgb);
    /* Gray of a colour JPEG is its Y plane, which is not subsampled. */
    expect_blocks(p, 1, 0, 1, want_luma);
    int c;
    must_err e = {0};
    ck_assert_int_eq(must_jpeg_info(p, NULL, NULL, &c, NULL, &e), MUST_OK);
    ck_assert_int_eq(c, 3);
    free(px);
}
END_TEST

START_TEST(baseline_444_and_rgb_jpeg)
{
    uint8_t *px = blocks(3);
    const char *p = tmp_path("rgb444.jpg"), *q = tmp_path("rgbrgb.jpg");
    write_jpeg(p, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 1, 0});
    expect_blocks(p, 3, 0, 1, want_rgb); /* no subsampling: every pixel within 1 */
    /* An RGB JPEG (Adobe transform 0, no YCbCr): exact. */
    write_jpeg(q, px, W, H, &(jspec){3, JCS_RGB, JCS_RGB, 0, 0, 0, 0});
    expect_blocks(q, 3, 0, 0, want_rgb);
    free(px);
}
END_TEST

START_TEST(progressive)
{
    uint8_t *px = blocks(3), *g = blocks(1);
    const char *p = tmp_path("prog.jpg"), *q = tmp_path("prog_gray.jpg");
    write_jpeg(p, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 1, 0, 0});
    /* The scans add up to the same coefficients as one baseline scan. */
    expect_blocks(p, 3, 1, 1, want_rgb);
    write_jpeg(q, g, W, H, &(jspec){1, JCS_GRAYSCALE, JCS_GRAYSCALE, 0, 1, 0, 0});
    expect_blocks(q, 1, 0, 0, want_gray_of_gray);
    free(px);
    free(g);
}
END_TEST

START_TEST(cmyk_adobe_inverted)
{
    uint8_t *px = blocks(4);
    const char *p = tmp_path("cmyk_adobe.jpg");
    /* The values as Adobe writes them (inverted), with its marker. */
    write_jpeg(p, px, W, H, &(jspec){4, JCS_CMYK, JCS_CMYK, 1, 0, 0, 0});
    /* CMYK is stored as is (exact); the product rounds once: within 1. */
    expect_blocks(p, 3, 0, 1, want_cmyk_inverted);
    expect_blocks(p, 1, 0, 1, want_cmyk_inverted_gray);
    int c;
    must_err e = {0};
    ck_assert_int_eq(must_image_info(p, NULL, NULL, NULL, &c, NULL, &e), MUST_OK);
    ck_assert_int_eq(c, 4);
    free(px);
}
END_TEST

START_TEST(cmyk_plain)
{
    uint8_t *px = blocks(4);
    const char *p = tmp_path("cmyk_plain.jpg");
    write_jpeg(p, px, W, H, &(jspec){4, JCS_CMYK, JCS_CMYK, 0, 0, 0, 0});
    expect_blocks(p, 3, 0, 1, want_cmyk_plain);
    free(px);
}
END_TEST

START_TEST(ycck_adobe)
{
    uint8_t *px = blocks(4);
    const char *p = tmp_path("ycck.jpg");
    /* YCCK needs the Adobe marker (transform 2) to be recognised at all. */
    write_jpeg(p, px, W, H, &(jspec){4, JCS_CMYK, JCS_YCCK, 1, 0, 0, 0});
    /* CMY within 1 through YCC, times K / 255, rounded: within 2; libjpeg
     * subsamples YCCK's chroma 2x2, so block edges are skipped. */
    expect_blocks(p, 3, 1, 2, want_cmyk_inverted);
    free(px);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Content, not name; broken files. */

static void copy_file(const char *from, const char *to)
{
    char *buf;
    size_t len;
    must_err e = {0};
    ck_assert_msg(must_file_read(from, &buf, &len, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_file_write_atomic(to, buf, len, &e) == MUST_OK, "%s", e.msg);
    free(buf);
}

/* The first n bytes of from, into to. */
static void cut_file(const char *from, const char *to, size_t n)
{
    char *buf;
    size_t len;
    must_err e = {0};
    ck_assert_msg(must_file_read(from, &buf, &len, &e) == MUST_OK, "%s", e.msg);
    ck_assert(n < len);
    ck_assert_msg(must_file_write_atomic(to, buf, n, &e) == MUST_OK, "%s", e.msg);
    free(buf);
}

static size_t file_size(const char *path)
{
    char *buf;
    size_t len = 0;
    must_err e = {0};
    ck_assert_int_eq(must_file_read(path, &buf, &len, &e), MUST_OK);
    free(buf);
    return len;
}

/* Reading path fails with a message holding path and what. */
static void read_fails(const char *path, const char *what)
{
    must_image img;
    must_err e = {0};
    int rc = must_image_read(path, &img, 3, 8, &e);
    ck_assert_msg(rc != MUST_OK, "%s read", path);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, what), "'%s' lacks '%s' or '%s'", e.msg,
                  path, what);
    ck_assert_ptr_null(img.pixels);
}

START_TEST(decided_by_content)
{
    uint8_t *px = blocks(3);
    const char *j = tmp_path("real.jpg"), *jp = tmp_path("jpeg_named.png"),
               *pj = tmp_path("png_named.jpg"), *noext = tmp_path("noext");
    write_jpeg(j, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 1, 0});
    copy_file(j, jp);
    copy_file(j, noext);
    must_image img = {.width = W, .height = H, .channels = 3, .depth = 8, .pixels = px};
    must_err e = {0};
    ck_assert_msg(must_png_write(pj, &img, &e) == MUST_OK, "%s", e.msg);
    expect_blocks(jp, 3, 0, 1, want_rgb);
    expect_blocks(noext, 3, 0, 1, want_rgb);
    expect_blocks(pj, 3, 0, 0, want_rgb); /* a PNG: lossless */
    int f;
    ck_assert_int_eq(must_image_info(jp, &f, NULL, NULL, NULL, NULL, &e), MUST_OK);
    ck_assert_int_eq(f, MUST_IMAGE_JPEG);
    ck_assert_int_eq(must_image_info(pj, &f, NULL, NULL, NULL, NULL, &e), MUST_OK);
    ck_assert_int_eq(f, MUST_IMAGE_PNG);
    /* must_png_read stays PNG-only; must_jpeg_read JPEG-only. */
    ck_assert_int_ne(must_png_read(jp, &img, 3, 8, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "not a PNG file"), "%s", e.msg);
    ck_assert_int_ne(must_jpeg_read(pj, &img, 3, 8, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "not a JPEG file"), "%s", e.msg);
    free(px);
}
END_TEST

START_TEST(neither_format)
{
    const char *t = tmp_path("notes.jpg"), *empty = tmp_path("empty.png"),
               *two = tmp_path("two.jpg"), *none = tmp_path("no_such.jpg");
    du_write(test_tmpdir(), "jpeg_notes.jpg", "just some text, not a picture\n");
    du_write(test_tmpdir(), "jpeg_empty.png", "");
    du_write(test_tmpdir(), "jpeg_two.jpg", "\xff\xd8"); /* SOI and nothing else */
    read_fails(t, "not a PNG or JPEG file");
    read_fails(empty, "not a PNG or JPEG file");
    read_fails(two, "not a PNG or JPEG file");
    read_fails(none, "cannot open");
    must_err e = {0};
    ck_assert_int_eq(must_image_info(t, NULL, NULL, NULL, NULL, NULL, &e), MUST_EFORMAT);
    ck_assert_msg(strstr(e.msg, "notes.jpg: not a PNG or JPEG file"), "%s", e.msg);
    ck_assert_int_eq(must_image_info(none, NULL, NULL, NULL, NULL, NULL, &e), MUST_ENOTFOUND);
}
END_TEST

START_TEST(truncated)
{
    uint8_t *px = blocks(3);
    const char *b = tmp_path("whole.jpg"), *p = tmp_path("whole_prog.jpg");
    write_jpeg(b, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 0, 90});
    write_jpeg(p, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 1, 0, 90});
    const char *cuts[2] = {b, p};
    for (int k = 0; k < 2; k++) {
        size_t n = file_size(cuts[k]);
        char name[64];
        /* Cut in the entropy data, and just before the closing EOI marker. */
        snprintf(name, sizeof name, "cut_half_%d.jpg", k);
        const char *half = tmp_path(name);
        cut_file(cuts[k], half, n * 3 / 4);
        read_fails(half, "truncated JPEG (Premature end of JPEG file)");
        snprintf(name, sizeof name, "cut_eoi_%d.jpg", k);
        const char *eoi = tmp_path(name);
        cut_file(cuts[k], eoi, n - 2);
        read_fails(eoi, "truncated JPEG");
    }
    /* Cut inside the header: the size is not even known. */
    const char *head = tmp_path("cut_head.jpg");
    cut_file(b, head, 40);
    read_fails(head, "JPEG");
    must_err e = {0};
    ck_assert_int_ne(must_image_info(head, NULL, NULL, NULL, NULL, NULL, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, head), "%s", e.msg);
    free(px);
}
END_TEST

/* Offset of the first byte after the SOS segment (the entropy data). */
static size_t scan_start(const unsigned char *b, size_t n)
{
    for (size_t i = 2; i + 4 < n;) {
        ck_assert_int_eq(b[i], 0xFF);
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (b[i + 1] == 0xDA)
            return i + 2 + len;
        i += 2 + len;
    }
    ck_abort_msg("no SOS marker");
    return 0;
}

START_TEST(corrupt)
{
    uint8_t *px = blocks(3);
    const char *good = tmp_path("good.jpg");
    write_jpeg(good, px, W, H, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 0, 90});
    char *buf;
    size_t len;
    must_err e = {0};
    ck_assert_int_eq(must_file_read(good, &buf, &len, &e), MUST_OK);
    /* A restart marker in the middle of a scan that has none. */
    size_t s0 = scan_start((unsigned char *)buf, len);
    unsigned char save[2] = {(unsigned char)buf[s0 + 20], (unsigned char)buf[s0 + 21]};
    buf[s0 + 20] = (char)0xFF;
    buf[s0 + 21] = (char)0xD3;
    const char *rst = tmp_path("bad_rst.jpg");
    ck_assert_int_eq(must_file_write_atomic(rst, buf, len, &e), MUST_OK);
    read_fails(rst, "cannot decode JPEG: Corrupt JPEG data");
    buf[s0 + 20] = (char)save[0];
    buf[s0 + 21] = (char)save[1];
    /* A frame header that says 0 components. */
    for (size_t i = 2; i + 9 < len; i++)
        if ((unsigned char)buf[i] == 0xFF && (unsigned char)buf[i + 1] == 0xC0) {
            buf[i + 9] = 0;
            break;
        }
    const char *sof = tmp_path("bad_sof.jpg");
    ck_assert_int_eq(must_file_write_atomic(sof, buf, len, &e), MUST_OK);
    read_fails(sof, "cannot decode JPEG");
    /* Not 8 bits, not 2 channels. */
    must_image img;
    ck_assert_int_eq(must_image_read(good, &img, 3, 16, &e), MUST_EFORMAT);
    ck_assert_msg(strstr(e.msg, "good.jpg: has 8-bit samples, 16-bit expected"), "%s", e.msg);
    ck_assert_int_eq(must_jpeg_read(good, &img, 2, 8, &e), MUST_EINVAL);
    free(buf);
    free(px);
}
END_TEST

START_TEST(write_round_trip)
{
    uint8_t *px = blocks(3);
    must_image img = {.width = W, .height = H, .channels = 3, .depth = 8, .pixels = px};
    const char *p = tmp_path("written.jpg");
    must_err e = {0};
    ck_assert_msg(must_jpeg_write(p, &img, 100, &e) == MUST_OK, "%s", e.msg);
    /* 4:2:0 at quality 100, as the fixtures: interior within 1. */
    expect_blocks(p, 3, 1, 1, want_rgb);
    must_image bad = img;
    bad.depth = 16;
    ck_assert_int_eq(must_jpeg_write(p, &bad, 90, &e), MUST_EINVAL);
    ck_assert_int_eq(must_jpeg_write(p, &img, 0, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "quality"), "%s", e.msg);
    free(px);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Reduced-scale decoding. */

START_TEST(scaled_sizes)
{
    /* 640 x 480 of flat 16 x 16 blocks. */
    const int w = 640, h = 480;
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                px[((size_t)y * w + x) * 3 + k] = block_value((x / 16) % 4, (y / 16) % 3, k);
    const char *p = tmp_path("vga.jpg");
    write_jpeg(p, px, w, h, &(jspec){3, JCS_RGB, JCS_YCbCr, 0, 0, 1, 0});
    static const struct {
        float min;
        float scale;
        int w, h;
    } cases[] = {{0.0f, 0.125f, 80, 60},  {0.1f, 0.125f, 80, 60}, {0.125f, 0.125f, 80, 60},
                 {0.13f, 0.25f, 160, 120}, {0.3f, 0.375f, 240, 180}, {0.74f, 0.75f, 480, 360},
                 {0.9f, 1.0f, 640, 480},   {1.0f, 1.0f, 640, 480},   {2.5f, 1.0f, 640, 480}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        must_image img;
        float sc;
        int fw, fh;
        must_err e = {0};
        ck_assert_msg(must_image_read_scaled(p, &img, 3, cases[i].min, 0, 0, &sc, &fw, &fh, &e) ==
                          MUST_OK, "%s", e.msg);
        ck_assert_msg(sc == cases[i].scale && img.width == cases[i].w && img.height == cases[i].h,
                      "min %g: scale %g, %dx%d", cases[i].min, sc, img.width, img.height);
        ck_assert_int_eq(fw, w);
        ck_assert_int_eq(fh, h);
        /* At 1/8 a 16 x 16 block is 2 x 2 pixels of its colour (DC only). */
        if (sc == 0.125f) {
            const uint8_t *q = img.pixels;
            for (int y = 0; y < 60; y++)
                for (int x = 0; x < 80; x++)
                    for (int k = 0; k < 3; k++) {
                        int want = block_value((x / 2) % 4, (y / 2) % 3, k);
                        ck_assert_msg(abs(q[((size_t)y * 80 + x) * 3 + k] - want) <= 1,
                                      "1/8: (%d, %d) %d: %d vs %d", x, y, k,
                                      q[((size_t)y * 80 + x) * 3 + k], want);
                    }
        }
        must_image_free(&img);
    }
    /* A PNG comes at full size whatever is asked. */
    must_image png = {.width = w, .height = h, .channels = 3, .depth = 8, .pixels = px}, img;
    const char *q = tmp_path("vga.png");
    float sc;
    must_err e = {0};
    ck_assert_int_eq(must_png_write(q, &png, &e), MUST_OK);
    ck_assert_int_eq(must_image_read_scaled(q, &img, 3, 0.1f, 0, 0, &sc, NULL, NULL, &e), MUST_OK);
    ck_assert(sc == 1.0f && img.width == w && img.height == h);
    must_image_free(&img);
    free(px);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The real photo. */

static const char *photo(void)
{
    static char p[4096];
    const char *src = getenv("MUST_SRCDIR");
    snprintf(p, sizeof p, "%s/tests/data/grace_hopper.jpg", src && *src ? src : ".");
    return p;
}

static void means(const must_image *img, double m[3])
{
    const uint8_t *p = img->pixels;
    size_t n = (size_t)img->width * img->height;
    m[0] = m[1] = m[2] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            m[c] += p[3 * i + c];
    for (int c = 0; c < 3; c++)
        m[c] /= (double)n;
}

/* Mean luma of the (qx, qy) ninth of the picture. */
static double ninth(const must_image *img, int qx, int qy)
{
    const uint8_t *p = img->pixels;
    double s = 0.0;
    long n = 0;
    for (int y = qy * img->height / 3; y < (qy + 1) * img->height / 3; y++)
        for (int x = qx * img->width / 3; x < (qx + 1) * img->width / 3; x++, n++) {
            const uint8_t *q = p + 3 * ((size_t)y * img->width + x);
            s += 0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2];
        }
    return s / (double)n;
}

START_TEST(real_photo)
{
    const char *p = photo();
    int f, w, h, c, d;
    must_err e = {0};
    ck_assert_msg(must_image_info(p, &f, &w, &h, &c, &d, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(f, MUST_IMAGE_JPEG);
    ck_assert_int_eq(w, 512);
    ck_assert_int_eq(h, 600);
    ck_assert_int_eq(c, 3);
    must_image img, gray, half;
    ck_assert_msg(must_image_read(p, &img, 3, 8, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(img.width, 512);
    ck_assert_int_eq(img.height, 600);
    /* A portrait: a bluish-grey background, the face (the centre ninth)
     * the brightest part, the dark uniform along the bottom.  Means as
     * libjpeg-turbo 2.1 decodes it (82.5, 72.4, 86.4), within 1.5. */
    double m[3];
    means(&img, m);
    ck_assert_float_near(m[0], 82.5, 1.5);
    ck_assert_float_near(m[1], 72.4, 1.5);
    ck_assert_float_near(m[2], 86.4, 1.5);
    double centre = ninth(&img, 1, 1);
    for (int qy = 0; qy < 3; qy++)
        for (int qx = 0; qx < 3; qx++)
            if (qx != 1 || qy != 1)
                ck_assert_msg(ninth(&img, qx, qy) < centre, "ninth (%d, %d) brighter", qx, qy);
    for (int qx = 0; qx < 3; qx++)
        ck_assert_double_lt(ninth(&img, qx, 2), 60.0);
    /* Read as gray: its luma, pixel by pixel within 1. */
    ck_assert_msg(must_image_read(p, &gray, 1, 8, &e) == MUST_OK, "%s", e.msg);
    const uint8_t *rgb = img.pixels, *g = gray.pixels;
    long off = 0;
    for (size_t i = 0; i < (size_t)512 * 600; i++) {
        double y = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
        off += fabs(y - g[i]) > 2.0;
    }
    ck_assert_msg(off < 512 * 600 / 100, "%ld gray pixels off their luma", off);
    /* At half scale: half the size, the same colours on average. */
    float sc;
    ck_assert_int_eq(must_image_read_scaled(p, &half, 3, 0.5f, 0, 0, &sc, NULL, NULL, &e), MUST_OK);
    ck_assert(sc == 0.5f && half.width == 256 && half.height == 300);
    double mh[3];
    means(&half, mh);
    for (int k = 0; k < 3; k++)
        ck_assert_float_near(mh[k], m[k], 0.5);
    must_image_free(&img);
    must_image_free(&gray);
    must_image_free(&half);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* JPEGs in the dataset format. */

/* A smooth 640 x 480 picture (gradients and soft discs), as a JPEG: no
 * detail finer than the 1/8 decode keeps. */
static void smooth_photo(const char *path, int seed)
{
    const int w = 640, h = 480;
    must_image img;
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&img, w, h, 3, 8, &e), MUST_OK);
    uint8_t *p = img.pixels;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double cx = x - 200.0 - 80 * seed, cy = y - 260.0, r = sqrt(cx * cx + cy * cy);
            double disc = 1.0 / (1.0 + exp((r - 120.0) / 24.0));
            p[3 * ((size_t)y * w + x)] = (uint8_t)(40 + 150.0 * x / w + 60 * disc);
            p[3 * ((size_t)y * w + x) + 1] = (uint8_t)(200 - 150.0 * y / h);
            p[3 * ((size_t)y * w + x) + 2] = (uint8_t)(90 + 100 * disc);
        }
    ck_assert_msg(must_jpeg_write(path, &img, 92, &e) == MUST_OK, "%s", e.msg);
    must_image_free(&img);
}

/* An unlabelled set in dir of the real photo (hopper) and of smooth ones
 * (smooth0, smooth1), or of only those that `which` names (1 the photo, 2
 * the smooth ones). */
static void photo_set(const char *dir, int which, must_dataset **ds)
{
    char src[4096];
    must_err e = {0};
    must_dataset_writer *w;
    must_dataset_spec spec = {.name = "photos", .tasks = 0};
    ck_assert_msg(must_dataset_writer_new(dir, &spec, &w, &e) == MUST_OK, "%s", e.msg);
    if (which & 1)
        ck_assert_msg(must_dataset_writer_add_file(w, "hopper", MUST_SPLIT_TRAIN, photo(), NULL,
                                                   &e) == MUST_OK, "%s", e.msg);
    for (int i = 0; i < 2 && (which & 2); i++) {
        char id[16];
        snprintf(id, sizeof id, "smooth%d", i);
        snprintf(src, sizeof src, "%s/%s.jpg", test_tmpdir(), id);
        smooth_photo(src, i);
        ck_assert_msg(must_dataset_writer_add_file(w, id, MUST_SPLIT_TRAIN, src, NULL, &e) ==
                          MUST_OK, "%s", e.msg);
    }
    ck_assert_msg(must_dataset_writer_commit(w, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_dataset_open(dir, ds, &e) == MUST_OK, "%s", e.msg);
}

/* Mean |difference| of the images of two batches in [0, 1] pixel units
 * (the batches hold normalised values: times std), b taken `shift` output
 * pixels to the right (columns without a partner left out). */
static double batch_diff(const must_batch *a, const must_batch *b, int shift)
{
    static const float sd[3] = {MUST_IMAGE_STD_R, MUST_IMAGE_STD_G, MUST_IMAGE_STD_B};
    const int S = a->size;
    double s = 0.0;
    long n = 0;
    for (int i = 0; i < a->n; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x + shift < S; x++, n++) {
                    size_t row = (((size_t)i * 3 + c) * S + y) * S;
                    s += fabs((double)a->images[row + x] - b->images[row + x + shift]) * sd[c];
                }
    return s / (double)n;
}

static must_loader *photo_loader(must_dataset *ds, int size, int augment, int full)
{
    must_loader_opts o;
    must_loader_defaults(&o);
    o.size = size;
    o.batch = must_dataset_count(ds);
    o.workers = 0;
    o.split = -1;
    o.epochs = 3;
    o.augment = augment;
    o.sampler.seed = 5;
    o.full_decode = full;
    must_loader *L;
    must_err e = {0};
    ck_assert_msg(must_loader_new(&ds, 1, &o, &L, &e) == MUST_OK, "%s", e.msg);
    return L;
}

/* Smooth pictures, which a full decode resized bilinearly does not alias:
 * the loader with the reduced-scale decode against the full decode, batch
 * by batch.  The same examples and transforms, pixels within tol on
 * average, and closer than the full decode one output pixel off is, by
 * half as much again (measured: 2.4 to 3.7 times closer), so that a resize
 * misplaced by a pixel would not pass. */
static void reduced_vs_full(must_dataset *ds, int size, int augment, double tol)
{
    must_loader *L[2] = {photo_loader(ds, size, augment, 0), photo_loader(ds, size, augment, 1)};
    const must_batch *a, *b;
    must_err e = {0};
    int batches = 0;
    while (must_loader_next(L[0], &a, &e) == 1) {
        ck_assert_int_eq(must_loader_next(L[1], &b, &e), 1);
        ck_assert_int_eq(a->n, b->n);
        for (int i = 0; i < a->n; i++) {
            ck_assert_int_eq(a->example[i], b->example[i]);
            ck_assert_msg(memcmp(&a->tf[i], &b->tf[i], sizeof a->tf[i]) == 0,
                          "transforms differ");
        }
        double d = batch_diff(a, b, 0), off = batch_diff(a, b, 1);
        ck_assert_msg(d > 0.0, "no difference: the reduced decode did not run");
        ck_assert_msg(d < tol && 1.5 * d < off,
                      "at %d, augment %d: mean |diff| %.4f (tol %g), one pixel off %.4f", size,
                      augment, d, tol, off);
        batches++;
    }
    ck_assert_int_eq(batches, 3);
    must_loader_free(L[0]);
    must_loader_free(L[1]);
}

/* Mean |difference| in [0, 1] units between batch image 0 (the fitted
 * evaluation transform of img, s = size / longer side) and the ideal
 * resize of img: each output pixel the area-weighted mean of the source
 * pixels under it.  Output pixels whose footprint reaches the padding are
 * left out. */
static double vs_area_resize(const must_batch *b, const must_image *img)
{
    static const float mean[3] = {MUST_IMAGE_MEAN_R, MUST_IMAGE_MEAN_G, MUST_IMAGE_MEAN_B};
    static const float sd[3] = {MUST_IMAGE_STD_R, MUST_IMAGE_STD_G, MUST_IMAGE_STD_B};
    const int S = b->size, w = img->width, h = img->height;
    const double s = b->tf[0].s;
    const uint8_t *p = img->pixels;
    double sum = 0.0;
    long n = 0;
    for (int v = 0; (v + 1) / s <= h; v++)
        for (int u = 0; (u + 1) / s <= w; u++, n++) {
            double acc[3] = {0, 0, 0}, area = 0.0;
            for (int y = (int)floor(v / s); y < (v + 1) / s; y++) {
                double wy = fmin(y + 1, (v + 1) / s) - fmax(y, v / s);
                for (int x = (int)floor(u / s); x < (u + 1) / s; x++) {
                    double wxy = wy * (fmin(x + 1, (u + 1) / s) - fmax(x, u / s));
                    for (int c = 0; c < 3; c++)
                        acc[c] += wxy * p[3 * ((size_t)y * w + x) + c];
                    area += wxy;
                }
            }
            for (int c = 0; c < 3; c++) {
                double got = b->images[((size_t)c * S + v) * S + u] * sd[c] + mean[c];
                sum += fabs(got - acc[c] / area / 255.0);
            }
        }
    return sum / (3.0 * (double)n);
}

START_TEST(loader_reduced_scale_is_close_to_full)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_smooth"));
    must_dataset *ds;
    photo_set(dir, 2, &ds);
    /* Mean |diff| per sample, in [0, 1] units: the two ways agree within
     * half a percent of the range (measured: 0.09-0.18 %). */
    reduced_vs_full(ds, 64, 1, 0.005);
    reduced_vs_full(ds, 64, 0, 0.005);
    reduced_vs_full(ds, 128, 1, 0.005);
    must_dataset_close(ds);

    /* The photo: the scale the loader picks at 64 (64 / 600 of the stored
     * size, fitted, is ~0.107) is 1/8. */
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_photo"));
    photo_set(dir, 1, &ds);
    must_map im = {0};
    float sc;
    int fw, fh;
    must_err e = {0};
    ck_assert_int_eq(ds_load_scaled(ds, 0, 0, 64.0f / 600.0f, &im, &sc, &fw, &fh, NULL, &e),
                     MUST_OK);
    ck_assert(sc == 0.125f && im.width == 64 && im.height == 75 && fw == 512 && fh == 600);
    must_map_free(&im);
    /* A full decode resized bilinearly to 1/10 aliases on a photo: its
     * samples skip the pixels between them, which the reduced IDCT
     * averages.  Against the ideal (area) resize of the full decode, the
     * reduced decode is within 2 % on average (measured: 1.6 % at 64, 1.0 %
     * at 128) and closer than the bilinear full-size path (3.7 %, 2.2 %). */
    must_image full;
    ck_assert_int_eq(must_image_read(photo(), &full, 3, 8, &e), MUST_OK);
    for (int size = 64; size <= 128; size *= 2) {
        must_loader *L[2] = {photo_loader(ds, size, 0, 0), photo_loader(ds, size, 0, 1)};
        const must_batch *a, *b;
        ck_assert_int_eq(must_loader_next(L[0], &a, &e), 1);
        ck_assert_int_eq(must_loader_next(L[1], &b, &e), 1);
        double dr = vs_area_resize(a, &full), df = vs_area_resize(b, &full);
        ck_assert_msg(dr < 0.02 && dr < df, "at %d: reduced %.4f, full %.4f from the area resize",
                      size, dr, df);
        must_loader_free(L[0]);
        must_loader_free(L[1]);
    }
    must_image_free(&full);
    must_dataset_close(ds);
}
END_TEST

/* must_dataset_check's report: counts problems, keeps the last. */
static int nproblems;
static char last_problem[2048];
static void collect(void *user, int is_problem, const char *line)
{
    (void)user;
    if (is_problem) {
        nproblems++;
        snprintf(last_problem, sizeof last_problem, "%s", line);
    }
}

START_TEST(dataset_keeps_jpegs)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_set"));
    must_dataset *ds;
    photo_set(dir, 3, &ds);
    ck_assert_int_eq(must_dataset_count(ds), 3);
    char *p = must_dataset_image_path(ds, must_dataset_find(ds, "hopper"));
    size_t n = strlen(p);
    ck_assert_str_eq(p + n - 17, "images/hopper.jpg");
    /* Copied byte for byte, never re-encoded. */
    char *a, *b;
    size_t la, lb;
    must_err e = {0};
    ck_assert_int_eq(must_file_read(p, &a, &la, &e), MUST_OK);
    ck_assert_int_eq(must_file_read(photo(), &b, &lb, &e), MUST_OK);
    ck_assert(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    free(p);
    /* must_dataset_load decodes in full. */
    must_map im = {0};
    ck_assert_int_eq(must_dataset_load(ds, must_dataset_find(ds, "hopper"), 0, &im, NULL, &e),
                     MUST_OK);
    ck_assert(im.width == 512 && im.height == 600);
    must_map_free(&im);
    must_dataset_close(ds);
    int problems = -1;
    ck_assert_int_eq(must_dataset_check(dir, collect, NULL, &problems, &e), MUST_OK);
    ck_assert_int_eq(problems, 0);
}
END_TEST

START_TEST(dataset_jpeg_problems)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_bad"));
    must_dataset *ds;
    photo_set(dir, 3, &ds);
    must_dataset_close(ds);
    must_err e = {0};
    int problems;
    /* A truncated JPEG: check names it. */
    snprintf(path, sizeof path, "%s/images/smooth1.jpg", dir);
    char *buf;
    size_t len;
    ck_assert_int_eq(must_file_read(path, &buf, &len, &e), MUST_OK);
    ck_assert_int_eq(must_file_write_atomic(path, buf, len / 2, &e), MUST_OK);
    nproblems = 0;
    ck_assert_int_eq(must_dataset_check(dir, collect, NULL, &problems, &e), MUST_OK);
    ck_assert_int_eq(problems, 1);
    ck_assert_msg(strstr(last_problem, "images/smooth1.jpg: truncated JPEG"), "%s", last_problem);
    /* The same id as a PNG too: two images for one id. */
    ck_assert_int_eq(must_file_write_atomic(path, buf, len, &e), MUST_OK);
    snprintf(path, sizeof path, "%s/images/smooth1.png", dir);
    du_write(dir, "images/smooth1.png", "x");
    ck_assert_int_ne(must_dataset_open(dir, &ds, &e), MUST_OK);
    ck_assert_msg(strstr(e.msg, "'smooth1.png' and 'smooth1.jpg': two images with one id"), "%s",
                  e.msg);
    remove(path);
    free(buf);
    /* A set without images: open works, check is a problem. */
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_empty"));
    must_dataset_writer *w;
    must_dataset_spec spec = {.name = "empty", .tasks = 0};
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_commit(w, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_open(dir, &ds, &e), MUST_OK);
    must_dataset_close(ds);
    nproblems = 0;
    ck_assert_int_eq(must_dataset_check(dir, collect, NULL, &problems, &e), MUST_OK);
    ck_assert_int_eq(problems, 1);
    ck_assert_msg(strstr(last_problem, "images holds no images"), "%s", last_problem);
}
END_TEST

START_TEST(writer_replaces_a_stray_png)
{
    /* A cut-off writer left hopper.png; the next one writes hopper.jpg. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", du_dir("jpeg_stray"));
    must_err e = {0};
    must_dataset_writer *w;
    must_dataset_spec spec = {.name = "stray", .tasks = 0};
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    must_image img;
    ck_assert_int_eq(must_image_alloc(&img, 8, 8, 3, 8, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, "hopper", -1, &img, NULL, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, "other", -1, &img, NULL, &e), MUST_OK);
    must_dataset_writer_abort(w);
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add_file(w, "hopper", 0, photo(), NULL, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_commit(w, &e), MUST_OK);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(dir, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_dataset_count(ds), 1);
    must_dataset_close(ds);
    char p[4200];
    snprintf(p, sizeof p, "%s/images/hopper.png", dir);
    ck_assert(!must_file_exists(p));
    must_image_free(&img);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Importers. */

static void jpeg_file(const char *dir, const char *name, int shade)
{
    char p[4200];
    must_err e = {0};
    ck_assert_int_eq(must_mkdir_p(dir, &e), MUST_OK);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    must_image img;
    ck_assert_int_eq(must_image_alloc(&img, 40, 30, 3, 8, &e), MUST_OK);
    memset(img.pixels, shade, must_image_bytes(&img));
    ck_assert_msg(must_jpeg_write(p, &img, 90, &e) == MUST_OK, "%s", e.msg);
    must_image_free(&img);
}

START_TEST(imagefolder_with_jpegs)
{
    char root[4096], a[4200], b[4200], out[4200];
    snprintf(root, sizeof root, "%s", du_dir("jpeg_folder"));
    snprintf(a, sizeof a, "%s/in/cat", root);
    snprintf(b, sizeof b, "%s/in/dog", root);
    snprintf(out, sizeof out, "%s/set", root);
    jpeg_file(a, "one.jpg", 30);
    jpeg_file(a, "two.JPEG", 60);
    jpeg_file(a, "three.Jpg", 90);
    jpeg_file(b, "four.jpeg", 120);
    jpeg_file(b, "five.png", 150); /* a JPEG under a .png name: kept as JPEG */
    du_write(b, "notes.txt", "not an image\n");
    char in[4200];
    snprintf(in, sizeof in, "%s/in", root);
    must_import_opts o;
    must_import_defaults(&o);
    o.val = 0.0;
    o.test = 0.0;
    must_import_counts c;
    must_err e = {0};
    ck_assert_msg(must_import_imagefolder(in, out, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.images, 5);
    ck_assert_int_eq(c.classes, 2);
    ck_assert_int_eq(c.skipped, 1);
    int problems;
    ck_assert_int_eq(must_dataset_check(out, collect, NULL, &problems, &e), MUST_OK);
    ck_assert_int_eq(problems, 0);
    must_dataset *ds;
    ck_assert_int_eq(must_dataset_open(out, &ds, &e), MUST_OK);
    static const char *const ids[5] = {"cat_one", "cat_three", "cat_two", "dog_five", "dog_four"};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(must_dataset_id(ds, i), ids[i]);
        char *p = must_dataset_image_path(ds, i);
        ck_assert_msg(strstr(p, ".jpg"), "%s", p);
        free(p);
    }
    /* A loader pass: every image at 16^2 with its class. */
    must_loader_opts lo;
    must_loader_defaults(&lo);
    lo.size = 16;
    lo.batch = 5;
    lo.workers = 1;
    lo.epochs = 1;
    lo.sampler.shuffle = 0;
    must_loader *L;
    ck_assert_msg(must_loader_new(&ds, 1, &lo, &L, &e) == MUST_OK, "%s", e.msg);
    const must_batch *bt;
    ck_assert_int_eq(must_loader_next(L, &bt, &e), 1);
    ck_assert_int_eq(bt->n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(bt->cls[i], bt->example[i] < 3 ? 0 : 1);
    ck_assert_int_eq(must_loader_next(L, &bt, &e), 0);
    must_loader_free(L);
    must_dataset_close(ds);
    /* No image at all: an error, not an empty set. */
    char empty[4200], out2[4200];
    snprintf(empty, sizeof empty, "%s/empty/cls", root);
    ck_assert_int_eq(must_mkdir_p(empty, &e), MUST_OK);
    du_write(empty, "readme.txt", "nothing\n");
    snprintf(empty, sizeof empty, "%s/empty", root);
    snprintf(out2, sizeof out2, "%s/set2", root);
    ck_assert_int_eq(must_import_imagefolder(empty, out2, &o, &c, &e), MUST_ENOTFOUND);
    ck_assert_msg(strstr(e.msg, "no images (.png, .jpg, .jpeg)"), "%s", e.msg);
}
END_TEST

START_TEST(images_pool)
{
    char root[4096], in[4200], out[4200], p[4300];
    snprintf(root, sizeof root, "%s", du_dir("jpeg_pool"));
    snprintf(in, sizeof in, "%s/in", root);
    snprintf(out, sizeof out, "%s/pool", root);
    snprintf(p, sizeof p, "%s/b/deep er", in);
    jpeg_file(p, "x 1.jpg", 10);
    jpeg_file(in, "a.jpeg", 20);
    snprintf(p, sizeof p, "%s/b", in);
    jpeg_file(p, "y.JPG", 30);
    snprintf(p, sizeof p, "%s/.hidden", in);
    jpeg_file(p, "z.jpg", 40);
    must_image img;
    must_err e = {0};
    ck_assert_int_eq(must_image_alloc(&img, 12, 10, 3, 8, &e), MUST_OK);
    snprintf(p, sizeof p, "%s/c.png", in);
    ck_assert_int_eq(must_png_write(p, &img, &e), MUST_OK);
    du_write(in, "list.csv", "a,b\n");
    must_import_opts o;
    must_import_defaults(&o);
    o.val = 0.25;
    o.test = 0.25;
    o.seed = 7;
    must_import_counts c;
    ck_assert_msg(must_import_images(in, out, &o, &c, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(c.images, 4);
    ck_assert_int_eq(c.skipped, 1);
    ck_assert_int_eq(c.classes, 0);
    ck_assert_int_eq(c.split[MUST_SPLIT_TRAIN], 2);
    ck_assert_int_eq(c.split[MUST_SPLIT_VAL], 1);
    ck_assert_int_eq(c.split[MUST_SPLIT_TEST], 1);
    must_dataset *ds;
    ck_assert_msg(must_dataset_open(out, &ds, &e) == MUST_OK, "%s", e.msg);
    ck_assert_int_eq(must_dataset_count(ds), 4);
    ck_assert_int_eq(must_dataset_tasks(ds), 0);
    static const char *const ids[4] = {"a", "b_deep_er_x_1", "b_y", "c"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(must_dataset_id(ds, i), ids[i]);
    char *ip = must_dataset_image_path(ds, 3);
    ck_assert_msg(strstr(ip, "images/c.png"), "%s", ip);
    free(ip);
    must_dataset_close(ds);
    int problems;
    ck_assert_int_eq(must_dataset_check(out, collect, NULL, &problems, &e), MUST_OK);
    ck_assert_int_eq(problems, 0);
    /* The same split again; two files of one id name both. */
    snprintf(p, sizeof p, "%s/pool2", root);
    ck_assert_int_eq(must_import_images(in, p, &o, &c, &e), MUST_OK);
    ck_assert_int_eq(c.split[MUST_SPLIT_VAL], 1);
    snprintf(p, sizeof p, "%s/c.jpg", in);
    jpeg_file(in, "c.jpg", 50);
    snprintf(p, sizeof p, "%s/pool3", root);
    ck_assert_int_eq(must_import_images(in, p, &o, &c, &e), MUST_EINVAL);
    ck_assert_msg(strstr(e.msg, "c.png: its id 'c' is taken by") && strstr(e.msg, "c.jpg"), "%s",
                  e.msg);
    /* Nothing to import. */
    snprintf(p, sizeof p, "%s/none", root);
    ck_assert_int_eq(must_mkdir_p(p, &e), MUST_OK);
    du_write(p, "readme.txt", "x\n");
    snprintf(in, sizeof in, "%s/pool4", root);
    ck_assert_int_eq(must_import_images(p, in, &o, &c, &e), MUST_ENOTFOUND);
    ck_assert_msg(strstr(e.msg, "none: no images"), "%s", e.msg);
    must_image_free(&img);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jpeg");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, gray);
    tcase_add_test(tc, baseline_420);
    tcase_add_test(tc, baseline_444_and_rgb_jpeg);
    tcase_add_test(tc, progressive);
    tcase_add_test(tc, cmyk_adobe_inverted);
    tcase_add_test(tc, cmyk_plain);
    tcase_add_test(tc, ycck_adobe);
    tcase_add_test(tc, decided_by_content);
    tcase_add_test(tc, neither_format);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, corrupt);
    tcase_add_test(tc, write_round_trip);
    tcase_add_test(tc, scaled_sizes);
    tcase_add_test(tc, real_photo);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("datasets");
    tcase_set_timeout(td, 120);
    tcase_add_test(td, loader_reduced_scale_is_close_to_full);
    tcase_add_test(td, dataset_keeps_jpegs);
    tcase_add_test(td, dataset_jpeg_problems);
    tcase_add_test(td, writer_replaces_a_stray_png);
    tcase_add_test(td, imagefolder_with_jpegs);
    tcase_add_test(td, images_pool);
    suite_add_tcase(s, td);
    return test_run(s);
}
