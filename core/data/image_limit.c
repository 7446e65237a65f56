/* image_limit.c - how large an image a reader will decode.  A file's header
 * is a stranger's claim: a 44-byte PNG can say 65048 x 45832, which is
 * 8.9 GB of RGB before libpng finds the data missing.  Every reader (png.c,
 * png_index.c, jpeg.c) asks here between the header and the allocation. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "image-impl.h"

static size_t max_pixels; /* 0: the environment's, else the default */

void must_image_set_max_pixels(size_t pixels)
{
    max_pixels = pixels;
}

size_t must_image_max_pixels(void)
{
    if (max_pixels)
        return max_pixels;
    const char *env = getenv("MUST_MAX_PIXELS");
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 10);
        if (!errno && *end == '\0' && v > 0 && env[0] != '-')
            return (size_t)v;
    }
    return MUST_IMAGE_MAX_PIXELS_DEFAULT;
}

int must_image_check_size(const char *path, unsigned long w, unsigned long h, int want_w,
                          int want_h, must_err *err)
{
    if (w == 0 || h == 0)
        return must_err_set(err, MUST_EFORMAT, "%s: image header says %lux%lu", path, w, h);
    if (want_w > 0 && (w != (unsigned long)want_w || h != (unsigned long)want_h))
        return must_err_set(err, MUST_ESHAPE, "%s: image is %lux%lu but its set declares %dx%d",
                            path, w, h, want_w, want_h);
    size_t lim = must_image_max_pixels();
    if (w > 65536 || h > 65536 || (unsigned long long)w * h > lim)
        return must_err_set(err, MUST_ELIMIT,
                            "%s: image is %lux%lu, more than the %zu pixels (and 65536 a side) "
                            "a reader decodes (MUST_MAX_PIXELS raises the limit)",
                            path, w, h, lim);
    return MUST_OK;
}
