/* png.c - PNG files through libpng's simplified API, which reports errors in
 * png_image.message instead of longjmp-ing through our frames. */
#include "config.h"

#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "base/io-impl.h"
#include "image-impl.h"
#include "must/image.h"
#include "must/io.h"

size_t must_image_bytes(const must_image *img)
{
    return (size_t)img->width * (size_t)img->height * (size_t)img->channels *
           (size_t)(img->depth / 8);
}

int must_image_alloc(must_image *img, int width, int height, int channels, int depth,
                     must_err *err)
{
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || width > (1 << 16) || height > (1 << 16) ||
        (channels != 1 && channels != 3) || (depth != 8 && depth != 16))
        return must_err_set(err, MUST_EINVAL, "image: bad size %dx%d, %d channels, %d bits",
                            width, height, channels, depth);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->depth = depth;
    img->pixels = calloc(1, must_image_bytes(img));
    if (!img->pixels)
        return must_err_set(err, MUST_ENOMEM, "image: cannot allocate %dx%d", width, height);
    return MUST_OK;
}

void must_image_free(must_image *img)
{
    if (img) {
        free(img->pixels);
        img->pixels = NULL;
    }
}

static png_uint_32 format_for(int channels, int depth)
{
    png_uint_32 f = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    if (depth == 16)
        f |= PNG_FORMAT_FLAG_LINEAR;
    return f;
}

static int read_header(const char *path, png_image *pi, must_err *err)
{
    memset(pi, 0, sizeof *pi);
    pi->version = PNG_IMAGE_VERSION;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, sizeof sig, fp);
    fclose(fp);
    if (got != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return must_err_set(err, MUST_EFORMAT, "%s: not a PNG file", path);
    if (!png_image_begin_read_from_file(pi, path)) {
        int rc = must_err_set(err, MUST_EFORMAT, "%s: corrupt PNG: %s", path, pi->message);
        png_image_free(pi);
        return rc;
    }
    return MUST_OK;
}

int must_png_info(const char *path, int *width, int *height, int *channels, int *depth,
                  must_err *err)
{
    png_image pi;
    int rc = read_header(path, &pi, err);
    if (rc)
        return rc;
    if (width)
        *width = (int)pi.width;
    if (height)
        *height = (int)pi.height;
    if (channels)
        *channels = (int)PNG_IMAGE_SAMPLE_CHANNELS(pi.format);
    if (depth)
        *depth = (pi.format & PNG_FORMAT_FLAG_LINEAR) ? 16 : 8;
    png_image_free(&pi);
    return MUST_OK;
}

int must_png_read(const char *path, must_image *img, int channels, int depth, must_err *err)
{
    return must_png_read_want(path, img, channels, depth, 0, 0, err);
}

int must_png_read_want(const char *path, must_image *img, int channels, int depth, int want_w,
                       int want_h, must_err *err)
{
    memset(img, 0, sizeof *img);
    if ((channels != 1 && channels != 3) || (depth != 8 && depth != 16))
        return must_err_set(err, MUST_EINVAL, "%s: cannot read as %d channels of %d bits", path,
                            channels, depth);
    png_image pi;
    int rc = read_header(path, &pi, err);
    if (rc)
        return rc;
    /* Converting between depths would silently rescale label values (a
     * 16-bit depth map read as 8 bits loses metres), so it is refused. */
    int stored = (pi.format & PNG_FORMAT_FLAG_LINEAR) ? 16 : 8;
    if (stored != depth) {
        png_image_free(&pi);
        return must_err_set(err, MUST_EFORMAT, "%s: has %d-bit samples, %d-bit expected", path,
                            stored, depth);
    }
    rc = must_image_check_size(path, pi.width, pi.height, want_w, want_h, err);
    if (!rc && (rc = must_image_alloc(img, (int)pi.width, (int)pi.height, channels, depth, err)))
        must_err_prefix(err, "%s", path);
    if (rc) {
        png_image_free(&pi);
        return rc;
    }
    pi.format = format_for(channels, depth);
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&pi, &black, img->pixels, 0, NULL)) {
        rc = must_err_set(err, MUST_EFORMAT, "%s: corrupt PNG: %s", path, pi.message);
        png_image_free(&pi);
        must_image_free(img);
        return rc;
    }
    png_image_free(&pi);
    return MUST_OK;
}

static int png_write(const char *path, const must_image *img, int sync, must_err *err)
{
    if (!img->pixels || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3) || (img->depth != 8 && img->depth != 16))
        return must_err_set(err, MUST_EINVAL, "%s: cannot write a %dx%d image of %d channels, %d bits",
                            path, img->width, img->height, img->channels, img->depth);
    must_afile af;
    int rc = must_afile_open(&af, path, err);
    if (rc)
        return rc;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->width;
    pi.height = (png_uint_32)img->height;
    pi.format = format_for(img->channels, img->depth);
    if (!png_image_write_to_stdio(&pi, af.fp, 0, img->pixels, 0, NULL)) {
        rc = must_err_set(err, MUST_EIO, "%s: cannot write PNG: %s", path, pi.message);
        png_image_free(&pi);
        must_afile_abort(&af);
        return rc;
    }
    png_image_free(&pi);
    return sync ? must_afile_commit(&af, err) : must_afile_commit_nosync(&af, err);
}

int must_png_write(const char *path, const must_image *img, must_err *err)
{
    return png_write(path, img, 1, err);
}

int must_png_write_nosync(const char *path, const must_image *img, must_err *err)
{
    return png_write(path, img, 0, err);
}

int must_png_complete(const char *path)
{
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    unsigned char tail[12];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    int ok = fseek(fp, -12, SEEK_END) == 0 && fread(tail, 1, 12, fp) == 12 &&
             memcmp(tail, iend, 12) == 0;
    fclose(fp);
    return ok;
}
