/* png_index.c - a palette PNG's indices (or a gray PNG's values) as they are
 * stored, through libpng's full API: the simplified API of png.c expands
 * palettes to colours, which loses the labels of a class map (see
 * png-impl.h).  libpng reports errors by longjmp to the setjmp below. */
#include "config.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-impl.h"
#include "png-impl.h"

#define MSG_MAX 200

/* libpng's error: kept for the message, then back to the setjmp. */
static void on_error(png_structp png, png_const_charp msg)
{
    snprintf((char *)png_get_error_ptr(png), MSG_MAX, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (an unknown chunk, a palette index past the palette) change no
 * index: not reported. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static const char *color_name(int type)
{
    switch (type) {
    case PNG_COLOR_TYPE_RGB:
        return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return "RGBA";
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return "gray+alpha";
    case PNG_COLOR_TYPE_GRAY:
        return "gray";
    default:
        return "palette";
    }
}

/* After png_read_info: what the file holds is one that is read here, at a
 * size must_image takes. */
static int check_header(const char *path, png_structp png, png_infop info, must_err *err)
{
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
    if (type != PNG_COLOR_TYPE_PALETTE && !(type == PNG_COLOR_TYPE_GRAY && depth <= 8))
        return must_err_set(err, MUST_EFORMAT, "%s: a %d-bit %s PNG, where a class map of "
                            "palette indices (or 8-bit gray values) is expected", path, depth,
                            color_name(type));
    if (w > (1u << 16) || h > (1u << 16))
        return must_err_set(err, MUST_EFORMAT, "%s: image too large (%ux%u)", path, w, h);
    return MUST_OK;
}

int must_png_read_index(const char *path, must_image *img, int *paletted, must_err *err)
{
    memset(img, 0, sizeof *img);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, sizeof sig, fp) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        fclose(fp);
        return must_err_set(err, MUST_EFORMAT, "%s: not a PNG file", path);
    }
    char msg[MSG_MAX] = "";
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* Set after the setjmp, read after a longjmp: volatile. */
    png_bytep *volatile rows = NULL;
    int rc = MUST_OK;
    if (!info) {
        rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = must_err_set(err, MUST_EFORMAT, "%s: corrupt PNG: %s", path, msg);
        goto done;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, sizeof sig);
    png_read_info(png, info);
    if ((rc = check_header(path, png, info, err)))
        goto done;
    int type = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) < 8)
        png_set_packing(png); /* one byte per index or value, not scaled */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    if ((rc = must_image_check_size(path, pw, ph, 0, 0, err)))
        goto done;
    int w = (int)pw, h = (int)ph;
    if ((rc = must_image_alloc(img, w, h, 1, 8, err))) {
        must_err_prefix(err, "%s", path);
        goto done;
    }
    if (!(rows = malloc((size_t)h * sizeof *rows))) {
        rc = must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)img->pixels + (size_t)y * (size_t)w;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* the rest of the file: a cut-off one is an error */
    if (paletted)
        *paletted = type == PNG_COLOR_TYPE_PALETTE;
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    fclose(fp);
    free(rows);
    if (rc)
        must_image_free(img);
    return rc;
}
