/* must/augment.h - augmentation applied to an image and all its labels together.
 *
 * Geometry is one transform, must_aug_tf: scale the source by s (output
 * pixels per source pixel), cut the out_w x out_h window whose top-left
 * corner is source point (x0, y0), then optionally flip left-right.  The
 * image resamples bilinearly; every label follows the same transform:
 *   boxes move and scale, clip to the window, and vanish when nothing is left;
 *   segmentation resamples nearest (class ids never blend), outside = 255;
 *   depth resamples nearest (values unchanged), outside = 0 (no data);
 *   normals resample nearest and a flip negates their x component,
 *     outside = (0, 0, 0) (invalid).
 * Photometric jitter touches the image only.
 *
 * Each step is a small function a task plugin can reuse on its own maps;
 * must_aug_example() chains them the way the loader does.  Images are float
 * (3, H, W) in [0, 1] until must_aug_normalize().
 */
#ifndef MUST_AUGMENT_H
#define MUST_AUGMENT_H

#include "must/export.h"
#include "must/labels.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Normalisation of training images: (x - mean) / std per RGB channel, x in
 * [0, 1] (the ImageNet statistics, as the paper's ResNet backbones use). */
#define MUST_IMAGE_MEAN_R 0.485f
#define MUST_IMAGE_MEAN_G 0.456f
#define MUST_IMAGE_MEAN_B 0.406f
#define MUST_IMAGE_STD_R 0.229f
#define MUST_IMAGE_STD_G 0.224f
#define MUST_IMAGE_STD_B 0.225f

typedef struct must_aug_opts {
    float scale_min, scale_max; /* scale jitter of the fitted image (1, 1: none) */
    int hflip;                  /* flip half of the images left-right */
    float brightness;           /* factors drawn from [1 - x, 1 + x]; 0: none */
    float contrast;
    float saturation;
    float grey;                 /* probability of turning the image grey (its luma); 0: never */
    float blur;                 /* probability of a Gaussian blur of the output window, sigma
                                 * uniform in [0.1, 2] / 224 of its width (SimCLR's range at 224
                                 * pixels); 0: never */
} must_aug_opts;

/* Scale 0.8..1.25, flips, brightness/contrast/saturation 0.2, no greyscale,
 * no blur.  Greyscale and blur draw from the stream only when they are on,
 * so that options without them give the transforms they always gave. */
MUST_API void must_aug_defaults(must_aug_opts *o);

typedef struct must_aug_tf {
    float x0, y0;    /* source point at the window's top-left corner */
    float s;         /* output pixels per source pixel */
    int out_w, out_h;
    int flip;        /* 1: left-right flip after the crop */
} must_aug_tf;

/* The evaluation transform: fit the longer side to `size`, keep the top-left
 * corner, pad right or bottom (a detector maps boxes back with 1/s). */
MUST_API void must_aug_fit(int src_w, int src_h, int size, must_aug_tf *tf);
/* A random training transform: fit, scale by s in [scale_min, scale_max],
 * then a random size x size window (top-left aligned, padded, when the
 * scaled image is smaller), flipped with probability 1/2 when o->hflip. */
MUST_API void must_aug_sample(must_rng *r, int src_w, int src_h, int size, const must_aug_opts *o,
                              must_aug_tf *tf);

/* Resampling into a new out_h x out_w map (dst is allocated; the flip is
 * not applied here, see must_aug_flip_*).  Output pixel centres map back
 * to source point x0 + (u + 0.5) / s. */
MUST_API int must_aug_resample_bilinear(const must_map *src, const must_aug_tf *tf,
                                        const float *fill,
                                        must_map *dst, must_err *err);
MUST_API int must_aug_resample_nearest(const must_map *src, const must_aug_tf *tf, float fill,
                                       must_map *dst, must_err *err);
/* Boxes in source pixels -> window pixels, clipped; empty ones removed. */
MUST_API void must_aug_boxes(must_boxes *b, const must_aug_tf *tf);

/* Left-right flips in place. */
MUST_API void must_aug_flip_map(must_map *m);
MUST_API void must_aug_flip_normals(must_map *m); /* flips and negates x (channel 0) */
MUST_API void must_aug_flip_boxes(must_boxes *b, int width);

/* Brightness, contrast (around the image mean), saturation (around each
 * pixel's gray), in that order, clamped to [0, 1]; then greyscale with
 * probability o->grey. */
MUST_API void must_aug_photometric(must_map *img, must_rng *r, const must_aug_opts *o);
/* (x - mean) / std per channel. */
MUST_API void must_aug_normalize(must_map *img);

/* The whole chain, in place: img (3, H, W) in [0, 1] and the labels that
 * l->has names become size x size; the image ends normalised.  o NULL means
 * evaluation (must_aug_fit, no flip, no jitter).  *tf_out (may be NULL)
 * receives the transform used. */
MUST_API int must_aug_example(must_map *img, must_labels *l, int size, must_rng *r,
                              const must_aug_opts *o, must_aug_tf *tf_out, must_err *err);

/* The way back: labels made on the window of transform tf (predictions on
 * an evaluation batch, say) moved to the source image's own size src_w x
 * src_h, in place: boxes scale back and clip to the image, maps resample
 * nearest (classes, depths and normals keep their values; what the window
 * did not cover becomes 255, 0 or (0, 0, 0)), a flip is undone first. */
MUST_API int must_aug_unfit_labels(must_labels *l, const must_aug_tf *tf, int src_w, int src_h,
                                   must_err *err);

#ifdef __cplusplus
}
#endif
#endif
