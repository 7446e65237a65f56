/* must/sampler.h - the union sampler: which example comes at each position.
 *
 * Pure arithmetic, no I/O and no state between calls: position i of epoch e
 * maps to (dataset, example) through keyed permutations of (seed, e), so
 * any worker can compute any position, in any order, and a run that resumes
 * at epoch e sees exactly what it would have seen.
 *
 * Modes (the paper's §3.2 and Table 5):
 *  - MUST_SAMPLE_UNION: uniform over the union of the datasets.  An epoch
 *    is one pass over every example of every set, shuffled together.
 *  - MUST_SAMPLE_BALANCED: each dataset with equal probability (the
 *    supervised multi-task baseline).  Positions come in rounds of one
 *    example per dataset (in a shuffled order), so every set gets the same
 *    share; each set is walked through a permutation of its own, reshuffled
 *    each time it runs out, so a small set repeats only after it was seen
 *    whole.  An epoch has as many positions as the union has examples.
 *
 * Sharding: rank r of `world` takes positions r, r + world, r + 2 world, ...
 * of each epoch: the shards are disjoint and together cover the epoch; their
 * lengths differ by at most one (must_sampler_len; a lockstep trainer runs
 * min over ranks = must_sampler_total / world steps).
 */
#ifndef MUST_SAMPLER_H
#define MUST_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum must_sample_mode { MUST_SAMPLE_UNION = 0, MUST_SAMPLE_BALANCED = 1 };

typedef struct must_sampler_opts {
    int mode;       /* MUST_SAMPLE_* */
    int shuffle;    /* 0: union mode walks the sets in order (evaluation) */
    uint64_t seed;
    int rank, world; /* world 0 is taken as 1 */
} must_sampler_opts;

typedef struct must_sample {
    int dataset;     /* which set */
    size_t index;    /* which example of that set (0..size-1) */
    size_t pos;      /* the position in the whole (unsharded) epoch */
} must_sample;

typedef struct must_sampler must_sampler;

/* sizes: examples per dataset (each > 0).  Free with must_sampler_free. */
MUST_API int must_sampler_new(const size_t *sizes, int nsets, const must_sampler_opts *opts,
                              must_sampler **out, must_err *err);
MUST_API void must_sampler_free(must_sampler *s);

/* Positions per epoch over all ranks, and this rank's share. */
MUST_API size_t must_sampler_total(const must_sampler *s);
MUST_API size_t must_sampler_len(const must_sampler *s);

/* The i-th sample (0 <= i < must_sampler_len) of this rank in epoch. */
MUST_API void must_sampler_get(const must_sampler *s, uint64_t epoch, size_t i, must_sample *out);

/* A keyed random permutation of [0, n): perm(key, n, i) for i in [0, n)
 * visits every value once.  Exposed for tests and for other shufflers. */
MUST_API size_t must_permute(uint64_t key, size_t n, size_t i);

/* Mixes values into a 64-bit key (splitmix64 rounds). */
MUST_API uint64_t must_hash64(uint64_t a, uint64_t b);

#ifdef __cplusplus
}
#endif
#endif
