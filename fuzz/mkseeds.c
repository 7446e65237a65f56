/* mkseeds.c - writes the binary seeds of fuzz/corpus (docs/fuzzing.md):
 * PNGs of every colour type and depth (palette with transparency,
 * interlaced, with text and gamma chunks), JPEGs (baseline, progressive,
 * gray, CMYK with Adobe's marker, arithmetic-coded, with restart markers),
 * safetensors files of every dtype, checkpoints of fuzz/ckpt-model.h's
 * model, and dataset containers (fuzz_dataset.c's format).  The text seeds
 * (INI, COCO, VOC) are plain files in the tree.  Built on demand:
 *   make fuzz/mkseeds && fuzz/mkseeds SRCDIR/fuzz/corpus
 * Its output is deterministic: running it again changes nothing. */
#include "config.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "ckpt-model.h"
#include "must/checkpoint.h"
#include "must/io.h"
#include "must/optim.h"
#include "must/safetensors.h"

static const char *out;

static char *path_of(const char *target, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", out, target);
    mkdir(buf, 0755);
    snprintf(buf, sizeof buf, "%s/%s/%s", out, target, name);
    return buf;
}

static void die(const char *what)
{
    fprintf(stderr, "mkseeds: %s\n", what);
    exit(1);
}

/* ---- PNG ---------------------------------------------------------------- */

/* A w x h PNG of color type ct and depth bd, samples from a pattern. */
static void png_seed(const char *name, int w, int h, int ct, int bd, int interlace, int extras)
{
    FILE *fp = fopen(path_of("png", name), "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!fp || !png || !info || setjmp(png_jmpbuf(png)))
        die(name);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bd, ct, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        for (int i = 0; i < 16; i++)
            pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 16), (png_byte)(i * 5)};
        png_set_PLTE(png, info, pal, bd == 1 ? 2 : bd == 2 ? 4 : 16);
        if (extras) {
            png_byte trns[2] = {0, 128};
            png_set_tRNS(png, info, trns, 2, NULL);
        }
    }
    if (extras) {
        png_set_gAMA(png, info, 0.45455);
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment",
                      .text = "must fuzz seed"};
        png_set_text(png, info, &t, 1);
    }
    png_write_info(png, info);
    int ch = ct == PNG_COLOR_TYPE_RGB ? 3 : ct == PNG_COLOR_TYPE_RGBA ? 4 : ct == 4 ? 2 : 1;
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep row = calloc(rowbytes, 1);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++)
                row[i] = (png_byte)(ct == PNG_COLOR_TYPE_PALETTE ? (i + (size_t)y) % 2 * (bd == 8 ? 3 : 0x11)
                                                                 : (i * 37 + (size_t)y * 11) * ch);
            png_write_row(png, row);
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(fp);
}

