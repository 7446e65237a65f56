/* augment-impl.h - the augmentation chain for an image that was decoded at
 * a reduced scale (private to libmust; the loader's JPEG path). */
#ifndef MUST_AUGMENT_IMPL_H
#define MUST_AUGMENT_IMPL_H

#include "must/augment.h"

/* must_aug_example's chain after its transform was drawn: tf comes from
 * must_aug_sample (o not NULL) or must_aug_fit (o NULL) on the stored size
 * full_w x full_h, and r has made only that draw.  img holds the image
 * decoded at `scale` (its sides ceil(full * scale), as
 * must_image_read_scaled gives them); it resamples through tf taken to its
 * pixels, and points past the stored image's edge get the padding, as at
 * full size.  The labels in l keep the stored size and follow tf itself.
 * With scale 1 this is exactly the rest of must_aug_example. */
int must_aug_apply(must_map *img, float scale, int full_w, int full_h, must_labels *l,
                   const must_aug_tf *tf, must_rng *r, const must_aug_opts *o, must_err *err);

#endif
