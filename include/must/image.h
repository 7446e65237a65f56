/* must/image.h - images in memory and PNG files (libpng's simplified API).
 *
 * Pixels are interleaved rows (H, W, C), 8 or 16 bits per sample, in the
 * machine's byte order for 16-bit samples.  Corrupt, truncated or non-PNG
 * files give an error that names the file; nothing crashes.
 */
#ifndef MUST_IMAGE_H
#define MUST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct must_image {
    int width, height;
    int channels;   /* 1 (gray) or 3 (RGB) */
    int depth;      /* bits per sample: 8 or 16 */
    void *pixels;   /* uint8_t or uint16_t, width * height * channels samples */
} must_image;

/* Allocates zeroed pixels; the caller frees with must_image_free. */
MUST_API int must_image_alloc(must_image *img, int width, int height, int channels, int depth,
                              must_err *err);
MUST_API void must_image_free(must_image *img);
/* Bytes in the pixel buffer. */
MUST_API size_t must_image_bytes(const must_image *img);

/* Reads a PNG converting it to `channels` (1 or 3) samples of `depth` bits.
 * 8-bit gray, RGB, RGBA (alpha dropped over black) and palette files read
 * as 8-bit; 16-bit gray and RGB files read as 16-bit without any change of
 * value (labels, not colours).  Asking for 16 bits from an 8-bit file, or 8
 * from a 16-bit one, is an error naming the file and both depths. */
MUST_API int must_png_read(const char *path, must_image *img, int channels, int depth,
                           must_err *err);

/* Reads only the size and stored format (channels 1-4, depth 8 or 16). */
MUST_API int must_png_info(const char *path, int *width, int *height, int *channels, int *depth,
                           must_err *err);

/* Writes 8- or 16-bit gray or RGB atomically (temporary name, then rename). */
MUST_API int must_png_write(const char *path, const must_image *img, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
