/* image.c - reading a photo whatever its format: the first bytes of the file
 * say whether it is a PNG (png.c) or a JPEG (jpeg.c).  Names lie (a .png
 * that a camera tool wrote as JPEG, a download without an extension);
 * signatures do not. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "image-impl.h"

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* MUST_IMAGE_PNG or MUST_IMAGE_JPEG into *format, or an error naming path. */
static int sniff(const char *path, int *format, must_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[8];
    size_t got = fread(b, 1, sizeof b, fp);
    fclose(fp);
    if (got == sizeof b && memcmp(b, png_sig, sizeof png_sig) == 0)
        *format = MUST_IMAGE_PNG;
    else if (got >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        *format = MUST_IMAGE_JPEG; /* SOI, then the next marker */
    else
        return must_err_set(err, MUST_EFORMAT, "%s: not a PNG or JPEG file", path);
    return MUST_OK;
}

int must_image_read(const char *path, must_image *img, int channels, int depth, must_err *err)
{
    int format, rc;
    memset(img, 0, sizeof *img);
    if ((rc = sniff(path, &format, err)))
        return rc;
    return format == MUST_IMAGE_JPEG ? must_jpeg_read(path, img, channels, depth, err)
                                     : must_png_read(path, img, channels, depth, err);
}

int must_image_info(const char *path, int *format, int *width, int *height, int *channels,
                    int *depth, must_err *err)
{
    int f, rc;
    if ((rc = sniff(path, &f, err)))
        return rc;
    if (format)
        *format = f;
    return f == MUST_IMAGE_JPEG ? must_jpeg_info(path, width, height, channels, depth, err)
                                : must_png_info(path, width, height, channels, depth, err);
}

int must_image_read_scaled(const char *path, must_image *img, int channels, float min_scale,
                           int want_w, int want_h, float *scale, int *full_w, int *full_h,
                           must_err *err)
{
    int format, rc;
    memset(img, 0, sizeof *img);
    if ((rc = sniff(path, &format, err)))
        return rc;
    if (format == MUST_IMAGE_JPEG)
        return must_jpeg_read_scaled(path, img, channels, min_scale, want_w, want_h, scale,
                                     full_w, full_h, err);
    if ((rc = must_png_read_want(path, img, channels, 8, want_w, want_h, err)))
        return rc;
    if (scale)
        *scale = 1.0f;
    if (full_w)
        *full_w = img->width;
    if (full_h)
        *full_h = img->height;
    return MUST_OK;
}
