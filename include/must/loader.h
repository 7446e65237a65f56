/* must/loader.h - batches from a union of datasets, prepared ahead by worker threads.
 *
 * The loader asks the union sampler (must/sampler.h) which examples make
 * batch i of an epoch, reads them (must_dataset_load), augments image and
 * labels together (must/augment.h) and collates them.  A JPEG much larger
 * than the batch is decoded at a reduced DCT scale (n/8, the smallest that
 * still has a pixel for each one the resize samples) before the exact
 * resize, unless full_decode says not to; labels keep the stored size.
 * Worker threads make the next batches while the caller trains on the
 * current one; a bounded ring of batch slots limits how far they run ahead,
 * and batches come out in order.  A batch depends only on (seed, epoch,
 * batch index): each example's augmentation draws from an RNG seeded by
 * (seed, epoch, its position in the epoch), never from a worker's state, so
 * 0, 1 or 8 workers give the same bytes.
 *
 * Sharding (sampler.rank and sampler.world, must/sampler.h): each rank's
 * loader delivers its slice of every global batch of batch x world
 * examples, the batches one loader of batch x world would deliver, and
 * every rank counts the same batches per epoch.
 *
 * Missing labels: an example from a set without some task gets that task's
 * "ignore" filling (class -1 and a zero soft row, no boxes, segmentation 255,
 * depth 0, normal validity 0; a registered kind's codec collates it with no
 * label) and its bit in has[] off, so that a trainer masks that task's loss
 * for it.
 */
#ifndef MUST_LOADER_H
#define MUST_LOADER_H

#include <stdint.h>

#include "must/augment.h"
#include "must/dataset.h"
#include "must/export.h"
#include "must/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* must_loader_opts.tasks for images without labels (a self-supervised
 * objective's): a bit no label kind has. */
#define MUST_LOADER_IMAGES_ONLY (1u << 31)

typedef struct must_loader_opts {
    int size;               /* S: the square training resolution */
    int batch;              /* B */
    int workers;            /* prefetch threads; 0 = read in the caller's thread */
    int queue;              /* batch slots; 0 = 2 per worker + 1 */
    int split;              /* MUST_SPLIT_*, or -1 for every image of each set */
    must_sampler_opts sampler;
    int augment;            /* 1: random training augmentation; 0: fit only (evaluation) */
    must_aug_opts aug;
    unsigned tasks;         /* kinds to load; 0 = every kind some set carries;
                             * MUST_LOADER_IMAGES_ONLY: none (images alone) */
    uint64_t first_epoch;   /* resume here */
    uint64_t epochs;        /* 0 = endless */
    int drop_last;          /* drop each epoch's last partial batch */
    int full_decode;        /* 1: decode JPEGs at full size, never at a reduced DCT scale */
    uint64_t first_batch;   /* start at this batch of first_epoch; those before are not read */
    int views;              /* 1 (0 reads as 1); 2: each batch holds batch/2 images twice, rows
                             * k and k + n (n: the images) two independent augmentations of one
                             * image, the layout of must_op_nt_xent; batch must be even */
} must_loader_opts;

/* Training defaults: S 64, B 16, 2 workers, train split, union mode with
 * shuffling, seed 0, augmentation on (must_aug_defaults), every task,
 * endless, drop_last, JPEGs decoded at a reduced scale, one view. */
MUST_API void must_loader_defaults(must_loader_opts *o);

typedef struct must_batch {
    int n;                  /* examples in this batch (B, or fewer in a last partial one) */
    int size;               /* S */
    uint64_t epoch, index;  /* batch `index` of `epoch` */
    unsigned tasks;         /* the kinds this loader collates */
    float *images;          /* (B, 3, S, S) normalised as must_aug_normalize */
    unsigned *has;          /* (B) MUST_LABEL_BIT(kind) for each label the example has */
    int *dataset;           /* (B) which set */
    int *example;           /* (B) image index within that set */
    must_aug_tf *tf;        /* (B) geometry applied (to map predictions back) */
    int ncls;               /* K of classification (0 when not collated) */
    int32_t *cls;           /* (B) hard class; -1 when soft or missing */
    float *cls_soft;        /* (B, K) one-hot for hard labels, the distribution for soft */
    must_boxes *boxes;      /* (B) in output pixels */
    int32_t *seg;           /* (B, S, S) class id, 255 = ignore */
    float *depth;           /* (B, S, S) metres, 0 = no data */
    float *normal;          /* (B, 3, S, S) unit vectors */
    uint8_t *normal_valid;  /* (B, S, S) 1 where the normal is valid */
    /* A registered kind's batch storage (must/kinds.h: its codec's
     * batch_new, filled by collate), NULL for the built-in kinds' indices
     * and kinds not collated. */
    void *ext[MUST_LABEL_MAX_KINDS];
    int views;              /* the loader's views: 2 when rows k and n/2 + k are two
                             * augmentations of one image (must_loader_opts.views) */
} must_batch;

typedef struct must_loader must_loader;

/* The sets are borrowed: they must stay open until must_loader_free.  Sets
 * that carry the same task must agree on its class names. */
MUST_API int must_loader_new(must_dataset *const *sets, int nsets, const must_loader_opts *o,
                             must_loader **out, must_err *err);
/* Delivers the next batch: returns 1 with *out valid until the next call,
 * 0 after the last epoch, or a negative status (the message names the
 * dataset and file at fault). */
MUST_API int must_loader_next(must_loader *L, const must_batch **out, must_err *err);
MUST_API uint64_t must_loader_batches_per_epoch(const must_loader *L);
/* The kinds collated (the union of the sets' tasks, limited by o->tasks). */
MUST_API unsigned must_loader_tasks(const must_loader *L);
MUST_API void must_loader_free(must_loader *L);

#ifdef __cplusplus
}
#endif
#endif
