/* image-impl.h - decoding a photo for a resize (private to libmust): the
 * loader and the dataset writer need fewer pixels than a JPEG holds. */
#ifndef MUST_IMAGE_IMPL_H
#define MUST_IMAGE_IMPL_H

#include "must/image.h"

/* Reads path as 8-bit `channels` (1 or 3) for a resize by min_scale (output
 * pixels per source pixel).  A JPEG decodes at the smallest of libjpeg's DCT
 * scales n/8 (n = 1..8) that is not below min_scale (min_scale <= 1/8: 1/8;
 * >= 1: full size), so that nothing the resize samples is lost; its sides
 * are then ceil(full side * n / 8).  A PNG decodes at full size.  *scale
 * gets the scale decoded at (n / 8, or 1), *full_w and *full_h the stored
 * size; any of the three may be NULL.  When want_w > 0 the stored size must
 * be want_w x want_h (the size the file's set declares), checked from the
 * header before anything is decoded.  image.c dispatches, jpeg.c decodes. */
int must_image_read_scaled(const char *path, must_image *img, int channels, float min_scale,
                           int want_w, int want_h, float *scale, int *full_w, int *full_h,
                           must_err *err);
int must_jpeg_read_scaled(const char *path, must_image *img, int channels, float min_scale,
                          int want_w, int want_h, float *scale, int *full_w, int *full_h,
                          must_err *err);
/* must_png_read, with the stored size checked against want_w x want_h
 * (when want_w > 0) before the pixels are allocated. */
int must_png_read_want(const char *path, must_image *img, int channels, int depth, int want_w,
                       int want_h, must_err *err);

/* A header's size, before the reader allocates: at most
 * must_image_max_pixels() pixels and 65536 a side (MUST_ELIMIT), and
 * want_w x want_h when want_w > 0 (MUST_ESHAPE); errors name path
 * (image_limit.c). */
int must_image_check_size(const char *path, unsigned long w, unsigned long h, int want_w,
                          int want_h, must_err *err);

#endif
