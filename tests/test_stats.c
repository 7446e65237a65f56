/* test_stats.c - the paired bootstrap (core/pipeline/stats.c) on cases with
 * known answers: a constant difference, the normal approximation of a mean,
 * the exact distribution over three seeds; and mean/sd by hand. */
#include "config.h"

#include <math.h>

#include "must/stats.h"
#include "must/tensor.h"
#include "testutil.h"

/* values[which][seed][image]; the metric is the mean over the drawn images. */
struct table {
    int n_images, n_seeds;
    double v[2][3][500];
};

static double mean_metric(void *user, int which, int seed, const int *images, int n)
{
    const struct table *t = user;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += t->v[which][seed][images[i]];
    return s / n;
}

static struct table tab;

START_TEST(constant_difference_gives_a_point)
{
    /* A varies wildly from image to image, B = A + 0.25 everywhere: every
     * paired draw differs by exactly 0.25, however unlike the draws are. */
    must_rng r;
    must_rng_seed(&r, 5);
    tab.n_images = 200;
    tab.n_seeds = 2;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 200; i++) {
            tab.v[0][s][i] = must_rng_uniform(&r) * 100.0;
            tab.v[1][s][i] = tab.v[0][s][i] + 0.25;
        }
    must_stats_interval iv;
    must_err e = {0};
    ck_assert_int_eq(must_stats_paired_bootstrap(mean_metric, &tab, 200, 2, 500, 0.95, 1, &iv, &e),
                     MUST_OK);
    ck_assert_float_near(iv.diff, 0.25, 1e-9);
    ck_assert_float_near(iv.lo, 0.25, 1e-9);
    ck_assert_float_near(iv.hi, 0.25, 1e-9);
    ck_assert_int_eq(iv.excludes_zero, 1);
    ck_assert_int_eq(iv.replicates, 500);
}
END_TEST

START_TEST(mean_difference_matches_the_normal_interval)
{
    /* One seed, 400 images, B - A per image uniform in [-1, 1.4] (mean 0.2,
     * sd 2.4 / sqrt(12) = 0.6928): the 95% interval of the mean difference is
     * 0.2 +- 1.96 * 0.6928 / 20 = +-0.0679 around the sample mean. */
    must_rng r;
    must_rng_seed(&r, 9);
    tab.n_images = 400;
    tab.n_seeds = 1;
    double dsum = 0.0;
    for (int i = 0; i < 400; i++) {
        double d = -1.0 + 2.4 * must_rng_uniform(&r);
        tab.v[0][0][i] = 50.0 + 10.0 * must_rng_uniform(&r);
        tab.v[1][0][i] = tab.v[0][0][i] + d;
        dsum += d;
    }
    must_stats_interval iv;
    must_err e = {0};
    ck_assert_int_eq(
        must_stats_paired_bootstrap(mean_metric, &tab, 400, 1, 4000, 0.95, 42, &iv, &e), MUST_OK);
    ck_assert_float_near(iv.diff, dsum / 400, 1e-9);
    double half = 1.96 * 2.4 / sqrt(12.0) / 20.0;
    ck_assert_msg(fabs((iv.hi - iv.lo) / 2 - half) < 0.12 * half, "half width %g, expected %g",
                  (iv.hi - iv.lo) / 2, half);
    ck_assert_msg(fabs((iv.hi + iv.lo) / 2 - iv.diff) < 0.2 * half, "centre %g, mean %g",
                  (iv.hi + iv.lo) / 2, iv.diff);
    ck_assert_int_eq(iv.excludes_zero, 1);
    /* The same arguments give the same interval. */
    must_stats_interval again;
    must_stats_paired_bootstrap(mean_metric, &tab, 400, 1, 4000, 0.95, 42, &again, &e);
    ck_assert(again.lo == iv.lo && again.hi == iv.hi);
}
END_TEST

START_TEST(three_seeds_exact_distribution)
{
    /* One image; B - A is 1, 2, 3 for seeds 0, 1, 2.  A draw's difference is
     * the mean of three seeds drawn with replacement: 1 with probability
     * 1/27 (3.7%, more than 2.5%), 3 likewise, so the 95% interval is [1, 3];
     * the estimate is 2 and the seeds' sd of A (0, 10, 20) is 10. */
    tab.n_images = 1;
    tab.n_seeds = 3;
    for (int s = 0; s < 3; s++) {
        tab.v[0][s][0] = 10.0 * s;
        tab.v[1][s][0] = 10.0 * s + (s + 1);
    }
    must_stats_interval iv;
    must_err e = {0};
    ck_assert_int_eq(
        must_stats_paired_bootstrap(mean_metric, &tab, 1, 3, 20000, 0.95, 3, &iv, &e), MUST_OK);
    ck_assert_float_near(iv.diff, 2.0, 1e-12);
    ck_assert_float_near(iv.lo, 1.0, 1e-12);
    ck_assert_float_near(iv.hi, 3.0, 1e-12);
    ck_assert_float_near(iv.mean_a, 10.0, 1e-12);
    ck_assert_float_near(iv.sd_a, 10.0, 1e-12);
    ck_assert_float_near(iv.mean_b, 12.0, 1e-12);
    ck_assert_int_eq(iv.excludes_zero, 1);
    /* A difference that changes sign with the seed: -1, 0, 1: the interval
     * [-1, 1] holds zero. */
    for (int s = 0; s < 3; s++)
        tab.v[1][s][0] = tab.v[0][s][0] + (s - 1);
    must_stats_paired_bootstrap(mean_metric, &tab, 1, 3, 20000, 0.95, 3, &iv, &e);
    ck_assert_float_near(iv.lo, -1.0, 1e-12);
    ck_assert_float_near(iv.hi, 1.0, 1e-12);
    ck_assert_int_eq(iv.excludes_zero, 0);
}
END_TEST

static double nan_metric(void *user, int which, int seed, const int *images, int n)
{
    (void)user, (void)which, (void)seed, (void)images, (void)n;
    return NAN;
}

START_TEST(bad_arguments_are_refused)
{
    must_stats_interval iv;
    must_err e = {0};
    ck_assert_int_eq(must_stats_paired_bootstrap(mean_metric, &tab, 0, 1, 10, 0.95, 1, &iv, &e),
                     MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "0 images"));
    ck_assert_int_eq(must_stats_paired_bootstrap(mean_metric, &tab, 1, 1, 10, 1.0, 1, &iv, &e),
                     MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "level 1"));
    ck_assert_int_eq(must_stats_paired_bootstrap(nan_metric, NULL, 5, 1, 10, 0.9, 1, &iv, &e),
                     MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "0 of 10 draws"));
}
END_TEST

START_TEST(mean_and_sd_by_hand)
{
    /* 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum 32, sd sqrt(32/7). */
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    double m, sd;
    must_stats_mean_sd(v, 8, &m, &sd);
    ck_assert_float_near(m, 5.0, 1e-12);
    ck_assert_float_near(sd, sqrt(32.0 / 7.0), 1e-12);
    must_stats_mean_sd(v, 1, &m, &sd);
    ck_assert_float_near(m, 2.0, 0);
    ck_assert_float_near(sd, 0.0, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("bootstrap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, constant_difference_gives_a_point);
    tcase_add_test(tc, mean_difference_matches_the_normal_interval);
    tcase_add_test(tc, three_seeds_exact_distribution);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, mean_and_sd_by_hand);
    suite_add_tcase(s, tc);
    return test_run(s);
}
