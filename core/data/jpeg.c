/* jpeg.c - JPEG files through libjpeg-turbo.
 *
 * libjpeg reports a fatal error by calling error_exit, which by default
 * prints and exits the process.  Ours formats the message and longjmps back
 * to the setjmp of the function that called into libjpeg.  Each such
 * function (jd_header, jd_decode, je_encode) keeps everything that outlives
 * the jump in a struct its caller owns, and reads none of its own locals
 * after it, so nothing is left indeterminate (C11 7.13.2.1); the caller
 * frees whatever was made.  Warnings that mean pixels were lost (a file cut
 * short, corrupt entropy data) jump the same way: libjpeg would go on and
 * fill the rest of the picture with grey, which a loader must not train on. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h> /* after jpeglib.h */

#include "image-impl.h"
#include "must/io.h"

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated; /* the jump came from "premature end of JPEG file" */
} jerr;

static void on_error(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

/* Level -1 is a warning, >= 0 a trace line (dropped).  Warnings that do
 * not cost pixels (extraneous bytes between markers, an unknown JFIF or
 * Adobe version, a bad ICC marker) are only counted, as image libraries
 * commonly do: photos in the wild carry them. */
static void on_message(j_common_ptr c, int level)
{
    if (level >= 0)
        return;
    jerr *e = (jerr *)c->err;
    int code = c->err->msg_code;
    int lost = code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
               code == JWRN_HUFF_BAD_CODE;
#if JPEG_LIB_VERSION >= 70 || defined(C_ARITH_CODING_SUPPORTED) || \
    defined(D_ARITH_CODING_SUPPORTED)
    lost = lost || code == JWRN_ARITH_BAD_CODE;
#endif
    if (!lost) {
        c->err->num_warnings++;
        return;
    }
    (*c->err->format_message)(c, e->msg);
    e->truncated = code == JWRN_JPEG_EOF;
    longjmp(e->jb, 1);
}

static void jerr_init(jerr *e)
{
    memset(e, 0, sizeof *e);
    jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error;
    e->pub.emit_message = on_message;
}

/* ------------------------------------------------------------------------ */
/* Decoding. */

typedef struct jdec {
    struct jpeg_decompress_struct c;
    jerr err;
    int created;           /* c needs jpeg_destroy_decompress */
    FILE *fp;
    unsigned char *row;    /* one row of 4 samples, for CMYK and YCCK */
    must_image img;
} jdec;

static void jd_close(jdec *d)
{
    if (d->created)
        jpeg_destroy_decompress(&d->c);
    d->created = 0;
    if (d->fp)
        fclose(d->fp);
    d->fp = NULL;
    free(d->row);
    d->row = NULL;
}

/* The libjpeg message as our error: "PATH: truncated JPEG (...)" or
 * "PATH: cannot decode JPEG: ...". */
static int jd_fail(jdec *d, const char *path, must_err *err)
{
    int rc = d->err.truncated
                 ? must_err_set(err, MUST_EFORMAT, "%s: truncated JPEG (%s)", path, d->err.msg)
                 : must_err_set(err, MUST_EFORMAT, "%s: cannot decode JPEG: %s", path,
                                d->err.msg);
    must_image_free(&d->img);
    jd_close(d);
    return rc;
}

/* Opens path and reads the header into d->c. */
static int jd_header(jdec *d)
{
    if (setjmp(d->err.jb))
        return MUST_EFORMAT;
    jpeg_create_decompress(&d->c);
    d->created = 1;
    jpeg_stdio_src(&d->c, d->fp);
    jpeg_read_header(&d->c, TRUE);
    return MUST_OK;
}

static int jd_open(jdec *d, const char *path, must_err *err)
{
    memset(d, 0, sizeof *d);
    jerr_init(&d->err);
    d->c.err = &d->err.pub;
    if (!(d->fp = fopen(path, "rb")))
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[3];
    size_t got = fread(sig, 1, sizeof sig, d->fp);
    if (got != sizeof sig || sig[0] != 0xFF || sig[1] != 0xD8 || sig[2] != 0xFF) {
        jd_close(d);
        return must_err_set(err, MUST_EFORMAT, "%s: not a JPEG file", path);
    }
    rewind(d->fp);
    if (jd_header(d))
        return jd_fail(d, path, err);
    return MUST_OK;
}

/* Adobe's programs store CMYK inverted (0 = full ink) and say so with their
 * APP14 marker; other writers store ink.  Either way, what is left of the
 * light in each channel times what K leaves is the colour. */
static void cmyk_row(const unsigned char *in, unsigned char *out, int w, int channels,
                     int inverted)
{
    for (int x = 0; x < w; x++, in += 4) {
        unsigned c = inverted ? in[0] : 255u - in[0], m = inverted ? in[1] : 255u - in[1],
                 y = inverted ? in[2] : 255u - in[2], k = inverted ? in[3] : 255u - in[3];
        unsigned r = (c * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        if (channels == 3) {
            out[3 * x] = (unsigned char)r;
            out[3 * x + 1] = (unsigned char)g;
            out[3 * x + 2] = (unsigned char)b;
        } else {
            out[x] = (unsigned char)((299 * r + 587 * g + 114 * b + 500) / 1000);
        }
    }
}

/* Decodes at scale n/8 into d->img as `channels` 8-bit samples. */
static int jd_decode(jdec *d, int channels, unsigned n, must_err *err)
{
    if (setjmp(d->err.jb))
        return MUST_EFORMAT;
    int cmyk = d->c.jpeg_color_space == JCS_CMYK || d->c.jpeg_color_space == JCS_YCCK;
    d->c.out_color_space = cmyk ? JCS_CMYK : channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    d->c.scale_num = n;
    d->c.scale_denom = 8;
    jpeg_start_decompress(&d->c);
    int w = (int)d->c.output_width;
    int rc = must_image_alloc(&d->img, w, (int)d->c.output_height, channels, 8, err);
    if (rc)
        return rc;
    if (cmyk && !(d->row = malloc(4 * (size_t)w)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    size_t stride = (size_t)w * (size_t)channels;
    while (d->c.output_scanline < d->c.output_height) {
        unsigned char *dst = (unsigned char *)d->img.pixels + d->c.output_scanline * stride;
        JSAMPROW row = cmyk ? d->row : dst;
        if (jpeg_read_scanlines(&d->c, &row, 1) != 1)
            return MUST_EFORMAT; /* cannot happen with a file source */
        if (cmyk)
            cmyk_row(d->row, dst, w, channels, d->c.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d->c);
    return MUST_OK;
}

int must_jpeg_read_scaled(const char *path, must_image *img, int channels, float min_scale,
                          int want_w, int want_h, float *scale, int *full_w, int *full_h,
                          must_err *err)
{
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3)
        return must_err_set(err, MUST_EINVAL, "%s: cannot read as %d channels", path, channels);
    /* The smallest n with n / 8 >= min_scale: no sample of the resize
     * falls between the pixels decoded. */
    unsigned n = 8;
    while (n > 1 && (float)(n - 1) / 8.0f >= min_scale)
        n--;
    jdec d;
    int rc = jd_open(&d, path, err);
    if (rc)
        return rc;
    if ((rc = must_image_check_size(path, d.c.image_width, d.c.image_height, want_w, want_h,
                                    err))) {
        jd_close(&d);
        return rc;
    }
    if (full_w)
        *full_w = (int)d.c.image_width;
    if (full_h)
        *full_h = (int)d.c.image_height;
    rc = jd_decode(&d, channels, n, err);
    if (rc == MUST_ENOMEM)
        must_err_prefix(err, "%s", path);
    if (rc == MUST_EFORMAT && d.err.msg[0])
        return jd_fail(&d, path, err);
    if (rc) {
        if (rc == MUST_EFORMAT)
            must_err_set(err, rc, "%s: cannot decode JPEG: fewer rows than its header says",
                             path);
        must_image_free(&d.img);
        jd_close(&d);
        return rc;
    }
    jd_close(&d);
    *img = d.img;
    if (scale)
        *scale = (float)n / 8.0f;
    return MUST_OK;
}

int must_jpeg_read(const char *path, must_image *img, int channels, int depth, must_err *err)
{
    memset(img, 0, sizeof *img);
    if ((channels != 1 && channels != 3) || (depth != 8 && depth != 16))
        return must_err_set(err, MUST_EINVAL, "%s: cannot read as %d channels of %d bits", path,
                            channels, depth);
    if (depth != 8)
        return must_err_set(err, MUST_EFORMAT, "%s: has 8-bit samples, %d-bit expected", path,
                            depth);
    return must_jpeg_read_scaled(path, img, channels, 1.0f, 0, 0, NULL, NULL, NULL, err);
}

int must_jpeg_info(const char *path, int *width, int *height, int *channels, int *depth,
                   must_err *err)
{
    jdec d;
    int rc = jd_open(&d, path, err);
    if (rc)
        return rc;
    if (width)
        *width = (int)d.c.image_width;
    if (height)
        *height = (int)d.c.image_height;
    if (channels)
        *channels = d.c.num_components;
    if (depth)
        *depth = 8;
    jd_close(&d);
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Encoding. */

typedef struct jenc {
    struct jpeg_compress_struct c;
    jerr err;
    int created;
} jenc;

static int je_encode(jenc *e, FILE *fp, const must_image *img, int quality)
{
    if (setjmp(e->err.jb))
        return MUST_EIO;
    jpeg_create_compress(&e->c);
    e->created = 1;
    jpeg_stdio_dest(&e->c, fp);
    e->c.image_width = (JDIMENSION)img->width;
    e->c.image_height = (JDIMENSION)img->height;
    e->c.input_components = img->channels;
    e->c.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&e->c); /* YCbCr 4:2:0 for RGB */
    jpeg_set_quality(&e->c, quality, TRUE);
    jpeg_start_compress(&e->c, TRUE);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (e->c.next_scanline < e->c.image_height) {
        JSAMPROW row = (unsigned char *)img->pixels + e->c.next_scanline * stride;
        jpeg_write_scanlines(&e->c, &row, 1);
    }
    jpeg_finish_compress(&e->c);
    return MUST_OK;
}

int must_jpeg_write(const char *path, const must_image *img, int quality, must_err *err)
{
    if (!img->pixels || img->width <= 0 || img->height <= 0 || img->width > 65500 ||
        img->height > 65500 || (img->channels != 1 && img->channels != 3) || img->depth != 8 ||
        quality < 1 || quality > 100)
        return must_err_set(err, MUST_EINVAL,
                            "%s: cannot write a %dx%d image of %d channels, %d bits as a JPEG of "
                            "quality %d (8-bit gray or RGB up to 65500 pixels a side, quality "
                            "1-100)", path, img->width, img->height, img->channels, img->depth,
                            quality);
    must_afile af;
    int rc = must_afile_open(&af, path, err);
    if (rc)
        return rc;
    jenc e;
    memset(&e, 0, sizeof e);
    jerr_init(&e.err);
    e.c.err = &e.err.pub;
    rc = je_encode(&e, af.fp, img, quality);
    if (e.created)
        jpeg_destroy_compress(&e.c);
    if (rc) {
        must_afile_abort(&af);
        return must_err_set(err, MUST_EIO, "%s: cannot write JPEG: %s", path, e.err.msg);
    }
    return must_afile_commit(&af, err);
}
