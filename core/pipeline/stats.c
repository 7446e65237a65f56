/* stats.c - the paired bootstrap of include/must/stats.h.
 *
 * Each replicate draws the images and the seeds with replacement, once, and
 * evaluates both representations on that one draw: the difference keeps
 * what the two share (hard images, a lucky seed) out of its spread, which
 * is why a paired interval is narrower than two separate ones.  The seeds
 * are drawn too, so that the interval covers training noise as well as the
 * choice of test images (a two-level bootstrap).  Percentiles are read from
 * the sorted differences with linear interpolation. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "must/stats.h"
#include "must/tensor.h"

void must_stats_mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++)
        s += v[i];
    double m = n > 0 ? s / n : NAN;
    for (int i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    if (mean)
        *mean = m;
    if (sd)
        *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0 <= q <= 1) of sorted v[0..n-1], interpolated. */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static int draw(must_rng *r, int n) { return (int)(must_rng_u64(r) % (uint64_t)n); }

/* Both metrics over the whole split, per seed: the point estimate and the
 * spread over seeds. */
static int whole_split(must_stats_metric_fn fn, void *user, int n_images, int n_seeds,
                       int *idx, must_stats_interval *out, must_err *err)
{
    double *a = malloc((size_t)n_seeds * 2 * sizeof *a);
    if (!a)
        return must_err_set(err, MUST_ENOMEM, "bootstrap: out of memory");
    double *b = a + n_seeds, d = 0.0;
    for (int i = 0; i < n_images; i++)
        idx[i] = i;
    for (int s = 0; s < n_seeds; s++) {
        a[s] = fn(user, 0, s, idx, n_images);
        b[s] = fn(user, 1, s, idx, n_images);
        d += b[s] - a[s];
    }
    must_stats_mean_sd(a, n_seeds, &out->mean_a, &out->sd_a);
    must_stats_mean_sd(b, n_seeds, &out->mean_b, &out->sd_b);
    out->diff = d / n_seeds;
    free(a);
    return MUST_OK;
}

int must_stats_paired_bootstrap(must_stats_metric_fn fn, void *user, int n_images, int n_seeds,
                                int replicates, double level, uint64_t rng_seed,
                                must_stats_interval *out, must_err *err)
{
    if (!fn || !out || n_images < 1 || n_seeds < 1 || replicates < 1)
        return must_err_set(err, MUST_EINVAL,
                            "bootstrap: %d images, %d seeds, %d replicates: each must be >= 1",
                            n_images, n_seeds, replicates);
    if (!(level > 0.0 && level < 1.0))
        return must_err_set(err, MUST_EINVAL, "bootstrap: level %g is not in (0, 1)", level);
    int *idx = malloc((size_t)n_images * sizeof *idx);
    int *seeds = malloc((size_t)n_seeds * sizeof *seeds);
    double *diffs = malloc((size_t)replicates * sizeof *diffs);
    int rc = MUST_OK;
    if (!idx || !seeds || !diffs) {
        rc = must_err_set(err, MUST_ENOMEM, "bootstrap: out of memory");
        goto out;
    }
    if ((rc = whole_split(fn, user, n_images, n_seeds, idx, out, err)))
        goto out;
    must_rng r;
    must_rng_seed(&r, rng_seed);
    int kept = 0;
    for (int k = 0; k < replicates; k++) {
        for (int i = 0; i < n_images; i++)
            idx[i] = draw(&r, n_images);
        for (int s = 0; s < n_seeds; s++)
            seeds[s] = draw(&r, n_seeds);
        double d = 0.0;
        for (int s = 0; s < n_seeds; s++)
            d += fn(user, 1, seeds[s], idx, n_images) - fn(user, 0, seeds[s], idx, n_images);
        if (!isnan(d))
            diffs[kept++] = d / n_seeds;
    }
    if (kept * 2 < replicates) {
        rc = must_err_set(err, MUST_EINVAL,
                          "bootstrap: only %d of %d draws gave a metric (too few test images?)",
                          kept, replicates);
        goto out;
    }
    if (kept > 1) /* qsort's base may not be NULL, even for none */
        qsort(diffs, (size_t)kept, sizeof *diffs, cmp_double);
    out->lo = quantile(diffs, kept, (1.0 - level) / 2.0);
    out->hi = quantile(diffs, kept, (1.0 + level) / 2.0);
    out->excludes_zero = out->lo > 0.0 || out->hi < 0.0;
    out->replicates = kept;
out:
    free(idx);
    free(seeds);
    free(diffs);
    return rc;
}
