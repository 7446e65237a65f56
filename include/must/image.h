/* must/image.h - images in memory; PNG files (libpng's simplified API) and
 * JPEG files (libjpeg-turbo).
 *
 * Pixels are interleaved rows (H, W, C), 8 or 16 bits per sample, in the
 * machine's byte order for 16-bit samples.  Corrupt, truncated or non-PNG
 * (non-JPEG) files give an error that names the file; nothing crashes.
 * Photos go through must_image_read, which tells the formats apart by their
 * first bytes, not by the file's name; label maps stay PNG (must_png_read).
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

/* Images a reader will decode: at most this many pixels (width x height
 * as the file's header states them) and 65536 on a side; a larger one is
 * refused with MUST_ELIMIT naming the file, before any pixel is allocated
 * (a 44-byte PNG can claim 65536 x 65536).  The default is
 * MUST_IMAGE_MAX_PIXELS_DEFAULT, or the environment's MUST_MAX_PIXELS
 * when set (a positive integer); must_image_set_max_pixels overrides both
 * for the process (0: back to those).  Set it before reading threads start. */
#define MUST_IMAGE_MAX_PIXELS_DEFAULT ((size_t)1 << 26) /* 8192 x 8192: 64 Mpx */
MUST_API size_t must_image_max_pixels(void);
MUST_API void must_image_set_max_pixels(size_t pixels);

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

/* Reads a JPEG (baseline or progressive; gray, YCbCr, RGB, CMYK or YCCK)
 * converting it to `channels` (1 or 3) 8-bit samples: CMYK and YCCK become
 * RGB as R = (255 - C)(255 - K) / 255 (and so on), with the values taken as
 * inverted when the file has Adobe's APP14 marker, as Adobe's programs
 * write them; gray from colour is libjpeg's luma (for CMYK: 0.299 R +
 * 0.587 G + 0.114 B).  depth must be 8.  A truncated file (libjpeg's
 * "premature end") or corrupt entropy data is an error naming the file, not
 * a grey-filled picture. */
MUST_API int must_jpeg_read(const char *path, must_image *img, int channels, int depth,
                            must_err *err);
/* Reads only the header: size and stored components (1, 3 or 4); depth 8. */
MUST_API int must_jpeg_info(const char *path, int *width, int *height, int *channels, int *depth,
                            must_err *err);
/* Writes 8-bit gray or RGB as a baseline JPEG (4:2:0 for RGB) of quality
 * 1-100, atomically. */
MUST_API int must_jpeg_write(const char *path, const must_image *img, int quality, must_err *err);

/* The formats must_image_read knows, told apart by the first bytes. */
enum must_image_format { MUST_IMAGE_PNG = 1, MUST_IMAGE_JPEG = 2 };

/* Reads a PNG (must_png_read) or a JPEG (must_jpeg_read), whichever the
 * file's first bytes say it is, whatever its name; any other file is an
 * error naming it ("not a PNG or JPEG file"). */
MUST_API int must_image_read(const char *path, must_image *img, int channels, int depth,
                             must_err *err);
/* Reads only the header of a PNG or JPEG: *format (MUST_IMAGE_*), size,
 * stored channels and depth (any output may be NULL). */
MUST_API int must_image_info(const char *path, int *format, int *width, int *height,
                             int *channels, int *depth, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