static void png_seeds(void)
{
    png_seed("gray1.png", 8, 6, PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    png_seed("gray2.png", 8, 6, PNG_COLOR_TYPE_GRAY, 2, 0, 0);
    png_seed("gray4.png", 8, 6, PNG_COLOR_TYPE_GRAY, 4, 0, 0);
    png_seed("gray8.png", 8, 6, PNG_COLOR_TYPE_GRAY, 8, 0, 1);
    png_seed("gray16.png", 8, 6, PNG_COLOR_TYPE_GRAY, 16, 0, 0);
    png_seed("graya8.png", 8, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0);
    png_seed("graya16.png", 8, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0);
    png_seed("rgb8.png", 8, 6, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    png_seed("rgb8-interlaced.png", 9, 7, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 1);
    png_seed("rgb16.png", 8, 6, PNG_COLOR_TYPE_RGB, 16, 0, 0);
    png_seed("rgba8.png", 8, 6, PNG_COLOR_TYPE_RGBA, 8, 0, 0);
    png_seed("rgba16.png", 8, 6, PNG_COLOR_TYPE_RGBA, 16, 0, 0);
    png_seed("palette1.png", 8, 6, PNG_COLOR_TYPE_PALETTE, 1, 0, 0);
    png_seed("palette2.png", 8, 6, PNG_COLOR_TYPE_PALETTE, 2, 0, 0);
    png_seed("palette4.png", 8, 6, PNG_COLOR_TYPE_PALETTE, 4, 0, 0);
    png_seed("palette8-trns.png", 8, 6, PNG_COLOR_TYPE_PALETTE, 8, 0, 1);
}

/* ---- JPEG --------------------------------------------------------------- */

enum { J_PROGRESSIVE = 1, J_ARITH = 2, J_RESTART = 4, J_444 = 8, J_OPTIMIZE = 16, J_YCCK = 32 };

static void jpeg_seed(const char *name, int w, int h, J_COLOR_SPACE cs, int comps, unsigned how)
{
    FILE *fp = fopen(path_of("jpeg", name), "wb");
    if (!fp)
        die(name);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (how & J_YCCK)
        jpeg_set_colorspace(&c, JCS_YCCK);
    if (how & J_PROGRESSIVE)
        jpeg_simple_progression(&c);
    if (how & J_ARITH)
        c.arith_code = TRUE;
    if (how & J_RESTART)
        c.restart_interval = 1;
    if (how & J_OPTIMIZE)
        c.optimize_coding = TRUE;
    if (how & J_444)
        for (int i = 0; i < c.num_components; i++)
            c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    JSAMPLE *row = malloc((size_t)w * (size_t)comps);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++)
            row[i] = (JSAMPLE)((i * 29 + (int)c.next_scanline * 13) & 0xff);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(fp);
}

static void jpeg_seeds(void)
{
    jpeg_seed("baseline-rgb.jpg", 16, 16, JCS_RGB, 3, 0);
    jpeg_seed("baseline-rgb-444-odd.jpg", 13, 9, JCS_RGB, 3, J_444 | J_OPTIMIZE);
    jpeg_seed("gray.jpg", 16, 8, JCS_GRAYSCALE, 1, 0);
    jpeg_seed("progressive-rgb.jpg", 24, 16, JCS_RGB, 3, J_PROGRESSIVE);
    jpeg_seed("progressive-gray.jpg", 16, 16, JCS_GRAYSCALE, 1, J_PROGRESSIVE);
    jpeg_seed("cmyk-adobe.jpg", 16, 16, JCS_CMYK, 4, 0);
    jpeg_seed("ycck-progressive.jpg", 16, 8, JCS_CMYK, 4, J_PROGRESSIVE | J_YCCK);
    jpeg_seed("arithmetic.jpg", 16, 16, JCS_RGB, 3, J_ARITH);
    jpeg_seed("restart-markers.jpg", 32, 16, JCS_RGB, 3, J_RESTART);
}

/* ---- safetensors and checkpoints ---------------------------------------- */

static void st_seeds(void)
{
    must_err e = {0};
    must_st_writer *w = must_st_writer_new();
    unsigned char bytes[64];
    for (int i = 0; i < 64; i++)
        bytes[i] = (unsigned char)(i * 7 + 1);
    /* One small tensor of every dtype; a scalar; an empty one. */
    for (int dt = 0; dt < MUST_ST_NDTYPES; dt++) {
        int64_t shape[2] = {2, 3};
        char name[32];
        snprintf(name, sizeof name, "t.%s", must_st_dtype_name(dt));
        if (dt == MUST_ST_BOOL)
            memset(bytes, 1, 6);
        if (must_st_writer_add(w, name, dt, 2, shape, bytes, &e))
            die(e.msg);
    }
    float one = 1.5f;
    int64_t none[1] = {0};
    if (must_st_writer_add_f32(w, "scalar", 0, NULL, &one, &e) ||
        must_st_writer_add_f32(w, "empty", 1, none, &one, &e) ||
        must_st_writer_meta(w, "format", "pt", &e) || must_st_writer_meta(w, "note", "seed", &e) ||
        must_st_writer_save(w, path_of("safetensors", "every-dtype.safetensors"), &e))
        die(e.msg);
    must_st_writer_free(w);

    must_params *sets[2];
    fuzz_model_new(sets);
    for (int s = 0; s < 2; s++) {
        float *d = must_params_data(sets[s]);
        for (size_t i = 0; i < must_params_numel(sets[s], 0); i++)
            d[i] = (float)i * 0.25f - 1.0f;
    }
    static const int kinds[2] = {MUST_OPTIM_SGD, MUST_OPTIM_ADAMW};
    static const char *const names[2] = {"sgd-momentum-rng.safetensors", "adamw.safetensors"};
    for (int k = 0; k < 2; k++) {
        must_optim_config cfg;
        must_optim_config_default(&cfg, kinds[k]);
        cfg.momentum = k == 0 ? 0.9 : 0;
        cfg.threads = 1;
        must_optim *opt = must_optim_new(&cfg, sets, 2, &e);
        must_rng r;
        must_rng_seed(&r, 5);
        must_ckpt_save_opts o = {.optim = opt, .rng = k == 0 ? &r : NULL,
                                 .config = "[teacher.x]\ntask = t\n", .step = 3,
                                 .model = "{\"backbone\": {}}"};
        if (!opt || must_ckpt_save(path_of("checkpoint", names[k]), sets, 2, &o, &e))
            die(e.msg);
        must_optim_free(opt);
    }
    if (must_ckpt_save(path_of("checkpoint", "weights-only.safetensors"), sets, 2, NULL, &e))
        die(e.msg);
    must_params_free(sets[0]);
    must_params_free(sets[1]);
}

/* ---- dataset containers (fuzz_dataset.c) -------------------------------- */

static void container(const char *name, const char *const *files)
{
    FILE *fp = fopen(path_of("dataset", name), "wb");
    if (!fp)
        die(name);
    for (int i = 0; files[i]; i++) {
        if (i)
            fputc('\0', fp);
        fputs(files[i], fp);
    }
    fclose(fp);
}

static void dataset_seeds(void)
{
    static const char *const det[] = {
        "[dataset]\nname = seed-det\ntasks = classification, detection\ncount = 3\n"
        "width = 8\nheight = 6\n\n[classification]\nclasses = a, b\nsource = supervised\n\n"
        "[detection]\nclasses = a, b\nsource = supervised\nids = 3, 7\n",
        "images/i1.png\n!png 8 6 3 8 120 30", "images/i2.jpg\n!jpg 8 6 3 90",
        "images/i3.png\n!png 8 6 1 8 10",
        "splits/train.txt\ni1\ni2\n", "splits/val.txt\n# held out\ni3\n",
        "labels/classification.txt\ni1 0\ni2 1\ni3 soft 0.25 0.75\n",
        "labels/detection.txt\ni1 0 0 4 3 1 1\ni1 2 1 8 6 0 1 1\ni3 1.5 0.5 7 5.5 1 0.8\n",
        NULL};
    static const char *const maps[] = {
        "[dataset]\nname = seed-maps\ntasks = segmentation, depth, normal\ncount = 2\n\n"
        "[segmentation]\nclasses = background, thing\nsource = pseudo\n"
        "teacher = teachers/seg.safetensors\nthreshold = 0.5\nx_note = kept\n\n"
        "[depth]\nscale = 0.001\nsource = supervised\n\n[normal]\nencoding = unit16\n"
        "source = supervised\n",
        "images/m1.png\n!png 6 4 3 8 200 10", "images/m2.png\n!png 5 5 3 8 50",
        "labels/segmentation/m1.png\n!png 6 4 1 8 1 255", "labels/segmentation/m2.png\n!png 5 5 1 8 0 1",
        "labels/depth/m1.png\n!png 6 4 1 16 1500 0", "labels/depth/m2.png\n!png 5 5 1 16 65535",
        "labels/normal/m1.png\n!png 6 4 3 16 32768 0", "labels/normal/m2.png\n!png 5 5 3 16 32768",
        "splits/test.txt\nm1\nm2\n", NULL};
    static const char *const pool[] = {
        "[dataset]\r\nname = seed-pool\r\ntasks =\r\n", "images/u-1.png\n!png 4 4 3 8 7",
        "images/u.2.jpg\n!jpg 16 8 1 128", "splits/train.txt\r\nu-1\r\nu.2\r\n", NULL};
    container("det-cls.bin", det);
    container("seg-depth-normal.bin", maps);
    container("unlabelled.bin", pool);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: mkseeds CORPUS-DIR (fuzz/corpus of the sources)");
    out = argv[1];
    png_seeds();
    jpeg_seeds();
    st_seeds();
    dataset_seeds();
    return 0;
}
