/* stats.h - intervals for comparing two representations: a paired bootstrap
 * over test images and seeds.
 *
 * A transfer cell's metric (accuracy, mIoU, AP, depth error) is computed from
 * a test split for each seed.  To say whether representation B beats A on a
 * task, the report draws the test images with replacement (the same draw for
 * both: the comparison is paired) and the seeds with replacement, recomputes
 * both metrics on the draw through the caller's callback (so metrics that
 * are not means of per-image scores, such as mIoU, are recomputed, not
 * averaged), and takes percentiles of the differences. */
#ifndef MUST_STATS_H
#define MUST_STATS_H

#include <stdint.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The metric of representation `which` (0: A, 1: B) trained with seed index
 * `seed` (0 .. n_seeds - 1), over the test images images[0 .. n-1] (indices
 * into the split; an index may repeat, and counts as many times as it
 * appears).  Returns the metric; NaN when it cannot be computed. */
typedef double (*must_stats_metric_fn)(void *user, int which, int seed, const int *images,
                                       int n);

typedef struct must_stats_interval {
    double diff;       /* mean over seeds of B - A on the whole split */
    double lo, hi;     /* the interval of B - A at the requested level */
    double sd_a, sd_b; /* standard deviation over seeds of A's and B's metric */
    double mean_a, mean_b;
    int excludes_zero; /* lo > 0 or hi < 0 */
    int replicates;    /* draws that gave a number (NaN draws are left out) */
} must_stats_interval;

/* The paired bootstrap: `replicates` draws (e.g. 2000) of n_images images
 * and n_seeds seeds with replacement from a generator seeded by `rng_seed`;
 * the interval is the (1 - level) / 2 and (1 + level) / 2 percentiles of
 * the draws' B - A (level e.g. 0.95).  Deterministic for its arguments.
 * MUST_EINVAL for counts below 1, a level outside (0, 1), or fewer than
 * half the draws giving a number. */
MUST_API int must_stats_paired_bootstrap(must_stats_metric_fn fn, void *user, int n_images,
                                         int n_seeds, int replicates, double level,
                                         uint64_t rng_seed, must_stats_interval *out,
                                         must_err *err);

/* Mean and sample standard deviation (n - 1; 0 for one value) of v[0..n-1]. */
MUST_API void must_stats_mean_sd(const double *v, int n, double *mean, double *sd);

#ifdef __cplusplus
}
#endif

#endif
